"""One-time password links: an admin issues one on a person's page, the person sets their password with it.

The link is shown once to the admin (and mailed where the person has an address and the deployment sends
e-mail); it is built from the office's public address (`sites.public_url`). Opening it shows the form and
changes nothing (mail scanners open links); sending the form sets the password once, in one transaction
with marking the link used (guarded), ending all the person's sessions and the audit row. A used, replaced or
expired link is a 410 page that says so. Accounts that sign in by single sign-on get no link.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

import asyncpg
from aiohttp import web

from scheduler import audit, password_resets, sites, teams
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL, SENDERS
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth, password_mail, password_rules, signin_limits, ui
from scheduler.staff.staff_edit_pages import managed_person

routes = web.RouteTableDef()
TOKEN_PATH: Final = "/staff/password/{token:" + password_resets.TOKEN_PATTERN + "}"
PASSWORD_LIMIT: Final = 1000  # read this much, so that "too long" is said rather than cut
SSO_ONLY: Final = N_("This account signs in by single sign-on; it has no password.")
INACTIVE: Final = N_("This account is deactivated. Activate it first.")
PASSWORD_SET: Final = N_("Your password is set. Please sign in with it.")


async def issue_link(request: web.Request, user: StaffUser, staff_id: int) -> dict[str, object]:
    """Issue a link for a staff member the signed-in admin manages; what the page shows about it."""
    config = request.app[CONFIG]
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        person = await managed_person(conn, user, staff_id)
        if person["sso"] is not None or person["oidc_subject"] is not None:
            raise ValidationFailed(SSO_ONLY)
        if not person["active"]:
            raise ValidationFailed(INACTIVE)
        token, expires = await password_resets.issue(conn, site_id=person["site_id"], staff_id=staff_id,
                                                     issued_by=user.id, now=now)
        await audit.record(conn, site_id=person["site_id"], actor=user.actor, action="staff.password_link",
                           subject_type="staff", subject_id=staff_id,
                           details={"expires_at": expires.isoformat(), "by_site": user.site_id})
        site = await sites.site_by_id(conn, person["site_id"])
    link = sites.public_url(site, config.server.public_base_url) + ui.url(request, "staff-password-form", token=token)
    mailed = bool(person["email"]) and await password_mail.send_link(
        request.app.get(SENDERS), to=person["email"], name=person["display_name"], username=person["username"],
        office=site.name, link=link, until=expires, tz=site.timezone, languages=person["languages"],
        key=f"staff-password-link:{password_resets.token_hash(token)[:16]}")
    return {"person": person, "link": link, "expires": expires, "mailed": mailed, "tz": site.timezone,
            "email_on": config.email.enabled}


@routes.post(r"/staff/admin/staff/{staff_id:\d{1,18}}/password-link", name="staff-admin-password-link")
@ui.pages
async def issue(request: web.Request) -> web.Response:
    """Issue a one-time password link and show it this once (it is stored only as a hash, so never redirected)."""
    user = await auth.require_staff(request, Role.admin)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    try:
        shown = await issue_link(request, user, staff_id)
    except ValidationFailed as e:
        return ui.see_other(ui.url(request, "staff-admin-staff-edit", staff_id=staff_id),
                            flash=("error", ui.error_text(ui.language(request, user), e)))
    return ui.render(request, "admin_password_link.html", shown, status=201)


def _gone(request: web.Request) -> web.Response:
    return ui.render(request, "password_link_gone.html", {}, status=410)


async def _open_link(request: web.Request, token: str) -> tuple[password_resets.OpenLink, asyncpg.Record] | None:
    """The link and its person while the link may be used and the person signs in by password."""
    async with request.app[POOL].acquire() as conn:
        link = await password_resets.find_open(conn, token, now=datetime.now(UTC))
        person = await teams.staff_account(conn, link.staff_id) if link is not None else None
    if link is None or person is None or not person["active"] or person["sso"] is not None \
            or person["oidc_subject"] is not None:
        return None
    return link, person


def _form(request: web.Request, person: asyncpg.Record, token: str, *,
          errors: Mapping[str, str] | None = None) -> web.Response:
    lang = ui.language(request, None)
    return ui.render(request, "password_set.html", {
        "person": person, "token": token, "min_length": password_rules.MIN_LENGTH,
        "errors": {name: translate(lang, msgid) for name, msgid in (errors or {}).items()},
    }, status=422 if errors else 200)


@routes.get(TOKEN_PATH, name="staff-password-form")
async def password_form(request: web.Request) -> web.Response:
    """The form to set a password with a one-time link (opening it uses nothing up)."""
    token = request.match_info["token"]
    found = await _open_link(request, token)
    if found is None:
        return _gone(request)
    return _form(request, found[1], token)


@routes.post(TOKEN_PATH, name="staff-password-set")
async def password_set(request: web.Request) -> web.Response:
    """Set the password once: checked, hashed, then stored with the link marked used and all sessions ended."""
    token = request.match_info["token"]
    found = await _open_link(request, token)
    if found is None:
        return _gone(request)
    link, person = found
    form = await request.post()
    password, repeated = ui.text(form, "password", PASSWORD_LIMIT), ui.text(form, "password_repeat", PASSWORD_LIMIT)
    checks = request.app[signin_limits.PASSWORD_CHECKS]
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, link.site_id)
    inputs = [person["username"], person["display_name"], person["email"] or "", site.name, "jobcenter"]
    try:
        async with checks.slot():
            await checks.run(lambda: password_rules.check_new_password(password, repeated, user_inputs=inputs))
            new_hash = await checks.run(auth.hash_password, password)
    except ValidationFailed as e:
        return _form(request, person, token, errors=e.fields)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        still = await teams.staff_account(conn, link.staff_id)
        usable = still is not None and still["active"] and still["sso"] is None and still["oidc_subject"] is None
        used = await password_resets.redeem(conn, token, now=datetime.now(UTC)) if usable else None
        if used is None:  # used, replaced or expired while the password was checked, or the account changed
            return _gone(request)
        await auth.set_password(conn, staff_id=used.staff_id, site_id=used.site_id, password_hash=new_hash,
                                actor=f"staff:{used.staff_id}", how="link")
    lang = ui.language(request, None)
    return ui.see_other(ui.url(request, "staff-signin-form"), flash=("ok", translate(lang, PASSWORD_SET)))
