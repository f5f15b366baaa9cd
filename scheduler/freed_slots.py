"""Freed slots: a cancelled appointment's time is offered to the first waiting request it fits.

It becomes a proposal for that request's caseworker to approve; nothing is booked behind anyone's back.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from asyncpg.types import Range

from scheduler import audit, availability, planning
from scheduler import requests as requests_
from scheduler.appointments import Appointment
from scheduler.policy import store
from scheduler.policy.engine import ClientWindows, DayPart, QueueItem, order


def _fits_windows(windows: ClientWindows, start: datetime, tz_calendar: availability.Site) -> bool:
    local = start.astimezone(tz_calendar.calendar().zone)
    if windows.weekdays and local.weekday() not in windows.weekdays:
        return False
    if windows.parts:
        part = DayPart.morning if local.hour < 12 else DayPart.afternoon
        if part not in windows.parts:
            return False
    if windows.date_from and local.date() < windows.date_from:
        return False
    return not (windows.date_to and local.date() > windows.date_to)


async def offer(conn: asyncpg.Connection, appointment: Appointment, *, now: datetime) -> int | None:
    """Offer a freed appointment time to the first waiting request in queue order that fits; its id or None."""
    if appointment.start <= now:
        return None
    team_id = await conn.fetchval("SELECT team_id FROM staff WHERE id = $1", appointment.staff_id)
    rows = await conn.fetch(
        """
        SELECT id FROM requests
        WHERE site_id = $1 AND status IN ('received', 'proposed') AND id <> $4
          AND (staff_id = $2 OR (staff_id IS NULL AND team_id = $3))
        """,
        appointment.site_id, appointment.staff_id, team_id, appointment.request_id,
    )
    if not rows:
        return None
    site = await availability.site_by_id(conn, appointment.site_id)
    waiting = [await requests_.get(conn, r["id"]) for r in rows]
    active = await store.active(conn, site.id)
    ruleset, _ = store.layered(("team", active.teams.get(team_id)), ("site", active.site))
    queue = order([QueueItem(r.id, r.priority, r.created_at, r.manual_rank) for r in waiting], ruleset.ordering,
                  now=now, calendar=site.calendar())
    by_id = {r.id: r for r in waiting}
    for item in queue:
        request = by_id[item.id]
        decision = request.decision
        if decision is None:
            continue
        end = appointment.start + decision.duration
        if end > appointment.end or not decision.earliest_start <= appointment.start < decision.latest_start:
            continue
        if not _fits_windows(planning.client_windows(request.windows), appointment.start, site):
            continue
        mode = appointment.mode if appointment.mode in {m.value for m in decision.modes} else decision.modes[0].value
        await conn.execute(
            "INSERT INTO proposals (site_id, request_id, staff_id, during, mode, room, source) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'freed_slot')",
            site.id, request.id, appointment.staff_id, Range(appointment.start, end), mode, appointment.room,
        )
        if request.status is requests_.Status.received:
            await requests_.transition(conn, request.id, to=requests_.Status.proposed, actor="policy:freed-slot",
                                       site_id=site.id)
        await audit.record(conn, site_id=site.id, actor="policy:freed-slot", action="request.freed_slot_offered",
                           subject_type="request", subject_id=request.id,
                           details={"appointment_id": appointment.id, "start": appointment.start.isoformat()})
        return request.id
    return None
