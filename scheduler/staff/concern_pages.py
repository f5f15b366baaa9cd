"""Concerns per site (issue 18): an admin adds a concern and writes its label and short description in every
client language of the office. `concerns.py` checks and stores them; clients see the site's own text in their
language, else its fallback (see `concerns.label` and `concerns.description`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from scheduler import audit, concerns, sites
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_, native_name, translate
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
CONCERN: Final = r"/staff/admin/concerns/{concern_id:\d{1,18}}"
FIELD_LIMIT: Final = 1000  # above any valid text, so that too long is said, not cut
CODE_TAKEN: Final = N_("This office already has a concern with this code.")


def _texts(form: Mapping[str, Any], languages: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    return ({lang: ui.text(form, f"label_{lang}", FIELD_LIMIT) for lang in languages},
            {lang: ui.text(form, f"description_{lang}", FIELD_LIMIT) for lang in languages})


async def _page(request: web.Request, user: StaffUser, row: Mapping[str, Any], *,
                typed: tuple[dict[str, str], dict[str, str]] | None = None,
                error: ValidationFailed | None = None) -> web.Response:
    lang = ui.language(request, user)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
    labels, descriptions = typed or (dict(row["labels"]), dict(row["descriptions"]))
    return ui.render(request, "admin_concern.html", {
        "concern": row, "labels_": labels, "descriptions": descriptions,
        "languages": [(code, native_name(code)) for code in site.languages],
        "errors": {name: translate(lang, m) for name, m in error.fields.items()} if error else {},
    }, status=422 if error else 200)


async def _own(request: web.Request, user: StaffUser) -> Mapping[str, Any]:
    concern_id = ui.int_param(request.match_info["concern_id"], "concern_id")
    async with request.app[POOL].acquire() as conn:
        row = await concerns.texts_of(conn, concern_id, site_id=user.site_id)
    if row is None:
        raise NotFound()  # another office's concern, as any unknown one
    return row


@routes.get(CONCERN, name="staff-admin-concern")
@ui.pages
async def concern_texts(request: web.Request) -> web.Response:
    """A concern's label and description in each client language of the office."""
    user = await ui.page_user(request, Role.admin)
    return await _page(request, user, await _own(request, user))


@routes.post(CONCERN, name="staff-admin-concern-save")
@ui.pages
async def concern_save(request: web.Request) -> web.Response:
    """Save a concern's texts; a missing German label or a too long text is shown at its field (422)."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    row = await _own(request, user)
    async with request.app[POOL].acquire() as conn:
        languages = (await sites.site_by_id(conn, user.site_id)).languages
        typed = _texts(form, languages)
        try:
            labels, descriptions = concerns.clean_texts(*typed, languages)
        except ValidationFailed as e:
            return await _page(request, user, row, typed=typed, error=e)
        # Texts in languages the office no longer offers stay: offering the language again brings them back.
        labels = {**{k: v for k, v in row["labels"].items() if k not in languages}, **labels}
        descriptions = {**{k: v for k, v in row["descriptions"].items() if k not in languages}, **descriptions}
        async with conn.transaction():
            if not await concerns.set_texts(conn, row["id"], site_id=user.site_id, labels=labels,
                                            descriptions=descriptions):
                raise NotFound()
            await audit.record(conn, site_id=user.site_id, actor=user.actor, action="concern.texts",
                               subject_type="concern", subject_id=row["id"], details={"languages": sorted(labels)})
    return ui.see_other(ui.url(request, "staff-admin-concern", concern_id=row["id"]),
                        flash=("ok", translate(ui.language(request, user), N_("Saved."))))


@routes.post("/staff/admin/concerns", name="staff-admin-concern-add")
@ui.pages
async def concern_add(request: web.Request) -> web.Response:
    """Add a concern by code and German label; its page then takes the other languages' texts."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    code = ui.text(form, "code", 41).strip()

    async def add() -> int:
        if not concerns.CODE_RE.fullmatch(code):
            raise ValidationFailed(concerns.BAD_CODE)  # the form shows one message
        labels, _ = concerns.clean_texts({"de": ui.text(form, "label_de", FIELD_LIMIT)}, {}, ("de",))
        async with request.app[POOL].acquire() as conn, conn.transaction():
            concern_id = await concerns.add(conn, site_id=user.site_id, code=code, labels=labels)
            if concern_id is None:
                raise ValidationFailed(CODE_TAKEN)
            await audit.record(conn, site_id=user.site_id, actor=user.actor, action="concern.add",
                               subject_type="concern", subject_id=concern_id, details={"code": code})
        return concern_id

    return await ui.perform(request, user, ui.url(request, "staff-admin-organisation"), add,
                            success=N_("The concern was added. Now write its texts in the other languages."),
                            to=lambda concern_id: ui.url(request, "staff-admin-concern", concern_id=concern_id))
