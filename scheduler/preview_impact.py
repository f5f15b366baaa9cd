"""The preview's impact: every request of the last N weeks replayed through a draft rule set (read model).

One query reads the requests with what the policy decides on (and the parts of their stored decision the
comparison needs); the replay itself is pure (preview_replay.py). Nothing is written.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta
from typing import Final

import asyncpg

from scheduler import sites
from scheduler.policy import store
from scheduler.policy.rules import Channel, Need
from scheduler.preview_replay import Before, Draft, Impact, PastRequest, SiteRules, explanation_lines, impact

DEFAULT_WEEKS: Final = 4
MAX_WEEKS: Final = 12
SHOWN_ROWS: Final = 200

# The stored decision's fields are taken apart in SQL: decoding 10,000 whole decisions from JSON would cost more
# than the replay itself. Its explanation (most of its size) is read afterwards for the rows shown only. The
# modes the client wished are not read: they only narrow the modes, which the preview does not compare.
_PAST_SQL: Final = """
SELECT r.id, r.reference, c.code AS concern, c.urgent, r.channel, r.language, r.needs,
       r.invitation IS NOT NULL AS invitation, r.created_at, (r.created_at AT TIME ZONE $5)::date AS day,
       cl.birth_date, cl.assigned_staff_id,
       (r.decision->>'priority')::int AS priority, r.decision->>'route_team' AS route_team,
       (r.decision->>'route_caseworker_id')::bigint AS route_caseworker_id,
       (r.decision->>'duration_s')::int AS duration_s,
       (r.decision->>'earliest_start')::timestamptz AS earliest_start,
       (r.decision->>'latest_start')::timestamptz AS latest_start,
       r.decision->>'follow_up' AS follow_up
FROM requests r JOIN concerns c ON c.id = r.concern_id JOIN clients cl ON cl.id = r.client_id
WHERE r.site_id = $1 AND r.created_at >= $2 AND r.decision IS NOT NULL
  AND ($3::bigint IS NULL OR r.team_id = $3) AND ($4::bigint IS NULL OR r.staff_id = $4)
ORDER BY r.created_at DESC, r.id DESC
"""
_STAFF_TEAMS_SQL: Final = "SELECT id, team_id FROM staff WHERE site_id = $1"
_EXPLANATIONS_SQL: Final = "SELECT id, (decision->'explanation')::text AS explanation FROM requests WHERE id = ANY($1)"
_CHANNELS: Final = {str(c): c for c in Channel}
_NEEDS: Final = {str(n): n for n in Need}
_NO_NEEDS: frozenset[Need] = frozenset()


def _age(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _follow_up(text: str | None) -> object:
    """The stored follow-up in its YAML shape from `decision->>'follow_up'`: 'task', or the invite's JSON."""
    return json.loads(text) if text and text.startswith("{") else text


def _past(row: asyncpg.Record) -> PastRequest:
    received: datetime = row["created_at"]
    day: date = row["day"]  # the site-local day it came, computed by the database (cheaper than in Python)
    before = Before(row["priority"], row["route_team"], row["route_caseworker_id"], row["duration_s"],
                    row["earliest_start"], row["latest_start"], _follow_up(row["follow_up"]), "")
    needs = frozenset(_NEEDS[n] for n in row["needs"]) if row["needs"] else _NO_NEEDS
    return PastRequest(row["id"], row["reference"], row["concern"], _CHANNELS[row["channel"]], row["language"],
                       _age(row["birth_date"], day), row["urgent"], row["assigned_staff_id"], needs,
                       row["invitation"], received, day, before)


async def preview_impact(conn: asyncpg.Connection, *, site_id: int, draft: Draft, weeks: int,
                         now: datetime, show: int = SHOWN_ROWS) -> Impact:
    """What the draft would have changed for the requests of the last `weeks` weeks of its scope.

    A team's draft replays the requests routed to that team, a caseworker's those routed to them, the
    site's every request of the site. Clients' earlier no-shows are not replayed (taken as none).
    """
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be 1..{MAX_WEEKS}")
    site = await sites.site_by_id(conn, site_id)
    setup = await sites.setup(conn, site)
    calendar = site.calendar()
    team_filter = draft.team_id if draft.scope is store.Scope.team else None
    staff_filter = draft.staff_id if draft.scope is store.Scope.caseworker else None
    rows = await conn.fetch(_PAST_SQL, site_id, now - timedelta(weeks=weeks), team_filter, staff_filter,
                            site.timezone)
    staff_teams = {r["id"]: r["team_id"] for r in await conn.fetch(_STAFF_TEAMS_SQL, site_id)}
    rules = SiteRules(active=setup.policies, team_by_code=setup.teams.by_code, code_by_team=setup.teams.code_by_id,
                      default_team=setup.teams.default_code, team_of_staff=staff_teams, calendar=calendar)
    past = [_past(r) for r in rows]
    found = impact(past, draft, rules, site_id=site_id, weeks=weeks, show=show)
    if not found.rows:
        return found
    stored = {r["id"]: r["explanation"] for r in
              await conn.fetch(_EXPLANATIONS_SQL, [row.request_id for row in found.rows])}
    return dataclasses.replace(found, rows=tuple(
        dataclasses.replace(row, before_why=explanation_lines(stored.get(row.request_id) or "")) for row in found.rows))

