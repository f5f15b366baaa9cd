"""JSON routes for staff sessions: sign in, who am I, sign out."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from scheduler.errors import Unauthorized, ValidationFailed
from scheduler.http import json_object
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL
from scheduler.staff import auth
from scheduler.staff.auth import SESSION_COOKIE, StaffUser

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


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
    """Sign in with username and password; sets the session cookie and returns the tokens."""
    body = await json_object(request)
    username, password = _text(body, "username"), _text(body, "password")
    fields: dict[str, str] = {}
    if not username.strip():
        fields["username"] = N_("Please enter your username.")
    if not password:
        fields["password"] = N_("Please enter your password.")
    if fields:
        raise ValidationFailed(fields=fields)
    security = request.app[CONFIG].security
    signed = await auth.sign_in(request.app[POOL], username=username, password=password,
                                now=datetime.now(UTC), max_hours=security.session_max_hours)
    response = web.json_response(
        {"user": user_json(signed.user), "csrf_token": signed.csrf_token, "token": signed.token}, status=201,
    )
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
