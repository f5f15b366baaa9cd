"""Rule sets in the database: versions per site, team or caseworker, one active per scope."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from scheduler import audit
from scheduler.errors import InvalidTransition, NotFound
from scheduler.policy.parse import parse_ruleset
from scheduler.policy.personal import PersonalSettings, parse_personal
from scheduler.policy.rules import Rule, RuleSet


class Scope(StrEnum):
    site = "site"
    team = "team"
    caseworker = "caseworker"


class PolicyStatus(StrEnum):
    draft = "draft"
    active = "active"
    retired = "retired"


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    id: int
    site_id: int
    scope: Scope
    team_id: int | None
    staff_id: int | None
    version: int
    status: PolicyStatus
    ruleset: RuleSet
    source_yaml: str
    owner_id: int | None
    created_at: datetime
    activated_at: datetime | None
    personal: PersonalSettings | None = None  # a caseworker's own settings (policy/personal.py)


@dataclass(frozen=True, slots=True)
class ActivePolicies:
    """Every active rule set of a site, by scope."""

    site: StoredPolicy | None
    teams: dict[int, StoredPolicy]
    caseworkers: dict[int, StoredPolicy]


COLUMNS = ("id, site_id, scope, team_id, staff_id, version, status, rules, source_yaml, owner_id, "
           "created_at, activated_at")


# A stored version's rules never change (a change is a new version), so each is parsed once per process.
# Keyed by id and creation time: a database restored or reset may hand out an id again.
_PARSED: dict[tuple[int, datetime], RuleSet] = {}


def _ruleset(policy_id: int, created_at: datetime, rules: Mapping[str, object]) -> RuleSet:
    key = (policy_id, created_at)
    parsed = _PARSED.get(key)
    if parsed is None:
        if len(_PARSED) > 10_000:
            _PARSED.clear()
        parsed = _PARSED[key] = parse_ruleset(rules)
    return parsed


def _from_row(row: asyncpg.Record) -> StoredPolicy:
    rules, personal = row["rules"], row["rules"].get("personal")
    if personal is not None:  # a caseworker's own settings ride along in their rule set's JSON
        rules = {k: v for k, v in rules.items() if k != "personal"}
    return StoredPolicy(
        id=row["id"], site_id=row["site_id"], scope=Scope(row["scope"]), team_id=row["team_id"],
        staff_id=row["staff_id"], version=row["version"], status=PolicyStatus(row["status"]),
        ruleset=_ruleset(row["id"], row["created_at"], rules), source_yaml=row["source_yaml"],
        owner_id=row["owner_id"],
        created_at=row["created_at"], activated_at=row["activated_at"],
        personal=None if personal is None else parse_personal(personal),
    )


async def active(conn: asyncpg.Connection, site_id: int) -> ActivePolicies:
    """The active rule sets of a site."""
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM policies WHERE site_id = $1 AND status = 'active'", site_id)
    policies = [_from_row(r) for r in rows]
    return ActivePolicies(
        site=next((p for p in policies if p.scope is Scope.site), None),
        teams={p.team_id: p for p in policies if p.scope is Scope.team and p.team_id is not None},
        caseworkers={p.staff_id: p for p in policies if p.scope is Scope.caseworker and p.staff_id is not None},
    )


async def get(conn: asyncpg.Connection, policy_id: int) -> StoredPolicy:
    """One stored rule set version."""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM policies WHERE id = $1", policy_id)
    if row is None:
        raise NotFound()
    return _from_row(row)


async def history(conn: asyncpg.Connection, *, site_id: int, scope: Scope, team_id: int | None = None,
                  staff_id: int | None = None) -> list[StoredPolicy]:
    """Every version of one scope, newest first."""
    rows = await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM policies
        WHERE site_id = $1 AND scope = $2 AND team_id IS NOT DISTINCT FROM $3 AND staff_id IS NOT DISTINCT FROM $4
        ORDER BY version DESC
        """,
        site_id, scope, team_id, staff_id,
    )
    return [_from_row(r) for r in rows]


async def activators(conn: asyncpg.Connection, policy_ids: list[int]) -> dict[int, int | None]:
    """Who activated each of the listed versions (a staff id, or None), by policy id."""
    rows = await conn.fetch("SELECT id, activated_by FROM policies WHERE id = ANY($1)", policy_ids)
    return {r["id"]: r["activated_by"] for r in rows}


async def save_draft(conn: asyncpg.Connection, *, site_id: int, scope: Scope, ruleset: RuleSet,
                     source_yaml: str, owner_id: int, team_id: int | None = None,
                     staff_id: int | None = None, personal: PersonalSettings | None = None) -> StoredPolicy:
    """Store a validated rule set as the next draft version of its scope."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO policies (site_id, scope, team_id, staff_id, version, status, rules, source_yaml, owner_id)
        SELECT $1, $2, $3, $4, coalesce(max(version), 0) + 1, 'draft', $5, $6, $7
        FROM policies
        WHERE site_id = $1 AND scope = $2 AND team_id IS NOT DISTINCT FROM $3 AND staff_id IS NOT DISTINCT FROM $4
        RETURNING {COLUMNS}
        """,
        site_id, scope, team_id, staff_id,
        ruleset.to_dict() | ({"personal": personal.to_dict()} if personal is not None else {}), source_yaml, owner_id,
    )
    _PARSED[(row["id"], row["created_at"])] = ruleset  # stored from this rule set: no need to parse it back
    policy = _from_row(row)
    await audit.record(conn, site_id=site_id, actor=f"staff:{owner_id}", action="policy.draft",
                       subject_type="policy", subject_id=policy.id, details={"version": policy.version})
    return policy


async def activate(conn: asyncpg.Connection, policy_id: int, *, actor_id: int) -> StoredPolicy:
    """Make a version the active one of its scope (the previous active one is retired); also rolls back."""
    target = await get(conn, policy_id)
    if target.status is PolicyStatus.active:
        raise InvalidTransition()
    await conn.execute(
        """
        UPDATE policies SET status = 'retired'
        WHERE site_id = $1 AND scope = $2 AND team_id IS NOT DISTINCT FROM $3
          AND staff_id IS NOT DISTINCT FROM $4 AND status = 'active'
        """,
        target.site_id, target.scope, target.team_id, target.staff_id,
    )
    row = await conn.fetchrow(
        f"""
        UPDATE policies SET status = 'active', activated_at = now(), activated_by = $2
        WHERE id = $1 AND status IN ('draft', 'retired') RETURNING {COLUMNS}
        """,
        policy_id, actor_id,
    )
    if row is None:
        raise InvalidTransition()
    await audit.record(conn, site_id=target.site_id, actor=f"staff:{actor_id}", action="policy.activate",
                       subject_type="policy", subject_id=policy_id, details={"version": target.version})
    return _from_row(row)


_NO_RULES: tuple[RuleSet, tuple[int, ...]] = (RuleSet(rules=()), ())


def layered(*layers: tuple[str, StoredPolicy | None]) -> tuple[RuleSet, tuple[int, ...]]:
    """Merge rule sets, most specific first: its rules are tried first and its settings win.

    Rules of every layer but the site's get their layer as prefix ("u25:fast-track"), so an explanation
    says whose rule decided, and auto-confirmation can be limited to the owning team's own rules.
    """
    present = tuple((name, p.scope, p.ruleset, p.id) for name, p in layers if p is not None)
    return _merge_layers(present) if present else _NO_RULES


def layers_for(active: ActivePolicies, *, staff_id: int | None, team_id: int | None,
               team_code: str | None) -> list[tuple[str, StoredPolicy | None]]:
    """The layers that decide a request routed to this caseworker and team: caseworker, team, site."""
    layers: list[tuple[str, StoredPolicy | None]] = []
    if staff_id is not None:
        layers.append((f"caseworker-{staff_id}", active.caseworkers.get(staff_id)))
    if team_id is not None and team_code:
        layers.append((team_code, active.teams.get(team_id)))
    layers.append(("site", active.site))
    return layers


# Every intake layers the same few rule sets again: the merged rule set is kept (keyed by the layers' rule
# sets themselves), so it is the same object each time and decide() finds what it derived from it.
@functools.lru_cache(maxsize=1_024)
def _merge_layers(present: tuple[tuple[str, Scope, RuleSet, int], ...]) -> tuple[RuleSet, tuple[int, ...]]:
    rules: list[Rule] = []
    for name, scope, ruleset, _ in present:
        for rule in ruleset.rules:
            rules.append(rule if scope is Scope.site else dataclasses.replace(rule, id=f"{name}:{rule.id}"))
    # A caseworker's rules come first, but never their settings: they cannot widen the team's defaults or caps.
    top = next((rs for _, scope, rs, _ in present if scope is not Scope.caseworker), RuleSet(rules=()))
    merged = RuleSet(rules=tuple(rules), defaults=top.defaults, ordering=top.ordering, caps=top.caps,
                     callbacks=top.callbacks)
    return merged, tuple(policy_id for *_, policy_id in present)
