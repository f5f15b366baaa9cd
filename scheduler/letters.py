"""The letter print queue (tables letters and letter_batches): queued, printed in a batch, posted.

A letter belongs to one invitation. It becomes printable once the request has a booked appointment and the
client has a postal address; staff print all printable letters of their office as one PDF (one batch) and
later mark the batch posted. Each change is one guarded statement, so two staff members printing at the same
moment get different letters (FOR UPDATE SKIP LOCKED), never the same letter twice. Every step leaves an
entry in the invitation's delivery evidence (`invitation_evidence`) and an audit row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import asyncpg

from scheduler import addresses, audit, invitation_evidence
from scheduler.errors import InvalidTransition, NotFound
from scheduler.invitation_evidence import EvidenceKind

PRINT_LIMIT: Final = 500  # letters in one print batch (one PDF); the rest wait for the next one


class LetterStatus(StrEnum):
    queued = "queued"
    printed = "printed"
    posted = "posted"
    cancelled = "cancelled"


class LetterReason(StrEnum):
    no_mobile = "no_mobile"                          # the client has no mobile number
    sms_failed = "sms_failed"                        # an SMS about the invitation failed for good
    no_electronic_consent = "no_electronic_consent"  # mandatory, and no consent to electronic notice


class BatchStatus(StrEnum):
    printed = "printed"
    posted = "posted"


@dataclass(frozen=True, slots=True)
class Queued:
    """One letter to queue (queue_many)."""

    site_id: int
    request_id: int
    client_id: int
    reason: LetterReason
    outbox_id: int | None = None


async def queue(conn: asyncpg.Connection, *, site_id: int, request_id: int, client_id: int, reason: LetterReason,
                now: datetime, outbox_id: int | None = None, staff_id: int | None = None) -> int | None:
    """Queue a letter for an invitation; None when one already waits for it (then nothing is written)."""
    return (await queue_many(conn, [Queued(site_id, request_id, client_id, reason, outbox_id)], now=now,
                             staff_id=staff_id)).get(request_id)


async def queue_many(conn: asyncpg.Connection, items: Sequence[Queued], *, now: datetime,
                     staff_id: int | None = None) -> dict[int, int]:
    """Queue letters in one statement (a batch invitation); request id -> new letter id, for those queued."""
    if not items:
        return {}
    rows = await conn.fetch(
        """
        INSERT INTO letters (site_id, request_id, client_id, reason, outbox_id, queued_at)
        SELECT l.site_id, l.request_id, l.client_id, l.reason, l.outbox_id, $6
        FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])
             AS l(site_id, request_id, client_id, reason, outbox_id)
        ON CONFLICT (request_id) WHERE status = 'queued' DO NOTHING
        RETURNING id, request_id, reason
        """,
        [i.site_id for i in items], [i.request_id for i in items], [i.client_id for i in items],
        [i.reason.value for i in items], [i.outbox_id for i in items], now)
    for r in rows:
        await invitation_evidence.record(conn, request_id=r["request_id"], kind=EvidenceKind.letter_queued, at=now,
                                         staff_id=staff_id, channel="letter",
                                         detail={"letter_id": str(r["id"]), "reason": r["reason"]})
    return {r["request_id"]: r["id"] for r in rows}


# A queued letter is ready when its request is booked (a confirmed appointment) and the client has an address.
_READY = """
    l.status = 'queued' AND r.status = 'scheduled'
    AND EXISTS (SELECT 1 FROM appointments a WHERE a.request_id = l.request_id AND a.status = 'confirmed')
    AND EXISTS (SELECT 1 FROM postal_addresses p WHERE p.client_id = l.client_id)
"""


@dataclass(frozen=True, slots=True)
class QueueRow:
    id: int
    request_id: int
    client_id: int
    reference: str
    reason: LetterReason
    queued_at: datetime
    ready: bool
    has_address: bool
    booked: bool
    case_open: bool


async def list_queue(conn: asyncpg.Connection, *, site_id: int, limit: int = 1000) -> list[QueueRow]:
    """The site's waiting letters, oldest first, each with what it still waits for (a time, an address)."""
    rows = await conn.fetch(
        """
        SELECT l.id, l.request_id, l.client_id, r.reference, l.reason, l.queued_at,
               EXISTS (SELECT 1 FROM postal_addresses p WHERE p.client_id = l.client_id) AS has_address,
               EXISTS (SELECT 1 FROM appointments a WHERE a.request_id = l.request_id AND a.status = 'confirmed')
                   AND r.status = 'scheduled' AS booked,
               r.status IN ('received', 'proposed', 'scheduled') AS case_open
        FROM letters l JOIN requests r ON r.id = l.request_id
        WHERE l.site_id = $1 AND l.status = 'queued'
        ORDER BY l.queued_at, l.id LIMIT $2
        """, site_id, limit)
    return [QueueRow(id=r["id"], request_id=r["request_id"], client_id=r["client_id"], reference=r["reference"],
                     reason=LetterReason(r["reason"]), queued_at=r["queued_at"],
                     ready=r["has_address"] and r["booked"], has_address=r["has_address"], booked=r["booked"],
                     case_open=r["case_open"]) for r in rows]


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    site_id: int
    status: BatchStatus
    letters: int
    printed_by: int
    printed_at: datetime
    posted_at: datetime | None


def _batch(row: Mapping[str, Any]) -> Batch:
    return Batch(id=row["id"], site_id=row["site_id"], status=BatchStatus(row["status"]), letters=row["letters"],
                 printed_by=row["printed_by"], printed_at=row["printed_at"], posted_at=row["posted_at"])


async def print_ready(conn: asyncpg.Connection, *, site_id: int, staff_id: int, now: datetime,
                      limit: int = PRINT_LIMIT) -> Batch | None:
    """Take every ready letter of the site (up to `limit`) into a new print batch; None when none is ready.

    Call it in a transaction. Letters another transaction is printing right now are skipped (SKIP LOCKED) and
    each taken letter moves queued -> printed in the same statement, so no letter lands in two batches.
    """
    taken = await conn.fetch(
        f"""
        SELECT l.id, l.request_id, l.client_id FROM letters l JOIN requests r ON r.id = l.request_id
        WHERE l.site_id = $1 AND {_READY}
        ORDER BY l.queued_at, l.id LIMIT $2 FOR UPDATE OF l SKIP LOCKED
        """, site_id, limit)
    if not taken:
        return None
    row = await conn.fetchrow(
        "INSERT INTO letter_batches (site_id, letters, printed_by, printed_at) VALUES ($1, $2, $3, $4) "
        "RETURNING id, site_id, status, letters, printed_by, printed_at, posted_at",
        site_id, len(taken), staff_id, now)
    found = await addresses.get_many(conn, [t["client_id"] for t in taken])
    await conn.execute(
        """
        UPDATE letters l SET status = 'printed', batch_id = $2, printed_at = $3, address_printed = t.address,
               appointment_id = (SELECT a.id FROM appointments a WHERE a.request_id = l.request_id
                                 AND a.status = 'confirmed' ORDER BY a.id DESC LIMIT 1)
        FROM unnest($1::bigint[], $4::text[]) AS t(id, address)
        WHERE l.id = t.id AND l.status = 'queued'
        """,
        [t["id"] for t in taken], row["id"], now, ["\n".join(found[t["client_id"]].lines()) for t in taken])
    for t in taken:
        await invitation_evidence.record(conn, request_id=t["request_id"], kind=EvidenceKind.letter_printed, at=now,
                                         staff_id=staff_id, channel="letter",
                                         detail={"letter_id": str(t["id"]), "batch_id": str(row["id"])})
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="letters.printed",
                       subject_type="letter_batch", subject_id=row["id"], details={"letters": len(taken)})
    return _batch(row)


async def get_batch(conn: asyncpg.Connection, *, site_id: int, batch_id: int) -> Batch:
    """One print batch of the site, or NotFound."""
    row = await conn.fetchrow("SELECT id, site_id, status, letters, printed_by, printed_at, posted_at "
                              "FROM letter_batches WHERE id = $1 AND site_id = $2", batch_id, site_id)
    if row is None:
        raise NotFound()
    return _batch(row)


async def list_batches(conn: asyncpg.Connection, *, site_id: int, limit: int = 30) -> list[Batch]:
    """The site's latest print batches, newest first."""
    rows = await conn.fetch("SELECT id, site_id, status, letters, printed_by, printed_at, posted_at "
                            "FROM letter_batches WHERE site_id = $1 ORDER BY printed_at DESC, id DESC LIMIT $2",
                            site_id, limit)
    return [_batch(r) for r in rows]


async def mark_posted(conn: asyncpg.Connection, *, site_id: int, batch_id: int, staff_id: int,
                      now: datetime) -> Batch:
    """Mark a printed batch posted (call in a transaction): its letters too; InvalidTransition when it was."""
    row = await conn.fetchrow(
        """
        UPDATE letter_batches SET status = 'posted', posted_at = $3, posted_by = $4
        WHERE id = $1 AND site_id = $2 AND status = 'printed'
        RETURNING id, site_id, status, letters, printed_by, printed_at, posted_at
        """, batch_id, site_id, now, staff_id)
    if row is None:
        await get_batch(conn, site_id=site_id, batch_id=batch_id)  # NotFound for another site's batch
        raise InvalidTransition()
    posted = await conn.fetch(
        "UPDATE letters SET status = 'posted', posted_at = $2 WHERE batch_id = $1 AND status = 'printed' "
        "RETURNING id, request_id", batch_id, now)
    for p in posted:
        await invitation_evidence.record(conn, request_id=p["request_id"], kind=EvidenceKind.letter_posted, at=now,
                                         staff_id=staff_id, channel="letter",
                                         detail={"letter_id": str(p["id"]), "batch_id": str(batch_id)})
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="letters.posted",
                       subject_type="letter_batch", subject_id=batch_id, details={"letters": len(posted)})
    return _batch(row)


@dataclass(frozen=True, slots=True)
class LetterFacts:
    """What one printed letter says (read when the PDF is rendered, never stored)."""

    letter_id: int
    request_id: int
    client_id: int
    reference: str
    link_token: str | None
    language: str
    invitation: str
    notice_text: str | None
    concern_labels: Mapping[str, str]
    address_lines: tuple[str, ...]
    start: datetime | None
    end: datetime | None
    mode: str | None
    room: str | None
    staff_name: str | None
    bring: str


async def batch_letters(conn: asyncpg.Connection, *, site_id: int, batch_id: int) -> list[LetterFacts]:
    """The letters of a print batch with everything the PDF shows, in print order."""
    rows = await conn.fetch(
        """
        SELECT l.id AS letter_id, l.request_id, l.client_id, r.reference, r.link_token, r.language, r.invitation,
               r.notice_text, c.labels AS concern_labels, l.address_printed,
               lower(a.during) AS start, upper(a.during) AS "end", a.mode, a.room, s.display_name AS staff_name,
               coalesce(n.bring, '') AS bring
        FROM letters l
        JOIN requests r ON r.id = l.request_id
        JOIN concerns c ON c.id = r.concern_id
        LEFT JOIN appointments a ON a.id = l.appointment_id
        LEFT JOIN staff s ON s.id = a.staff_id
        LEFT JOIN invitation_notices n ON n.request_id = l.request_id
        WHERE l.batch_id = $1 AND l.site_id = $2
        ORDER BY l.queued_at, l.id
        """, batch_id, site_id)
    return [LetterFacts(
        letter_id=r["letter_id"], request_id=r["request_id"], client_id=r["client_id"], reference=r["reference"],
        link_token=r["link_token"], language=r["language"], invitation=r["invitation"] or "voluntary",
        notice_text=r["notice_text"], concern_labels=r["concern_labels"] or {},
        address_lines=tuple((r["address_printed"] or "").splitlines()), start=r["start"], end=r["end"],
        mode=r["mode"], room=r["room"], staff_name=r["staff_name"], bring=r["bring"]) for r in rows]


async def list_for_request(conn: asyncpg.Connection, request_id: int) -> list[asyncpg.Record]:
    """The letters of one invitation, oldest first (the request page)."""
    return list(await conn.fetch(
        "SELECT id, reason, status, queued_at, printed_at, posted_at, batch_id FROM letters WHERE request_id = $1 "
        "ORDER BY id", request_id))


async def export_for(conn: asyncpg.Connection, *, site_id: int, client_id: int) -> list[dict[str, Any]]:
    """A client's letters, for the client's data export."""
    rows = await conn.fetch(
        "SELECT id, request_id, reason, status, address_printed, queued_at, printed_at, posted_at, cancelled_at "
        "FROM letters WHERE client_id = $1 AND site_id = $2 ORDER BY id", client_id, site_id)
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(r).items()} for r in rows]


async def erase_for(conn: asyncpg.Connection, *, site_id: int, client_id: int, now: datetime) -> int:
    """Erasure: waiting letters of the client are cancelled, and no letter keeps the address it went to."""
    result: str = await conn.execute(
        """
        UPDATE letters SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
               cancelled_at = CASE WHEN status = 'queued' THEN $3 ELSE cancelled_at END,
               address_printed = NULL, anonymised_at = coalesce(anonymised_at, $3)
        WHERE client_id = $1 AND site_id = $2
        """, client_id, site_id, now)
    return int(result.split()[-1])


async def purge_batch(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> int:
    """Retention: letters of anonymised requests lose their address (waiting ones are cancelled); how many."""
    result: str = await conn.execute(
        """
        UPDATE letters SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
               cancelled_at = CASE WHEN status = 'queued' THEN $1 ELSE cancelled_at END,
               address_printed = NULL, anonymised_at = $1
        WHERE id IN (SELECT l.id FROM letters l JOIN requests r ON r.id = l.request_id
                     WHERE l.anonymised_at IS NULL AND r.anonymised_at IS NOT NULL LIMIT $2
                     FOR UPDATE OF l SKIP LOCKED)
        """, now, limit)
    return int(result.split()[-1])
