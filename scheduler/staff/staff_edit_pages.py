"""Staff accounts in the admin pages: create a staff member, edit their name, e-mail, role, team and languages.

Admins manage the staff of their own office. A system administrator may manage the staff of any office
(`?site=<id>` on the new-staff form, e.g. a new office's first team lead), never see its client data. Another
office's person is a 404 for everyone else; a system administrator's account only a system administrator edits
(a site admin could otherwise take it over with a password link). Every change is one audited transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import asyncpg
from aiohttp import web

from scheduler import audit, sites, teams
from scheduler.errors import Forbidden, NotFound, ValidationFailed
from scheduler.i18n import LANGUAGES, N_, native_name, translate
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import Role, StaffUser, check_system_admin
from scheduler.staff import auth, staff_form, ui
from scheduler.staff.staff_form import StaffFields

routes = web.RouteTableDef()
NEW: Final = "/staff/admin/staff/new"
ACCOUNT: Final = r"/staff/admin/staff/{staff_id:\d{1,18}}/account"
SYSTEM_ADMIN_LABEL: Final = N_("System administrator")
CREATED: Final = N_("Staff member created. Issue a password link so that they can sign in.")
CREATED_SSO: Final = N_("Staff member created. They sign in by single sign-on.")


def is_system_admin(user: StaffUser) -> bool:
    """Whether the user may manage the staff of every office."""
    try:
        check_system_admin(user)
    except Forbidden:
        return False
    return True


async def target_site(conn: asyncpg.Connection, user: StaffUser, raw: object) -> sites.Site:
    """The office whose staff the admin manages: their own, or (system administrators only) the one named."""
    site_id = user.site_id if raw in (None, "") else ui.int_param(raw, "site")
    if site_id != user.site_id:
        check_system_admin(user)
    try:
        return await sites.site_by_id(conn, site_id)
    except LookupError:
        raise NotFound() from None


async def managed_person(conn: asyncpg.Connection, user: StaffUser, staff_id: int) -> asyncpg.Record:
    """A staff member this admin may manage: of their office (404 otherwise, unless they are a system
    administrator), and a system administrator only for system administrators (403)."""
    person = await teams.staff_account(conn, staff_id)
    if person is None or (person["site_id"] != user.site_id and not is_system_admin(user)):
        raise NotFound()
    if person["system_admin"] and not user.system_admin:
        raise Forbidden()
    return person


async def _check_team(conn: asyncpg.Connection, fields: StaffFields, site_id: int) -> None:
    if fields.team_id is not None and await teams.site_of_team(conn, fields.team_id) != site_id:
        raise ValidationFailed(fields={"team_id": staff_form.BAD_TEAM})


async def create_staff(pool: asyncpg.Pool, *, user: StaffUser, site_id: int, fields: StaffFields) -> int:
    """Create a staff member of the office `site_id` (without a password); a taken username is a field error."""
    if site_id != user.site_id:
        check_system_admin(user)
    if fields.system_admin:
        check_system_admin(user)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await _check_team(conn, fields, site_id)
            staff_id = await teams.create_staff(
                conn, site_id=site_id, username=fields.username, display_name=fields.display_name,
                email=fields.email, role=fields.role, system_admin=fields.system_admin, team_id=fields.team_id,
                languages=fields.languages, sso=fields.sso)
            await audit.record(conn, site_id=site_id, actor=user.actor, action="staff.create", subject_type="staff",
                               subject_id=staff_id, details={
                                   "username": fields.username, "role": fields.role_choice, "team_id": fields.team_id,
                                   "languages": list(fields.languages), "sso": fields.sso,
                                   "email": fields.email is not None, "by_site": user.site_id})
    except asyncpg.UniqueViolationError:
        raise ValidationFailed(fields={"username": staff_form.USERNAME_TAKEN}) from None
    return staff_id


async def save_staff(pool: asyncpg.Pool, *, user: StaffUser, staff_id: int, fields: StaffFields) -> None:
    """Change a staff member's name, e-mail, role, team and languages; nobody changes their own role."""
    async with pool.acquire() as conn, conn.transaction():
        person = await managed_person(conn, user, staff_id)
        before = StaffFields(display_name=person["display_name"], email=person["email"], role=Role(person["role"]),
                             system_admin=person["system_admin"], team_id=person["team_id"],
                             languages=tuple(person["languages"]))
        if fields.role_choice != before.role_choice:
            if staff_id == user.id:
                raise ValidationFailed(fields={"role": staff_form.OWN_ROLE})
            if fields.system_admin:
                check_system_admin(user)
        await _check_team(conn, fields, person["site_id"])
        await teams.update_staff(conn, staff_id, display_name=fields.display_name, email=fields.email,
                                 role=fields.role, system_admin=fields.system_admin, team_id=fields.team_id,
                                 languages=fields.languages)
        changed = {name: getattr(fields, name) for name in ("display_name", "role_choice", "team_id", "languages")
                   if getattr(fields, name) != getattr(before, name)}
        await audit.record(conn, site_id=person["site_id"], actor=user.actor, action="staff.update",
                           subject_type="staff", subject_id=staff_id,
                           details={**{k: list(v) if isinstance(v, tuple) else v for k, v in changed.items()},
                                    "email_changed": fields.email != before.email, "by_site": user.site_id})


def _person_values(person: asyncpg.Record) -> dict[str, Any]:
    return {"username": person["username"], "display_name": person["display_name"], "email": person["email"] or "",
            "role": "system_admin" if person["system_admin"] else person["role"],
            "team_id": str(person["team_id"] or ""), "languages": list(person["languages"])}


async def _form_page(request: web.Request, user: StaffUser, site: sites.Site, *, person: asyncpg.Record | None,
                     values: Mapping[str, Any], errors: Mapping[str, str] | None = None) -> web.Response:
    """The create form (person None) or a person's account form, with field errors when given (422)."""
    lang = ui.language(request, user)
    async with request.app[POOL].acquire() as conn:
        team_rows = await teams.list_for_site(conn, site.id)
    role_labels = {**ui.labels(lang)["role"], "system_admin": translate(lang, SYSTEM_ADMIN_LABEL)}
    return ui.render(request, "admin_staff_form.html", {
        "person": person, "site": site, "other_site": site.id != user.site_id, "teams": team_rows,
        "roles": [(code, role_labels[code]) for code in staff_form.role_choices(user)],
        "languages": [(code, native_name(code)) for code in LANGUAGES], "values": values,
        "errors": {name: translate(lang, msgid) for name, msgid in (errors or {}).items()},
        "sso_enabled": request.app[CONFIG].oidc.enabled, "tz": site.timezone,
    }, status=422 if errors else 200)


@routes.get(NEW, name="staff-admin-staff-new")
@ui.pages
async def new_form(request: web.Request) -> web.Response:
    """The form for a new staff member of the admin's office (or, for system administrators, of ?site=)."""
    user = await ui.page_user(request, Role.admin)
    async with request.app[POOL].acquire() as conn:
        site = await target_site(conn, user, request.query.get("site"))
    return await _form_page(request, user, site, person=None,
                            values={"role": Role.caseworker.value, "languages": ["de"], "sign_in": "password"})


@routes.post(NEW, name="staff-admin-staff-create")
@ui.pages
async def create(request: web.Request) -> web.Response:
    """Create the staff member; a wrong or taken field comes back at its field (422), nothing is stored."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    async with request.app[POOL].acquire() as conn:
        site = await target_site(conn, user, ui.text(form, "site", 20) or request.query.get("site"))
        team_ids = {t["id"] for t in await teams.list_for_site(conn, site.id)}
    try:
        fields = staff_form.read(form, user=user, team_ids=team_ids, creating=True,
                                 sso_enabled=request.app[CONFIG].oidc.enabled)
        staff_id = await create_staff(request.app[POOL], user=user, site_id=site.id, fields=fields)
    except ValidationFailed as e:
        return await _form_page(request, user, site, person=None, values=staff_form.typed(form), errors=e.fields)
    lang = ui.language(request, user)
    target = (ui.url(request, "staff-admin-person", staff_id=staff_id) if site.id == user.site_id
              else ui.url(request, "staff-admin-staff-edit", staff_id=staff_id))
    return ui.see_other(target, flash=("ok", translate(lang, CREATED_SSO if fields.sso else CREATED)))


@routes.get(ACCOUNT, name="staff-admin-staff-edit")
@ui.pages
async def edit_form(request: web.Request) -> web.Response:
    """A staff member's account: name, e-mail, role, team, languages, and the one-time password link."""
    user = await ui.page_user(request, Role.admin)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    async with request.app[POOL].acquire() as conn:
        person = await managed_person(conn, user, staff_id)
        site = await sites.site_by_id(conn, person["site_id"])
    return await _form_page(request, user, site, person=person, values=_person_values(person))


@routes.post(ACCOUNT, name="staff-admin-staff-save")
@ui.pages
async def save(request: web.Request) -> web.Response:
    """Save the account form; a wrong field comes back at its field (422), nothing is stored."""
    user = await auth.require_staff(request, Role.admin)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    form = await request.post()
    async with request.app[POOL].acquire() as conn:
        person = await managed_person(conn, user, staff_id)
        site = await sites.site_by_id(conn, person["site_id"])
        team_ids = {t["id"] for t in await teams.list_for_site(conn, site.id)}
    try:
        fields = staff_form.read(form, user=user, team_ids=team_ids, creating=False, sso_enabled=False)
        await save_staff(request.app[POOL], user=user, staff_id=staff_id, fields=fields)
    except ValidationFailed as e:
        values = {**staff_form.typed(form), "username": person["username"]}
        return await _form_page(request, user, site, person=person, values=values, errors=e.fields)
    lang = ui.language(request, user)
    return ui.see_other(ui.url(request, "staff-admin-staff-edit", staff_id=staff_id),
                        flash=("ok", translate(lang, N_("Saved."))))
