"""Every final state of a case is anonymised by retention after the site's period, whichever way it closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from scheduler import retention
from scheduler.callbacks import CallbackStatus
from scheduler.requests import CLOSED, OPEN, Status
from tests.factories import SiteFacts, create_appointment, create_client, create_request

NOW = datetime.now(UTC)
CALLBACK_FINAL = (CallbackStatus.reached, CallbackStatus.unreachable, CallbackStatus.cancelled)


def test_the_final_states_are_the_ones_the_issue_names() -> None:
    assert set(CLOSED) == {Status.done, Status.no_show, Status.declined, Status.withdrawn, Status.expired}
    assert set(CLOSED) | set(OPEN) | {Status.scheduled} == set(Status)


async def _old(conn: asyncpg.Connection, site: SiteFacts) -> datetime:
    days = await conn.fetchval("SELECT retention_days FROM sites WHERE id = $1", site.site_id)
    return NOW - timedelta(days=days + 1)


@pytest.mark.parametrize("status", sorted(CLOSED))
async def test_each_final_request_state_is_anonymised(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
                                                      status: Status) -> None:
    client_id = await create_client(conn, site, name="Erika Muster")
    request_id = await create_request(conn, site, client_id=client_id, status="received")
    await conn.execute("UPDATE requests SET note = 'Miete', claimed_name = 'Erika', decline_reason = 'weil' "
                       "WHERE id = $1", request_id)
    # Closed the way some code path might: a plain status change; the trigger stamps closed_at.
    await conn.execute("UPDATE requests SET status = $2 WHERE id = $1", request_id, status.value)
    assert await conn.fetchval("SELECT closed_at IS NOT NULL FROM requests WHERE id = $1", request_id)
    await conn.execute("UPDATE requests SET closed_at = $2 WHERE id = $1", request_id, await _old(conn, site))
    await conn.execute("UPDATE clients SET updated_at = $2 WHERE id = $1", client_id, await _old(conn, site))

    done = await retention.purge_due(pool, now=NOW, link_days=30)

    row = await conn.fetchrow("SELECT status, note, claimed_name, decline_reason, link_token, anonymised_at "
                              "FROM requests WHERE id = $1", request_id)
    assert row["status"] == status.value                   # the counts stay
    assert (row["note"], row["claimed_name"], row["decline_reason"], row["link_token"]) == ("", None, None, None)
    assert row["anonymised_at"] == NOW
    assert done["requests"] >= 1
    person = await conn.fetchrow("SELECT phone, name, erased_at FROM clients WHERE id = $1", client_id)
    assert (person["phone"], person["name"], person["erased_at"]) == (None, None, NOW)


@pytest.mark.parametrize("status", CALLBACK_FINAL)
async def test_each_final_callback_state_is_anonymised(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                       site: SiteFacts, status: CallbackStatus) -> None:
    client_id = await create_client(conn, site)
    callback_id = await conn.fetchval(
        "INSERT INTO callbacks (site_id, client_id, concern_id, channel, status, reference, link_token, phone, note) "
        "VALUES ($1, $2, $3, 'phone', 'open', $4, $5, '+4915100000901', 'nachmittags') RETURNING id",
        site.site_id, client_id, site.concerns["general"], f"CBF{status.value[:4]}", f"tok-final-{status.value}")
    await conn.execute("UPDATE callbacks SET status = $2 WHERE id = $1", callback_id, status.value)
    assert await conn.fetchval("SELECT closed_at IS NOT NULL FROM callbacks WHERE id = $1", callback_id)
    await conn.execute("UPDATE callbacks SET closed_at = $2 WHERE id = $1", callback_id, await _old(conn, site))

    await retention.purge_due(pool, now=NOW, link_days=30)

    row = await conn.fetchrow("SELECT status, phone, note, anonymised_at FROM callbacks WHERE id = $1", callback_id)
    assert (row["status"], row["phone"], row["note"], row["anonymised_at"]) == (status.value, None, "", NOW)


async def test_a_booked_case_keeps_its_data_until_it_is_closed(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                               site: SiteFacts) -> None:
    request_id = await create_request(conn, site, status="scheduled", staff="cw.meyer")
    await conn.execute("UPDATE requests SET note = 'Miete', created_at = $2 WHERE id = $1", request_id,
                       await _old(conn, site))
    await retention.purge_due(pool, now=NOW, link_days=30)
    assert await conn.fetchval("SELECT note FROM requests WHERE id = $1", request_id) == "Miete"


async def test_the_appointment_of_a_closed_case_loses_its_free_text(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                    site: SiteFacts) -> None:
    request_id = await create_request(conn, site, status="scheduled", staff="cw.meyer")
    appointment_id = await create_appointment(conn, site, start=NOW - timedelta(days=400), status="cancelled",
                                              request_id=request_id)
    await conn.execute("UPDATE appointments SET cancel_reason = 'Kundin krank' WHERE id = $1", appointment_id)
    await conn.execute("UPDATE requests SET status = 'withdrawn' WHERE id = $1", request_id)
    await conn.execute("UPDATE requests SET closed_at = $2 WHERE id = $1", request_id, await _old(conn, site))
    await retention.purge_due(pool, now=NOW, link_days=30)
    assert await conn.fetchval("SELECT cancel_reason FROM appointments WHERE id = $1", appointment_id) is None
