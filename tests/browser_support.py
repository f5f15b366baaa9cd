"""Where the browser tests find Debian's chromium, and what happens without it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium keeps trying to reach the internet, which is closed here.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_available() -> bool:
    """True when Debian's chromium is installed (never a downloaded browser)."""
    return CHROMIUM.exists() or shutil.which("chromium") is not None


def require_chromium() -> None:
    """Skip without chromium on a developer's machine; fail under CI, where a skip would hide the browser tests."""
    if chromium_available():
        return
    message = "Debian chromium is not installed (make browser)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the browser tests", pytrace=False)
    pytest.skip(message)
