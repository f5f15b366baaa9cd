"""The staff sign-in form, with a token against login CSRF.

Each form carries a fresh token that is also set as a cookie only the form's own address receives
(SameSite=Strict). Another site could post a form with a password of an account it controls, but it can
neither read nor set that cookie, so it cannot sign a caseworker's browser in to its account.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Final

from aiohttp import web
from multidict import MultiDictProxy

from scheduler.keys import CONFIG
from scheduler.staff import ui

COOKIE: Final = "staff_signin"
FIELD: Final = "signin_token"
COOKIE_PATH: Final = "/staff/sign-in"
MAX_AGE: Final = 3600


def render(request: web.Request, *, next_: str, username: str, error: str | None, status: int) -> web.Response:
    """The form (with single sign-on where configured) and a fresh token pair."""
    config = request.app[CONFIG]
    token = secrets.token_urlsafe(32)
    response = ui.render(request, "signin.html", {
        "next": next_, "error": error, "username": username, "signin_token": token,
        "sso_label": config.oidc.button_label if config.oidc.enabled else None,
    }, status=status)
    response.set_cookie(COOKIE, token, max_age=MAX_AGE, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=config.security.cookie_secure)
    return response


def token_matches(request: web.Request, form: MultiDictProxy[str | bytes | web.FileField]) -> bool:
    """True when the posted token is the one this browser's cookie holds."""
    sent = form.get(FIELD)
    kept = request.cookies.get(COOKIE, "")
    return isinstance(sent, str) and bool(sent) and hmac.compare_digest(sent.encode(), kept.encode())


def forget(response: web.StreamResponse) -> None:
    """Drop the token cookie once the person is signed in."""
    response.del_cookie(COOKIE, path=COOKIE_PATH)
