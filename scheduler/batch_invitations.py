"""Batch invitations (tables invitation_batches, invitation_batch_rows): a team lead's list of clients, one
planned time per client by policy, reviewed as a whole, sent on confirmation.

`parse_list` reads a CSV file or a pasted list (size-limited); each line becomes a row or a bad row with its
problem (nothing of a bad row is ever sent). `plan` stores the batch with a time per good row, found the way a
single invitation's would be (policy route and duration, the lead's window, free slots; times already planned
in the batch count as taken). `send` books every planned row in one transaction, with its outbox rows, letters
and evidence; a row whose time was taken meanwhile fails alone (savepoint) and the others go out.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import asyncpg
from asyncpg.types import Range

from scheduler import (
    addresses,
    appointments,
    audit,
    clients,
    invitation_evidence,
    letter_triggers,
    letters,
    notice_templates,
    notices,
    planning,
    references,
    sites,
    video_rooms,
)
from scheduler import requests as requests_
from scheduler.batch_lists import Problem, Row
from scheduler.errors import InvalidTransition, NotFound, SlotTaken, ValidationFailed
from scheduler.holds import Holds
from scheduler.invitation_evidence import EvidenceKind
from scheduler.policy.rules import Channel, Kind, Mode
from scheduler.policy.slots import Slot

MAX_WINDOW_DAYS: Final = 92


class BatchStatus(StrEnum):
    planned = "planned"
    sent = "sent"
    discarded = "discarded"


class RowStatus(StrEnum):
    planned = "planned"
    bad = "bad"              # the line itself is wrong: see problem
    unplanned = "unplanned"  # a good line for which no free time was found in the window
    sent = "sent"
    failed = "failed"        # its time was taken between review and sending


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    site_id: int
    concern_id: int
    invitation: str
    template_id: int | None
    bring: str
    window_from: date
    window_to: date
    status: BatchStatus
    created_by: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PlannedRow:
    line: int
    status: RowStatus
    phone: str | None
    customer_number: str | None
    name: str | None
    language: str
    has_address: bool
    problem: str | None
    staff_id: int | None
    start: datetime | None
    mode: str | None
    room: str | None
    request_id: int | None


def check_window(window_from: date, window_to: date, *, today: date) -> None:
    """The lead's window: not in the past, in order, at most MAX_WINDOW_DAYS long."""
    if window_from < today:
        raise ValidationFailed(fields={"window_from": "past"})
    if window_to < window_from or (window_to - window_from).days > MAX_WINDOW_DAYS:
        raise ValidationFailed(fields={"window_to": "order"})


async def plan(pool: asyncpg.Pool, *, site: sites.Site, staff_id: int, concern: sites.Concern, invitation: str,
               template_id: int | None, bring: str, window_from: date, window_to: date, rows: Sequence[Row],
               now: datetime, setups: sites.SetupCache | None = None) -> int:
    """Plan a time for every good row and store the batch for review; its id. Nothing is sent."""
    calendar = site.calendar()
    start, end = calendar.day_start(window_from), calendar.day_start(window_to + timedelta(days=1))
    holds = Holds()
    planned: list[tuple[Row, RowStatus, Slot | None]] = []
    async with pool.acquire() as conn:
        known = await _known_clients(conn, site.id, rows)
        with holds.transaction() as held:
            for row in rows:
                if row.problem is not None:
                    planned.append((row, RowStatus.bad, None))
                    continue
                client = known.get(row.phone or row.customer_number or "") or clients.Client(
                    id=0, site_id=site.id, phone=row.phone, language=row.language, sms_consent=True,
                    sms_opted_out_at=None, assigned_staff_id=None, birth_date=None)
                made = await planning.make_plan(
                    conn, site=site, kind=Kind.appointment, concern_code=concern.code, urgent=concern.urgent,
                    channel=Channel.staff, language=row.language, modes=(), client=client, received_at=now, now=now,
                    setups=setups, invitation=True)
                decision = dataclasses.replace(made.decision, earliest_start=max(start, now), latest_start=end,
                                               propose_count=1)
                slots = await planning.find_slots(conn, site=site, plan=made, language=row.language, windows={},
                                                  now=now, decision=decision, hold=held)
                planned.append((row, RowStatus.planned if slots else RowStatus.unplanned,
                                slots[0] if slots else None))
        async with conn.transaction():
            batch_id: int = await conn.fetchval(
                """
                INSERT INTO invitation_batches (site_id, concern_id, invitation, template_id, bring, window_from,
                                                window_to, created_by)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
                """, site.id, concern.id, invitation, template_id, bring, window_from, window_to, staff_id)
            await conn.executemany(
                """
                INSERT INTO invitation_batch_rows (batch_id, line, site_id, status, phone, customer_number, name,
                                                   language, address, problem, staff_id, during, mode, room)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                """,
                [(batch_id, r.line, site.id, status.value, r.phone, r.customer_number, r.name, r.language,
                  json.dumps(dataclasses.asdict(r.address)) if r.address else None,
                  (r.problem or (Problem.no_time if status is RowStatus.unplanned else None)),
                  s.caseworker_id if s else None, Range(s.start, s.end) if s else None,
                  s.mode.value if s else None, s.room if s else None) for r, status, s in planned])
            await audit.record(conn, site_id=site.id, actor=f"staff:{staff_id}", action="invitation_batch.planned",
                               subject_type="invitation_batch", subject_id=batch_id,
                               details={"rows": len(rows), "bad": sum(1 for _, st, _ in planned
                                                                      if st is RowStatus.bad)})
    return batch_id


async def _known_clients(conn: asyncpg.Connection, site_id: int, rows: Sequence[Row]) -> dict[str, clients.Client]:
    found = await conn.fetch(
        f"SELECT {clients.COLUMNS}, customer_number FROM clients WHERE site_id = $1 AND erased_at IS NULL "
        "AND (phone = ANY($2::text[]) OR customer_number = ANY($3::text[]))", site_id,
        [r.phone for r in rows if r.phone], [r.customer_number for r in rows if r.customer_number])
    out: dict[str, clients.Client] = {}
    for f in found:
        client = clients.Client(**{k: v for k, v in dict(f).items() if k != "customer_number"})
        for key in (f["phone"], f["customer_number"]):
            if key:
                out[key] = client
    return out


_BATCH_COLUMNS: Final = ("id, site_id, concern_id, invitation, template_id, bring, window_from, window_to, status, "
                         "created_by, created_at")


async def get(conn: asyncpg.Connection, *, site_id: int, batch_id: int) -> Batch:
    """One batch of the site, or NotFound."""
    row = await conn.fetchrow(f"SELECT {_BATCH_COLUMNS} FROM invitation_batches WHERE id = $1 AND site_id = $2",
                              batch_id, site_id)
    if row is None:
        raise NotFound()
    return Batch(**{**row, "status": BatchStatus(row["status"])})


async def list_rows(conn: asyncpg.Connection, batch_id: int) -> list[PlannedRow]:
    """Every row of a batch in line order, with its planned time or its problem."""
    rows = await conn.fetch(
        """
        SELECT line, status, phone, customer_number, name, language, address IS NOT NULL AS has_address, problem,
               staff_id, lower(during) AS start, mode, room, request_id
        FROM invitation_batch_rows WHERE batch_id = $1 ORDER BY line
        """, batch_id)
    return [PlannedRow(**{**r, "status": RowStatus(r["status"])}) for r in rows]


async def send(pool: asyncpg.Pool, *, site_id: int, staff_id: int, batch_id: int, now: datetime,
               reminder_offsets: tuple[timedelta, ...]) -> dict[str, int]:
    """Send a reviewed batch: book each planned row as a staff invitation with its notices, letters and
    evidence, all in one transaction. InvalidTransition when it was sent or discarded already."""
    async with pool.acquire() as conn, conn.transaction():
        claimed = await conn.fetchrow(
            "UPDATE invitation_batches SET status = 'sent', sent_at = $3, sent_by = $4 "
            f"WHERE id = $1 AND site_id = $2 AND status = 'planned' RETURNING {_BATCH_COLUMNS}",
            batch_id, site_id, now, staff_id)
        if claimed is None:
            await get(conn, site_id=site_id, batch_id=batch_id)
            raise InvalidTransition()
        batch = Batch(**{**claimed, "status": BatchStatus(claimed["status"])})
        template = await notice_templates.get(conn, batch.template_id) if batch.template_id else None
        rows = await conn.fetch(
            "SELECT line, phone, customer_number, name, language, address, staff_id, lower(during) AS start, "
            "upper(during) AS end, mode, room FROM invitation_batch_rows WHERE batch_id = $1 AND status = 'planned' "
            "ORDER BY line FOR UPDATE", batch_id)
        site = await sites.site_by_id(conn, site_id)
        setups = sites.SetupCache()
        concern = next(c for c in (await sites.setup(conn, site, setups)).concerns.values()
                       if c.id == batch.concern_id)
        try:
            async with conn.transaction():  # a savepoint: all rows at once, the fast way
                outcome, done = await _send_all(conn, batch, rows, site=site, concern=concern, staff_id=staff_id,
                                                template=template, now=now, reminder_offsets=reminder_offsets,
                                                setups=setups)
        except SlotTaken:  # a time was taken since planning: row by row, so only the clashing rows fail
            outcome, done = await _send_each(conn, batch, rows, site=site, concern=concern, staff_id=staff_id,
                                             template=template, now=now, reminder_offsets=reminder_offsets,
                                             setups=setups)
        # What the list said is no longer needed once each line is a request (or failed): it is cleared.
        await conn.execute(
            """
            UPDATE invitation_batch_rows b SET status = o.status, request_id = o.request_id, phone = NULL,
                   customer_number = NULL, name = NULL, address = NULL
            FROM unnest($2::int[], $3::text[], $4::bigint[]) AS o(line, status, request_id)
            WHERE b.batch_id = $1 AND b.line = o.line
            """, batch_id, [o[0] for o in outcome], [o[1] for o in outcome], [o[2] for o in outcome])
        await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="invitation_batch.sent",
                           subject_type="invitation_batch", subject_id=batch_id, details=done)
    return done


Outcome = list[tuple[int, str, int | None]]  # line, row status, request id


async def _send_each(conn: asyncpg.Connection, batch: Batch, rows: Sequence[asyncpg.Record], **kw: Any,
                     ) -> tuple[Outcome, dict[str, int]]:
    done: dict[str, int] = {"sent": 0, "failed": 0, "letters": 0}
    outcome: Outcome = []
    for r in rows:
        try:
            async with conn.transaction():  # a savepoint: a taken time fails this row only
                request_id, letter = await _send_row(conn, batch, r, **kw)
            outcome.append((r["line"], RowStatus.sent.value, request_id))
            done["sent"] += 1
            done["letters"] += letter
        except SlotTaken:
            outcome.append((r["line"], RowStatus.failed.value, None))
            done["failed"] += 1
    return outcome, done


async def _client_of(conn: asyncpg.Connection, site_id: int, r: asyncpg.Record) -> clients.Client:
    if r["phone"]:
        return await clients.upsert_by_phone(conn, site_id=site_id, phone=r["phone"], language=r["language"],
                                             staff=True, sms_consent=True)
    return await clients.upsert_by_customer_number(conn, site_id=site_id, customer_number=r["customer_number"],
                                                   name=r["name"], language=r["language"])


async def _send_all(conn: asyncpg.Connection, batch: Batch, rows: Sequence[asyncpg.Record], *, site: sites.Site,
                    concern: sites.Concern, staff_id: int, template: notice_templates.Template | None,
                    now: datetime, reminder_offsets: tuple[timedelta, ...],
                    setups: sites.SetupCache) -> tuple[Outcome, dict[str, int]]:
    """Every row in a few statements per row and one per kind of thing (appointments, messages, letters)."""
    actor = f"staff:{staff_id}"
    plans: dict[tuple[Any, ...], planning.Plan] = {}
    made: list[tuple[asyncpg.Record, clients.Client, requests_.Request]] = []
    for r in rows:
        client = await _client_of(conn, site.id, r)
        key = (r["staff_id"], r["language"], client.age_on(now.date()), client.assigned_staff_id)
        if key not in plans:
            plans[key] = await planning.make_plan(
                conn, site=site, kind=Kind.appointment, concern_code=concern.code, urgent=concern.urgent,
                channel=Channel.staff, language=r["language"], modes=(), client=client, received_at=now, now=now,
                route=(None, r["staff_id"]), setups=setups, invitation=True)
        plan_ = plans[key]
        request = await requests_.insert(conn, requests_.NewRequest(
            site_id=site.id, client_id=client.id, concern_id=concern.id, channel=Channel.staff,
            language=r["language"], modes=[], windows={}, note="", idempotency_key=None, invitation=batch.invitation,
            notice_text=None, created_by=staff_id, status=requests_.Status.scheduled, decision=plan_.decision,
            team_id=plan_.team_id, staff_id=r["staff_id"], deadline_at=plan_.deadline_at,
            policy_ids=plan_.policy_ids, proposals=[],
            events=[(actor, "request.received", {"channel": "staff", "batch": batch.id}),
                    (actor, "request.scheduled", {})],
            server_key=f"batch-{batch.id}-{r['line']}", sms_consent=True),
            reference=references.new_reference(), link_token=references.new_link_token())
        if request is None:
            raise SlotTaken()  # a reference was taken (rare): the row-by-row way sorts it out
        if template is not None:
            await notice_templates.attach(conn, request_id=request.id, site_id=site.id, template=template,
                                          bring=batch.bring)
        await invitation_evidence.record(conn, request_id=request.id, kind=EvidenceKind.created, at=now,
                                         staff_id=staff_id, channel="staff", detail={"batch_id": str(batch.id)})
        made.append((r, client, request))
    booked = await appointments.book_many(conn, [
        (site.id, q.id, c.id, r["staff_id"], r["start"], r["end"], r["mode"], r["room"]) for r, c, q in made],
        actor=actor)
    await video_rooms.ensure(conn, booked)
    by_request = {a.request_id: a for a in booked}
    await notices.appointments_confirmed_many(conn, [(c, by_request[q.id], q.link_token) for _, c, q in made],
                                              reminder_offsets=reminder_offsets, now=now)
    await addresses.save_many(conn, site_id=site.id, staff_id=staff_id, items=[
        (c.id, addresses.Address(**json.loads(r["address"]))) for r, c, _ in made if r["address"]])
    consents = await addresses.electronic_consents(conn, [c.id for _, c, _ in made])
    queued = [letters.Queued(site.id, q.id, c.id, reason) for r, c, q in made if (reason := letter_triggers.reason_for(
        phone=c.phone, invitation=batch.invitation, electronic_consent=c.id in consents)) is not None]
    new_letters = await letters.queue_many(conn, queued, now=now, staff_id=staff_id)
    return ([(r["line"], RowStatus.sent.value, q.id) for r, _, q in made],
            {"sent": len(made), "failed": 0, "letters": len(new_letters)})


async def _send_row(conn: asyncpg.Connection, batch: Batch, r: asyncpg.Record, *, site: sites.Site,
                    concern: sites.Concern, staff_id: int, template: notice_templates.Template | None,
                    now: datetime, reminder_offsets: tuple[timedelta, ...],
                    setups: sites.SetupCache) -> tuple[int, int]:
    client = await _client_of(conn, batch.site_id, r)
    address = addresses.Address(**json.loads(r["address"])) if r["address"] else None
    slot = Slot(r["staff_id"], r["start"], r["end"], Mode(r["mode"]), r["room"])
    made = await planning.make_plan(
        conn, site=site, kind=Kind.appointment, concern_code=concern.code, urgent=concern.urgent,
        channel=Channel.staff, language=r["language"], modes=(), client=client, received_at=now, now=now,
        route=(None, r["staff_id"]), setups=setups, invitation=True)
    new = requests_.NewRequest(
        site_id=batch.site_id, client_id=client.id, concern_id=batch.concern_id, channel=Channel.staff,
        language=r["language"], modes=[], windows={}, note="", idempotency_key=None, invitation=batch.invitation,
        notice_text=None, created_by=staff_id, status=requests_.Status.received, decision=made.decision,
        team_id=made.team_id, staff_id=r["staff_id"], deadline_at=made.deadline_at, policy_ids=made.policy_ids,
        proposals=[], events=[(f"staff:{staff_id}", "request.received", {"channel": "staff", "batch": batch.id})],
        server_key=f"batch-{batch.id}-{r['line']}", sms_consent=True)
    request = await requests_.insert(conn, new, reference=references.new_reference(),
                                     link_token=references.new_link_token())
    if request is None:
        raise SlotTaken()  # a reference was taken: rare; the row fails and can be sent again in a new batch
    if template is not None:
        await notice_templates.attach(conn, request_id=request.id, site_id=batch.site_id, template=template,
                                      bring=batch.bring)
    await invitation_evidence.record(conn, request_id=request.id, kind=EvidenceKind.created, at=now,
                                     staff_id=staff_id, channel="staff", detail={"batch_id": str(batch.id)})
    await planning.book(conn, request=request, slot=slot, actor=f"staff:{staff_id}", now=now,
                        reminder_offsets=reminder_offsets)
    letter = await letter_triggers.invitation_created(
        conn, site_id=batch.site_id, client_id=client.id, phone=client.phone, request_id=request.id,
        invitation=batch.invitation, address=address, electronic_consent=False, staff_id=staff_id, now=now)
    return request.id, int(letter is not None)


async def discard(conn: asyncpg.Connection, *, site_id: int, staff_id: int, batch_id: int) -> None:
    """Drop a planned batch without sending anything; its rows (the list's personal data) are deleted."""
    done = await conn.fetchval("UPDATE invitation_batches SET status = 'discarded' WHERE id = $1 AND site_id = $2 "
                               "AND status = 'planned' RETURNING id", batch_id, site_id)
    if done is None:
        raise InvalidTransition()
    await conn.execute("DELETE FROM invitation_batch_rows WHERE batch_id = $1", batch_id)
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="invitation_batch.discarded",
                       subject_type="invitation_batch", subject_id=batch_id)


async def purge_batch(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> int:
    """Retention: rows of batches planned more than a day ago and never sent lose their personal data."""
    result: str = await conn.execute(
        """
        DELETE FROM invitation_batch_rows WHERE (batch_id, line) IN (
            SELECT b.batch_id, b.line FROM invitation_batch_rows b JOIN invitation_batches i ON i.id = b.batch_id
            WHERE i.status IN ('planned', 'discarded') AND i.created_at < $1::timestamptz - interval '1 day'
            LIMIT $2)
        """, now, limit)
    return int(result.split()[-1])


async def rows_of_client(conn: asyncpg.Connection, *, site_id: int, phone: str | None,
                         customer_number: str | None) -> list[dict[str, Any]]:
    """Lines of not yet sent lists that name this client (export); sent lines keep no personal data."""
    rows = await conn.fetch(
        "SELECT batch_id, line, status, phone, customer_number, name, language, address::text AS address "
        "FROM invitation_batch_rows WHERE site_id = $1 AND (phone = $2 OR customer_number = $3) "
        "ORDER BY batch_id, line", site_id, phone, customer_number)
    return [dict(r) for r in rows]


async def erase_rows_of_client(conn: asyncpg.Connection, *, site_id: int, phone: str | None,
                               customer_number: str | None) -> int:
    """Erasure: lines of not yet sent lists that name this client are deleted (they are never sent then)."""
    result: str = await conn.execute(
        "DELETE FROM invitation_batch_rows WHERE site_id = $1 AND (phone = $2 OR customer_number = $3)",
        site_id, phone, customer_number)
    return int(result.split()[-1])
