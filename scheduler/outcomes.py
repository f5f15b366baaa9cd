"""How an appointment ended: the caseworker's one-click outcome, and the job that flags unmarked ones.

Held closes the request as done; a no-show closes it as no_show and starts the follow-up the policy chose
(followups.after_no_show, same transaction); cancelled by the office puts the request back into its
caseworker's queue with fresh proposals (the client still has their concern) and tells the client by SMS.

Appointments still unmarked at the end of the next working day after them (site calendar) are flagged to
their caseworker; one working day later to the team lead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import asyncpg

from scheduler import appointments, audit, clients, followups, notices, planning, sites
from scheduler import requests as requests_
from scheduler.appointments import Appointment, NoShowReason, Outcome
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_
from scheduler.permissions import StaffUser, check_may_act
from scheduler.policy.workdays import WorkCalendar

log = logging.getLogger(__name__)

# A reason the client gave may date from before the appointment (they called in sick days ahead), not later
# than today, and not from months before.
REASON_DAYS_BEFORE: Final = 90
FLAG_BATCH: Final = 500
# Working days after the appointment's day at whose end it is flagged: to the caseworker, then to the lead.
CASEWORKER_WORKDAYS: Final = 1
LEAD_WORKDAYS: Final = 2
BUDGET_SECONDS: Final = 8.0  # one run stops taking new batches after this; the next run goes on


@dataclass(frozen=True, slots=True)
class OutcomeEntry:
    """A parsed outcome form: what happened, and for a no-show the reason the client gave and its date."""

    outcome: Outcome
    reason: NoShowReason | None = None
    reason_date: date | None = None


def check_reason_date(entry: OutcomeEntry, *, appointment_day: date, today: date) -> None:
    """The date a reason was given lies between some weeks before the appointment and today."""
    if entry.reason_date is None:
        return
    if entry.reason_date > today or entry.reason_date < appointment_day - timedelta(days=REASON_DAYS_BEFORE):
        raise ValidationFailed(fields={"reason_date": N_(
            "The date the client gave the reason cannot be in the future or long before the appointment.")})


async def record(pool: asyncpg.Pool, *, appointment_id: int, entry: OutcomeEntry, user: StaffUser, now: datetime,
                 reminder_offsets: tuple[timedelta, ...]) -> Appointment:
    """Record an appointment's outcome with its effects on the request, in one transaction; once only."""
    async with pool.acquire() as conn, conn.transaction():
        current = await appointments.get(conn, appointment_id)
        check_may_act(user, site_id=current.site_id, team_id=await appointments.caseworker_team(conn, current.id),
                      staff_id=current.staff_id)
        calendar = (await sites.site_by_id(conn, current.site_id)).calendar()
        check_reason_date(entry, appointment_day=calendar.local_date(current.start), today=calendar.local_date(now))
        done = await appointments.record_outcome(conn, appointment_id, outcome=entry.outcome, reason=entry.reason,
                                                 reason_date=entry.reason_date, staff_id=user.id, actor=user.actor,
                                                 now=now)
        request = await requests_.get(conn, done.request_id, for_update=True)
        details = {"appointment_id": done.id}
        if entry.outcome is Outcome.held:
            await requests_.transition(conn, request.id, to=requests_.Status.done, actor=user.actor,
                                       site_id=request.site_id, details=details)
        elif entry.outcome is Outcome.no_show:
            await requests_.transition(conn, request.id, to=requests_.Status.no_show, actor=user.actor,
                                       site_id=request.site_id, details=details)
            await followups.after_no_show(conn, appointment_id=done.id, actor=user.actor, now=now)
        else:
            # The office could not hold it: the client's concern is still open, so the request goes back to
            # the caseworker's queue with fresh proposals (never withdrawn behind the client's back).
            await requests_.transition(conn, request.id, to=requests_.Status.received, actor=user.actor,
                                       site_id=request.site_id, details=details, staff_id=done.staff_id)
            await notices.appointment_cancelled(conn, client=await clients.get(conn, done.client_id),
                                                appointment=done, link_token=request.link_token)
            await planning.plan_and_propose(conn, request.id, route=(request.team_id, done.staff_id), now=now,
                                            reminder_offsets=reminder_offsets, actor=user.actor)
        return done


def unmarked_before(calendar: WorkCalendar, now: datetime, workdays: int) -> datetime:
    """Appointments that start before this moment are unmarked past the end of the `workdays`-th working day
    after their own day (a moment of `now`'s past)."""
    today = calendar.local_date(now)
    for back in range(0, 60):
        day = today - timedelta(days=back)
        # The deadline grows with the day, so the first day (going back) whose deadline has passed is the last.
        deadline_day = calendar.local_date(calendar.add_workdays(calendar.day_start(day), workdays))
        if calendar.day_start(deadline_day + timedelta(days=1)) <= now:
            return calendar.day_start(day + timedelta(days=1))
    return calendar.day_start(today - timedelta(days=60))


def flag_seen_before(calendar: WorkCalendar, now: datetime) -> datetime:
    """Flags set before this moment have had their working day: the first working day on or after the flag's
    own day has ended. The lead hears of an appointment one working day after its caseworker, even when the
    caseworker was flagged late (after an outage, or for an appointment entered afterwards)."""
    today = calendar.local_date(now)
    one = timedelta(days=1)
    for back in range(0, 60):
        day = today - timedelta(days=back)
        workday = day if calendar.is_workday(day) else calendar.local_date(calendar.add_workdays(
            calendar.day_start(day), 1))
        if calendar.day_start(workday + one) <= now:  # grows with the day: the first one found is the last
            return calendar.day_start(day + one)
    return calendar.day_start(today - timedelta(days=60))


@dataclass(slots=True)
class FlagCounts:
    flagged: int = 0
    escalated: int = 0


async def flag_unmarked(pool: asyncpg.Pool, *, now: datetime, batch: int = FLAG_BATCH,
                        budget_seconds: float = BUDGET_SECONDS) -> FlagCounts:
    """Flag unmarked appointments to their caseworker, flagged ones a working day later to the team lead.

    Idempotent: each flag is set once (guarded by IS NULL). Works in batches over all sites at once (each site
    with its own calendar's cutoffs), one short transaction per batch with its audit rows, each skipping rows
    another process holds; after `budget_seconds` no new batch starts and the next run goes on.
    """
    counts = FlagCounts()
    async with pool.acquire() as conn:
        site_ids = await appointments.sites_with_open_outcomes(conn, started_before=now - timedelta(hours=12))
        calendars = [(site_id, (await sites.site_by_id(conn, site_id)).calendar()) for site_id in site_ids]
    started = time.monotonic()
    # Escalate first (a flag waits a working day for its lead, so this run's flags are never escalated by it).
    for escalate in (True, False):
        cutoffs = [(site_id, unmarked_before(calendar, now, LEAD_WORKDAYS if escalate else CASEWORKER_WORKDAYS),
                    flag_seen_before(calendar, now) if escalate else None) for site_id, calendar in calendars]
        while cutoffs and time.monotonic() - started <= budget_seconds:
            async with pool.acquire() as conn, conn.transaction():
                rows = await appointments.flag_unmarked(conn, cutoffs=cutoffs, now=now, escalate=escalate,
                                                        batch=batch)
                await audit.record_many(conn, actor="system", subject_type="appointment",
                                        action="appointment.outcome_escalated" if escalate
                                        else "appointment.outcome_missing",
                                        events=[(r.site_id, r.id, {"staff_id": r.staff_id}) for r in rows])
            if escalate:
                counts.escalated += len(rows)
            else:
                counts.flagged += len(rows)
            if len(rows) < batch:
                break
    if counts.flagged or counts.escalated:
        log.info("unmarked outcomes flagged", extra={"flagged": counts.flagged, "escalated": counts.escalated})
    return counts
