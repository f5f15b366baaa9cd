"""The escalation jobs in two real `serve --role worker` processes on one database: each overdue request is
flagged once, and each team gets one summary for the day (one mail per team lead), whatever the day and hour
the test runs at (the summary's hour and days are settings, checked here too)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest

from scheduler import escalation, escalation_summary, sites
from scheduler.config import Config, ConfigError, load_config
from tests.factories import SiteFacts, create_request

JOBS = ("deadlines", "escalation-summary")
OVERDUE = {"placement": 3, "u25": 2}
TIMEOUT = 40.0  # seconds for each wait (the first includes starting both processes); a pass takes a few
METRIC = re.compile(r'^scheduler_job_runs_total\{job="([^"]+)",result="([^"]+)"\} (\S+)$', re.MULTILINE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _noon_zone(now: datetime) -> str:
    """A fixed-offset zone where `now` is between 12:00 and 13:00: after the summary's 07:00 and far from
    midnight, so both processes see the same local day (POSIX sign: Etc/GMT-5 is UTC+5)."""
    return f"Etc/GMT{now.hour - 12:+d}"


async def _job_runs(http: aiohttp.ClientSession, port: int) -> Counter[tuple[str, str]]:
    """This process's job runs by (job, result), from its /metrics; empty while it is starting."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
    except aiohttp.ClientError:
        return Counter()
    return Counter({(job, result): int(float(n)) for job, result, n in METRIC.findall(text)})


async def _wait(condition: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` until it is true; fail naming the condition after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting until {condition}"
        await asyncio.sleep(0.1)


async def test_two_worker_processes_flag_and_summarise_once(conn: asyncpg.Connection, site: SiteFacts,
                                                            config: Config, project_dir: Path,
                                                            tmp_path: Path) -> None:
    now = datetime.now(UTC)
    zone = _noon_zone(now)
    await conn.execute("UPDATE sites SET email_enabled = true, timezone = $2 WHERE id = $1", site.site_id, zone)
    overdue = []
    for team, n in OVERDUE.items():
        for _ in range(n):
            request_id = await create_request(conn, site, team=team, created_at=now - timedelta(days=3))
            await conn.execute("UPDATE requests SET deadline_at = $2 WHERE id = $1", request_id,
                               now - timedelta(hours=1))
            overdue.append(request_id)
    on_time = await create_request(conn, site, team="placement")
    await conn.execute("UPDATE requests SET deadline_at = $2 WHERE id = $1", on_time, now + timedelta(days=1))

    env = {
        **os.environ, "DATABASE_URL": config.database.url or "",
        "SCHEDULER__SMS__CONSOLE_PATH": str(tmp_path / "sms.jsonl"),
        "SCHEDULER__JOBS__DEADLINES_INTERVAL_SECONDS": "0.2",
        "SCHEDULER__JOBS__ESCALATION_SUMMARY_INTERVAL_SECONDS": "0.2",
        # Weekends and public holidays too (the site's noon zone already puts now after 07:00 and away
        # from midnight): the test passes on any day it runs.
        "SCHEDULER__ESCALATION__SUMMARY_DAYS": "every_day",
        "SCHEDULER__LOGGING__LEVEL": "WARNING",
    }
    ports = [_free_port(), _free_port()]
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = []
    for port, log in zip(ports, logs, strict=True):
        with log.open("wb") as out:
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "scheduler", "serve", "--role", "worker", "--port", str(port)],
                cwd=project_dir, env=env, stdout=out, stderr=subprocess.STDOUT))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            async def summaries_written() -> bool:
                return int(await conn.fetchval("SELECT count(*) FROM escalation_summaries")) >= len(OVERDUE)

            await _wait("both teams have a summary", summaries_written)
            flagged_at = dict(await conn.fetch("SELECT id, overdue_flagged_at FROM requests WHERE id = ANY($1)",
                                               overdue))
            before = [await _job_runs(http, port) for port in ports]

            async def both_ran_both_jobs_since() -> bool:
                # Two more successful runs: at least one of them started after the summaries were written.
                runs = [await _job_runs(http, port) for port in ports]
                return all(now_[(job, "ok")] >= then[(job, "ok")] + 2
                           for now_, then in zip(runs, before, strict=True) for job in JOBS)

            await _wait("each process ran both jobs again", both_ran_both_jobs_since)
            runs = [await _job_runs(http, port) for port in ports]
    finally:
        for worker in workers:
            worker.terminate()
        returncodes = [worker.wait(20) for worker in workers]
    output = "\n".join(log.read_text(errors="replace") for log in logs)
    assert returncodes == [0, 0], output
    assert all(r[(job, "error")] == 0 for r in runs for job in JOBS), output

    audited = Counter(r["subject_id"] for r in await conn.fetch(
        "SELECT subject_id FROM audit_events WHERE action = 'request.overdue'"))
    assert audited == Counter(overdue)  # each overdue request flagged once, the one on time not at all
    assert dict(await conn.fetch("SELECT id, overdue_flagged_at FROM requests WHERE id = ANY($1)",
                                 overdue)) == flagged_at  # and later runs did not flag them again
    assert await escalation.count(conn, site_id=site.site_id, team_id=None) == len(overdue)

    local_day = now.astimezone(ZoneInfo(zone)).date()
    rows = await conn.fetch("SELECT team_id, day, escalated, mails FROM escalation_summaries ORDER BY team_id")
    assert sorted((r["team_id"], r["day"], r["escalated"], r["mails"]) for r in rows) == sorted(
        (site.teams[team], local_day, n, 1) for team, n in OVERDUE.items())
    mails = await conn.fetch("SELECT recipient, count(*) AS n FROM outbox WHERE kind = $1 GROUP BY recipient",
                             escalation_summary.SUMMARY_KIND)
    assert {r["recipient"]: r["n"] for r in mails} == {f"lead.{team}@jobcenter.example": 1 for team in OVERDUE}


async def test_summary_hour_and_days_are_settings(conn: asyncpg.Connection, site: SiteFacts) -> None:
    musterstadt = await sites.site_by_id(conn, site.site_id)  # Europe/Berlin, Lower Saxony's holidays
    saturday, christmas = datetime(2026, 12, 5, 9, 0, tzinfo=UTC), datetime(2026, 12, 25, 9, 0, tzinfo=UTC)
    default = load_config(None, env={}).escalation
    assert (default.summary_from, default.summary_days) == (time_of_day(7, 0), "workdays")
    assert escalation_summary.is_due(musterstadt, saturday) is None
    assert escalation_summary.is_due(musterstadt, christmas) is None

    settings = load_config(None, env={"SCHEDULER__ESCALATION__SUMMARY_FROM": "10:30",
                                      "SCHEDULER__ESCALATION__SUMMARY_DAYS": "every_day"}).escalation
    due = partial(escalation_summary.is_due, musterstadt, start=settings.summary_from,
                  workdays_only=settings.summary_days == "workdays")
    assert due(saturday) is None  # 10:00 in Berlin: before 10:30
    assert due(saturday + timedelta(minutes=30)) == date(2026, 12, 5)
    assert due(christmas + timedelta(hours=1)) == date(2026, 12, 25)
    with pytest.raises(ConfigError, match="escalation.summary_days"):
        load_config(None, env={"SCHEDULER__ESCALATION__SUMMARY_DAYS": "weekends"})
