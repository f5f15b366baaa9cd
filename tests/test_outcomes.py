"""outcomes.py against PostgreSQL: recording how an appointment ended, its guards, and the unmarked-outcome job."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import appointments, followups, jobs, outcomes, teams
from scheduler.appointments import NoShowReason, Outcome, OutcomeAlreadyRecorded, OutcomeTooEarly
from scheduler.errors import Forbidden, ValidationFailed
from scheduler.permissions import StaffUser
from scheduler.policy.workdays import WorkCalendar
from tests.factories import SiteFacts, create_appointment, create_request

BERLIN = ZoneInfo("Europe/Berlin")
OFFSETS = (timedelta(hours=24),)


async def _user(conn: asyncpg.Connection, username: str) -> StaffUser:
    row = await conn.fetchrow(f"SELECT {teams.STAFF_USER_COLUMNS} FROM staff st WHERE st.username = $1", username)
    return teams.staff_user(row)


async def _started(conn: asyncpg.Connection, site: SiteFacts, *, staff: str = "cw.meyer",
                   minutes_ago: int = 40) -> int:
    return await create_appointment(conn, site, staff=staff,
                                    start=datetime.now(UTC) - timedelta(minutes=minutes_ago))


async def test_held_completes_the_appointment_and_closes_the_request(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                     site: SiteFacts) -> None:
    appointment_id = await _started(conn, site)
    meyer = await _user(conn, "cw.meyer")
    done = await outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(Outcome.held),
                                 user=meyer, now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert done.status is appointments.AppointmentStatus.completed and done.outcome is Outcome.held
    row = await conn.fetchrow("SELECT a.outcome, a.outcome_by, a.outcome_at, r.status, r.closed_at FROM appointments a "
                              "JOIN requests r ON r.id = a.request_id WHERE a.id = $1", appointment_id)
    assert row["outcome"] == "held" and row["outcome_by"] == meyer.id and row["outcome_at"] is not None
    assert row["status"] == "done" and row["closed_at"] is not None
    actions = await conn.fetch("SELECT action, actor, details FROM audit_events WHERE subject_type = 'appointment' "
                               "AND subject_id = $1", appointment_id)
    assert [(a["action"], a["actor"]) for a in actions] == [("appointment.outcome", meyer.actor)]
    assert actions[0]["details"]["outcome"] == "held"


async def test_no_show_with_reason_closes_the_request_and_starts_the_follow_up(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, str, bool]] = []

    async def after_no_show(c: asyncpg.Connection, *, appointment_id: int, actor: str, now: datetime) -> None:
        # Called inside the outcome's transaction: the no-show is already visible on the same connection.
        calls.append((appointment_id, actor, c.is_in_transaction()))

    monkeypatch.setattr(followups, "after_no_show", after_no_show)
    appointment_id = await _started(conn, site)
    meyer = await _user(conn, "cw.meyer")
    today = datetime.now(BERLIN).date()
    entry = outcomes.OutcomeEntry(Outcome.no_show, NoShowReason.ill, today)
    await outcomes.record(pool, appointment_id=appointment_id, entry=entry, user=meyer, now=datetime.now(UTC),
                          reminder_offsets=OFFSETS)
    row = await conn.fetchrow("SELECT a.status, a.outcome_reason, a.outcome_reason_date, r.status AS request "
                              "FROM appointments a JOIN requests r ON r.id = a.request_id WHERE a.id = $1",
                              appointment_id)
    assert dict(row) == {"status": "no_show", "outcome_reason": "ill", "outcome_reason_date": today,
                         "request": "no_show"}
    assert calls == [(appointment_id, meyer.actor, True)]


async def test_a_failing_follow_up_rolls_the_no_show_back(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                          site: SiteFacts, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(c: asyncpg.Connection, **_: object) -> None:
        raise RuntimeError("follow-up failed")

    monkeypatch.setattr(followups, "after_no_show", broken)
    appointment_id = await _started(conn, site)
    with pytest.raises(RuntimeError):
        await outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(Outcome.no_show),
                              user=await _user(conn, "cw.meyer"), now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "confirmed"


async def test_cancelled_by_office_tells_the_client_and_puts_the_request_back(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await create_request(conn, site, status="scheduled", staff="cw.meyer", team="placement")
    appointment_id = await create_appointment(conn, site, request_id=request_id,
                                              start=datetime.now(UTC) - timedelta(minutes=5))
    done = await outcomes.record(pool, appointment_id=appointment_id,
                                 entry=outcomes.OutcomeEntry(Outcome.cancelled_by_office),
                                 user=await _user(conn, "cw.meyer"), now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert done.status is appointments.AppointmentStatus.cancelled and done.sequence == 1
    assert await conn.fetchval("SELECT cancel_reason FROM appointments WHERE id = $1", appointment_id) == "office"
    request = await conn.fetchrow("SELECT status, staff_id FROM requests WHERE id = $1", request_id)
    assert request["status"] in ("received", "proposed", "scheduled")  # back in the queue (or re-planned)
    assert request["staff_id"] == site.staff["cw.meyer"]
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE appointment_id = $1 "
                               "AND kind = 'sms.appointment_cancelled'", appointment_id) == 1


async def test_an_outcome_is_recorded_once(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await _started(conn, site)
    meyer = await _user(conn, "cw.meyer")
    await outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(Outcome.held), user=meyer,
                          now=datetime.now(UTC), reminder_offsets=OFFSETS)
    with pytest.raises(OutcomeAlreadyRecorded) as refused:
        await outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(Outcome.no_show),
                              user=meyer, now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert refused.value.status == 409
    assert await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id) == "held"


async def test_two_connections_at_once_one_wins(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                site: SiteFacts) -> None:
    appointment_id = await _started(conn, site)
    now = datetime.now(UTC)
    async with pool.acquire() as first, pool.acquire() as second:
        tx = first.transaction()
        await tx.start()
        await appointments.record_outcome(first, appointment_id, outcome=Outcome.held, reason=None, reason_date=None,
                                          staff_id=site.staff["cw.meyer"], actor="staff:a", now=now)

        async def other() -> None:
            async with second.transaction():
                await appointments.record_outcome(second, appointment_id, outcome=Outcome.no_show, reason=None,
                                                  reason_date=None, staff_id=site.staff["lead.placement"],
                                                  actor="staff:b", now=now)

        racing = asyncio.create_task(other())
        # The second UPDATE waits for the first transaction's row lock.
        for _ in range(1000):
            if racing.done() or await conn.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                break
            await asyncio.sleep(0.01)
        assert not racing.done()  # it waited for the first outcome, it did not pass it
        await tx.commit()
        with pytest.raises(OutcomeAlreadyRecorded):
            await racing
    row = await conn.fetchrow("SELECT outcome, status FROM appointments WHERE id = $1", appointment_id)
    assert dict(row) == {"outcome": "held", "status": "completed"}
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'appointment.outcome' "
                               "AND subject_id = $1", appointment_id) == 1


async def test_two_full_commands_at_once_leave_one_outcome(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                           site: SiteFacts) -> None:
    appointment_id = await _started(conn, site)
    meyer, lead = await _user(conn, "cw.meyer"), await _user(conn, "lead.placement")
    results = await asyncio.gather(*(
        outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(o), user=u,
                        now=datetime.now(UTC), reminder_offsets=OFFSETS)
        for o, u in ((Outcome.held, meyer), (Outcome.no_show, lead))), return_exceptions=True)
    assert sum(isinstance(r, appointments.Appointment) for r in results) == 1
    assert sum(isinstance(r, OutcomeAlreadyRecorded) for r in results) == 1
    request_status = await conn.fetchval("SELECT r.status FROM requests r JOIN appointments a ON a.request_id = r.id "
                                         "WHERE a.id = $1", appointment_id)
    outcome = await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id)
    assert (outcome, request_status) in (("held", "done"), ("no_show", "no_show"))


async def test_a_future_appointment_is_refused(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=datetime.now(UTC) + timedelta(hours=2))
    with pytest.raises(OutcomeTooEarly) as refused:
        await outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(Outcome.held),
                              user=await _user(conn, "cw.meyer"), now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert refused.value.status == 422
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "confirmed"


async def test_only_staff_who_may_act_record(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await _started(conn, site)  # cw.meyer, team placement
    for username in ("cw.yilmaz", "lead.u25", "cw.demir"):  # other team, other team's lead, a colleague
        with pytest.raises(Forbidden):
            await outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(Outcome.held),
                                  user=await _user(conn, username), now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id) is None
    # The caseworker's team lead may.
    await outcomes.record(pool, appointment_id=appointment_id, entry=outcomes.OutcomeEntry(Outcome.held),
                          user=await _user(conn, "lead.placement"), now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id) == "held"


async def test_a_reason_date_in_the_future_is_refused(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    appointment_id = await _started(conn, site)
    entry = outcomes.OutcomeEntry(Outcome.no_show, NoShowReason.other, date.today() + timedelta(days=3))
    with pytest.raises(ValidationFailed) as refused:
        await outcomes.record(pool, appointment_id=appointment_id, entry=entry, user=await _user(conn, "cw.meyer"),
                              now=datetime.now(UTC), reminder_offsets=OFFSETS)
    assert set(refused.value.fields) == {"reason_date"}


# -- the unmarked-outcome job ---------------------------------------------------------------------------------

def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN).astimezone(UTC)


@pytest.mark.parametrize(("appointment_day", "flag_from"), [
    (date(2026, 3, 3), date(2026, 3, 5)),    # Tuesday: end of Wednesday
    (date(2026, 3, 6), date(2026, 3, 10)),   # Friday: end of Monday
    (date(2026, 4, 2), date(2026, 4, 8)),    # Thursday before Easter: end of Tuesday after Easter Monday
    (date(2026, 3, 7), date(2026, 3, 10)),   # a Saturday: end of the next working day, Monday
])
def test_unmarked_before_follows_the_working_days(appointment_day: date, flag_from: date) -> None:
    calendar = WorkCalendar(tz="Europe/Berlin", holiday_region="DE-NI")
    start = _at(appointment_day, 9)
    assert outcomes.unmarked_before(calendar, _at(flag_from, 0), 1) > start
    assert outcomes.unmarked_before(calendar, _at(flag_from, 0) - timedelta(minutes=1), 1) <= start


async def test_the_job_flags_once_then_escalates_once(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    tuesday = date(2026, 3, 3)
    appointment_id = await create_appointment(conn, site, start=_at(tuesday, 9))
    marked = await create_appointment(conn, site, staff="cw.demir", start=_at(tuesday, 10))
    await conn.execute("UPDATE appointments SET status = 'completed', outcome = 'held', outcome_at = now() "
                       "WHERE id = $1", marked)

    wednesday_evening = _at(date(2026, 3, 4), 20)
    assert await outcomes.flag_unmarked(pool, now=wednesday_evening) == outcomes.FlagCounts(0, 0)

    thursday = _at(date(2026, 3, 5), 7)
    assert await outcomes.flag_unmarked(pool, now=thursday) == outcomes.FlagCounts(flagged=1, escalated=0)
    assert await outcomes.flag_unmarked(pool, now=thursday + timedelta(hours=1)) == outcomes.FlagCounts(0, 0)
    row = await conn.fetchrow("SELECT outcome_flagged_at, outcome_escalated_at FROM appointments WHERE id = $1",
                              appointment_id)
    assert row["outcome_flagged_at"] == thursday and row["outcome_escalated_at"] is None

    friday = _at(date(2026, 3, 6), 7)
    assert await outcomes.flag_unmarked(pool, now=friday) == outcomes.FlagCounts(flagged=0, escalated=1)
    assert await outcomes.flag_unmarked(pool, now=friday + timedelta(days=3)) == outcomes.FlagCounts(0, 0)
    assert await conn.fetchval("SELECT outcome_escalated_at FROM appointments WHERE id = $1", appointment_id) == friday
    assert await conn.fetchval("SELECT outcome_flagged_at FROM appointments WHERE id = $1", marked) is None
    audit = await conn.fetch("SELECT action FROM audit_events WHERE subject_type = 'appointment' AND subject_id = $1 "
                             "ORDER BY id", appointment_id)
    assert [a["action"] for a in audit] == ["appointment.outcome_missing", "appointment.outcome_escalated"]


async def test_the_job_works_in_batches_and_a_late_run_does_not_escalate_at_once(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    monday = date(2026, 3, 2)
    for i in range(5):
        await create_appointment(conn, site, start=_at(monday, 8) + timedelta(minutes=30 * i))
    much_later = _at(date(2026, 3, 20), 7)
    assert await outcomes.flag_unmarked(pool, now=much_later, batch=2) == outcomes.FlagCounts(flagged=5, escalated=0)
    # The appointments are weeks old, but their caseworker was only told now: the lead waits a working day.
    assert await outcomes.flag_unmarked(pool, now=much_later + timedelta(minutes=5), batch=2) == \
        outcomes.FlagCounts(flagged=0, escalated=0)
    assert await outcomes.flag_unmarked(pool, now=_at(date(2026, 3, 23), 7), batch=2) == \
        outcomes.FlagCounts(flagged=0, escalated=5)


async def test_a_flag_set_today_is_escalated_one_working_day_later_not_today(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=_at(date(2026, 3, 2), 9))  # a Monday, long unmarked
    wednesday = _at(date(2026, 3, 18), 10)  # flagged late (say, after an outage), two weeks after it
    assert await outcomes.flag_unmarked(pool, now=wednesday) == outcomes.FlagCounts(flagged=1, escalated=0)
    for later_today in (timedelta(minutes=5), timedelta(hours=4), timedelta(hours=13)):  # up to 23:00 Berlin
        assert await outcomes.flag_unmarked(pool, now=wednesday + later_today) == outcomes.FlagCounts(0, 0)
    assert await conn.fetchval("SELECT outcome_escalated_at FROM appointments WHERE id = $1", appointment_id) is None
    thursday = _at(date(2026, 3, 19), 7)  # Wednesday, the caseworker's working day, is over
    assert await outcomes.flag_unmarked(pool, now=thursday) == outcomes.FlagCounts(flagged=0, escalated=1)
    assert await conn.fetchval("SELECT outcome_escalated_at FROM appointments WHERE id = $1", appointment_id) == thursday


def test_a_flag_waits_for_a_working_day_over_weekends_and_holidays() -> None:
    calendar = WorkCalendar(tz="Europe/Berlin", holiday_region="DE-NI")
    friday, saturday, good_friday = _at(date(2026, 3, 6), 9), _at(date(2026, 3, 7), 9), _at(date(2026, 4, 3), 9)
    assert outcomes.flag_seen_before(calendar, _at(date(2026, 3, 7), 0)) > friday        # Friday is over
    assert outcomes.flag_seen_before(calendar, _at(date(2026, 3, 6), 23)) <= friday
    assert outcomes.flag_seen_before(calendar, _at(date(2026, 3, 9), 23)) <= saturday    # Monday is its working day
    assert outcomes.flag_seen_before(calendar, _at(date(2026, 3, 10), 0)) > saturday
    assert outcomes.flag_seen_before(calendar, _at(date(2026, 4, 7), 0)) <= good_friday  # its working day: Tuesday
    assert outcomes.flag_seen_before(calendar, _at(date(2026, 4, 8), 0)) > good_friday


async def test_the_job_runs_once_at_a_time_across_processes(client: TestClient, pool: asyncpg.Pool,
                                                            conn: asyncpg.Connection, site: SiteFacts) -> None:
    app = client.app

    job = next(j for j in jobs.JOBS if j.id == "unmarked-outcomes")
    assert job.singleton
    await create_appointment(conn, site, start=_at(date(2026, 3, 3), 9))
    # Another process holds the job's advisory lock: this run is skipped and flags nothing.
    async with pool.acquire() as other:
        await other.execute("SELECT pg_advisory_lock(hashtext('scheduler-job'), hashtext($1))", job.id)
        try:
            assert await jobs.run_job(app, job, now=_at(date(2026, 3, 5), 7)) is False
        finally:
            await other.execute("SELECT pg_advisory_unlock(hashtext('scheduler-job'), hashtext($1))", job.id)
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE outcome_flagged_at IS NOT NULL") == 0
    # Once the lock is free, the job runs and flags.
    assert await jobs.run_job(app, job, now=_at(date(2026, 3, 5), 7)) is True
    assert await conn.fetchval("SELECT count(*) FROM appointments WHERE outcome_flagged_at IS NOT NULL") == 1
