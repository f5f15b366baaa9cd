"""The dashboard's numbers for team leads and admins: channel mix, backlog, lead times, reach, no-shows, attendance,
moves, expiries, overdue.

A read model over requests, callbacks, appointments (their recorded outcomes) and the audit rows of moves,
computed in SQL by local calendar week; the staff dashboard page charts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import asyncpg

from scheduler import sites

CHANNELS: Final = ("web", "kiosk", "phone", "sms", "staff")
DIGITAL: Final = frozenset({"web", "kiosk"})
AGE_BUCKETS: Final = ("under_1_day", "1_to_3_days", "3_to_7_days", "over_7_days")
DEFAULT_WEEKS: Final = 8


@dataclass(frozen=True, slots=True)
class Dashboard:
    weeks: list[str]                                # ISO dates of the Mondays, oldest first
    per_channel: dict[str, list[int]]               # channel -> requests + callbacks per week
    digital_share: list[float | None]               # (web + kiosk) / all, per week, in percent
    backlog: dict[str, int]                         # open items by age bucket
    backlog_total: int
    oldest_days: float | None
    days_to_appointment_median: list[float | None]  # per week of the request
    days_to_appointment_p90: list[float | None]
    callback_reach_rate: list[float | None]         # reached / closed callbacks, per week closed, percent
    no_show_rate: list[float | None]                # no-shows / past appointments, per week, percent
    overdue_per_week: list[int]                     # items flagged past their decision deadline, per week
    overdue_open: int                               # open items past their deadline now
    attendance_rate: list[float | None]             # held / appointments that ended (held, no-show, cancelled
                                                    # by the office), per week of the appointment, percent
    moves_per_week: list[int]                       # appointments moved by staff (appointment.move audit rows)
    expired_per_week: list[int]                     # requests expired undecided, per week they expired


WEEKLY_CHANNELS_SQL = """
WITH items AS (
    SELECT created_at, channel FROM requests
    WHERE site_id = $1 AND created_at >= $2 AND ($3::bigint IS NULL OR team_id = $3)
    UNION ALL
    SELECT created_at, channel FROM callbacks
    WHERE site_id = $1 AND created_at >= $2 AND ($3::bigint IS NULL OR team_id = $3)
)
SELECT date_trunc('week', created_at AT TIME ZONE $4)::date AS week, channel, count(*) AS n
FROM items GROUP BY 1, 2
"""

BACKLOG_SQL = """
WITH open_items AS (
    SELECT $3::timestamptz - created_at AS age FROM requests
    WHERE site_id = $1 AND status IN ('received', 'proposed') AND ($2::bigint IS NULL OR team_id = $2)
    UNION ALL
    SELECT $3::timestamptz - created_at FROM callbacks
    WHERE site_id = $1 AND status IN ('open', 'in_progress') AND ($2::bigint IS NULL OR team_id = $2)
)
SELECT CASE WHEN age < interval '1 day' THEN 'under_1_day' WHEN age < interval '3 days' THEN '1_to_3_days'
            WHEN age < interval '7 days' THEN '3_to_7_days' ELSE 'over_7_days' END AS bucket,
       count(*) AS n, extract(epoch FROM max(age)) / 86400 AS oldest_days
FROM open_items GROUP BY 1
"""

TO_APPOINTMENT_SQL = """
SELECT date_trunc('week', r.created_at AT TIME ZONE $4)::date AS week,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM lower(a.during) - r.created_at)) / 86400
           AS median_days,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM lower(a.during) - r.created_at)) / 86400
           AS p90_days
FROM appointments a JOIN requests r ON r.id = a.request_id
WHERE a.site_id = $1 AND r.created_at >= $2 AND a.status <> 'cancelled' AND ($3::bigint IS NULL OR r.team_id = $3)
GROUP BY 1
"""

CALLBACK_REACH_SQL = """
SELECT date_trunc('week', closed_at AT TIME ZONE $4)::date AS week,
       count(*) FILTER (WHERE status = 'reached') AS reached,
       count(*) FILTER (WHERE status IN ('reached', 'unreachable')) AS closed
FROM callbacks
WHERE site_id = $1 AND closed_at >= $2 AND ($3::bigint IS NULL OR team_id = $3)
GROUP BY 1
"""

NO_SHOW_SQL = """
SELECT date_trunc('week', lower(a.during) AT TIME ZONE $4)::date AS week,
       count(*) FILTER (WHERE a.status = 'no_show') AS no_show,
       count(*) FILTER (WHERE a.status IN ('completed', 'no_show')) AS past,
       count(*) FILTER (WHERE a.status = 'completed') AS held,
       count(*) FILTER (WHERE a.status IN ('completed', 'no_show') OR a.outcome = 'cancelled_by_office') AS ended
FROM appointments a JOIN requests r ON r.id = a.request_id
WHERE a.site_id = $1 AND lower(a.during) >= $2 AND lower(a.during) < $5 AND ($3::bigint IS NULL OR r.team_id = $3)
GROUP BY 1
"""

OVERDUE_SQL = """
WITH flagged AS (
    SELECT overdue_flagged_at AS at FROM requests
    WHERE site_id = $1 AND overdue_flagged_at >= $2 AND ($3::bigint IS NULL OR team_id = $3)
    UNION ALL
    SELECT overdue_flagged_at FROM callbacks
    WHERE site_id = $1 AND overdue_flagged_at >= $2 AND ($3::bigint IS NULL OR team_id = $3)
)
SELECT date_trunc('week', at AT TIME ZONE $4)::date AS week, count(*) AS n FROM flagged GROUP BY 1
"""

MOVES_SQL = """
SELECT date_trunc('week', e.created_at AT TIME ZONE $4)::date AS week, count(*) AS n
FROM audit_events e JOIN appointments a ON a.id = e.subject_id JOIN requests r ON r.id = a.request_id
WHERE e.site_id = $1 AND e.created_at >= $2 AND e.action = 'appointment.move' AND e.subject_type = 'appointment'
  AND ($3::bigint IS NULL OR r.team_id = $3)
GROUP BY 1
"""

EXPIRED_SQL = """
SELECT date_trunc('week', closed_at AT TIME ZONE $4)::date AS week, count(*) AS n
FROM requests
WHERE site_id = $1 AND status = 'expired' AND closed_at >= $2 AND ($3::bigint IS NULL OR team_id = $3)
GROUP BY 1
"""

OVERDUE_OPEN_SQL = """
SELECT (SELECT count(*) FROM requests WHERE site_id = $1 AND status IN ('received', 'proposed')
          AND deadline_at < $3 AND ($2::bigint IS NULL OR team_id = $2))
     + (SELECT count(*) FROM callbacks WHERE site_id = $1 AND status IN ('open', 'in_progress')
          AND deadline_at < $3 AND ($2::bigint IS NULL OR team_id = $2))
"""


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


async def compute(conn: asyncpg.Connection, *, site: sites.Site, team_id: int | None, now: datetime,
                  weeks: int = DEFAULT_WEEKS) -> Dashboard:
    """Every dashboard number for a site (or one team) over the last `weeks` weeks, by local calendar week."""
    today = site.calendar().local_date(now)
    mondays = [today - timedelta(days=today.weekday() + 7 * i) for i in reversed(range(weeks))]
    since = site.calendar().day_start(mondays[0])
    index: dict[date, int] = {m: i for i, m in enumerate(mondays)}
    args = (site.id, since, team_id, site.timezone)

    per_channel = {ch: [0] * weeks for ch in CHANNELS}
    for r in await conn.fetch(WEEKLY_CHANNELS_SQL, *args):
        if r["week"] in index and r["channel"] in per_channel:
            per_channel[r["channel"]][index[r["week"]]] += r["n"]
    share = [_percent(sum(per_channel[c][i] for c in DIGITAL), sum(per_channel[c][i] for c in CHANNELS))
             for i in range(weeks)]

    backlog = dict.fromkeys(AGE_BUCKETS, 0)
    oldest: float | None = None
    for r in await conn.fetch(BACKLOG_SQL, site.id, team_id, now):
        backlog[r["bucket"]] = r["n"]
        oldest = max(oldest or 0.0, float(r["oldest_days"]))

    async def weekly(sql: str, value: Callable[[asyncpg.Record], Any], *extra: object) -> list[Any]:
        values: list[Any] = [None] * weeks
        for r in await conn.fetch(sql, *args, *extra):
            if r["week"] in index:
                values[index[r["week"]]] = value(r)
        return values

    lead_times = await weekly(TO_APPOINTMENT_SQL, lambda r: (_round(r["median_days"]), _round(r["p90_days"])))
    median = [t[0] if t else None for t in lead_times]
    p90 = [t[1] if t else None for t in lead_times]
    reach = await weekly(CALLBACK_REACH_SQL, lambda r: _percent(r["reached"], r["closed"]))
    outcomes = await weekly(NO_SHOW_SQL, lambda r: (_percent(r["no_show"], r["past"]),
                                                    _percent(r["held"], r["ended"])), now)
    no_show = [o[0] if o else None for o in outcomes]
    attendance = [o[1] if o else None for o in outcomes]
    moves = [n or 0 for n in await weekly(MOVES_SQL, lambda r: r["n"])]
    expired = [n or 0 for n in await weekly(EXPIRED_SQL, lambda r: r["n"])]
    overdue = [n or 0 for n in await weekly(OVERDUE_SQL, lambda r: r["n"])]
    overdue_open: int = await conn.fetchval(OVERDUE_OPEN_SQL, site.id, team_id, now)

    return Dashboard(
        weeks=[m.isoformat() for m in mondays], per_channel=per_channel, digital_share=share, backlog=backlog,
        backlog_total=sum(backlog.values()), oldest_days=_round(oldest), days_to_appointment_median=median,
        days_to_appointment_p90=p90, callback_reach_rate=reach, no_show_rate=no_show, overdue_per_week=overdue,
        overdue_open=overdue_open, attendance_rate=attendance, moves_per_week=moves, expired_per_week=expired)
