"""The own account (every role): change the own password, see the own active sessions and end them.

Changing the password needs the current one (counted like a sign-in attempt) and passes the same checks as a
one-time link; it ends every other session of the person, so a browser left signed in elsewhere is out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from scheduler import sites, teams
from scheduler.errors import ServiceUnavailable, TooManyRequests, ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import StaffUser
from scheduler.staff import auth, password_rules, signin_limits, ui
from scheduler.staff.auth import SESSION_COOKIE

routes = web.RouteTableDef()
PASSWORD_LIMIT: Final = 1000  # read this much, so that "too long" is said rather than cut
WRONG_CURRENT: Final = N_("This is not your current password.")
NO_PASSWORD: Final = N_("You sign in by single sign-on; there is no password to change here.")
CHANGED: Final = N_("Your password is changed. Your other sessions were ended.")
ENDED: Final = N_("Session ended.")
OTHERS_ENDED: Final = N_("Your other sessions were ended.")
NOTHING_ENDED: Final = N_("There was no such session.")


async def _page(request: web.Request, user: StaffUser, *, errors: Mapping[str, str] | None = None) -> web.Response:
    session = await auth.authenticate(request)
    assert session is not None  # the caller checked the sign-in
    lang = ui.language(request, user)
    async with request.app[POOL].acquire() as conn:
        account = await teams.staff_account(conn, user.id)
        site = await sites.site_by_id(conn, user.site_id)
    sessions = await auth.list_sessions(request.app[POOL], user.id, now=datetime.now(UTC),
                                        idle_minutes=request.app[CONFIG].security.session_idle_minutes)
    return ui.render(request, "account.html", {
        "account": account, "sessions": sessions, "current": session.token_hash[:auth.SESSION_HANDLE_CHARS],
        "uses_password": account is not None and account["sso"] is None and account["oidc_subject"] is None,
        "min_length": password_rules.MIN_LENGTH, "tz": site.timezone,
        "errors": {name: translate(lang, msgid) for name, msgid in (errors or {}).items()},
    }, status=422 if errors else 200)


@routes.get("/staff/account", name="staff-account")
@ui.pages
async def account(request: web.Request) -> web.Response:
    """The own account: password and active sessions."""
    user = await ui.page_user(request)
    return await _page(request, user)


@routes.post("/staff/account/password", name="staff-account-password")
@ui.pages
async def change_password(request: web.Request) -> web.Response:
    """Change the own password; a wrong current password or a weak new one comes back at its field (422)."""
    user = await auth.require_staff(request)
    session = await auth.authenticate(request)
    assert session is not None
    form = await request.post()
    current = ui.text(form, "current_password", PASSWORD_LIMIT)
    password, repeated = ui.text(form, "password", PASSWORD_LIMIT), ui.text(form, "password_repeat", PASSWORD_LIMIT)
    checks = request.app[signin_limits.PASSWORD_CHECKS]
    async with request.app[POOL].acquire() as conn:
        own = await teams.staff_account(conn, user.id)
        site = await sites.site_by_id(conn, user.site_id)
    if own is None or own["sso"] is not None or own["oidc_subject"] is not None:
        return await _page(request, user, errors={"current_password": NO_PASSWORD})
    try:
        if not current or not await auth.password_matches(request.app[POOL], user, current, checks=checks,
                                                          address=signin_limits.client_bucket(request),
                                                          now=datetime.now(UTC)):
            raise ValidationFailed(fields={"current_password": WRONG_CURRENT})
        inputs = [user.username, user.display_name, own["email"] or "", site.name, "jobcenter"]
        async with checks.slot():
            await checks.run(lambda: password_rules.check_new_password(password, repeated, user_inputs=inputs))
            new_hash = await checks.run(auth.hash_password, password)
    except ValidationFailed as e:
        return await _page(request, user, errors=e.fields)
    except (TooManyRequests, ServiceUnavailable) as e:
        return await _page(request, user, errors={"current_password": e.message})
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await auth.set_password(conn, staff_id=user.id, site_id=user.site_id, password_hash=new_hash,
                                actor=user.actor, how="own", keep=session.token_hash)
    return ui.see_other(ui.url(request, "staff-account"),
                        flash=("ok", translate(ui.language(request, user), CHANGED)))


@routes.post(r"/staff/account/sessions/{handle:[0-9a-f]{16}}/end", name="staff-account-session-end")
@ui.pages
async def end_session(request: web.Request) -> web.Response:
    """End one of the own sessions (ending this one signs out here)."""
    user = await auth.require_staff(request)
    session = await auth.authenticate(request)
    assert session is not None
    handle = request.match_info["handle"]
    ended = await auth.end_own_sessions(request.app[POOL], user, handle=handle)
    lang = ui.language(request, user)
    if ended and session.token_hash.startswith(handle):
        response = ui.see_other(ui.url(request, "staff-signin-form"))
        response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax",
                            secure=request.app[CONFIG].security.cookie_secure)
        return response
    return ui.see_other(ui.url(request, "staff-account"),
                        flash=("ok", translate(lang, ENDED)) if ended else ("error", translate(lang, NOTHING_ENDED)))


@routes.post("/staff/account/sessions/end-others", name="staff-account-sessions-end-others")
@ui.pages
async def end_others(request: web.Request) -> web.Response:
    """End every own session but this one."""
    user = await auth.require_staff(request)
    session = await auth.authenticate(request)
    assert session is not None
    await auth.end_own_sessions(request.app[POOL], user, keep=session.token_hash)
    return ui.see_other(ui.url(request, "staff-account"),
                        flash=("ok", translate(ui.language(request, user), OTHERS_ENDED)))
