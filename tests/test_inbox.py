"""inbox.load() against the straightforward way: read every open row of the queue, order it by the policy."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import inbox, sites
from scheduler.policy.ordering import QueueItem
from tests import factories
from tests.factories import SiteFacts
from tests.policy.test_ordering import counted, reference_order

# The key query as it was before the covering indexes: one statement for every filter combination.
REFERENCE_FILTER = {
    "requests": """
        SELECT r.id, r.priority, r.created_at, r.manual_rank
        FROM requests r JOIN concerns c ON c.id = r.concern_id
        WHERE r.site_id = $1 AND r.status IN ('received', 'proposed')
          AND ($2::bigint IS NULL OR r.staff_id = $2 OR (r.staff_id IS NULL AND r.team_id = $3))
          AND ($2::bigint IS NOT NULL OR $3::bigint IS NULL OR r.team_id = $3)
          AND ($4::text IS NULL OR c.code = $4) AND ($5::text IS NULL OR r.channel = $5)""",
    "callbacks": """
        SELECT b.id, b.priority, b.created_at, b.manual_rank
        FROM callbacks b JOIN concerns c ON c.id = b.concern_id
        WHERE b.site_id = $1 AND b.status IN ('open', 'in_progress')
          AND ($2::bigint IS NULL OR b.staff_id = $2 OR (b.staff_id IS NULL AND b.team_id = $3))
          AND ($2::bigint IS NOT NULL OR $3::bigint IS NULL OR b.team_id = $3)
          AND ($4::text IS NULL OR c.code = $4) AND ($5::text IS NULL OR b.channel = $5)""",
}
CHANNELS = ("web", "kiosk", "phone", "sms", "staff")


async def _fill(conn: asyncpg.Connection, site: SiteFacts, rng: random.Random, now: datetime) -> None:
    staff = [*site.staff.values(), None, None]
    teams = [*site.teams.values(), None]
    concerns = list(site.concerns.values())
    client = await factories.create_client(conn, site)
    # Few distinct times and priorities, so that ties happen; times with microseconds and across DST changes.
    times = [now - timedelta(days=rng.uniform(-1, 200), microseconds=rng.randrange(10**6)) for _ in range(25)]
    for table, statuses in (("requests", ("received", "proposed", "scheduled", "done")),
                            ("callbacks", ("open", "in_progress", "reached", "cancelled"))):
        for _ in range(120 if table == "requests" else 60):
            extra = "" if table == "requests" else ", phone"
            value = "" if table == "requests" else ", '+4915100000000'"
            await conn.execute(
                f"""
                INSERT INTO {table} (site_id, client_id, concern_id, channel, status, reference, link_token,
                                     staff_id, team_id, priority, manual_rank, created_at{extra})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12{value})
                """,
                site.site_id, client, rng.choice(concerns), rng.choice(CHANNELS), rng.choice(statuses),
                secrets.token_hex(6).upper(), secrets.token_urlsafe(24), rng.choice(staff), rng.choice(teams),
                rng.choice((10, 20, 50, 90)), rng.choice((None, None, None, None, 0.5, 1.0, 2.0)),
                rng.choice(times),
            )


async def _expected(conn: asyncpg.Connection, table: str, filt: inbox.InboxFilter, team_of_staff: int | None,
                    now: datetime) -> list[tuple[int, int]]:
    calendar = (await sites.site_by_id(conn, filt.site_id)).calendar()
    team = team_of_staff if filt.staff_id is not None else filt.team_id
    ordering = await inbox._ordering(conn, filt.site_id, team)
    rows = await conn.fetch(REFERENCE_FILTER[table], filt.site_id, filt.staff_id, team, filt.concern, filt.channel)
    items = [QueueItem(r["id"], r["priority"], r["created_at"], r["manual_rank"]) for r in rows]
    ordered = reference_order(items, ordering, now=now, calendar=calendar)[:filt.limit]
    return [(i.id, i.priority + ordering.aging_per_workday * max(0, counted(calendar, i.received_at, now)))
            for i in ordered]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_inbox_matches_reading_and_ordering_every_open_row(conn: asyncpg.Connection, site: SiteFacts,
                                                                 seed: int) -> None:
    rng = random.Random(seed)
    now = datetime(2027, 3, 29, 9, 30, tzinfo=UTC) + timedelta(days=seed * 50)
    await _fill(conn, site, rng, now)
    team_of = {r["id"]: r["team_id"] for r in await conn.fetch(
        "SELECT id, team_id FROM staff WHERE site_id = $1", site.site_id)}
    concern = sorted(site.concerns)[0]
    cases: list[tuple[inbox.InboxFilter, int | None]] = []
    for staff_id, team_id in team_of.items():
        cases.append((inbox.InboxFilter(site_id=site.site_id, staff_id=staff_id), team_id))
        cases.append((inbox.InboxFilter(site_id=site.site_id, staff_id=staff_id, limit=3), team_id))
        cases.append((inbox.InboxFilter(site_id=site.site_id, staff_id=staff_id), None))  # no team
    for team_id in site.teams.values():
        cases.append((inbox.InboxFilter(site_id=site.site_id, team_id=team_id), None))
        cases.append((inbox.InboxFilter(site_id=site.site_id, team_id=team_id, channel="web", limit=4), None))
    cases += [
        (inbox.InboxFilter(site_id=site.site_id), None),
        (inbox.InboxFilter(site_id=site.site_id, limit=7), None),
        (inbox.InboxFilter(site_id=site.site_id, concern=concern), None),
        (inbox.InboxFilter(site_id=site.site_id, concern="no-such-concern"), None),
        (inbox.InboxFilter(site_id=site.site_id, channel="phone", concern=concern), None),
        (inbox.InboxFilter(site_id=site.site_id, staff_id=next(iter(team_of)), concern=concern, channel="kiosk"),
         next(iter(team_of.values()))),
    ]
    nonempty = 0
    for filt, team_of_staff in cases:
        found_requests, found_callbacks = await inbox.load(conn, filt, team_of_staff=team_of_staff, now=now)
        for table, found in (("requests", found_requests), ("callbacks", found_callbacks)):
            expected = await _expected(conn, table, filt, team_of_staff, now)
            assert [(i.id, i.score) for i in found] == expected, (table, filt, team_of_staff)
            nonempty += bool(expected)
    assert nonempty > len(cases)  # the cases are not trivially empty


async def test_inbox_items_carry_the_rows_fields(conn: asyncpg.Connection, site: SiteFacts) -> None:
    received = datetime(2027, 3, 1, 8, 15, 30, 123456, tzinfo=UTC)
    request_id = await factories.create_request(conn, site, staff="cw.meyer", priority=40, channel="kiosk",
                                                created_at=received)
    await conn.execute("UPDATE requests SET manual_rank = 1.5 WHERE id = $1", request_id)
    staff_id = site.staff["cw.meyer"]
    team_id = await conn.fetchval("SELECT team_id FROM staff WHERE id = $1", staff_id)
    found, _ = await inbox.load(conn, inbox.InboxFilter(site_id=site.site_id, staff_id=staff_id),
                                team_of_staff=team_id, now=received + timedelta(days=7))
    item = found[0]
    assert (item.id, item.priority, item.manual_rank, item.received_at, item.channel, item.kind) == (
        request_id, 40, 1.5, received, "kiosk", "request")
