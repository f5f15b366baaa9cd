"""Fixtures of the staff tests: the password-check pool, and for the browser tests a real server and chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright

from scheduler.staff.signin_limits import PasswordChecks
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
async def checks() -> AsyncIterator[PasswordChecks]:
    """A bounded pool for password checks, as the app has one."""
    pool = PasswordChecks()
    yield pool
    pool.close()


@pytest.fixture
async def base_url(app: web.Application) -> AsyncIterator[str]:
    """The app on a free port of this machine, for a real browser."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, driven by Playwright (never a downloaded browser)."""
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
