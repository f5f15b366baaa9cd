"""Follow-up of a no-show, or of a callback that ends unreachable: what the policy's `follow_up` field says.

`none` records that nothing follows; `task` puts a to-do for the caseworker into their inbox, on the request or
callback; `invite` makes a new request on the client's behalf (channel staff, a voluntary invitation for now),
with slots proposed by the policy after the chosen lead time, for the caseworker to approve like any request.
The stored decision says which (a decision stored before follow-ups existed is decided afresh with the active
rules). Each missed appointment and each unreachable callback gets one follow-up row: a second call does
nothing (the row's unique appointment or callback).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import asyncpg

from scheduler import appointments, audit, callbacks, clients, concerns, planning, references, sites
from scheduler import requests as requests_
from scheduler.errors import InvalidTransition, NotFound
from scheduler.permissions import StaffUser, check_may_act
from scheduler.policy.decision import DEFAULTS_SOURCE, Decision, ExplanationLine
from scheduler.policy.rules import Channel, FollowUp, FollowUpAction, Kind, format_workdays


class Cause(StrEnum):
    no_show = "no_show"
    unreachable = "unreachable"


class FollowUpStatus(StrEnum):
    open = "open"
    done = "done"


@dataclass(frozen=True, slots=True)
class Followup:
    id: int
    site_id: int
    cause: Cause
    appointment_id: int | None
    callback_id: int | None
    request_id: int | None
    client_id: int
    team_id: int | None
    staff_id: int | None
    action: FollowUpAction
    lead_time: int | None
    rule_id: str
    invite_request_id: int | None
    status: FollowUpStatus
    created_at: datetime
    reference: str | None = None  # of the request or callback, where a list shows it
    holder: str | None = None  # the caseworker who holds it, where a team's list shows it


_COLUMNS: Final = """id, site_id, cause, appointment_id, callback_id, request_id, client_id, team_id, staff_id, action,
lead_time, rule_id, invite_request_id, status, created_at"""


def _from_row(row: Mapping[str, Any]) -> Followup:
    return Followup(**{**row, "cause": Cause(row["cause"]), "action": FollowUpAction(row["action"]),
                       "status": FollowUpStatus(row["status"])})


@dataclass(frozen=True, slots=True)
class _Case:
    """What a follow-up needs of the missed appointment's request, or of the unreachable callback."""

    site_id: int
    client_id: int
    concern_id: int
    concern_code: str
    channel: Channel
    language: str
    modes: tuple[str, ...]
    windows: Mapping[str, Any]
    team_id: int | None
    staff_id: int | None
    decision: Decision | None
    received_at: datetime
    sms_consent: bool


async def after_no_show(conn: asyncpg.Connection, *, appointment_id: int, actor: str, now: datetime) -> None:
    """Start the follow-up the policy chose for a no-show; a second call for the same appointment does nothing."""
    appointment = await appointments.get(conn, appointment_id)
    request = await requests_.get(conn, appointment.request_id)
    case = _Case(request.site_id, request.client_id, request.concern_id, request.concern_code, request.channel,
                 request.language, request.modes, request.windows, request.team_id, appointment.staff_id,
                 request.decision, request.created_at, request.sms_consent)
    await _follow_up(conn, case, cause=Cause.no_show, appointment_id=appointment_id, callback_id=None,
                     request_id=request.id, kind=Kind.appointment, actor=actor, now=now)


async def after_unreachable(conn: asyncpg.Connection, *, callback_id: int, actor: str, now: datetime) -> None:
    """Start the follow-up the policy chose for a callback that ended unreachable; once per callback."""
    cb = await callbacks.get(conn, callback_id)
    if cb.status is not callbacks.CallbackStatus.unreachable:
        return
    case = _Case(cb.site_id, cb.client_id, cb.concern_id, cb.concern_code, cb.channel, cb.language, (),
                 cb.windows, cb.team_id, cb.staff_id, cb.decision, cb.created_at, cb.sms_consent)
    await _follow_up(conn, case, cause=Cause.unreachable, appointment_id=None, callback_id=callback_id,
                     request_id=None, kind=Kind.callback, actor=actor, now=now)


async def _follow_up(conn: asyncpg.Connection, case: _Case, *, cause: Cause, appointment_id: int | None,
                     callback_id: int | None, request_id: int | None, kind: Kind, actor: str, now: datetime) -> None:
    site = await sites.site_by_id(conn, case.site_id)
    follow_up, rule_id = await _chosen(conn, case, site=site, kind=kind, now=now)
    status = FollowUpStatus.open if follow_up.action is FollowUpAction.task else FollowUpStatus.done
    followup_id = await conn.fetchval(
        """
        INSERT INTO followups (site_id, cause, appointment_id, callback_id, request_id, client_id, team_id, staff_id,
                               action, lead_time, rule_id, status, created_by, done_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                CASE WHEN $12::text = 'done' THEN $14::timestamptz END)
        ON CONFLICT DO NOTHING
        RETURNING id
        """,
        case.site_id, cause.value, appointment_id, callback_id, request_id, case.client_id, case.team_id,
        case.staff_id, follow_up.action.value, follow_up.lead_time, rule_id, status.value, actor, now,
    )
    if followup_id is None:
        return  # already followed up (a retried or concurrent call)
    invited: int | None = None
    if follow_up.action is FollowUpAction.invite:
        assert follow_up.lead_time is not None
        invited = await _invite(conn, case, site=site, lead_time=follow_up.lead_time, rule_id=rule_id,
                                key=f"followup-{followup_id}", actor=actor, now=now)
        await conn.execute("UPDATE followups SET invite_request_id = $2 WHERE id = $1", followup_id, invited)
    subject = ("request", request_id) if request_id is not None else ("callback", callback_id)
    await audit.record(conn, site_id=case.site_id, actor=actor, action=f"followup.{follow_up.action.value}",
                       subject_type=subject[0], subject_id=subject[1],
                       details={"cause": cause.value, "rule": rule_id, "followup_id": followup_id,
                                **({"invite_request_id": invited} if invited else {})})


async def _chosen(conn: asyncpg.Connection, case: _Case, *, site: sites.Site, kind: Kind,
                  now: datetime) -> tuple[FollowUp, str]:
    """The stored decision's follow-up and what set it; decided afresh if the decision predates the field."""
    decision = case.decision
    if decision is None or decision.follow_up is None:
        plan = await _plan(conn, case, site=site, kind=kind, channel=case.channel, received_at=case.received_at,
                           now=now)
        decision = plan.decision
    assert decision.follow_up is not None
    line = next((e for e in decision.explanation if e.field == "follow_up"), None)
    return decision.follow_up, line.rule_id if line is not None else DEFAULTS_SOURCE


async def _plan(conn: asyncpg.Connection, case: _Case, *, site: sites.Site, kind: Kind, channel: Channel,
                received_at: datetime, now: datetime, invitation: bool = False) -> planning.Plan:
    # Routed to the same caseworker (or team), so their own rules are the ones that apply.
    return await planning.make_plan(
        conn, site=site, kind=kind, concern_code=case.concern_code,
        urgent=await concerns.is_urgent(conn, case.concern_id), channel=channel, language=case.language,
        modes=case.modes, client=await clients.get(conn, case.client_id), received_at=received_at, now=now,
        route=(case.team_id, case.staff_id), invitation=invitation)


def _with_lead_time(decision: Decision, *, lead_time: int, rule_id: str, site: sites.Site, now: datetime) -> Decision:
    """The invitation's decision: its window starts `lead_time` workdays ahead, and a person approves it."""
    calendar = site.calendar()
    earliest = now if lead_time == 0 else calendar.add_workdays(now, lead_time)
    latest = max(decision.latest_start, earliest + (decision.latest_start - decision.earliest_start))
    lines = tuple(ExplanationLine("lead_time", rule_id, format_workdays(lead_time)) if e.field == "lead_time" else e
                  for e in decision.explanation)
    return dataclasses.replace(decision, earliest_start=earliest, latest_start=latest, auto_confirm=False,
                               explanation=lines)


async def _invite(conn: asyncpg.Connection, case: _Case, *, site: sites.Site, lead_time: int, rule_id: str,
                  key: str, actor: str, now: datetime) -> int:
    """A new request for the client, made by the staff channel, with proposals after the lead time."""
    plan = await _plan(conn, case, site=site, kind=Kind.appointment, channel=Channel.staff, received_at=now, now=now,
                       invitation=True)
    decision = _with_lead_time(plan.decision, lead_time=lead_time, rule_id=rule_id, site=site, now=now)
    plan = dataclasses.replace(plan, decision=decision, auto_confirm=False)
    # The client's weekdays and times of day still hold; dates they named for the missed one do not.
    windows = {k: v for k, v in case.windows.items() if k in ("weekdays", "parts")}
    slots = await planning.find_slots(conn, site=site, plan=plan, language=case.language, windows=windows, now=now)
    events: list[tuple[str, str, Mapping[str, object]]] = [
        (actor, "request.received", {"channel": Channel.staff.value, "concern": case.concern_code,
                                     "follow_up": key})]
    if slots:
        events.append(("policy", "request.proposed", {"proposals": len(slots)}))
    new = requests_.NewRequest(
        site_id=case.site_id, client_id=case.client_id, concern_id=case.concern_id, channel=Channel.staff,
        language=case.language, modes=list(case.modes), windows=windows, note="", idempotency_key=None,
        invitation="voluntary", notice_text=None, created_by=case.staff_id, server_key=key,
        status=requests_.Status.proposed if slots else requests_.Status.received, decision=decision,
        team_id=plan.team_id, staff_id=plan.staff_id, deadline_at=plan.deadline_at, policy_ids=plan.policy_ids,
        proposals=slots, events=events, sms_consent=case.sms_consent)
    for _ in range(3):  # a reference or link token already taken (rare): draw new ones
        stored = await requests_.insert(conn, new, reference=references.new_reference(),
                                        link_token=references.new_link_token())
        if stored is not None:
            return stored.id
    raise RuntimeError("three references in a row were taken")


async def list_open_tasks(conn: asyncpg.Connection, *, site_id: int, staff_id: int | None,
                          team_id: int | None, whole_team: bool = False, limit: int = 50) -> list[Followup]:
    """Open follow-up tasks for a caseworker's inbox: theirs, and their team's that nobody holds; with
    `whole_team` (the team view), every open task of the team, whoever holds it."""
    columns = ", ".join(f"f.{c.strip()}" for c in _COLUMNS.split(","))
    rows = await conn.fetch(
        f"""
        SELECT {columns}, coalesce(r.reference, b.reference) AS reference, s.display_name AS holder
        FROM followups f
        LEFT JOIN requests r ON r.id = f.request_id
        LEFT JOIN callbacks b ON b.id = f.callback_id
        LEFT JOIN staff s ON s.id = f.staff_id
        WHERE f.site_id = $1 AND f.status = 'open'
          AND CASE WHEN $5 THEN f.team_id = $3
                   ELSE f.staff_id = $2 OR (f.staff_id IS NULL AND f.team_id = $3) END
        ORDER BY f.created_at, f.id LIMIT $4
        """,
        site_id, staff_id, team_id, limit, whole_team,
    )
    return [_from_row(r) for r in rows]


async def list_tasks_for_request(conn: asyncpg.Connection, request_id: int) -> list[Followup]:
    """The to-dos after the no-shows of one request (shown on its page): open ones first, then newest first."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM followups WHERE request_id = $1 AND action = 'task'
        ORDER BY (status = 'open') DESC, created_at DESC, id DESC
        """,
        request_id,
    )
    return [_from_row(r) for r in rows]


async def get(conn: asyncpg.Connection, followup_id: int) -> Followup:
    """One follow-up, or NotFound."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM followups WHERE id = $1", followup_id)
    if row is None:
        raise NotFound()
    return _from_row(row)


async def for_cases(conn: asyncpg.Connection, *, appointment_ids: Sequence[int] = (),
                    callback_ids: Sequence[int] = ()) -> list[Followup]:
    """The follow-ups of these appointments and callbacks."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM followups WHERE appointment_id = ANY($1) OR callback_id = ANY($2) ORDER BY id",
        list(appointment_ids), list(callback_ids),
    )
    return [_from_row(r) for r in rows]


async def complete_task(conn: asyncpg.Connection, followup_id: int, *, staff_id: int, actor: str,
                        now: datetime) -> Followup:
    """Mark an open follow-up task done; a second (or concurrent) mark answers InvalidTransition (409)."""
    row = await conn.fetchrow(
        f"""
        UPDATE followups SET status = 'done', done_at = $2, done_by = $3
        WHERE id = $1 AND status = 'open' RETURNING {_COLUMNS}
        """,
        followup_id, now, staff_id,
    )
    if row is None:
        raise InvalidTransition()
    done = _from_row(row)
    subject = ("request", done.request_id) if done.request_id is not None else ("callback", done.callback_id)
    await audit.record(conn, site_id=done.site_id, actor=actor, action="followup.done",
                       subject_type=subject[0], subject_id=subject[1], details={"followup_id": followup_id})
    return done


async def complete(pool: asyncpg.Pool, *, followup_id: int, user: StaffUser, now: datetime) -> Followup:
    """A caseworker marks their follow-up task done (their own, or their team's); once only."""
    async with pool.acquire() as conn, conn.transaction():
        task = await get(conn, followup_id)
        check_may_act(user, site_id=task.site_id, team_id=task.team_id, staff_id=task.staff_id)
        return await complete_task(conn, followup_id, staff_id=user.id, actor=user.actor, now=now)
