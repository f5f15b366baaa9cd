"""A caseworker's own rules (policy/personal.py): what their team allows, save and activate versions, and a
preview of what they change for the caseworker's open requests. Stored as caseworker-scope rule sets."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

from scheduler import clients, concerns, planning, sites
from scheduler import requests as requests_
from scheduler import teams as teams_
from scheduler.errors import Forbidden, NotFound
from scheduler.policy import store
from scheduler.policy.personal import PersonalSettings
from scheduler.policy.personal_limits import TeamLimits, check, team_limits
from scheduler.policy.rules import Kind, Mode, RuleSet

PREVIEW_REQUESTS: Final = 5  # "a few of their open requests"
_RECENT: Final = 200  # newest requests of the caseworker looked through for open ones


@dataclass(frozen=True, slots=True)
class Frame:
    """What the caseworker's page needs: their team's limits and the concerns with labels, in the site's order."""

    team_id: int
    team_code: str
    limits: TeamLimits
    concern_labels: dict[str, dict[str, str]]  # code -> labels by language, concerns the team takes


@dataclass(frozen=True, slots=True)
class PreviewRow:
    request_id: int
    reference: str
    concern: str
    before_modes: tuple[Mode, ...]
    after_modes: tuple[Mode, ...]
    before_slots: tuple[datetime, ...]
    after_slots: tuple[datetime, ...]

    @property
    def changed(self) -> bool:
        """True when the modes or the proposed times differ."""
        return (self.before_modes, self.before_slots) != (self.after_modes, self.after_slots)


async def frame(conn: asyncpg.Connection, *, site: sites.Site, staff_id: int) -> Frame:
    """The limits of the caseworker's team; Forbidden for someone without a team."""
    team_id = await teams_.team_of_staff(conn, staff_id)
    if team_id is None:
        raise Forbidden()
    setup = await sites.setup(conn, site)
    team_code = setup.teams.code_by_id[team_id]
    active = setup.policies
    ruleset, _ = store.layered((team_code, active.teams.get(team_id)), ("site", active.site))
    listed = [r for r in await concerns.list_for_site(conn, site.id) if r["code"] in setup.concerns]
    limits = team_limits(ruleset, team_code=team_code, calendar=site.calendar(),
                         concerns=[(r["code"], setup.concerns[r["code"]].modes) for r in listed])
    labels = {r["code"]: dict(r["labels"]) for r in listed if r["code"] in limits.concerns}
    return Frame(team_id=team_id, team_code=team_code, limits=limits, concern_labels=labels)


async def versions(conn: asyncpg.Connection, *, site_id: int, staff_id: int) -> list[store.StoredPolicy]:
    """Every version of the caseworker's own rules, newest first."""
    return await store.history(conn, site_id=site_id, scope=store.Scope.caseworker, staff_id=staff_id)


async def _save(conn: asyncpg.Connection, *, site: sites.Site, staff_id: int,
                settings: PersonalSettings) -> store.StoredPolicy:
    check(settings, (await frame(conn, site=site, staff_id=staff_id)).limits)  # PersonalInvalid when it widens
    return await store.save_draft(conn, site_id=site.id, scope=store.Scope.caseworker, staff_id=staff_id,
                                  ruleset=RuleSet(rules=()), source_yaml="", owner_id=staff_id, personal=settings)


async def save(pool: asyncpg.Pool, *, site_id: int, staff_id: int, settings: PersonalSettings,
               activate: bool) -> store.StoredPolicy:
    """Store the settings as the caseworker's next version (checked against the team), and activate it if asked."""
    async with pool.acquire() as conn, conn.transaction():
        site = await sites.site_by_id(conn, site_id)
        saved = await _save(conn, site=site, staff_id=staff_id, settings=settings)
        return await store.activate(conn, saved.id, actor_id=staff_id) if activate else saved


async def activate(pool: asyncpg.Pool, *, site_id: int, staff_id: int, policy_id: int) -> store.StoredPolicy:
    """Make one of the caseworker's own versions the active one (also the rollback); others' are not found."""
    async with pool.acquire() as conn, conn.transaction():
        policy = await store.get(conn, policy_id)
        if policy.site_id != site_id or policy.scope is not store.Scope.caseworker or policy.staff_id != staff_id:
            raise NotFound()
        return await store.activate(conn, policy_id, actor_id=staff_id)


class _Rollback(Exception):
    """Ends the preview's transaction without keeping anything."""


async def _open_requests(conn: asyncpg.Connection, *, site_id: int, staff_id: int) -> list[requests_.Request]:
    recent = await requests_.list_recent(conn, site_id=site_id, team_id=None, staff_id=staff_id, limit=_RECENT)
    return [r for r in recent if r.status in requests_.OPEN][:PREVIEW_REQUESTS]


async def _outcome(conn: asyncpg.Connection, site: sites.Site, request: requests_.Request,
                   now: datetime) -> tuple[tuple[Mode, ...], tuple[datetime, ...]]:
    plan = await planning.make_plan(
        conn, site=site, kind=Kind.appointment, concern_code=request.concern_code,
        urgent=await concerns.is_urgent(conn, request.concern_id), channel=request.channel,
        language=request.language, modes=request.modes, client=await clients.get(conn, request.client_id),
        received_at=request.created_at, now=now, route=(request.team_id, request.staff_id))
    slots = await planning.find_slots(conn, site=site, plan=plan, language=request.language,
                                      windows=request.windows, now=now, exclude_request_id=request.id)
    return plan.decision.modes, tuple(s.start for s in slots)


async def preview(pool: asyncpg.Pool, *, site_id: int, staff_id: int, settings: PersonalSettings,
                  now: datetime) -> list[PreviewRow]:
    """What the settings would change for a few of the caseworker's open requests; nothing is stored.

    The draft is activated inside a transaction that is always rolled back, so the preview runs the planning
    code exactly as it will run once the settings are live.
    """
    rows: list[PreviewRow] = []
    async with pool.acquire() as conn:
        with contextlib.suppress(_Rollback):
            async with conn.transaction():
                site = await sites.site_by_id(conn, site_id)
                open_requests = await _open_requests(conn, site_id=site_id, staff_id=staff_id)
                before = [await _outcome(conn, site, r, now) for r in open_requests]
                draft = await _save(conn, site=site, staff_id=staff_id, settings=settings)
                await store.activate(conn, draft.id, actor_id=staff_id)
                site = await sites.site_by_id(conn, site_id)  # its config stamp changed with the draft
                for request, (b_modes, b_slots) in zip(open_requests, before, strict=True):
                    a_modes, a_slots = await _outcome(conn, site, request, now)
                    rows.append(PreviewRow(request.id, request.reference, request.concern_code, b_modes, a_modes,
                                           b_slots, a_slots))
                raise _Rollback()
    return rows
