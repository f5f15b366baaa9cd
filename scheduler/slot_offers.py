"""Freed times offered by SMS (issue 14): which time went to whom, and who took it.

A slot offer is one freed time (caseworker, start, end, mode, room) sent to a few waiting clients at once.
The first to accept gets it: `take` is one guarded UPDATE, so of two accepts at the same moment exactly one
matches and the other finds the offer taken. A client accepts through their request's own link (no second
token) or by an SMS reply naming the offer's 4-letter code or the keyword of their language.

Accepting ends ACCEPT_UNTIL_BEFORE_START before the start (so whoever takes it can still get there, and the
caseworker sees the booking in time); an open offer past that counts as expired and is marked so when touched.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

import asyncpg
from asyncpg.types import Range

from scheduler.errors import NotFound

ACCEPT_UNTIL_BEFORE_START: Final = timedelta(hours=1)
MIN_TIME_TO_ANSWER: Final = timedelta(minutes=15)  # a shorter window is not worth an SMS
# Consonants only: a code never spells a reply keyword (JA, NEIN, STOP, OKAY, ...) in any script.
CODE_LETTERS: Final = "BCDFGHJKLMNPRSTVWXZ"
CODE: Final = re.compile(f"[{CODE_LETTERS}]{{4}}", re.IGNORECASE)


class OfferStatus(StrEnum):
    open = "open"
    taken = "taken"
    expired = "expired"


class RecipientStatus(StrEnum):
    offered = "offered"
    won = "won"
    gone = "gone"  # told that someone else took it (or that their accept came too late)


@dataclass(frozen=True, slots=True)
class SlotOffer:
    id: int
    site_id: int
    appointment_id: int
    staff_id: int
    start: datetime
    end: datetime
    mode: str
    room: str | None
    code: str
    status: OfferStatus
    expires_at: datetime
    taken_by_request: int | None
    created_at: datetime

    def is_open(self, now: datetime) -> bool:
        """Still to be had: nobody took it and accepting has not ended."""
        return self.status is OfferStatus.open and now < self.expires_at


_COLUMNS: Final = ("o.id, o.site_id, o.appointment_id, o.staff_id, lower(o.during) AS start, "
                   'upper(o.during) AS "end", o.mode, o.room, o.code, o.status, o.expires_at, o.taken_by_request, '
                   "o.created_at")


def _from_row(row: Mapping[str, Any]) -> SlotOffer:
    return SlotOffer(**{**row, "status": OfferStatus(row["status"])})


def new_code() -> str:
    """A random 4-letter offer code."""
    return "".join(secrets.choice(CODE_LETTERS) for _ in range(4))


def accept_until(start: datetime) -> datetime:
    """When accepting an offer of a time starting at `start` ends."""
    return start - ACCEPT_UNTIL_BEFORE_START


async def create(conn: asyncpg.Connection, *, site_id: int, appointment_id: int, staff_id: int, start: datetime,
                 end: datetime, mode: str, room: str | None, expires_at: datetime,
                 request_ids: list[int]) -> SlotOffer:
    """Store an open offer of a freed time and the requests it goes to, in one statement."""
    row = await conn.fetchrow(
        f"""
        WITH o AS (
            INSERT INTO slot_offers (site_id, appointment_id, staff_id, during, mode, room, code, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *
        ), asked AS (
            INSERT INTO slot_offer_recipients (offer_id, site_id, request_id)
            SELECT o.id, o.site_id, r FROM o, unnest($9::bigint[]) AS r
        )
        SELECT {_COLUMNS} FROM o
        """,
        site_id, appointment_id, staff_id, Range(start, end), mode, room, new_code(), expires_at, request_ids,
    )
    return _from_row(row)


async def get(conn: asyncpg.Connection, offer_id: int) -> SlotOffer:
    """One offer, or NotFound."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM slot_offers o WHERE o.id = $1", offer_id)
    if row is None:
        raise NotFound()
    return _from_row(row)


async def open_for_request(conn: asyncpg.Connection, request_id: int, *, now: datetime) -> SlotOffer | None:
    """The offer a request's page shows: still open and not answered by this request; the earliest first."""
    row = await conn.fetchrow(
        f"""
        SELECT {_COLUMNS} FROM slot_offers o JOIN slot_offer_recipients r ON r.offer_id = o.id
        WHERE r.request_id = $1 AND r.status = 'offered' AND o.status = 'open' AND o.expires_at > $2
        ORDER BY lower(o.during), o.id LIMIT 1
        """,
        request_id, now,
    )
    return _from_row(row) if row else None


async def addressed_to_client(conn: asyncpg.Connection, client_id: int, *,
                              code: str | None) -> tuple[SlotOffer, int] | None:
    """The offer a reply from this client means, with the request it was sent for: the one with this code,
    or else the newest; open or not (a late answer is told the time is gone)."""
    row = await conn.fetchrow(
        f"""
        SELECT {_COLUMNS}, r.request_id AS for_request
        FROM slot_offers o
        JOIN slot_offer_recipients r ON r.offer_id = o.id
        JOIN requests q ON q.id = r.request_id
        WHERE q.client_id = $1 AND ($2::text IS NULL OR o.code = upper($2))
        ORDER BY (o.status = 'open') DESC, o.created_at DESC, o.id DESC LIMIT 1
        """,
        client_id, code,
    )
    if row is None:
        return None
    fields = dict(row)
    request_id = fields.pop("for_request")
    return _from_row(fields), request_id


async def take(conn: asyncpg.Connection, offer_id: int, *, request_id: int, now: datetime) -> SlotOffer | None:
    """The one guarded change that decides who gets a freed time: open, not expired, and offered to this
    request; None when someone else was first (or it has ended). The row stays locked until commit."""
    row = await conn.fetchrow(
        f"""
        UPDATE slot_offers o SET status = 'taken', taken_by_request = $2, taken_at = $3
        WHERE o.id = $1 AND o.status = 'open' AND o.expires_at > $3
          AND EXISTS (SELECT 1 FROM slot_offer_recipients r
                      WHERE r.offer_id = o.id AND r.request_id = $2 AND r.status = 'offered')
        RETURNING {_COLUMNS}
        """,
        offer_id, request_id, now,
    )
    return _from_row(row) if row else None


async def settle(conn: asyncpg.Connection, offer_id: int, *, winner: int | None, now: datetime) -> list[int]:
    """Mark the winner (if any) and every other recipient still waiting as gone; the ids of those now gone."""
    rows = await conn.fetch(
        """
        UPDATE slot_offer_recipients SET status = CASE WHEN request_id = $2 THEN 'won' ELSE 'gone' END,
                                         answered_at = CASE WHEN request_id = $2 THEN $3 ELSE answered_at END
        WHERE offer_id = $1 AND status = 'offered'
        RETURNING request_id, status
        """,
        offer_id, winner, now,
    )
    return sorted(r["request_id"] for r in rows if r["status"] == RecipientStatus.gone)


async def mark_gone(conn: asyncpg.Connection, offer_id: int, *, request_id: int, now: datetime) -> bool:
    """One recipient answered too late (or cannot take it any more); True the first time."""
    result: str = await conn.execute(
        "UPDATE slot_offer_recipients SET status = 'gone', answered_at = $3 "
        "WHERE offer_id = $1 AND request_id = $2 AND status = 'offered'", offer_id, request_id, now)
    return result.split()[-1] != "0"


async def expire(conn: asyncpg.Connection, offer_id: int, *, now: datetime, force: bool = False) -> bool:
    """End an open offer: when its time to accept has passed, or at once with `force` (the time went another
    way); True when this call ended it."""
    result: str = await conn.execute(
        "UPDATE slot_offers SET status = 'expired' WHERE id = $1 AND status = 'open' AND ($3 OR expires_at <= $2)",
        offer_id, now, force)
    return result.split()[-1] != "0"


async def expire_passed(conn: asyncpg.Connection, *, now: datetime, limit: int = 1_000) -> int:
    """Mark open offers whose time to accept has passed as expired, a batch at a time; how many."""
    result: str = await conn.execute(
        """
        UPDATE slot_offers SET status = 'expired'
        WHERE id IN (SELECT id FROM slot_offers WHERE status = 'open' AND expires_at <= $1
                     ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        """,
        now, limit,
    )
    return int(result.split()[-1])
