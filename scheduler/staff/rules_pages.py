"""Rules editor for team leads and admins: build rules in a form (or edit YAML in the advanced view), check,
preview the effect, save, activate, roll back; export and import YAML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from aiohttp import web

from scheduler import concerns, customer_groups, preview, sites
from scheduler import teams as teams_
from scheduler.errors import Forbidden, NotFound
from scheduler.i18n import N_, translate
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser, may_manage_team
from scheduler.policy import store
from scheduler.policy.parse import MAX_YAML_CHARS, dump_yaml, load_yaml
from scheduler.policy.rules import RuleError, RuleSet, RuleSetInvalid
from scheduler.staff import (
    auth,
    preview_impact_view,
    rule_errors,
    rule_form,
    rule_form_view,
    rule_groups,
    rule_templates,
    rule_versions,
    ui,
)

routes = web.RouteTableDef()
LEADS: Final = (Role.team_lead, Role.admin)
PREVIEW_LAST_N: Final = 50
STARTER: Final = "# Rules of this team; they are tried before the office's rules.\nrules: []\n"
VIEWS: Final = ("builder", "advanced")


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose rule set is edited: the site's (admins only) or one team's."""

    kind: store.Scope
    team_id: int | None

    @property
    def field(self) -> str:
        """The value of the scope form field."""
        return "site" if self.team_id is None else f"team:{self.team_id}"


def scope_for(user: StaffUser, raw: str | None) -> Scope:
    """The scope a user asked for; team leads always edit their own team's rules."""
    if user.role is Role.team_lead:
        if user.team_id is None:
            raise Forbidden()
        return Scope(store.Scope.team, user.team_id)
    if not raw or raw == "site":
        return Scope(store.Scope.site, None)
    kind, _, team = raw.partition(":")
    if kind != "team":
        raise web.HTTPBadRequest(text="scope must be site or team:ID")
    return Scope(store.Scope.team, ui.int_param(team, "team"))


async def _check_team(conn: asyncpg.Connection, user: StaffUser, scope: Scope) -> frozenset[str]:
    """404 for another office's team; the codes of the office's customer groups, which rules may test."""
    if scope.team_id is not None and \
            await teams_.site_of_team(conn, scope.team_id) != user.site_id:
        raise NotFound()
    return frozenset(g.code for g in await customer_groups.list_for_site(conn, user.site_id))


async def _page_context(conn: asyncpg.Connection, user: StaffUser, scope: Scope, lang: str) -> dict[str, Any]:
    versions = await store.history(conn, site_id=user.site_id, scope=scope.kind, team_id=scope.team_id)
    names = await teams_.staff_names(conn, user.site_id)
    activators = await store.activators(conn, [v.id for v in versions])
    teams = await teams_.list_for_site(conn, user.site_id)
    site = await sites.site_by_id(conn, user.site_id)
    team_names, staff_names = await teams_.directory(conn, user.site_id)
    active_groups = await customer_groups.list_for_site(conn, user.site_id, active_only=True)
    groups = [(g.code, g.label(lang)) for g in active_groups]
    opts = rule_form_view.options(lang, concerns=await concerns.list_for_site(conn, user.site_id),
                                  teams=team_names, staff=staff_names, groups=groups)
    return {"versions": versions, "names": names, "activators": activators, "teams": teams, "scope": scope,
            "tz": site.timezone, "team_name": next((t["name"] for t in teams if t["id"] == scope.team_id), None),
            "labels": ui.labels(lang), "opts": opts, **await rule_versions.context(conn, user.site_id, versions)}


def _source(policy: store.StoredPolicy) -> str:
    return policy.source_yaml or dump_yaml(policy.ruleset)


def error_lines(lang: str, error: RuleSetInvalid) -> list[str]:
    """Every problem of a rule set, one line each, naming where it is, in the staff member's language."""
    return [rule_errors.describe(e, lang) for e in error.errors]


def _default_minutes(state: rule_form.FormState) -> int:
    typed = state.value("defaults.duration")
    return int(typed) if typed.isdigit() and int(typed) < 1000 else 30


def _builder(context: Mapping[str, Any], lang: str, state: rule_form.FormState,
             errors: tuple[RuleError, ...] = ()) -> dict[str, Any]:
    """The entries of the form view: its values, field table, options and each problem at its field."""
    return {"view": "builder", "state": state, "field_errors": rule_form_view.field_errors(errors, lang),
            **rule_form_view.builder_context(lang, context["opts"], _default_minutes(state))}


def _export(ruleset: RuleSet, name: str) -> web.Response:
    return web.Response(text=dump_yaml(ruleset), content_type="application/yaml", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}.yaml"', "Cache-Control": "no-store"})


@routes.get("/staff/rules", name="staff-rules")
@ui.pages
async def rules_page(request: web.Request) -> web.Response:
    """The active rule set of the team (or a chosen version) in the form (or the YAML editor), with the versions."""
    user = await ui.page_user(request, *LEADS)
    scope = scope_for(user, request.query.get("scope"))
    version_id = ui.optional_int(request.query.get("version"), "version")
    view = request.query.get("view", "builder")
    lang = ui.language(request, user)
    async with request.app[POOL].acquire() as conn:
        await _check_team(conn, user, scope)
        context = await _page_context(conn, user, scope, lang)
    versions: list[store.StoredPolicy] = context["versions"]
    shown = next((v for v in versions if v.id == version_id), None) or \
        next((v for v in versions if v.status is store.PolicyStatus.active), None)
    page = {**context, "yaml": _source(shown) if shown else STARTER, "shown": shown, "errors": [], "valid": False,
            "preview_rows": None, "view": "advanced"}
    if view != "advanced":
        page.update(_builder(context, lang, rule_form.state_of(shown.ruleset if shown else RuleSet(rules=()))))
    return ui.render(request, "rules.html", page)


@routes.get("/staff/rules/export", name="staff-rules-export")
@ui.pages
async def export(request: web.Request) -> web.Response:
    """The shown version (or the active one) as a YAML file to download."""
    user = await ui.page_user(request, *LEADS)
    scope = scope_for(user, request.query.get("scope"))
    version_id = ui.optional_int(request.query.get("version"), "version")
    async with request.app[POOL].acquire() as conn:
        await _check_team(conn, user, scope)
        versions = await store.history(conn, site_id=user.site_id, scope=scope.kind, team_id=scope.team_id)
    shown = next((v for v in versions if v.id == version_id or (version_id is None and v.status == "active")), None)
    if shown is None:
        raise NotFound()
    return _export(shown.ruleset, f"rules-{scope.field.replace(':', '-')}-v{shown.version}")


async def _read_yaml(form: Mapping[str, Any]) -> str:
    """The pasted YAML, or an uploaded file's text when one was chosen (one character over the limit, so that a
    longer text gets load_yaml's size error instead of being cut)."""
    upload = form.get("yaml_file")
    if isinstance(upload, web.FileField) and upload.filename:
        raw = upload.file.read(4 * (MAX_YAML_CHARS + 1))
        return raw.decode("utf-8", errors="replace")[:MAX_YAML_CHARS + 1]
    return ui.text(form, "yaml", MAX_YAML_CHARS + 1)


async def _save(request: web.Request, user: StaffUser, scope: Scope, ruleset: RuleSet, text: str, action: str,
                lang: str, view: str) -> web.Response:
    """Store the rule set as the next draft, and activate it when asked; then back to the editor's view."""
    back = ui.url(request, "staff-rules", {"scope": scope.field} | ({"view": view} if view != "builder" else {}))
    async with request.app[POOL].acquire() as conn, conn.transaction():
        draft = await store.save_draft(conn, site_id=user.site_id, scope=scope.kind, team_id=scope.team_id,
                                       ruleset=ruleset, source_yaml=text, owner_id=user.id)
        if action == "activate":
            previous = await rule_versions.active_ruleset(conn, draft)
            activated = await store.activate(conn, draft.id, actor_id=user.id)
            said = await rule_versions.activation_message(conn, lang, previous=previous, activated=activated)
            return ui.see_other(back, flash=("ok", said))
    message = N_("Version %(version)s was saved as a draft.")
    return ui.see_other(back, flash=("ok", translate(lang, message, version=draft.version)))


async def _checked(request: web.Request, user: StaffUser, scope: Scope, ruleset: RuleSet | None, action: str,
                   form: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """The page's context after a check or preview: the preview rows and the impact of a valid rule set."""
    pool = request.app[POOL]
    rows = None
    if ruleset is not None and action == "preview":
        rows = await preview.preview(pool, site_id=user.site_id, scope=scope.kind, team_id=scope.team_id,
                                     staff_id=None, ruleset=ruleset, owner_id=user.id, last_n=PREVIEW_LAST_N,
                                     now=datetime.now(UTC))
        rows.sort(key=lambda r: (not r.changed, r.after_position))
    impact = await preview_impact_view.context(
        pool, site_id=user.site_id, scope=scope.kind, team_id=scope.team_id, lang=lang,
        ruleset=ruleset if action == "preview" else None, raw_weeks=ui.text(form, preview_impact_view.WEEKS_FIELD, 3))
    async with pool.acquire() as conn:
        context = await _page_context(conn, user, scope, lang)
    return {**context, "shown": None, "valid": ruleset is not None, "preview_rows": rows, "last_n": PREVIEW_LAST_N,
            **impact}


@routes.post("/staff/rules", name="staff-rules-submit")
@ui.pages
async def rules_submit(request: web.Request) -> web.StreamResponse:
    """The advanced view: validate or preview YAML (shown at once), open it in the form (import), or save as draft
    / save and activate (then back to the editor)."""
    user = await auth.require_staff(request, *LEADS)
    form = await request.post()
    scope = scope_for(user, ui.text(form, "scope", 40))
    text, action = await _read_yaml(form), ui.text(form, "action", 20)
    lang = ui.language(request, user)
    async with request.app[POOL].acquire() as conn:
        known_groups = await _check_team(conn, user, scope)
    ruleset: RuleSet | None = None
    errors: list[str] = []
    try:
        ruleset = rule_groups.check(load_yaml(text), known_groups)
    except RuleSetInvalid as e:
        errors = error_lines(lang, e)
    if ruleset is not None and action in ("save", "activate"):
        return await _save(request, user, scope, ruleset, text, action, lang, "advanced")
    context = await _checked(request, user, scope, ruleset, action, form, lang)
    page = {**context, "yaml": text, "errors": errors, "view": "advanced"}
    if ruleset is not None and action == "import":  # the imported rules, in the form, to edit and save there
        page.update(_builder(context, lang, rule_form.state_of(ruleset)))
    return ui.render(request, "rules.html", page, status=422 if errors or context["impact_error"] else 200)


@routes.post("/staff/rules/builder", name="staff-rules-builder")
@ui.pages
async def builder_submit(request: web.Request) -> web.StreamResponse:
    """The form view: move, add or remove a rule or add a template (shown again at once), check, preview, export,
    or save as draft / save and activate."""
    user = await auth.require_staff(request, *LEADS)
    form = await request.post()
    scope = scope_for(user, ui.text(form, "scope", 40))
    action = ui.text(form, "action", 40)
    lang = ui.language(request, user)
    async with request.app[POOL].acquire() as conn:
        known_groups = await _check_team(conn, user, scope)
    state = rule_form.read(form)
    if rule_form.apply(state, action, rule_templates.form_values(_default_minutes(state))):
        async with request.app[POOL].acquire() as conn:
            context = await _page_context(conn, user, scope, lang)
        return ui.render(request, "rules.html", {
            **context, "shown": None, "errors": [], "valid": False, "preview_rows": None, "yaml": "",
            **_builder(context, lang, state)})
    ruleset: RuleSet | None = None
    problems: tuple[RuleError, ...] = ()
    try:
        ruleset = rule_groups.check(rule_form.build(state), known_groups)
    except RuleSetInvalid as e:
        problems = e.errors
    if ruleset is not None and action == "export":
        return _export(ruleset, f"rules-{scope.field.replace(':', '-')}")
    if ruleset is not None and action in ("save", "activate"):
        # No YAML text of its own: the advanced view and the export write it from the stored rules when asked.
        return await _save(request, user, scope, ruleset, "", action, lang, "builder")
    context = await _checked(request, user, scope, ruleset, action, form, lang)
    page = {**context, "yaml": dump_yaml(ruleset) if ruleset else "", "errors": [],
            **_builder(context, lang, state, problems)}
    return ui.render(request, "rules.html", page, status=422 if problems or context["impact_error"] else 200)


@routes.post(r"/staff/rules/{policy_id:\d{1,18}}/activate", name="staff-rules-activate")
@ui.pages
async def activate(request: web.Request) -> web.Response:
    """Make an earlier version (or a draft) the active one: this is also the roll-back."""
    user = await auth.require_staff(request, *LEADS)
    policy_id = ui.int_param(request.match_info["policy_id"], "policy_id")
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        policy = await store.get(conn, policy_id)
    if policy.site_id != user.site_id or policy.scope is store.Scope.caseworker or \
            not may_manage_team(user, policy.team_id):
        raise Forbidden()
    scope = Scope(policy.scope, policy.team_id)
    back = ui.url(request, "staff-rules", {"scope": scope.field})

    said: list[str] = []

    async def run() -> store.StoredPolicy:
        async with pool.acquire() as conn, conn.transaction():
            previous = await rule_versions.active_ruleset(conn, policy)
            activated = await store.activate(conn, policy_id, actor_id=user.id)
            said.append(await rule_versions.activation_message(conn, ui.language(request, user), previous=previous,
                                                               activated=activated))
            return activated

    response = await ui.perform(request, user, back, run, success=N_("The chosen version is active now."))
    if said:  # activated: say what changed against the version that was active
        ui.set_flash(response, "ok", said[0])
    return response
