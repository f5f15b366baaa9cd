"""Every answer carries the browser protections; no page needs inline script or style to work."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from scheduler.app import create_app
from scheduler.config import Config

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "scheduler"
EXPECTED = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def assert_protected(headers: object) -> None:
    for name, value in EXPECTED.items():
        assert headers[name] == value, name  # type: ignore[index]
    csp = headers["Content-Security-Policy"]  # type: ignore[index]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


@pytest.mark.parametrize("path, status", [
    ("/", 200),                                    # a client page
    ("/staff/sign-in", 200),                       # a staff page
    ("/kiosk/", 200),                              # the kiosk
    ("/api/openapi.json", 200),                    # an API answer
    ("/api/public/" + "x" * 30, 404),              # an API error
    ("/nothing-here", 404),                        # a routing error
    ("/static/web.css", 200),                      # static files
    ("/staff/static/staff.js", 200),
    ("/kiosk/kiosk.js", 200),
    ("/api/docs", 200),
])
async def test_every_kind_of_answer_is_protected(client: TestClient, path: str, status: int) -> None:
    response = await client.get(path, headers={"Accept": "text/html"})
    assert response.status == status
    assert_protected(response.headers)
    assert "Strict-Transport-Security" not in response.headers  # http: HSTS would lock out a plain-http setup


@pytest.fixture
def https_config(config: Config) -> Config:
    return dataclasses.replace(
        config, server=dataclasses.replace(config.server, public_base_url="https://termine.jobcenter.example"),
        security=dataclasses.replace(config.security, cookie_secure=True))


async def test_https_adds_hsts_and_secure_on_every_cookie(aiohttp_client, https_config: Config,  # type: ignore[no-untyped-def]
                                                          pool: object) -> None:
    client = await aiohttp_client(create_app(https_config))
    cookies: list[str] = []
    # The client page's language cookie, the staff UI's language cookie and the sign-in form's token cookie.
    for path in ("/?lang=en", "/staff/sign-in?lang=en"):
        response = await client.get(path)
        assert response.status == 200
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        cookies += response.headers.getall("Set-Cookie")
    assert len(cookies) >= 3
    assert all(re.search(r";\s*Secure", cookie, re.IGNORECASE) for cookie in cookies), cookies


def _templates() -> list[Path]:
    return sorted([*PACKAGE_DIR.glob("templates/**/*.html"), PACKAGE_DIR.parent / "kiosk" / "index.html"])


@pytest.mark.parametrize("template", _templates(), ids=lambda p: p.name)
def test_no_inline_script_or_style(template: Path) -> None:
    """The policy forbids inline code; a page that still had some would silently stop working."""
    text = template.read_text(encoding="utf-8")
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+\s*=", text), "inline event handler"
    assert not re.search(r"\sstyle\s*=", text) and "<style" not in text, "inline style"
    assert "javascript:" not in text
