"""Fixtures for staff sign-in tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scheduler.staff.signin_limits import PasswordChecks


@pytest.fixture
async def checks() -> AsyncIterator[PasswordChecks]:
    """A bounded pool for password checks, as the app has one."""
    pool = PasswordChecks()
    yield pool
    pool.close()
