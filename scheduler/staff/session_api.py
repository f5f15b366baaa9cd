"""JSON routes for staff sessions: sign in, who am I, sign out."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from scheduler.errors import Unauthorized, ValidationFailed
from scheduler.http import json_object
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import StaffUser
from scheduler.staff import auth, signin_limits
from scheduler.staff.auth import SESSION_COOKIE

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
MAX_USERNAME_CHARS = 100
MAX_PASSWORD_CHARS = 1000


def user_json(user: StaffUser) -> dict[str, object]:
    """The public view of a staff member, as the staff UI and API clients see it."""
    return {
        "id": user.id, "site_id": user.site_id, "username": user.username,
        "display_name": user.display_name, "role": user.role.value, "team_id": user.team_id,
        "languages": list(user.languages),
    }


def _text(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


# Not "staff-sign-in": aiohttp rejects route names containing a Python keyword ("in").
@routes.post("/api/staff/session", name="staff-signin")
async def sign_in(request: web.Request) -> web.Response:
    """Sign in with username and password: the session goes into an HttpOnly cookie (never to page scripts).

    API clients that are not browsers ask for {"session": "bearer"} and get the token in the answer instead.
    """
    body = await json_object(request)
    username, password = _text(body, "username"), _text(body, "password")
    mode = body.get("session", "cookie")
    fields: dict[str, str] = {}
    if not username.strip() or len(username) > MAX_USERNAME_CHARS:
        fields["username"] = N_("Please enter your username.")
    if not password or len(password) > MAX_PASSWORD_CHARS:
        fields["password"] = N_("Please enter your password.")
    if mode not in ("cookie", "bearer") or (mode == "bearer" and "Origin" in request.headers):
        # Browsers send Origin with every scripted POST: a page's JavaScript never receives a token.
        fields["session"] = N_("Browsers sign in with a cookie; only other API clients may ask for a token.")
    if fields:
        raise ValidationFailed(fields=fields)
    security = request.app[CONFIG].security
    address = await signin_limits.count_attempt(request)
    signed = await auth.sign_in(request.app[POOL], username=username, password=password, now=datetime.now(UTC),
                                checks=request.app[signin_limits.PASSWORD_CHECKS], address=address,
                                max_hours=security.session_max_hours)
    answer: dict[str, object] = {"user": user_json(signed.user), "csrf_token": signed.csrf_token}
    if mode == "bearer":
        answer["token"] = signed.token
        return web.json_response(answer, status=201)
    response = web.json_response(answer, status=201)
    response.set_cookie(SESSION_COOKIE, signed.token, max_age=security.session_max_hours * 3600, path="/",
                        httponly=True, samesite="Lax", secure=security.cookie_secure)
    return response


@routes.get("/api/staff/session", name="staff-session")
async def current_session(request: web.Request) -> web.Response:
    """The signed-in staff member and the CSRF token for their forms, or 401."""
    session = await auth.authenticate(request)
    if session is None:
        raise Unauthorized()
    return web.json_response({"user": user_json(session.user), "csrf_token": session.csrf_token})


@routes.delete("/api/staff/session", name="staff-sign-out")
async def sign_out(request: web.Request) -> web.Response:
    """End the current session and clear the cookie; signing out twice is harmless."""
    session = await auth.authenticate(request)
    if session is not None:
        user = await auth.require_staff(request)  # checks CSRF for cookie sessions
        await auth.revoke(request.app[POOL], session.token_hash, actor=user.actor)
    response = web.Response(status=204)
    security = request.app[CONFIG].security
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax",
                        secure=security.cookie_secure)
    return response
