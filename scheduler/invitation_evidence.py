"""The delivery evidence of an invitation: an append-only timeline (table invitation_evidence).

Nothing in it is edited: a database trigger refuses UPDATE and DELETE (migration 0023); a correction is a new
entry. Retention's anonymisation (and privacy's erasure, which runs it) is the one path that may empty an
entry's `detail`, inside its own transaction (`anonymise`). SMS and e-mail outcomes are written by a trigger on
the outbox's status changes, whichever code path makes them (worker, provider callback, early receipt).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg


class EvidenceKind(StrEnum):
    created = "created"
    sms_accepted = "sms_accepted"      # the provider took the SMS (it has the provider's id)
    sms_delivered = "sms_delivered"    # the provider's delivery receipt
    sms_failed = "sms_failed"          # undelivered or failed, with the provider's error code
    email_sent = "email_sent"
    email_failed = "email_failed"
    link_opened = "link_opened"        # the first opening of the status link; later ones are not recorded
    confirmed = "confirmed"            # the client said they will come
    declined = "declined"              # the client cancelled
    letter_queued = "letter_queued"
    letter_printed = "letter_printed"
    letter_posted = "letter_posted"    # its day starts the presumed receipt (presumed_receipt)
    correction = "correction"          # staff correct an earlier entry; the entry itself stays


class EvidenceChannel(StrEnum):
    sms = "sms"
    email = "email"
    letter = "letter"
    web = "web"
    kiosk = "kiosk"
    phone = "phone"
    staff = "staff"


DEFAULT_PRESUMED_RECEIPT_DAYS: Final = 4  # § 37 Abs. 2 SGB X: the fourth day after posting
DETAIL_VALUE_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    kind: EvidenceKind
    at: datetime
    staff_id: int | None
    staff_name: str | None
    channel: str | None
    detail: Mapping[str, str]
    recorded_at: datetime


def _channel(channel: str | None) -> str | None:
    if channel is None:
        return None
    return EvidenceChannel(channel).value  # ValueError for an unknown channel: a programming error


def _detail(detail: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k)[:80]: str(v)[:DETAIL_VALUE_LIMIT] for k, v in (detail or {}).items()}


async def record(conn: asyncpg.Connection, *, request_id: int, kind: EvidenceKind, at: datetime,
                 staff_id: int | None = None, channel: str | None = None,
                 detail: Mapping[str, str] | None = None) -> None:
    """Append one entry to an invitation's timeline, in the caller's transaction.

    Only invitations (requests with `invitation` set) have a timeline: for any other request nothing is
    written, so callers on shared paths (client actions, letters) need not check. The first link opening is
    kept once; later ones write nothing. `detail` must hold no phone number, address or name.
    """
    await conn.execute(
        """
        INSERT INTO invitation_evidence (site_id, request_id, kind, at, staff_id, channel, detail)
        SELECT r.site_id, r.id, $2, $3, $4, $5, $6 FROM requests r
        WHERE r.id = $1 AND r.invitation IS NOT NULL
        ON CONFLICT DO NOTHING
        """,
        request_id, EvidenceKind(kind).value, at, staff_id, _channel(channel), _detail(detail),
    )


async def list_for_request(conn: asyncpg.Connection, request_id: int) -> list[Entry]:
    """An invitation's timeline, in the order things happened (then in the order they were recorded; its
    creation first: the intake may queue a letter in the same instant, before the notice is attached)."""
    rows = await conn.fetch(
        """
        SELECT e.id, e.kind, e.at, e.staff_id, s.display_name AS staff_name, e.channel, e.detail, e.recorded_at
        FROM invitation_evidence e LEFT JOIN staff s ON s.id = e.staff_id
        WHERE e.request_id = $1 ORDER BY e.at, e.kind <> 'created', e.id
        """,
        request_id,
    )
    return [Entry(**{**r, "kind": EvidenceKind(r["kind"]), "detail": dict(r["detail"])}) for r in rows]


def presumed_receipt(posted_at: datetime, *, timezone: str,
                     days: int = DEFAULT_PRESUMED_RECEIPT_DAYS) -> date:
    """The day the law presumes a posted letter received: `days` after the local day of posting."""
    return posted_at.astimezone(ZoneInfo(timezone)).date() + timedelta(days=days)


def presumed_receipts(entries: Sequence[Entry], *, timezone: str,
                      days: int = DEFAULT_PRESUMED_RECEIPT_DAYS) -> list[tuple[Entry, date]]:
    """Each posted letter of a timeline with its presumed day of receipt."""
    return [(e, presumed_receipt(e.at, timezone=timezone, days=days))
            for e in entries if e.kind is EvidenceKind.letter_posted]


async def anonymise(conn: asyncpg.Connection, request_ids: Sequence[int]) -> int:
    """Empty the detail of these requests' entries (retention's and erasure's path; kinds and times stay).

    The append-only trigger lets exactly this through, for the rest of the caller's transaction only.
    """
    if not request_ids:
        return 0
    await conn.execute("SET LOCAL scheduler.evidence_anonymise = 'on'")
    try:
        result: str = await conn.execute(
            "UPDATE invitation_evidence SET detail = '{}' WHERE request_id = ANY($1::bigint[]) AND detail <> '{}'",
            list(request_ids))
    finally:
        await conn.execute("SET LOCAL scheduler.evidence_anonymise = 'off'")
    return int(result.split()[-1])


async def export_for_requests(conn: asyncpg.Connection, request_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The entries of these requests, for a client's data export."""
    rows = await conn.fetch(
        "SELECT id, request_id, kind, at, channel, detail FROM invitation_evidence "
        "WHERE request_id = ANY($1::bigint[]) ORDER BY request_id, at, kind <> 'created', id", list(request_ids))
    return [dict(r) for r in rows]
