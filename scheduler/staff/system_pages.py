"""System pages (issue 18): a system administrator lists every site of the deployment, creates sites, edits a
site's settings and adds its first team. The flag opens these pages only, never another office's client data:
nothing here reads requests, clients or appointments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import asyncpg
from aiohttp import web

from scheduler import audit, site_addresses, site_settings, teams
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import LANGUAGES, N_, native_name, translate
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser, check_system_admin
from scheduler.site_files import TEAM_CODE_RE
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
SITE: Final = r"/staff/system/sites/{site_id:\d{1,18}}"
STAFF_NEW: Final = "staff-admin-staff-new"  # the staff helper's page; linked once it is registered
TEXT_FIELDS: Final = ("code", "name", "address", "timezone", "holiday_region", "opening_hours", "sms_sender",
                      "phone_numbers", "hosts", "public_base_url", "retention_days", "allowed_countries")
FIELD_LIMIT: Final = 4000  # above any valid value (20 hosts of 253 characters are longer; cut, then refused)
BAD_TEAM: Final = N_("A team needs a short code (lower-case letters, digits, - or _) and a name.")
TEAM_TAKEN: Final = N_("This site already has a team with this code.")


async def _system_page_user(request: web.Request) -> StaffUser:
    user = await ui.page_user(request, Role.admin)
    check_system_admin(user)
    return user


async def _system_form_user(request: web.Request) -> tuple[StaffUser, Mapping[str, Any]]:
    user = await auth.require_staff(request, Role.admin)
    check_system_admin(user)
    return user, await request.post()


def _site_id(request: web.Request) -> int:
    return ui.int_param(request.match_info["site_id"], "site_id")


@routes.get("/staff/system/sites", name="staff-system-sites")
@ui.pages
async def site_list(request: web.Request) -> web.Response:
    """Every site with its code, name, host names, numbers and active staff."""
    await _system_page_user(request)
    async with request.app[POOL].acquire() as conn:
        found = await site_settings.list_sites(conn)
        addresses = await site_addresses.all_addresses(conn)
        counts = await teams.staff_counts(conn)
    hosts: dict[int, list[str]] = {}
    numbers: dict[int, list[str]] = {}
    for host, site_id in sorted(addresses.by_host.items()):
        hosts.setdefault(site_id, []).append(host)
    for number, site_id in sorted(addresses.by_number.items()):
        numbers.setdefault(site_id, []).append(number)
    return ui.render(request, "system_sites.html", {"sites": found, "hosts": hosts, "numbers": numbers,
                                                    "counts": counts})


def _form_values(form: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {name: ui.text(form, name, FIELD_LIMIT) for name in TEXT_FIELDS}
    values["languages"] = [v for v in form.getall("languages", []) if isinstance(v, str)][:len(LANGUAGES)] \
        if hasattr(form, "getall") else []
    values["email_enabled"] = ui.text(form, "email_enabled", 5) == "yes"
    return values


async def _settings_page(request: web.Request, user: StaffUser, *, site_id: int | None, typed: Mapping[str, Any],
                         error: ValidationFailed | None = None) -> web.Response:
    lang = ui.language(request, user)
    errors = {name: translate(lang, message, **error.params) for name, message in error.fields.items()} \
        if error else {}
    team_rows: list[asyncpg.Record] = []
    if site_id is not None:
        async with request.app[POOL].acquire() as conn:
            team_rows = await teams.list_with_members(conn, site_id)
    staff_new = None
    if site_id is not None and STAFF_NEW in request.app.router.named_resources():
        staff_new = ui.url(request, STAFF_NEW, {"site": site_id})
    return ui.render(request, "system_site.html", {
        "site_id": site_id, "typed": typed, "errors": errors, "teams": team_rows, "staff_new": staff_new,
        "languages": [(code, native_name(code)) for code in LANGUAGES],
        "summary": translate(lang, error.message, **error.params) if error and not errors else None,
    }, status=422 if error else 200)


@routes.get("/staff/system/sites/new", name="staff-system-site-new")
@ui.pages
async def site_new(request: web.Request) -> web.Response:
    """The form for a new site, with the defaults filled in."""
    user = await _system_page_user(request)
    defaults = site_settings.as_form(site_settings.SiteSettings(code="", name=""))
    return await _settings_page(request, user, site_id=None, typed=defaults)


@routes.post("/staff/system/sites", name="staff-system-site-create")
@ui.pages
async def site_create(request: web.Request) -> web.Response:
    """Create a site; every wrong field is shown at its place (422) and nothing is stored."""
    user, form = await _system_form_user(request)
    typed = _form_values(form)
    try:
        settings = site_settings.parse(typed)
        async with request.app[POOL].acquire() as conn:
            site_id = await site_settings.create_site(conn, settings, actor=user.actor)
    except ValidationFailed as e:
        return await _settings_page(request, user, site_id=None, typed=typed, error=e)
    lang = ui.language(request, user)
    return ui.see_other(ui.url(request, "staff-system-site", site_id=site_id),
                        flash=("ok", translate(lang, N_("The site was created. Now add its first team."))))


@routes.get(SITE, name="staff-system-site")
@ui.pages
async def site_edit(request: web.Request) -> web.Response:
    """A site's settings, its teams and the way to its first team lead."""
    user = await _system_page_user(request)
    site_id = _site_id(request)
    async with request.app[POOL].acquire() as conn:
        current = await site_settings.read(conn, site_id)
    if current is None:
        raise NotFound()
    return await _settings_page(request, user, site_id=site_id, typed=site_settings.as_form(current))


@routes.post(SITE, name="staff-system-site-save")
@ui.pages
async def site_save(request: web.Request) -> web.Response:
    """Save a site's settings (its code stays); errors at their fields (422), nothing stored."""
    user, form = await _system_form_user(request)
    site_id = _site_id(request)
    async with request.app[POOL].acquire() as conn:
        current = await site_settings.read(conn, site_id)
        if current is None:
            raise NotFound()
        typed = {**_form_values(form), "code": current.code}
        try:
            changed = await site_settings.update_site(conn, site_id, site_settings.parse(typed), actor=user.actor)
        except ValidationFailed as e:
            return await _settings_page(request, user, site_id=site_id, typed=typed, error=e)
    lang = ui.language(request, user)
    message = N_("Saved.") if changed else N_("Nothing was changed.")
    return ui.see_other(ui.url(request, "staff-system-site", site_id=site_id), flash=("ok", translate(lang, message)))


async def add_team(pool: asyncpg.Pool, *, user: StaffUser, site_id: int, code: str, name: str) -> int:
    """Create a team for any site (a system administrator's first team of a new office), audited at that site."""
    name = " ".join(name.split())
    if not TEAM_CODE_RE.fullmatch(code) or not 0 < len(name) <= 100:
        raise ValidationFailed(BAD_TEAM)
    async with pool.acquire() as conn, conn.transaction():
        try:
            async with conn.transaction():
                team_id = await teams.create(conn, site_id=site_id, code=code, name=name)
        except asyncpg.UniqueViolationError:
            raise ValidationFailed(TEAM_TAKEN) from None
        await audit.record(conn, site_id=site_id, actor=user.actor, action="team.add", subject_type="team",
                           subject_id=team_id, details={"code": code})
    return team_id


@routes.post(SITE + "/teams", name="staff-system-site-team-add")
@ui.pages
async def team_add(request: web.Request) -> web.Response:
    """Add a team to the site."""
    user, form = await _system_form_user(request)
    site_id = _site_id(request)
    async with request.app[POOL].acquire() as conn:
        if await site_settings.site_code(conn, site_id) is None:
            raise NotFound()
    back = ui.url(request, "staff-system-site", site_id=site_id)
    return await ui.perform(request, user, back + "#h-teams",
                            lambda: add_team(request.app[POOL], user=user, site_id=site_id,
                                             code=ui.text(form, "code", 41).strip(), name=ui.text(form, "name", 101)),
                            success=N_("The team was added."))
