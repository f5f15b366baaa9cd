"""Declining a request tells the client: an SMS in their language with the reason category and what next."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import approvals, intake, sites
from scheduler.errors import InvalidTransition, ValidationFailed
from scheduler.keys import POOL
from scheduler.notify import messages
from scheduler.permissions import Role, StaffUser
from scheduler.policy.rules import Channel, Kind
from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in

NOW = datetime.now(UTC)


def _meyer(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["cw.meyer"], site_id=site.site_id, username="cw.meyer", display_name="cw.meyer",
                     role=Role.caseworker, team_id=site.teams["placement"], languages=("de",))


async def _submit(pool: asyncpg.Pool, *, phone: str, language: str = "de", consent: bool = True) -> int:
    submitted = await intake.submit(pool, intake.Intake(
        site="musterstadt", kind=Kind.appointment, channel=Channel.web, concern="general", phone=phone,
        language=language, sms_consent=consent), now=NOW)
    return submitted.id


async def _route_to_meyer(conn: asyncpg.Connection, site: SiteFacts, request_id: int) -> None:
    await conn.execute("UPDATE requests SET staff_id = $2, team_id = $3 WHERE id = $1", request_id,
                       site.staff["cw.meyer"], site.teams["placement"])
    await conn.execute("UPDATE clients SET sms_consent = true WHERE id = (SELECT client_id FROM requests "
                       "WHERE id = $1)", request_id)   # the number confirmed SMS itself


async def test_decline_stores_the_category_and_queues_one_sms_in_the_clients_language(
        pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id = await _submit(pool, phone="+4915100000811", language="uk")
    await _route_to_meyer(conn, site, request_id)
    await approvals.decline(pool, request_id=request_id, reason="Doppelt angelegt", category="duplicate",
                            user=_meyer(site))
    row = await conn.fetchrow("SELECT status, decline_category, decline_reason FROM requests WHERE id = $1",
                              request_id)
    assert tuple(row) == ("declined", "duplicate", "Doppelt angelegt")
    sms = await conn.fetch("SELECT language, payload, recipient FROM outbox WHERE request_id = $1 "
                           "AND kind = 'sms.request_declined'", request_id)
    assert len(sms) == 1 and sms[0]["language"] == "uk" and sms[0]["payload"]["category"] == "duplicate"
    assert sms[0]["recipient"] == "+4915100000811"
    site_ = await sites.site_by_id(conn, site.site_id)
    body = (await messages.render(conn, site=site_, kind="sms.request_declined", payload=sms[0]["payload"],
                                  language="uk", now=NOW)).body
    assert "відкрита заявка" in body                      # the reason category, in Ukrainian
    assert "Doppelt" not in body                          # the note for the file stays in the office
    assert "/r/" in body and sms[0]["payload"]["reference"] in body

    with pytest.raises(InvalidTransition):               # declined twice (a double click, a colleague)
        await approvals.decline(pool, request_id=request_id, reason="again", category="other", user=_meyer(site))
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE request_id = $1 "
                               "AND kind = 'sms.request_declined'", request_id) == 1


async def test_unknown_category_is_a_field_error_and_nothing_changes(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                     site: SiteFacts) -> None:
    request_id = await _submit(pool, phone="+4915100000812")
    await _route_to_meyer(conn, site, request_id)
    with pytest.raises(ValidationFailed) as failed:
        await approvals.decline(pool, request_id=request_id, reason="x", category="because", user=_meyer(site))
    assert "category" in failed.value.fields
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) != "declined"


async def test_no_sms_without_the_requests_consent(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    request_id = await _submit(pool, phone="+4915100000813", consent=False)
    await _route_to_meyer(conn, site, request_id)
    await approvals.decline(pool, request_id=request_id, reason="erledigt", category="resolved", user=_meyer(site))
    assert await conn.fetchval("SELECT decline_category FROM requests WHERE id = $1", request_id) == "resolved"
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE request_id = $1 "
                               "AND kind = 'sms.request_declined'", request_id) == 0


async def test_the_decline_form_offers_the_categories_and_sends_the_sms(client: TestClient, conn: asyncpg.Connection,
                                                                        site: SiteFacts) -> None:
    request_id = await _submit(client.app[POOL], phone="+4915100000814")
    await _route_to_meyer(conn, site, request_id)
    csrf = await sign_in(client, "cw.meyer")
    page = await (await client.get(f"/staff/requests/{request_id}")).text()
    assert 'name="category"' in page and 'value="not_responsible"' in page
    url = client.app.router["staff-request-decline"].url_for(request_id=str(request_id))
    bad = await client.post(url, data={"csrf_token": csrf, "reason": "x", "category": "nonsense"},
                            allow_redirects=False)
    assert bad.status == 303
    follow = await (await client.get(bad.headers["Location"])).text()
    assert "warum" in flash(follow).lower()
    r = await client.post(url, data={"csrf_token": csrf, "reason": "andere Stelle", "category": "not_responsible"},
                          allow_redirects=False)
    assert r.status == 303, await r.text()
    assert await conn.fetchval("SELECT decline_category FROM requests WHERE id = $1", request_id) == "not_responsible"
    assert await conn.fetchval("SELECT payload->>'category' FROM outbox WHERE request_id = $1 "
                               "AND kind = 'sms.request_declined'", request_id) == "not_responsible"
