"""The dashboard's no-show rate, attendance, moves and expiries come from real rows (here: the demo history)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import dashboard_numbers, demo_history, sites
from tests.factories import SiteFacts
from tests.staff.helpers import sign_in

WEEKLY_FROM_ROWS = """
WITH weeks AS (SELECT unnest($2::date[]) AS week)
SELECT w.week,
  (SELECT count(*) FROM audit_events e WHERE e.site_id = $1 AND e.action = 'appointment.move'
     AND date_trunc('week', e.created_at AT TIME ZONE 'Europe/Berlin')::date = w.week) AS moves,
  (SELECT count(*) FROM requests r WHERE r.site_id = $1 AND r.status = 'expired'
     AND date_trunc('week', r.closed_at AT TIME ZONE 'Europe/Berlin')::date = w.week) AS expired,
  (SELECT count(*) FILTER (WHERE a.outcome = 'held') FROM appointments a WHERE a.site_id = $1
     AND date_trunc('week', lower(a.during) AT TIME ZONE 'Europe/Berlin')::date = w.week) AS held,
  (SELECT count(*) FILTER (WHERE a.outcome = 'no_show') FROM appointments a WHERE a.site_id = $1
     AND date_trunc('week', lower(a.during) AT TIME ZONE 'Europe/Berlin')::date = w.week) AS no_show,
  (SELECT count(*) FILTER (WHERE a.outcome IS NOT NULL) FROM appointments a WHERE a.site_id = $1
     AND date_trunc('week', lower(a.during) AT TIME ZONE 'Europe/Berlin')::date = w.week) AS ended
FROM weeks w ORDER BY w.week
"""


async def test_new_figures_come_from_the_history_rows(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    now = datetime.now(UTC)
    assert await demo_history.fill(pool, site_code="musterstadt", weeks=2, now=now) is not None
    d = await dashboard_numbers.compute(conn, site=await sites.site_by_id(conn, site.site_id), team_id=None, now=now)
    rows = await conn.fetch(WEEKLY_FROM_ROWS, site.site_id, [date.fromisoformat(w) for w in d.weeks])
    assert [r["moves"] for r in rows] == d.moves_per_week and sum(d.moves_per_week) > 0
    assert [r["expired"] for r in rows] == d.expired_per_week
    for r, attendance, no_show in zip(rows, d.attendance_rate, d.no_show_rate, strict=True):
        if r["ended"]:
            assert attendance == round(100 * r["held"] / r["ended"], 1)
            assert no_show == round(100 * r["no_show"] / (r["held"] + r["no_show"]), 1)
        else:
            assert attendance is None
    # Weeks with enough appointments to speak of a rate (the first days of a history have few).
    full = [i for i, r in enumerate(rows) if r["ended"] >= 20]
    assert full and all(60 <= (d.attendance_rate[i] or 0) <= 95 for i in full), d.attendance_rate
    assert all(5 <= (d.no_show_rate[i] or 0) <= 25 for i in full), d.no_show_rate


async def test_a_team_sees_only_its_moves_and_expiries(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                       site: SiteFacts) -> None:
    now = datetime.now(UTC)
    await demo_history.fill(pool, site_code="musterstadt", weeks=2, now=now)
    row = await sites.site_by_id(conn, site.site_id)
    whole = await dashboard_numbers.compute(conn, site=row, team_id=None, now=now)
    teams = [r["id"] for r in await conn.fetch("SELECT id FROM teams WHERE site_id = $1", site.site_id)]
    parts = [await dashboard_numbers.compute(conn, site=row, team_id=t, now=now) for t in teams]
    assert [sum(p.moves_per_week[i] for p in parts) for i in range(len(whole.weeks))] == whole.moves_per_week
    assert [sum(p.expired_per_week[i] for p in parts) for i in range(len(whole.weeks))] == whole.expired_per_week


async def test_the_page_shows_and_charts_the_new_figures(client: TestClient, pool: asyncpg.Pool,
                                                         site: SiteFacts) -> None:
    now = datetime.now(UTC)
    await demo_history.fill(pool, site_code="musterstadt", weeks=2, now=now - timedelta(seconds=1))
    await sign_in(client, "admin")
    r = await client.get("/staff/dashboard")
    assert r.status == 200
    html = await r.text()
    for label in ("Wahrgenommen", "Verlegt", "Abgelaufen", "Nichterscheinen",
                  "Verlegte Termine und abgelaufene Anfragen je Woche"):
        assert label in html
    assert 'id="chart-attendance"' in html and 'id="chart-moves"' in html
    found = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S)
    assert found
    data = json.loads(found.group(1))
    assert sum(data["moves_per_week"]) > 0 and any(a is not None for a in data["attendance_rate"])
    texts = re.search(r'<script type="application/json" id="dashboard-texts">(.*?)</script>', html, re.S)
    assert texts and json.loads(texts.group(1))["attendance"] == "Wahrgenommen"
