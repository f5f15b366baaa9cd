"""Rules editor for team leads and admins: edit YAML, validate, preview the effect, save, activate, roll back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from aiohttp import web

from scheduler import preview, sites
from scheduler import teams as teams_
from scheduler.errors import Forbidden, NotFound
from scheduler.i18n import N_, translate
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser, may_manage_team
from scheduler.policy import store
from scheduler.policy.parse import MAX_YAML_CHARS, dump_yaml, load_yaml
from scheduler.policy.rules import RuleSet, RuleSetInvalid
from scheduler.staff import auth, rule_errors, ui

routes = web.RouteTableDef()
LEADS: Final = (Role.team_lead, Role.admin)
PREVIEW_LAST_N: Final = 50
STARTER: Final = "# Rules of this team; they are tried before the office's rules.\nrules: []\n"


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


async def _check_team(conn: asyncpg.Connection, user: StaffUser, scope: Scope) -> None:
    if scope.team_id is not None and \
            await teams_.site_of_team(conn, scope.team_id) != user.site_id:
        raise NotFound()


async def _page_context(conn: asyncpg.Connection, user: StaffUser, scope: Scope) -> dict[str, Any]:
    versions = await store.history(conn, site_id=user.site_id, scope=scope.kind, team_id=scope.team_id)
    names = await teams_.staff_names(conn, user.site_id)
    activators = await store.activators(conn, [v.id for v in versions])
    teams = await teams_.list_for_site(conn, user.site_id)
    site = await sites.site_by_id(conn, user.site_id)
    return {"versions": versions, "names": names, "activators": activators, "teams": teams, "scope": scope,
            "tz": site.timezone, "team_name": next((t["name"] for t in teams if t["id"] == scope.team_id), None)}


def _source(policy: store.StoredPolicy) -> str:
    return policy.source_yaml or dump_yaml(policy.ruleset)


def error_lines(lang: str, error: RuleSetInvalid) -> list[str]:
    """Every problem of a rule set, one line each, naming where it is, in the staff member's language."""
    return [rule_errors.describe(e, lang) for e in error.errors]


@routes.get("/staff/rules", name="staff-rules")
@ui.pages
async def rules_page(request: web.Request) -> web.Response:
    """The active rule set of the team (or a chosen version) in the editor, with the version history."""
    user = await ui.page_user(request, *LEADS)
    scope = scope_for(user, request.query.get("scope"))
    version_id = ui.optional_int(request.query.get("version"), "version")
    async with request.app[POOL].acquire() as conn:
        await _check_team(conn, user, scope)
        context = await _page_context(conn, user, scope)
    versions: list[store.StoredPolicy] = context["versions"]
    shown = next((v for v in versions if v.id == version_id), None) or \
        next((v for v in versions if v.status is store.PolicyStatus.active), None)
    return ui.render(request, "rules.html", {
        **context, "yaml": _source(shown) if shown else STARTER, "shown": shown, "errors": [], "valid": False,
        "preview_rows": None, "labels": ui.labels(ui.language(request, user)),
    })


@routes.post("/staff/rules", name="staff-rules-submit")
@ui.pages
async def rules_submit(request: web.Request) -> web.StreamResponse:
    """Validate or preview (shown at once), or save as draft / save and activate (then back to the editor)."""
    user = await auth.require_staff(request, *LEADS)
    form = await request.post()
    scope = scope_for(user, ui.text(form, "scope", 40))
    # One character over the limit, so that a longer text gets load_yaml's size error instead of being cut.
    text, action = ui.text(form, "yaml", MAX_YAML_CHARS + 1), ui.text(form, "action", 20)
    lang = ui.language(request, user)
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        await _check_team(conn, user, scope)
    ruleset: RuleSet | None = None
    errors: list[str] = []
    try:
        ruleset = load_yaml(text)
    except RuleSetInvalid as e:
        errors = error_lines(lang, e)
    if ruleset is not None and action in ("save", "activate"):
        back = ui.url(request, "staff-rules", {"scope": scope.field})
        async with pool.acquire() as conn, conn.transaction():
            draft = await store.save_draft(conn, site_id=user.site_id, scope=scope.kind, team_id=scope.team_id,
                                           ruleset=ruleset, source_yaml=text, owner_id=user.id)
            if action == "activate":
                await store.activate(conn, draft.id, actor_id=user.id)
        message = N_("Version %(version)s is active now.") if action == "activate" else \
            N_("Version %(version)s was saved as a draft.")
        return ui.see_other(back, flash=("ok", translate(lang, message, version=draft.version)))
    rows = None
    if ruleset is not None and action == "preview":
        rows = await preview.preview(pool, site_id=user.site_id, scope=scope.kind, team_id=scope.team_id,
                                     staff_id=None, ruleset=ruleset, owner_id=user.id, last_n=PREVIEW_LAST_N,
                                     now=datetime.now(UTC))
        rows.sort(key=lambda r: (not r.changed, r.after_position))
    async with pool.acquire() as conn:
        context = await _page_context(conn, user, scope)
    return ui.render(request, "rules.html", {
        **context, "yaml": text, "shown": None, "errors": errors, "valid": ruleset is not None,
        "preview_rows": rows, "labels": ui.labels(lang), "last_n": PREVIEW_LAST_N,
    }, status=422 if errors else 200)


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

    async def run() -> store.StoredPolicy:
        async with pool.acquire() as conn, conn.transaction():
            return await store.activate(conn, policy_id, actor_id=user.id)

    return await ui.perform(request, user, back, run, success=N_("The chosen version is active now."))
