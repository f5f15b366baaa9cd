"""Customer groups (issue 16): the admin page where an office defines its groups, and the request page's form
where a caseworker sets which groups the client belongs to. `customer_groups.py` stores both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import asyncpg
from aiohttp import web

from scheduler import customer_groups
from scheduler import requests as requests_
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_, translate
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser, check_may_act
from scheduler.policy import store
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
FIELD_LIMIT: Final = 200  # longer than any valid code or label, so that too long is said, not cut
BAD_CODE: Final = N_("Please enter a code of 2 to 40 lowercase letters, digits or “_”, for example "
                     "alleinerziehend.")
BAD_LABEL: Final = N_("Please enter a label of 1 to 80 characters.")
CODE_TAKEN: Final = N_("This office already has a customer group with this code.")
TOO_MANY: Final = N_("An office can have at most 100 customer groups.")
UNKNOWN_GROUP: Final = N_("Please choose only customer groups this office offers.")


def clean_code(raw: str) -> str:
    """A group code as stored, or ValidationFailed on `code`."""
    code = raw.strip()
    if not customer_groups.CODE_RE.fullmatch(code):
        raise ValidationFailed(fields={"code": BAD_CODE})
    return code


def clean_labels(form: Mapping[str, Any]) -> dict[str, str]:
    """The German and English labels (1 to 80 printable characters each), or ValidationFailed naming each."""
    labels = {lang: ui.text(form, f"label_{lang}", FIELD_LIMIT).strip() for lang in customer_groups.LABEL_LANGUAGES}
    problems = {f"label_{lang}": BAD_LABEL for lang, text in labels.items()
                if not text or len(text) > customer_groups.LABEL_LIMIT or not text.isprintable()}
    if problems:
        raise ValidationFailed(fields=problems)
    return labels


async def codes_in_rules(conn: asyncpg.Connection, site_id: int) -> frozenset[str]:
    """The group codes the office's active rule sets (office, teams, caseworkers) test."""
    active = await store.active(conn, site_id)
    policies = (active.site, *active.teams.values(), *active.caseworkers.values())
    return frozenset(code for p in policies if p is not None for rule in p.ruleset.rules
                     for code in rule.when.groups or ())


async def _page(request: web.Request, user: StaffUser, *, errors: Mapping[str, str] | None = None,
                typed: Mapping[str, str] | None = None, error_for: int | None = None) -> web.Response:
    """The admin page; with `errors`, the form that was sent (new, or the group `error_for`) shows them."""
    lang = ui.language(request, user)
    async with request.app[POOL].acquire() as conn:
        groups = await customer_groups.list_for_site(conn, user.site_id)
        used = await codes_in_rules(conn, user.site_id)
    shown = {name: translate(lang, msgid) for name, msgid in (errors or {}).items()}
    return ui.render(request, "admin_customer_groups.html", {
        "groups": groups, "used": used, "errors": shown, "typed": typed or {}, "error_for": error_for,
        "languages": customer_groups.LABEL_LANGUAGES}, status=422 if errors else 200)


@routes.get("/staff/admin/customer-groups", name="staff-admin-customer-groups")
@ui.pages
async def group_list(request: web.Request) -> web.Response:
    """The office's customer groups, which of them rules test, and the form to add one."""
    user = await ui.page_user(request, Role.admin)
    return await _page(request, user)


def _typed(form: Mapping[str, Any]) -> dict[str, str]:
    return {name: ui.text(form, name, FIELD_LIMIT) for name in ("code", "label_de", "label_en")}


@routes.post("/staff/admin/customer-groups", name="staff-admin-customer-group-add")
@ui.pages
async def group_add(request: web.Request) -> web.Response:
    """Add a group; a wrong or taken code or a missing label is shown at its field (422), nothing is stored."""
    user = await auth.require_staff(request, Role.admin)
    form = await request.post()
    problems: dict[str, str] = {}
    code: str | None = None
    labels: dict[str, str] | None = None
    try:
        code = clean_code(ui.text(form, "code", FIELD_LIMIT))
    except ValidationFailed as e:
        problems.update(e.fields)
    try:
        labels = clean_labels(form)
    except ValidationFailed as e:
        problems.update(e.fields)
    if problems or code is None or labels is None:
        return await _page(request, user, errors=problems, typed=_typed(form))
    try:
        async with request.app[POOL].acquire() as conn, conn.transaction():
            await customer_groups.add(conn, site_id=user.site_id, code=code, labels=labels, staff_id=user.id)
    except customer_groups.CodeTaken:
        return await _page(request, user, errors={"code": CODE_TAKEN}, typed=_typed(form))
    except customer_groups.TooManyGroups:
        return await _page(request, user, errors={"code": TOO_MANY}, typed=_typed(form))
    lang = ui.language(request, user)
    return ui.see_other(ui.url(request, "staff-admin-customer-groups"),
                        flash=("ok", translate(lang, N_("Customer group saved."))))


async def _own_group(request: web.Request, user: StaffUser) -> int:
    """The group id of the path, if the group is of the admin's office (else 404, as for any other office's)."""
    group_id = ui.int_param(request.match_info["group_id"], "group_id")
    async with request.app[POOL].acquire() as conn:
        if group_id not in {g.id for g in await customer_groups.list_for_site(conn, user.site_id)}:
            raise NotFound()
    return group_id


@routes.post(r"/staff/admin/customer-groups/{group_id:\d{1,18}}", name="staff-admin-customer-group-save")
@ui.pages
async def group_save(request: web.Request) -> web.Response:
    """Relabel a group, or switch it off or on (its code stays, as rules name it)."""
    user = await auth.require_staff(request, Role.admin)
    group_id = await _own_group(request, user)
    form = await request.post()
    try:
        labels = clean_labels(form)
    except ValidationFailed as e:
        return await _page(request, user, errors=e.fields, typed=_typed(form), error_for=group_id)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await customer_groups.update(conn, site_id=user.site_id, group_id=group_id, labels=labels,
                                     active=form.get("active") == "yes", staff_id=user.id)
    lang = ui.language(request, user)
    return ui.see_other(ui.url(request, "staff-admin-customer-groups"),
                        flash=("ok", translate(lang, N_("Customer group saved."))))


@routes.post(r"/staff/admin/customer-groups/{group_id:\d{1,18}}/delete", name="staff-admin-customer-group-delete")
@ui.pages
async def group_delete(request: web.Request) -> web.Response:
    """Delete a group; one that an active rule tests is only switched off, so the rule keeps its meaning."""
    user = await auth.require_staff(request, Role.admin)
    group_id = await _own_group(request, user)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        deleted = await customer_groups.delete(conn, site_id=user.site_id, group_id=group_id, staff_id=user.id,
                                               codes_in_rules=await codes_in_rules(conn, user.site_id))
    said = N_("Customer group deleted.") if deleted else \
        N_("Rules test this customer group, so it was switched off instead of deleted.")
    return ui.see_other(ui.url(request, "staff-admin-customer-groups"),
                        flash=("ok", translate(ui.language(request, user), said)))


# -- the client's groups on the request page ---------------------------------------------------------------

async def client_groups_context(conn: asyncpg.Connection, req: requests_.Request) -> dict[str, Any]:
    """What the request page shows: the office's groups (active ones, and inactive ones the client is in) and
    which the client belongs to."""
    member = await customer_groups.ids_of_client(conn, req.client_id)
    offered = [g for g in await customer_groups.list_for_site(conn, req.site_id) if g.active or g.id in member]
    return {"customer_groups": offered, "client_group_ids": member}


@routes.post(r"/staff/requests/{request_id:\d{1,18}}/customer-groups", name="staff-request-customer-groups")
@ui.pages
async def save_client_groups(request: web.Request) -> web.Response:
    """Set the groups of the request's client (the ticked ones); staff who may act on the request only."""
    user = await auth.require_staff(request)
    form = await request.post()
    request_id = ui.int_param(request.match_info["request_id"], "request_id")
    raw = form.getall("group", [])
    back = ui.url(request, "staff-request", request_id=request_id) + "#h-client"

    async def run() -> None:
        if len(raw) > customer_groups.MAX_GROUPS or not all(isinstance(v, str) and v.isdigit() and len(v) < 19
                                                            for v in raw):
            raise ValidationFailed(fields={"groups": UNKNOWN_GROUP})
        async with request.app[POOL].acquire() as conn, conn.transaction():
            req = await requests_.get(conn, request_id)
            check_may_act(user, site_id=req.site_id, team_id=req.team_id, staff_id=req.staff_id)
            try:
                await customer_groups.set_for_client(conn, site_id=req.site_id, client_id=req.client_id,
                                                     group_ids=[int(str(v)) for v in raw], staff_id=user.id)
            except customer_groups.UnknownGroup:
                raise ValidationFailed(fields={"groups": UNKNOWN_GROUP}) from None

    return await ui.perform(request, user, back, run, success=N_("The client's customer groups were saved."))
