"""Admin pages for invitation notice templates: list, new template, new version (old versions stay), retire."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from scheduler import notice_templates
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import POOL
from scheduler.notice_templates import Problem
from scheduler.permissions import Role, StaffUser, check_site
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
NOTICES: Final = "/staff/admin/notices"
ONE: Final = NOTICES + r"/{template_id:\d{1,18}}"

PROBLEMS: Final = {
    Problem.empty: N_("Please fill in this field."),
    Problem.too_long: N_("This text is too long."),
    Problem.unknown_placeholder: N_("Unknown placeholder {%(name)s}. Allowed: %(allowed)s."),
    Problem.broken_braces: N_("Braces must hold a placeholder name only, like {date}."),
}
NAME_TAKEN: Final = N_("A template with this name exists already.")
KIND_LABELS: Final = {"mandatory": N_("Mandatory (legal consequences, § 59 SGB II)"), "voluntary": N_("Voluntary")}
FORM_FIELDS: Final = ("name", "kind", "german") + tuple(
    f"text_{lang}" for lang in notice_templates.TRANSLATION_LANGUAGES)


def _values(form: Any) -> dict[str, str]:
    limits = {"name": notice_templates.NAME_LIMIT + 1}
    return {f: ui.text(form, f, limits.get(f, notice_templates.TEXT_LIMIT + 1)) for f in FORM_FIELDS}


def _errors(lang: str, values: dict[str, str]) -> dict[str, str]:
    """Field-level messages in the staff member's language (the domain checks again when saving)."""
    allowed = ", ".join("{" + p + "}" for p in notice_templates.PLACEHOLDERS)
    translations = {f.removeprefix("text_"): v for f, v in values.items() if f.startswith("text_")}
    found = notice_templates.problems(german=values["german"], translations=translations)
    errors = {field: translate(lang, PROBLEMS[problem], name=name, allowed=allowed) if
              problem is Problem.unknown_placeholder else translate(lang, PROBLEMS[problem])
              for field, (problem, name) in found.items()}
    if not values["name"].strip():
        errors["name"] = translate(lang, PROBLEMS[Problem.empty])
    elif len(values["name"]) > notice_templates.NAME_LIMIT:
        errors["name"] = translate(lang, PROBLEMS[Problem.too_long])
    if values["kind"] not in KIND_LABELS:
        errors["kind"] = translate(lang, PROBLEMS[Problem.empty])
    return errors


async def _page(request: web.Request, user: StaffUser, *, template_id: int | None, values: dict[str, str],
                errors: dict[str, str], status: int = 200) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        listed = await notice_templates.list_for_site(conn, user.site_id)
        history = await notice_templates.versions(conn, template_id) if template_id is not None else []
    return ui.render(request, "admin_notices.html", {
        "templates": listed, "history": history, "template_id": template_id, "values": values, "errors": errors,
        "kinds": KIND_LABELS, "languages": notice_templates.TRANSLATION_LANGUAGES,
        "placeholders": notice_templates.PLACEHOLDERS, "labels": ui.labels(ui.language(request, user)),
    }, status=status)


async def _own(request: web.Request, user: StaffUser) -> notice_templates.Template:
    template_id = ui.int_param(request.match_info["template_id"], "template_id")
    async with request.app[POOL].acquire() as conn:
        found = await notice_templates.get(conn, template_id)
    if found is None:
        raise NotFound()
    check_site(user, found.site_id)
    return found


def _filled(template: notice_templates.Template) -> dict[str, str]:
    values = {"name": template.name, "kind": template.kind.value, "german": template.german}
    return values | {f"text_{lang}": template.translations.get(lang, "")
                     for lang in notice_templates.TRANSLATION_LANGUAGES}


@routes.get(NOTICES, name="staff-admin-notices")
@ui.pages
async def notices_page(request: web.Request) -> web.Response:
    """The site's notice templates and the form for a new one."""
    user = await ui.page_user(request, Role.admin)
    return await _page(request, user, template_id=None, values={"kind": "mandatory"}, errors={})


@routes.get(ONE, name="staff-admin-notice")
@ui.pages
async def notice_page(request: web.Request) -> web.Response:
    """One template: its newest version to edit (saving makes a new version) and every earlier version."""
    user = await ui.page_user(request, Role.admin)
    template = await _own(request, user)
    return await _page(request, user, template_id=template.id, values=_filled(template), errors={})


async def _save(request: web.Request, template_id: int | None) -> web.Response:
    user = await auth.require_staff(request, Role.admin)
    if template_id is not None:
        await _own(request, user)
    values = _values(await request.post())
    lang = ui.language(request, user)
    errors = _errors(lang, values)
    saved = None
    if not errors:
        try:
            async with request.app[POOL].acquire() as conn, conn.transaction():
                saved = await notice_templates.save(
                    conn, site_id=user.site_id, template_id=template_id, name=values["name"], kind=values["kind"],
                    german=values["german"], staff_id=user.id, actor=user.actor,
                    translations={f.removeprefix("text_"): v for f, v in values.items() if f.startswith("text_")})
        except ValidationFailed as e:
            errors = {"name": translate(lang, NAME_TAKEN)} if e.fields.get("name") == "taken" else \
                {f: translate(lang, PROBLEMS[Problem.empty]) for f in e.fields}
    if saved is None:
        return await _page(request, user, template_id=template_id, values=values, errors=errors, status=422)
    return ui.see_other(ui.url(request, "staff-admin-notice", template_id=saved.id),
                        flash=("ok", translate(lang, N_("Saved as version %(version)s."), version=saved.version)))


@routes.post(NOTICES, name="staff-admin-notice-create")
@ui.pages
async def create(request: web.Request) -> web.Response:
    """A new template (version 1)."""
    return await _save(request, None)


@routes.post(ONE, name="staff-admin-notice-save")
@ui.pages
async def save_version(request: web.Request) -> web.Response:
    """A new version of a template; the earlier ones stay as they were."""
    return await _save(request, ui.int_param(request.match_info["template_id"], "template_id"))


@routes.post(ONE + "/active", name="staff-admin-notice-active")
@ui.pages
async def set_active(request: web.Request) -> web.Response:
    """Offer a template for new invitations, or stop offering it."""
    user = await auth.require_staff(request, Role.admin)
    template = await _own(request, user)
    active = ui.text(await request.post(), "active", 5) == "yes"
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await notice_templates.set_active(conn, site_id=user.site_id, template_id=template.id, active=active,
                                          actor=user.actor)
    return ui.see_other(ui.url(request, "staff-admin-notices"),
                        flash=("ok", translate(ui.language(request, user), N_("Saved."))))
