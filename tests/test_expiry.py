"""expiry.py: undecided requests expire after deadline plus grace working days (client told once), and
proposals that reached their start are dropped and planned anew."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from asyncpg.types import Range

from scheduler import expiry, intake, sites
from scheduler.notify import messages
from scheduler.policy.rules import Channel, Kind
from scheduler.policy.workdays import WorkCalendar
from tests.factories import SiteFacts, create_client, create_request

NOW = datetime.now(UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=BERLIN).astimezone(UTC)


def test_cutoff_counts_whole_working_days_after_the_deadline_day() -> None:
    calendar = WorkCalendar(tz="Europe/Berlin", holiday_region="DE-NI")
    # 2026-03-06 is a Friday. Grace 1: Monday is the grace day, so a Friday deadline expires on Tuesday 00:00.
    late_monday = _at(9, 23)
    assert expiry.expiry_cutoff(calendar, late_monday, 1) == _at(6, 0)       # Thursday's deadlines are over
    assert not _at(6, 15) < expiry.expiry_cutoff(calendar, late_monday, 1)    # Friday's are not yet
    assert _at(6, 15) < expiry.expiry_cutoff(calendar, _at(10, 0), 1)         # ... and are on Tuesday
    assert expiry.expiry_cutoff(calendar, _at(10, 0), 0) == _at(10, 0)       # grace 0: the deadline itself
    # Grace 3 from a Wednesday deadline: Thu, Fri, Mon are grace days; Tuesday it has expired.
    assert not _at(4, 10) < expiry.expiry_cutoff(calendar, _at(9, 23), 3)
    assert _at(4, 10) < expiry.expiry_cutoff(calendar, _at(10, 1), 3)


async def _open_request(conn: asyncpg.Connection, site: SiteFacts, *, deadline: datetime, status: str = "received",
                        language: str = "de", consent: bool = True) -> int:
    client_id = await create_client(conn, site, language=language)
    request_id = await create_request(conn, site, client_id=client_id, status=status, team="placement",
                                      sms_consent=consent)
    await conn.execute("UPDATE requests SET deadline_at = $2 WHERE id = $1", request_id, deadline)
    return request_id


async def test_undecided_requests_expire_once_and_the_client_is_told(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    old = NOW - timedelta(days=30)
    received = await _open_request(conn, site, deadline=old, language="tr")
    proposed = await _open_request(conn, site, deadline=old, status="proposed")
    await conn.execute(
        "INSERT INTO proposals (site_id, request_id, staff_id, during, mode, source) "
        "VALUES ($1, $2, $3, $4, 'in_person', 'policy')", site.site_id, proposed, site.staff["cw.meyer"],
        Range(NOW + timedelta(days=2), NOW + timedelta(days=2, minutes=30)))
    no_sms = await _open_request(conn, site, deadline=old, consent=False)
    in_grace = await _open_request(conn, site, deadline=NOW - timedelta(hours=1))
    booked = await _open_request(conn, site, deadline=old, status="scheduled")

    assert await expiry.expire_due(pool, now=NOW, grace_workdays=2) == 3
    statuses = dict(await conn.fetch("SELECT id, status FROM requests WHERE id = ANY($1)",
                                     [received, proposed, no_sms, in_grace, booked]))
    assert statuses == {received: "expired", proposed: "expired", no_sms: "expired", in_grace: "received",
                        booked: "scheduled"}
    assert await conn.fetchval("SELECT closed_at FROM requests WHERE id = $1", received) == NOW
    assert await conn.fetchval("SELECT count(*) FROM proposals WHERE request_id = $1", proposed) == 0
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'request.expired' "
                               "AND subject_id = ANY($1)", [received, proposed, no_sms]) == 3
    sms = await conn.fetch("SELECT request_id, language, payload FROM outbox WHERE kind = 'sms.request_expired' "
                           "ORDER BY request_id")
    assert [r["request_id"] for r in sms] == [received, proposed]   # no SMS without the request's consent
    assert sms[0]["language"] == "tr"

    # A second run (or another process) finds nothing to do and sends nothing twice.
    assert await expiry.expire_due(pool, now=NOW, grace_workdays=2) == 0
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.request_expired'") == 2

    site_ = await sites.site_by_id(conn, site.site_id)
    rendered = await messages.render(conn, site=site_, kind="sms.request_expired", payload=sms[0]["payload"],
                                     language="tr", now=NOW)
    assert rendered is not None
    reference = await conn.fetchval("SELECT reference FROM requests WHERE id = $1", received)
    assert reference in rendered.body and "randevu" in rendered.body and "/r/" in rendered.body


async def test_two_processes_expire_each_request_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    ids = [await _open_request(conn, site, deadline=NOW - timedelta(days=20)) for _ in range(7)]
    counts = await asyncio.gather(*(expiry.expire_due(pool, now=NOW, grace_workdays=1, batch=2) for _ in range(3)))
    assert sum(counts) == 7
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE id = ANY($1) AND status = 'expired'", ids) == 7
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'sms.request_expired'") == 7
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'request.expired'") == 7


async def test_passed_proposals_are_dropped_and_the_request_planned_anew(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                       site: SiteFacts) -> None:
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general", phone="+4915100000777",
        language="de", sms_consent=True, modes=("in_person",)), now=NOW)
    request_id = submitted.id
    first = await conn.fetchval("SELECT min(id) FROM proposals WHERE request_id = $1", request_id)
    assert first is not None, "the demo site proposes slots"
    # One proposal's time has come (nobody approved it); the deadline is where the caseworker left it.
    deadline = NOW - timedelta(hours=2)
    await conn.execute("UPDATE proposals SET during = $2 WHERE id = $1", first,
                       Range(NOW - timedelta(minutes=10), NOW + timedelta(minutes=20)))
    await conn.execute("UPDATE requests SET deadline_at = $2 WHERE id = $1", request_id, deadline)

    assert await expiry.replan_passed(pool, now=NOW, reminder_offsets=()) == 1
    assert await conn.fetchval("SELECT count(*) FROM proposals WHERE request_id = $1 AND lower(during) <= $2",
                               request_id, NOW) == 0
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) in ("proposed", "received")
    assert await conn.fetchval("SELECT deadline_at FROM requests WHERE id = $1", request_id) == deadline
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'request.proposals_passed' "
                               "AND subject_id = $1", request_id) == 1
    assert await expiry.replan_passed(pool, now=NOW, reminder_offsets=()) == 0   # nothing left to do


def test_both_sweeps_are_registered_as_singleton_jobs() -> None:
    from scheduler import jobs
    from scheduler.config import JobsConfig

    registered = {job.id: job for job in jobs.JOBS}
    for job_id in ("expiry", "passed-proposals"):
        assert registered[job_id].singleton
        assert getattr(JobsConfig(), registered[job_id].interval) > 0
