"""intake.py called directly: submit stores, plans and notifies once; retries and bad input write nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime

import asyncpg
import pytest

from scheduler import intake, sites
from scheduler.errors import ValidationFailed
from scheduler.idempotency import KeyReused
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts

NOW = datetime.now(UTC)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data, has confirmed SMS


def _intake(**overrides: object) -> intake.Intake:
    base = intake.Intake(site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general",
                         phone=MEYER_CLIENT, language="de", sms_consent=True)
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


async def _counts(conn: asyncpg.Connection) -> tuple[int, ...]:
    return tuple([await conn.fetchval(f"SELECT count(*) FROM {t}")
                  for t in ("requests", "callbacks", "proposals", "audit_events", "outbox", "clients")])


async def test_submit_stores_plans_audits_and_queues_the_receipt(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                 site: SiteFacts) -> None:
    submitted = await intake.submit(pool, _intake(note="Bitte vormittags"), now=NOW)
    assert submitted.kind is Kind.appointment and submitted.status == "proposed"
    row = await conn.fetchrow("SELECT client_id, staff_id, status, note, sms_consent, reference FROM requests "
                              "WHERE id = $1", submitted.id)
    assert (row["client_id"], row["staff_id"], row["status"]) == (site.clients[MEYER_CLIENT],
                                                                  site.staff["cw.meyer"], "proposed")
    assert row["note"] == "Bitte vormittags" and row["sms_consent"] and row["reference"] == submitted.reference
    actions = [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_events WHERE subject_type = 'request' AND subject_id = $1 ORDER BY id",
        submitted.id)]
    assert actions == ["request.received", "request.proposed"]
    assert await conn.fetchval("SELECT count(*) FROM proposals WHERE request_id = $1", submitted.id) > 0
    keys = [r["idempotency_key"] for r in await conn.fetch("SELECT idempotency_key FROM outbox")]
    assert keys == [f"request:{submitted.id}:received"]


async def test_a_retry_with_the_same_key_returns_the_first_result_and_writes_nothing(
        pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    first = await intake.submit(pool, _intake(idempotency_key="retry-key-0001"), now=NOW)
    before = await _counts(conn)
    again = await intake.submit(pool, _intake(idempotency_key="retry-key-0001"), now=NOW)
    assert again == first
    assert await _counts(conn) == before
    # The same key with another body is not a retry: refused, nothing written.
    with pytest.raises(KeyReused):
        await intake.submit(pool, _intake(idempotency_key="retry-key-0001", concern="job_offer"), now=NOW)
    assert await _counts(conn) == before


async def test_two_retries_at_once_make_one_request(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    results = await asyncio.gather(*(intake.submit(pool, _intake(idempotency_key="race-key-0001"), now=NOW)
                                     for _ in range(2)))
    assert results[0].id == results[1].id
    assert await conn.fetchval("SELECT count(*) FROM requests") == 1
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 1


async def test_refused_submissions_write_nothing(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    before = await _counts(conn)
    with pytest.raises(ValidationFailed) as unknown_site:
        await intake.submit(pool, _intake(site="nowhere"), now=NOW)
    assert "site" in unknown_site.value.fields
    with pytest.raises(ValidationFailed) as unknown_concern:
        await intake.submit(pool, _intake(concern="no_such_concern"), now=NOW)
    assert "concern" in unknown_concern.value.fields
    assert await _counts(conn) == before


async def test_claimed_identity_stays_with_the_request_and_no_consent_means_no_sms(
        pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    submitted = await intake.submit(pool, _intake(phone="+4915177770001", sms_consent=False, name="Erika Muster",
                                                  customer_number="123A456789"), now=NOW)
    row = await conn.fetchrow("SELECT claimed_name, claimed_customer_number, client_id FROM requests WHERE id = $1",
                              submitted.id)
    assert (row["claimed_name"], row["claimed_customer_number"]) == ("Erika Muster", "123A456789")
    client = await conn.fetchrow("SELECT * FROM clients WHERE id = $1", row["client_id"])
    assert client.get("name") is None and client.get("customer_number") is None
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_callback_is_planned_to_start_on_the_clients_first_day(pool: asyncpg.Pool,
                                                                       conn: asyncpg.Connection) -> None:
    first_day = date(NOW.year + 1, 3, 2)
    submitted = await intake.submit(pool, _intake(kind=Kind.callback, channel=Channel.phone,
                                                  windows={"date_from": first_day.isoformat()}), now=NOW)
    assert (submitted.kind, submitted.status) == (Kind.callback, "open")
    row = await conn.fetchrow("SELECT next_attempt_at, decision, deadline_at FROM callbacks WHERE id = $1",
                              submitted.id)
    assert row["decision"] is not None and row["deadline_at"] is not None
    office = await sites.site_by_code(conn, "musterstadt")
    assert office is not None
    assert row["next_attempt_at"] == office.calendar().day_start(first_day)  # local midnight of that day
    assert await conn.fetchval("SELECT action FROM audit_events WHERE subject_type = 'callback'") == \
        "callback.received"


def test_parse_intake_ignores_what_staff_decide_and_collects_every_error() -> None:
    parsed = intake.parse_intake({"concern": "general", "phone": "0151 23456704", "status": "scheduled",
                                  "modes": ["phone", "phone"], "windows": {"weekdays": [4, 0, 0]}},
                                 kind=Kind.appointment, channel="web", default_site="musterstadt")
    assert (parsed.phone, parsed.modes, parsed.windows) == (MEYER_CLIENT, ("phone",), {"weekdays": [0, 4]})
    assert not hasattr(parsed, "status")
    with pytest.raises(ValidationFailed) as bad:
        intake.parse_intake({"concern": "X!", "phone": "12", "modes": ["fax"], "windows": {"weekdays": [6]},
                             "note": "a\u202eb"}, kind=Kind.appointment, channel="web", default_site="musterstadt")
    assert {"concern", "phone", "modes", "windows.weekdays", "note"} <= set(bad.value.fields)


async def test_a_site_read_by_the_channel_is_used_and_must_be_the_intakes_office(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    office = await sites.site_by_code(conn, "musterstadt")
    assert office is not None
    submitted = await intake.submit(pool, _intake(), now=NOW, site=office)
    assert await conn.fetchval("SELECT site_id FROM requests WHERE id = $1", submitted.id) == office.id
    before = await _counts(conn)
    # A channel that hands over another office than the intake names is a programming error, caught before writing.
    with pytest.raises(ValueError):
        await intake.submit(pool, _intake(site="elsewhere"), now=NOW, site=office)
    assert await _counts(conn) == before
