"""Working hours, absences, holidays and existing bookings, read as engine inputs."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import asyncpg
from asyncpg.types import Range

from scheduler import closures
from scheduler.policy.rules import Mode
from scheduler.policy.slots import CaseworkerAvailability, WorkingHours


def _per_caseworker(min_free: str) -> str:
    """Per caseworker `s.id`: hours, absences and closure days, bookings and held proposals inside the window $2.

    With `min_free` (an interval parameter, or NULL), busy times also cover the free stretches between them
    that are shorter than it: no appointment that long fits there, and a calendar full of held proposals
    then arrives as a few ranges per day instead of one per proposal.
    """
    return f"""
  (SELECT array_agg(ROW(w.weekday, w.starts, w.ends, w.room, w.modes)) FROM working_hours w
    WHERE w.staff_id = s.id) AS hours,
  (SELECT range_agg(x.during) FROM (
      SELECT a.during FROM absences a WHERE a.staff_id = s.id AND a.during && $2
      UNION ALL  -- the site's closure days block whole days like an absence
      {closures.blocked_days_sql(staff_id="s.id", span="$2", tz="$4")}) x) AS absent,
  (SELECT CASE WHEN {min_free} IS NULL THEN b.busy
               ELSE tstzmultirange($2) - coalesce((
                   SELECT range_agg(free) FROM unnest(tstzmultirange($2) - coalesce(b.busy, '{{}}')) AS free
                   WHERE upper(free) - lower(free) >= {min_free}), '{{}}') END
   FROM (SELECT range_agg(x.during) AS busy FROM (
      SELECT ap.during FROM appointments ap
      WHERE ap.staff_id = s.id AND ap.status = 'confirmed' AND ap.during && $2
      UNION ALL
      SELECT p.during FROM proposals p  -- only open requests have proposals (migration 0010)
      WHERE p.staff_id = s.id AND p.during && $2 AND p.request_id IS DISTINCT FROM $3) x) b) AS busy,
  (SELECT array_agg((lower(ap.during) AT TIME ZONE $4)::date) FROM appointments ap
    WHERE ap.staff_id = s.id AND ap.status = 'confirmed' AND ap.during && $2) AS booked_days
"""


_LOAD = f"""
SELECT s.id AS staff_id, {_per_caseworker("NULL::interval")}
FROM unnest($1::bigint[]) WITH ORDINALITY AS s(id, n)
ORDER BY s.n
"""

# At site $1: the routed caseworker ($5), or the team's ($6) members with hours who speak the client's language ($7),
# all of them when nobody does; $8 is the shortest free stretch worth returning.
_LOAD_ROUTED = f"""
WITH members AS (
    SELECT s.id, $7 = ANY(s.languages) AS speaks FROM staff s
    WHERE $5::bigint IS NULL AND s.site_id = $1 AND s.team_id = $6 AND s.active
      AND s.role IN ('caseworker', 'team_lead') AND EXISTS (SELECT 1 FROM working_hours w WHERE w.staff_id = s.id)
    UNION ALL
    SELECT $5::bigint, true WHERE $5::bigint IS NOT NULL
)
SELECT s.id AS staff_id, {_per_caseworker("$8::interval")}
FROM members s
WHERE s.speaks OR NOT EXISTS (SELECT 1 FROM members WHERE speaks)
ORDER BY s.id
"""


async def load(conn: asyncpg.Connection, *, staff_ids: list[int], start: datetime, end: datetime, tz: str,
               exclude_request_id: int | None = None) -> list[CaseworkerAvailability]:
    """Availability of caseworkers between start and end: hours, absences, bookings and held proposals.

    Open proposals of other requests count as busy, so two clients are rarely offered the same time;
    if it still happens, the booking constraint decides. Busy times are merged in PostgreSQL
    (`range_agg`), so a long queue of held proposals arrives as a few ranges, not thousands of rows.
    """
    if not staff_ids:
        return []
    return _availability(await conn.fetch(_LOAD, staff_ids, Range(start, end), exclude_request_id, tz))


async def load_routed(conn: asyncpg.Connection, *, site_id: int, team_id: int | None, staff_id: int | None,
                      language: str, start: datetime, end: datetime, tz: str,
                      exclude_request_id: int | None = None,
                      min_free: timedelta | None = None) -> list[CaseworkerAvailability]:
    """Availability (as `load`) of who can take a request: the routed caseworker, or the team's members who
    speak the client's language (all members when nobody does). One statement.

    With `min_free` (the appointment's length), free stretches shorter than it count as busy: the slot search
    gets the same answer from far fewer ranges. Then `end` must reach as far as a slot may end.
    """
    if staff_id is None and team_id is None:
        return []
    rows = await conn.fetch(_LOAD_ROUTED, site_id, Range(start, end), exclude_request_id, tz, staff_id, team_id,
                            language.split("-")[0], min_free)
    return _availability(rows)


def _availability(rows: list[asyncpg.Record]) -> list[CaseworkerAvailability]:
    return [
        CaseworkerAvailability(
            caseworker_id=r["staff_id"],
            hours=tuple(WorkingHours(weekday=h[0], start=h[1], end=h[2], room=h[3],
                                     modes=frozenset(Mode(m) for m in h[4])) for h in r["hours"] or ()),
            absences=_spans(r["absent"]), busy=_spans(r["busy"]),
            booked_per_day=dict(Counter(r["booked_days"] or ())),
        )
        for r in rows
    ]


def _spans(multirange: list[Range] | None) -> tuple[tuple[datetime, datetime], ...]:
    return tuple((span.lower, span.upper) for span in multirange or ())
