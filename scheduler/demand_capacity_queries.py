"""Demand against capacity, the read model: three aggregate queries for any number of a site's teams at once,
then the pure arithmetic of `demand_capacity`.

Requests of the history window are counted per team, concern and channel in SQL (an index-only scan of
requests_demand_history, migration 0034);
free slots are computed in SQL per caseworker and day (working hours as ranges minus absences and bookings,
`range_agg`), so what reaches Python is one row per caseworker and working day of the horizon.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg
from asyncpg.types import Range

from scheduler import closures, sites
from scheduler import demand_capacity as dc
from scheduler.policy import store
from scheduler.policy.rules import RuleSet

_HISTORY = """
SELECT r.team_id, r.concern_id, r.channel, count(*)::int AS n FROM requests r
WHERE r.site_id = $1 AND r.created_at >= $3 AND r.created_at < $4 AND r.team_id = ANY($2::bigint[])
GROUP BY 1, 2, 3
"""

_BACKLOG = """
SELECT r.team_id, count(*)::int AS n FROM requests r
WHERE r.site_id = $1 AND r.team_id = ANY($2::bigint[]) AND r.status IN ('received', 'proposed')
GROUP BY 1
"""

# $1 site, $2 teams, $3 working days, $4 time zone, $5 the horizon's span, $6 each team's slot length in minutes.
_CAPACITY = """
WITH t AS (SELECT * FROM unnest($2::bigint[], $6::int[]) AS t(team_id, minutes)),
members AS (
    SELECT s.id, s.team_id, t.minutes FROM staff s JOIN t ON t.team_id = s.team_id
    WHERE s.site_id = $1 AND s.active AND s.role IN ('caseworker', 'team_lead')
),
shifts AS (
    SELECT m.id AS staff_id, m.team_id, m.minutes, d.day, w.modes,
           tstzrange((d.day + w.starts) AT TIME ZONE $4, (d.day + w.ends) AT TIME ZONE $4) AS during
    FROM members m JOIN working_hours w ON w.staff_id = m.id
    JOIN unnest($3::date[]) AS d(day) ON w.weekday = extract(isodow FROM d.day)::int - 1
),
booked AS (
    SELECT ap.staff_id, ap.during FROM appointments ap
    WHERE ap.staff_id IN (SELECT id FROM members) AND ap.status = 'confirmed' AND ap.during && $5
),
busy AS (  -- per caseworker and local day, so each shift subtracts only its own day's absences and bookings
    SELECT x.staff_id, x.day, range_agg(x.during) AS busy FROM (
        SELECT a.staff_id, d.day, a.during FROM absences a
        JOIN unnest($3::date[]) AS d(day)
          ON a.during && tstzrange(d.day::timestamp AT TIME ZONE $4, (d.day + 1)::timestamp AT TIME ZONE $4)
        WHERE a.staff_id IN (SELECT id FROM members) AND a.during && $5
        UNION ALL SELECT staff_id, (lower(during) AT TIME ZONE $4)::date, during FROM booked) x
    GROUP BY x.staff_id, x.day
),
pieces AS (  -- each shift's free stretches, as many whole slots as fit in each
    SELECT sh.staff_id, sh.team_id, sh.day, sh.modes,
           coalesce(sum(floor(extract(epoch FROM upper(f) - lower(f)) / 60 / sh.minutes)), 0)::int AS slots
    FROM shifts sh LEFT JOIN busy b ON b.staff_id = sh.staff_id AND b.day = sh.day
    LEFT JOIN LATERAL unnest(CASE WHEN b.busy IS NULL THEN tstzmultirange(sh.during)
                                  ELSE tstzmultirange(sh.during) - b.busy END) AS f ON true
    GROUP BY sh.staff_id, sh.team_id, sh.day, sh.modes, sh.during
),
per_day AS (
    SELECT staff_id, (lower(during) AT TIME ZONE $4)::date AS day, count(*)::int AS n FROM booked GROUP BY 1, 2
)
SELECT p.staff_id, p.team_id, p.day, sum(p.slots)::int AS slots,
       coalesce(sum(p.slots) FILTER (WHERE 'in_person' = ANY(p.modes)), 0)::int AS in_person,
       coalesce(sum(p.slots) FILTER (WHERE 'phone' = ANY(p.modes)), 0)::int AS phone,
       coalesce(sum(p.slots) FILTER (WHERE 'video' = ANY(p.modes)), 0)::int AS video,
       coalesce(max(bk.n), 0)::int AS booked
FROM pieces p LEFT JOIN per_day bk ON bk.staff_id = p.staff_id AND bk.day = p.day
GROUP BY p.staff_id, p.team_id, p.day
"""


@dataclass(frozen=True, slots=True)
class TeamRules:
    """What the forecast takes from a team's layered rule set."""

    cap: int           # appointments per caseworker and day
    slot_minutes: int  # the default duration
    within: int        # working days
    lead_days: int     # working days


@dataclass(frozen=True, slots=True)
class Report:
    """The outlook of each asked team and, for several, of them together (the office)."""

    teams: dict[int, dc.Outlook]
    rules: dict[int, TeamRules]
    office: dc.Outlook | None
    today: date


def team_rules(ruleset: RuleSet) -> TeamRules:
    """Cap, slot length, "within" and lead time of a rule set's defaults."""
    return TeamRules(cap=ruleset.caps.appointments_per_caseworker_per_day,
                     slot_minutes=max(5, int(ruleset.defaults.duration.total_seconds() // 60)),
                     within=ruleset.defaults.within, lead_days=ruleset.defaults.lead_time)


async def compute(conn: asyncpg.Connection, *, site: sites.Site, team_ids: list[int], now: datetime,
                  setups: sites.SetupCache | None = None) -> Report:
    """Demand, capacity and expected days to appointment of these teams of the site for the coming weeks."""
    calendar = site.calendar()
    today = calendar.local_date(now)
    since, until = dc.history_window(today)
    closed = {c.day for c in await closures.list_upcoming(conn, site.id, since=today)}

    def is_workday(d: date) -> bool:
        return calendar.is_workday(d) and d not in closed

    plan = dc.horizon(today, is_workday)
    days = [d for _, week_days in plan for d in week_days]
    setup = await sites.setup(conn, site, setups)
    active = setup.policies
    rules = {tid: team_rules(store.layered((setup.teams.code_by_id.get(tid, str(tid)), active.teams.get(tid)),
                                           ("site", active.site))[0]) for tid in team_ids}
    history = await conn.fetch(_HISTORY, site.id, team_ids, calendar.day_start(since), calendar.day_start(until))
    backlog = {r["team_id"]: r["n"] for r in await conn.fetch(_BACKLOG, site.id, team_ids)}
    span = Range(calendar.day_start(today), calendar.day_start(plan[-1][0] + timedelta(days=7)))
    capacity = await conn.fetch(_CAPACITY, site.id, team_ids, days, site.timezone, span,
                                [rules[t].slot_minutes for t in team_ids])
    counts: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for r in history:
        counts[r["team_id"]].append((r["concern_id"], r["channel"], r["n"]))
    staff_days: dict[int, list[dc.StaffDay]] = defaultdict(list)
    for r in capacity:
        staff_days[r["team_id"]].append(dc.StaffDay(
            staff_id=r["staff_id"], team_id=r["team_id"], day=r["day"], slots=r["slots"],
            slots_by_mode={m: r[m] for m in dc.MODES}, booked=r["booked"]))
    outlooks = {tid: dc.outlook(today=today, is_workday=is_workday, counts=counts[tid], staff_days=staff_days[tid],
                                cap=rules[tid].cap, backlog=backlog.get(tid, 0), within=rules[tid].within,
                                lead_days=rules[tid].lead_days) for tid in team_ids}
    office = None
    if len(team_ids) > 1:
        site_rules = team_rules(store.layered(("site", active.site))[0])
        office = dc.combine(list(outlooks.values()), within=site_rules.within, lead_days=site_rules.lead_days)
    return Report(teams=outlooks, rules=rules, office=office, today=today)
