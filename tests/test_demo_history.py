"""The demo history: weeks of plausible past activity for the demo site, filled once."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import asyncpg
import pytest

from scheduler import demo_history
from scheduler.__main__ import _parser
from tests.factories import SiteFacts

NOW = datetime.now(UTC)


async def _fill(pool: asyncpg.Pool, weeks: int = 2) -> demo_history.Counts | None:
    return await demo_history.fill(pool, site_code="musterstadt", weeks=weeks, now=NOW)


async def test_two_weeks_of_history_per_channel_with_plausible_outcomes(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                       site: SiteFacts) -> None:
    started = time.monotonic()
    counts = await _fill(pool)
    assert time.monotonic() - started < 30
    assert counts is not None and counts.weeks == 2
    per_channel = {r["channel"]: r["n"] for r in await conn.fetch(
        "SELECT channel, count(*) AS n FROM requests WHERE server_key LIKE 'demo-history-%' GROUP BY 1")}
    assert all(per_channel.get(ch, 0) > 0 for ch in ("web", "kiosk", "phone", "staff")), per_channel
    rows = await conn.fetch("""
        SELECT a.status, a.outcome, count(*) AS n FROM appointments a JOIN requests r ON r.id = a.request_id
        WHERE r.server_key LIKE 'demo-history-%' GROUP BY 1, 2""")
    by = {(r["status"], r["outcome"]): r["n"] for r in rows}
    held, no_show = by.get(("completed", "held"), 0), by.get(("no_show", "no_show"), 0)
    assert 5 <= 100 * no_show / (held + no_show) <= 25, by
    assert held / sum(by.values()) > 0.7
    # Every appointment lies in the past, on a working day within its caseworker's hours, none overlapping.
    calendar = (await conn.fetchrow("SELECT timezone FROM sites WHERE id = $1", site.site_id))["timezone"]
    assert calendar == "Europe/Berlin"
    assert not await conn.fetchval("""
        SELECT count(*) FROM appointments a JOIN requests r ON r.id = a.request_id
        WHERE r.server_key LIKE 'demo-history-%' AND (upper(a.during) > now() OR lower(a.during) < r.created_at
           OR NOT EXISTS (SELECT 1 FROM working_hours w WHERE w.staff_id = a.staff_id
               AND w.weekday = extract(isodow FROM lower(a.during) AT TIME ZONE 'Europe/Berlin') - 1
               AND w.starts <= (lower(a.during) AT TIME ZONE 'Europe/Berlin')::time
               AND w.ends >= (upper(a.during) AT TIME ZONE 'Europe/Berlin')::time))""")
    assert not await conn.fetchval("""
        SELECT count(*) FROM appointments a JOIN appointments b ON a.staff_id = b.staff_id AND a.id < b.id
        AND a.during && b.during AND NOT (a.status = 'cancelled' OR b.status = 'cancelled')""")
    # Moves carry a higher SEQUENCE and the audit row moves.py writes; declines, expiries and callbacks end.
    assert await conn.fetchval("""
        SELECT count(*) FROM appointments a JOIN audit_events e ON e.subject_type = 'appointment'
        AND e.subject_id = a.id AND e.action = 'appointment.move' WHERE a.sequence > 0""") > 0
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE server_key LIKE 'demo-history-%' "
                               "AND status IN ('received', 'proposed', 'scheduled')") == 0
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE server_key LIKE 'demo-history-%' "
                               "AND status IN ('declined', 'expired') AND closed_at IS NULL") == 0
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE status = 'declined' "
                               "AND decline_category IS NOT NULL AND server_key LIKE 'demo-history-%'") > 0
    attempts = {r["outcome"]: r["n"] for r in await conn.fetch(
        "SELECT outcome, count(*) AS n FROM callback_attempts GROUP BY 1")}
    assert attempts.get("reached", 0) > 0 and attempts.get("no_answer", 0) > 0
    assert await conn.fetchval("SELECT count(*) FROM callbacks WHERE server_key LIKE 'demo-history-%' "
                               "AND status IN ('reached', 'unreachable')") > 0


async def test_a_second_run_adds_nothing(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    assert await _fill(pool) is not None
    tables = ("requests", "appointments", "callbacks", "callback_attempts", "clients", "audit_events")
    before = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
    assert await _fill(pool) is None
    assert await _fill(pool, weeks=12) is None
    assert {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables} == before
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'demo.history'") == 1


@pytest.mark.parametrize("value, weeks", [("12w", 12), ("1w", 1), ("52w", 52)])
def test_history_accepts_one_to_52_weeks(value: str, weeks: int) -> None:
    assert _parser().parse_args(["seed-demo", "--history", value]).history == weeks


@pytest.mark.parametrize("value", ["0w", "53w", "12", "12d", "w", "-3w", ""])
def test_a_bad_history_value_is_a_clear_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["seed-demo", f"--history={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--history" in err and "from 1w to 52w" in err
