"""The daily escalation summary: once per team and working day, by e-mail where the site allows it, else on the
page; and the escalation jobs across two processes (two apps with their own pools on one database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp import web

from scheduler import approvals, escalation_summary, jobs, sites
from scheduler.app import create_app
from scheduler.config import Config
from scheduler.keys import POOL
from scheduler.notify import mails
from tests.factories import SiteFacts, create_request
from tests.notify.conftest import row

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Musterstadt


async def escalate(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, teams: dict[str, int]) -> None:
    """Open requests past their deadline: `teams[code]` of each team, flagged by the deadlines job at NOW."""
    for team, n in teams.items():
        for _ in range(n):
            request_id = await create_request(conn, site, team=team, created_at=NOW - timedelta(days=3))
            await conn.execute("UPDATE requests SET deadline_at = $2 WHERE id = $1", request_id,
                               NOW - timedelta(hours=3))
    await approvals.flag_overdue(pool, now=NOW)


async def summaries(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT team_id, day, escalated, new_since, mails FROM escalation_summaries "
                                 "ORDER BY team_id"))


async def test_one_summary_per_team_and_day_shown_on_the_page_without_email(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    await escalate(pool, conn, site, {"placement": 2, "u25": 1})
    assert await escalation_summary.send_due(pool, now=NOW.replace(hour=5)) == 0  # 06:00 local: not yet
    assert await escalation_summary.send_due(pool, now=NOW - timedelta(days=4)) == 0  # a Saturday

    assert await escalation_summary.send_due(pool, now=NOW) == 2
    assert await escalation_summary.send_due(pool, now=NOW + timedelta(hours=2)) == 0  # once a day
    rows = await summaries(conn)
    assert [(r["team_id"], r["escalated"], r["new_since"], r["mails"]) for r in rows] == sorted([
        (site.teams["placement"], 2, 2, 0), (site.teams["u25"], 1, 1, 0)])
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = $1", escalation_summary.SUMMARY_KIND) == 0
    shown = await escalation_summary.latest(conn, site_id=site.site_id, team_ids=[site.teams["placement"]])
    assert shown[site.teams["placement"]].escalated == 2

    # The next working day: one more escalated since; the summary counts it as new.
    await escalate(pool, conn, site, {"placement": 1})
    await conn.execute("UPDATE requests SET overdue_flagged_at = $1 WHERE overdue_flagged_at = $2 "
                       "AND id = (SELECT max(id) FROM requests)", NOW + timedelta(days=1), NOW)
    assert await escalation_summary.send_due(pool, now=NOW + timedelta(days=1, hours=1)) == 2
    latest = await escalation_summary.latest(conn, site_id=site.site_id, team_ids=[site.teams["placement"]])
    assert (latest[site.teams["placement"]].escalated, latest[site.teams["placement"]].new_since) == (3, 1)


async def test_where_email_is_allowed_each_team_lead_gets_one_mail(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    await conn.execute("UPDATE sites SET email_enabled = true WHERE id = $1", site.site_id)
    await escalate(pool, conn, site, {"placement": 2})
    assert await escalation_summary.send_due(pool, now=NOW) == 1
    assert await escalation_summary.send_due(pool, now=NOW + timedelta(minutes=10)) == 0
    queued = await conn.fetch("SELECT id, recipient, language FROM outbox WHERE kind = $1",
                              escalation_summary.SUMMARY_KIND)
    assert [(r["recipient"], r["language"]) for r in queued] == [("lead.placement@jobcenter.example", "de")]
    assert (await summaries(conn))[0]["mails"] == 1

    message = await row(conn, queued[0]["id"])
    site_row = await sites.site_by_id(conn, site.site_id)
    mail = await mails.render(conn, site=site_row, message=message, sender="termine@jc.example", now=NOW)
    assert mail is not None
    assert mail["Subject"] == "Eskalationen Arbeitsvermittlung: 2 Anfragen über der Entscheidungsfrist"
    text = mail.get_content()
    assert "2 Anfragen des Teams Arbeitsvermittlung" in text and "/staff/escalation" in text
    references = [r["reference"] for r in await conn.fetch("SELECT reference FROM requests")]
    assert not any(ref in text for ref in references)  # counts and a link, no client data


@pytest.fixture
async def two_processes(aiohttp_client, config: Config,  # type: ignore[no-untyped-def]
                        pool: asyncpg.Pool) -> AsyncIterator[tuple[web.Application, web.Application]]:
    """Two worker apps, each with its own pool, against the one test database (as two `serve --role worker`)."""
    first = await aiohttp_client(create_app(config, role="worker"))
    second = await aiohttp_client(create_app(config, role="worker"))
    assert first.app[POOL] is not second.app[POOL]
    yield first.app, second.app


async def test_escalation_and_summary_happen_once_across_two_processes(
        two_processes: tuple[web.Application, web.Application], pool: asyncpg.Pool, conn: asyncpg.Connection,
        site: SiteFacts) -> None:
    await conn.execute("UPDATE sites SET email_enabled = true WHERE id = $1", site.site_id)
    for team in ("placement", "u25", "placement"):
        request_id = await create_request(conn, site, team=team, created_at=NOW - timedelta(days=3))
        await conn.execute("UPDATE requests SET deadline_at = $2 WHERE id = $1", request_id, NOW - timedelta(hours=1))
    by_id = {job.id: job for job in jobs.JOBS}

    for round_ in range(3):  # both processes run each job at the same moment, three times over
        at = NOW + timedelta(minutes=round_)
        for name in ("deadlines", "escalation-summary"):
            await asyncio.gather(*(jobs.run_job(app, by_id[name], now=at) for app in two_processes))
    # And the summary once more without the advisory lock: the UNIQUE key alone keeps it single.
    await asyncio.gather(*(escalation_summary.send_due(app[POOL], now=NOW + timedelta(hours=1))
                           for app in two_processes))

    flagged = await conn.fetch("SELECT subject_id, count(*) AS n FROM audit_events WHERE action = 'request.overdue' "
                               "GROUP BY subject_id")
    assert len(flagged) == 3 and {r["n"] for r in flagged} == {1}
    rows = await summaries(conn)
    assert [(r["team_id"], r["escalated"]) for r in rows] == sorted(
        [(site.teams["placement"], 2), (site.teams["u25"], 1)])
    mails_queued = await conn.fetch("SELECT recipient, count(*) AS n FROM outbox WHERE kind = $1 GROUP BY recipient",
                                    escalation_summary.SUMMARY_KIND)
    assert {r["recipient"]: r["n"] for r in mails_queued} == {"lead.placement@jobcenter.example": 1,
                                                             "lead.u25@jobcenter.example": 1}
