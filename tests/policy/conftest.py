"""Each policy test starts with decide()'s cache empty, so no test passes on what another one derived."""

from __future__ import annotations

import pytest

from scheduler.policy import decide


@pytest.fixture(autouse=True)
def _empty_decide_cache() -> None:
    decide._fixed_part.cache_clear()
