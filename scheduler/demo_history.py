"""Demo data only: weeks of plausible past activity for the demo site, so that a new user sees a living dashboard.

`python -m scheduler seed-demo --history 12w` runs it after the demo site is loaded. Like seed.py it writes demo
rows itself, owner-neutral on purpose and only for the demo site (its code from demo/site.yaml): clients,
requests (with declines, expiries, withdrawals), appointments with outcomes and moves, callbacks with their
attempts, and the audit rows the real commands would have written, in one transaction of bulk statements.
demo_history_plan draws the rows; everything lies in the past, on the site's working days within the
caseworkers' hours, and no caseworker has two appointments at once. The site gets one `demo.history` audit
row: a second run adds nothing.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import asyncpg

from scheduler import closures, concerns, sites, teams
from scheduler.demo_history_plan import Facts, Plan, Planner, Ref
from scheduler.references import new_link_token, new_reference

MARK: Final = "demo.history"
MAX_WEEKS: Final = 52
HAS_HISTORY_SQL: Final = """
SELECT EXISTS (SELECT 1 FROM audit_events WHERE site_id = $1 AND action = $2)
    OR EXISTS (SELECT 1 FROM requests WHERE site_id = $1 AND server_key LIKE 'demo-history-%')
"""


class HistoryWeeksInvalid(ValueError):
    """A `--history` value that is not 1w … 52w."""


def parse_weeks(text: str) -> int:
    """Weeks from a `--history` value like "12w" (1 to 52)."""
    found = re.fullmatch(r"\s*([0-9]{1,3})\s*w\s*", text or "")
    if not found or not 1 <= int(found.group(1)) <= MAX_WEEKS:
        raise HistoryWeeksInvalid(f"expected a number of weeks from 1w to {MAX_WEEKS}w (e.g. 12w), got {text!r}")
    return int(found.group(1))


@dataclass(frozen=True, slots=True)
class Counts:
    weeks: int
    requests: int
    callbacks: int
    appointments: int
    per_channel: dict[str, int]


async def _facts(conn: asyncpg.Connection, site: sites.Site, *, since: date) -> Facts | None:
    staff: dict[int, list[int]] = defaultdict(list)
    hours: dict[int, dict[int, list[Any]]] = {}
    for person in await teams.bookable_staff(conn, site.id):
        staff[person["team_id"]].append(person["id"])
        hours[person["id"]] = defaultdict(list)
        for h in await teams.list_hours(conn, person["id"]):
            hours[person["id"]][h["weekday"]].append((h["starts"].hour * 60 + h["starts"].minute,
                                                      h["ends"].hour * 60 + h["ends"].minute, h["room"], h["modes"]))
    with_people = [r for r in await teams.list_with_members(conn, site.id) if staff.get(r["id"])]
    active = (await sites.setup(conn, site)).concerns
    if not with_people or not active:
        return None
    return Facts(
        calendar=site.calendar(), staff=staff, hours=hours,
        leads={r["id"] for r in await teams.list_staff(conn, site.id) if r["role"] == "team_lead"},
        team_ids={code: next((r["id"] for r in with_people if r["code"] == code), with_people[0]["id"])
                  for code in ("entrance", "u25", "placement")},
        concerns={r["code"]: {"id": r["id"], "default_minutes": r["default_minutes"], "urgent": r["urgent"],
                              "modes": active[r["code"]].modes}
                  for r in await concerns.list_for_admin(conn, site.id) if r["code"] in active},
        closed={c.day for c in await closures.list_upcoming(conn, site.id, since=since)})


async def fill(pool: asyncpg.Pool, *, site_code: str, weeks: int, now: datetime, seed: int = 14) -> Counts | None:
    """Fill `weeks` weeks before `now` with demo history; None when the site already has it (or does not exist)."""
    async with pool.acquire() as conn, conn.transaction():
        site = await sites.site_by_code(conn, site_code)
        if site is None:
            return None
        # The site row's lock makes a concurrent second run wait, then find the mark (or the rows themselves).
        await conn.execute("SELECT 1 FROM sites WHERE id = $1 FOR UPDATE", site.id)
        if await conn.fetchval(HAS_HISTORY_SQL, site.id, MARK):
            return None
        facts = await _facts(conn, site, since=site.calendar().local_date(now) - timedelta(days=7 * weeks))
        if facts is None:
            return None
        # A seeded generator on purpose: the same demo history for the same seed; it draws no secrets.
        plan = Planner(facts, rng=random.Random(seed), now=now, weeks=weeks).run()  # nosec B311
        counts = Counts(weeks=weeks, requests=len(plan.requests), callbacks=len(plan.callbacks),
                        appointments=len(plan.appointments),
                        per_channel=dict(Counter(r["channel"] for r in plan.requests + plan.callbacks)))
        plan.audit.append(("site", None, "system", MARK, {"weeks": weeks, "requests": counts.requests,
                                                          "callbacks": counts.callbacks}, now))
        await _write(conn, site.id, plan, concern_ids={k: v["id"] for k, v in facts.concerns.items()})
        return counts


async def _bulk(conn: asyncpg.Connection, sql: str, rows: list[dict[str, Any]], types: dict[str, str],
                site_id: int) -> list[asyncpg.Record]:
    """Run `sql` with `{x}` standing for the rows as a relation x(column, …) built by one unnest of arrays."""
    arrays = ", ".join(f"${i}::{t}[]" for i, t in enumerate(types.values(), start=2))
    return list(await conn.fetch(sql.replace("{x}", f"unnest({arrays}) AS x({', '.join(types)})"), site_id,
                                 *([r[c] for r in rows] for c in types)))


async def _write(conn: asyncpg.Connection, site_id: int, plan: Plan, *, concern_ids: dict[str, int]) -> None:
    """Insert the plan in a handful of bulk statements; ids are matched back by server_key and calendar UID."""
    await _bulk(conn, """
        INSERT INTO clients (site_id, phone, name, language, customer_number, sms_consent, language_verified)
        SELECT $1, phone, name, language, number, true, true FROM {x}
        ON CONFLICT (site_id, phone) WHERE phone IS NOT NULL DO NOTHING""",
        plan.clients, {"phone": "text", "name": "text", "language": "text", "number": "text"}, site_id)
    client_ids = {r["phone"]: r["id"] for r in await conn.fetch(
        "SELECT id, phone FROM clients WHERE site_id = $1 AND phone = ANY($2::text[])", site_id,
        [c["phone"] for c in plan.clients])}
    for r in plan.requests + plan.callbacks:
        r.update(client=client_ids[r["phone"]], concern_id=concern_ids[r["concern"]], reference=new_reference(),
                 token=new_link_token())
    case = {"key": "text", "client": "bigint", "concern_id": "bigint", "channel": "text", "status": "text",
            "reference": "text", "token": "text", "language": "text", "team": "bigint", "staff": "bigint",
            "deadline": "timestamptz", "created": "timestamptz", "closed": "timestamptz"}  # nosec B105: column types
    ids: dict[Ref, int] = {Ref("request", r["server_key"]): r["id"] for r in await _bulk(conn, """
        INSERT INTO requests (site_id, server_key, client_id, concern_id, channel, status, reference, link_token,
                              language, team_id, staff_id, deadline_at, created_at, updated_at, closed_at, modes,
                              overdue_flagged_at, decline_reason, decline_category, invitation, created_by, sms_consent)
        SELECT $1, key, client, concern_id, channel, status, reference, token, language, team, staff, deadline,
               created, closed, closed, string_to_array(modes, ','), flagged, reason, category, invitation,
               created_by, true
        FROM {x} RETURNING id, server_key""", plan.requests,
        {**case, "modes": "text", "flagged": "timestamptz", "reason": "text", "category": "text",
         "invitation": "text", "created_by": "bigint"}, site_id)}
    ids.update({Ref("callback", r["server_key"]): r["id"] for r in await _bulk(conn, """
        INSERT INTO callbacks (site_id, server_key, client_id, concern_id, channel, status, reference, link_token,
                               language, team_id, staff_id, deadline_at, created_at, updated_at, closed_at, phone,
                               attempts, sms_consent)
        SELECT $1, key, client, concern_id, channel, status, reference, token, language, team, staff, deadline,
               created, closed, closed, phone, attempts, true
        FROM {x} RETURNING id, server_key""", plan.callbacks, {**case, "phone": "text", "attempts": "int"}, site_id)})
    ids.update({Ref("appointment", r["ical_uid"]): r["id"] for r in await _bulk(conn, """
        INSERT INTO appointments (site_id, request_id, client_id, staff_id, during, mode, room, status, arrived_at,
                                  ical_uid, sequence, cancel_reason, created_by, created_at, updated_at, outcome,
                                  outcome_reason, outcome_reason_date, outcome_by, outcome_at)
        SELECT $1, r.id, r.client_id, x.staff, tstzrange(x.starts, x.ends), x.mode, x.room, x.status, x.arrived,
               x.uid, x.sequence, x.cancel, x.created_by, x.created, coalesce(x.outcome_at, x.created), x.outcome,
               x.reason, x.reason_date, CASE WHEN x.outcome IS NOT NULL THEN x.staff END, x.outcome_at
        FROM {x} JOIN requests r ON r.site_id = $1 AND r.server_key = x.key
        RETURNING id, ical_uid""", plan.appointments,
        {"key": "text", "staff": "bigint", "starts": "timestamptz", "ends": "timestamptz", "mode": "text",
         "room": "text", "status": "text", "arrived": "timestamptz", "uid": "text", "sequence": "int",
         "cancel": "text", "created_by": "text", "created": "timestamptz", "outcome": "text", "reason": "text",
         "reason_date": "date", "outcome_at": "timestamptz"}, site_id)})
    await _bulk(conn, """
        INSERT INTO callback_attempts (site_id, callback_id, staff_id, outcome, created_at)
        SELECT $1, c.id, x.staff, x.outcome, x.at FROM {x} JOIN callbacks c ON c.site_id = $1 AND c.server_key = x.key
        """, plan.attempts, {"key": "text", "staff": "bigint", "outcome": "text", "at": "timestamptz"}, site_id)
    events = [{"kind": kind, "id": site_id if kind == "site" else ids.get(ref) if ref else None, "actor": actor,
               "action": action, "at": at,
               "details": json.dumps({k: ids.get(v) if isinstance(v, Ref) else v for k, v in details.items()})}
              for kind, ref, actor, action, details, at in plan.audit]
    await _bulk(conn, """
        INSERT INTO audit_events (site_id, subject_type, subject_id, actor, action, details, created_at)
        SELECT $1, kind, id, actor, action, details::jsonb, at FROM {x}""", events,
        {"kind": "text", "id": "bigint", "actor": "text", "action": "text", "details": "text", "at": "timestamptz"},
        site_id)
