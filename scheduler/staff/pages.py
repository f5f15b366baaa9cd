"""The staff web UI: sign-in form, sign-out, static files; collects the routes of every staff page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from aiohttp import web

from scheduler.errors import ServiceUnavailable, TooManyRequests, Unauthorized
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.staff import (
    account_pages,
    admin_pages,
    auth,
    batch_invite_pages,
    calendar_pages,
    callback_pages,
    caseworker_rules_pages,
    closure_pages,
    concern_pages,
    customer_group_pages,
    dashboard,
    display_admin_pages,
    email_pages,
    expired_pages,
    group_session_pages,
    inbox_pages,
    invitation_pages,
    letter_pages,
    lobby_pages,
    move_pages,
    notice_pages,
    oidc,
    password_reset_pages,
    request_pages,
    room_pages,
    rules_pages,
    signin_form,
    signin_limits,
    staff_edit_pages,
    system_pages,
    today_pages,
    ui,
    video_admin_pages,
    walk_in_pages,
    webhook_pages,
)
from scheduler.staff.auth import SESSION_COOKIE

PACKAGE_DIR: Final = Path(__file__).resolve().parent.parent
STATIC_DIR: Final = PACKAGE_DIR / "static"
# Chart.js comes from npm (`npm ci`); served from node_modules, never copied into the repository.
VENDOR_FILES: Final = {
    "chart.umd.min.js": PACKAGE_DIR.parent / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js",
}

_own = web.RouteTableDef()


@_own.get("/staff/", name="staff-home-slash")
@_own.get("/staff", name="staff-home")
async def home(request: web.Request) -> web.Response:
    """The staff UI starts at the inbox."""
    return ui.see_other(ui.url(request, "staff-inbox"))


# Not "staff-sign-in": aiohttp rejects route names containing a Python keyword ("in").
@_own.get("/staff/sign-in", name="staff-signin-form")
async def sign_in_form(request: web.Request) -> web.Response:
    """The sign-in form."""
    session = await auth.authenticate(request)
    if session is not None:
        return ui.see_other(ui.safe_next(request.query.get("next"), ui.url(request, "staff-inbox")))
    return signin_form.render(request, next_=request.query.get("next", ""), username="", error=None, status=200)


@_own.post("/staff/sign-in", name="staff-signin-submit")
async def sign_in_submit(request: web.Request) -> web.Response:
    """Check the form's token and the password, open a session (cookie) and go on to the inbox."""
    form = await request.post()
    username, password = ui.text(form, "username", 100), ui.text(form, "password", 1000)
    target = ui.safe_next(ui.text(form, "next", 500), ui.url(request, "staff-inbox"))
    lang = ui.language(request, None)
    security = request.app[CONFIG].security
    if not signin_form.token_matches(request, form):
        expired = translate(lang, N_("The sign-in form had expired. Please sign in again."))
        return signin_form.render(request, next_=target, username=username, error=expired, status=403)
    try:
        if not username.strip() or not password:
            raise Unauthorized(N_("Please enter your username and password."))
        address = await signin_limits.count_attempt(request)
        signed = await auth.sign_in(request.app[POOL], username=username, password=password, now=datetime.now(UTC),
                                    checks=request.app[signin_limits.PASSWORD_CHECKS], address=address,
                                    max_hours=security.session_max_hours)
    except (Unauthorized, TooManyRequests, ServiceUnavailable) as e:
        return signin_form.render(request, next_=target, username=username, error=translate(lang, e.message),
                                  status=e.status)
    response = ui.see_other(target)
    response.set_cookie(SESSION_COOKIE, signed.token, max_age=security.session_max_hours * 3600, path="/",
                        httponly=True, samesite="Lax", secure=security.cookie_secure)
    signin_form.forget(response)
    return response


@_own.post("/staff/sign-out", name="staff-signout")
@ui.pages
async def sign_out(request: web.Request) -> web.Response:
    """End the session (CSRF-checked) and go back to the sign-in form."""
    user = await auth.require_staff(request)
    session = await auth.authenticate(request)
    assert session is not None
    await auth.revoke(request.app[POOL], session.token_hash, actor=user.actor)
    response = ui.see_other(ui.url(request, "staff-signin-form"))
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax",
                        secure=request.app[CONFIG].security.cookie_secure)
    return response


@_own.get("/staff/vendor/{name}", name="staff-vendor")
async def vendor(request: web.Request) -> web.StreamResponse:
    """Browser libraries installed by npm (the chart library)."""
    path = VENDOR_FILES.get(request.match_info["name"])
    if path is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


_own.static("/staff/static", STATIC_DIR, name="staff-static")

routes: list[web.AbstractRouteDef] = [
    *_own, *inbox_pages.routes, *request_pages.routes, *callback_pages.routes, *calendar_pages.routes,
    *rules_pages.routes, *dashboard.routes, *admin_pages.routes, *oidc.routes,
    *move_pages.routes, *closure_pages.routes,
    *today_pages.routes, *expired_pages.routes,
    *letter_pages.routes, *batch_invite_pages.routes,
    *lobby_pages.routes, *display_admin_pages.routes, *video_admin_pages.routes, *walk_in_pages.routes,
    *invitation_pages.routes, *notice_pages.routes,
    *email_pages.routes,
    *caseworker_rules_pages.routes,
    *group_session_pages.routes,
    *room_pages.routes,  # rooms and their attributes (issue 17, needs)
    *customer_group_pages.routes,  # the office's customer groups and a client's (issue 16)
    *system_pages.routes, *concern_pages.routes,  # sites set up by system administrators, concern texts (issue 18)
    *webhook_pages.routes,  # outgoing webhooks for case events and their delivery log (issue 18)
    *staff_edit_pages.routes, *password_reset_pages.routes, *account_pages.routes,  # staff accounts (issue 18)
]
