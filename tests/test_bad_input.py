"""Bad input gets a clear 4xx with a field message and leaves the database exactly as it was."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.config import Config
from tests.api.helpers import appointment_body
from tests.staff.helpers import sign_in

TABLES = ("clients", "requests", "callbacks", "proposals", "outbox", "audit_events")


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


@pytest.mark.parametrize(("changes", "field"), [
    ({"note": "hello\x00world"}, "note"),
    ({"note": "bell\x07"}, "note"),
    ({"name": "\u202eevil"}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"phone": "0900 1234567"}, "phone"),            # premium rate
    ({"phone": "+49 30 12345"}, "phone"),            # too short
    ({"phone": "+4915123456701\n"}, None),           # trailing newline is just whitespace: accepted
    ({"customer_number": "12345"}, "customer_number"),
    ({"language": "klingon"}, "language"),
    ({"windows": {"date_from": "2027-02-30"}}, "windows.date_from"),
    ({"windows": {"date_from": "2027-03-02", "date_to": "2027-03-01"}}, "windows.date_to"),
    ({"sms_consent": "yes"}, "sms_consent"),
    ({"concern": "'; DROP TABLE requests; --"}, "concern"),
])
async def test_bad_fields_are_named_and_nothing_is_written(client: TestClient, conn: asyncpg.Connection,
                                                           changes: dict[str, object], field: str | None) -> None:
    before = await _counts(conn)
    r = await client.post("/api/requests", json=appointment_body(**changes), headers={"Accept-Language": "uk"})
    if field is None:
        assert r.status == 201
        return
    assert r.status == 422, await r.text()
    body = await r.json()
    assert field in body["fields"] and body["fields"][field]
    assert body["message"] != "Please check the marked fields."  # Ukrainian, from the catalogue
    assert await _counts(conn) == before


async def test_oversized_body_is_refused(client: TestClient, conn: asyncpg.Connection, config: Config) -> None:
    before = await _counts(conn)
    r = await client.post("/api/requests", data=b"{" + b" " * (config.server.max_body_bytes + 10) + b"}",
                          headers={"Content-Type": "application/json"})
    assert r.status == 413 and (await r.json())["error"] == "too-large"
    assert await _counts(conn) == before


async def test_injection_is_stored_verbatim_and_shown_escaped(client: TestClient, conn: asyncpg.Connection) -> None:
    note = "'); DROP TABLE requests; -- <script>alert(1)</script> {{ 7*7 }} ${7*7}"
    r = await client.post("/api/requests", json=appointment_body(phone="+4915123456704", note=note))
    assert r.status == 201
    request_id, stored = await conn.fetchrow("SELECT id, note FROM requests ORDER BY id DESC LIMIT 1")
    assert stored == note
    await sign_in(client, "cw.meyer")
    page = await (await client.get(f"/staff/requests/{request_id}")).text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "{{ 7*7 }}" in page and ">49<" not in page


async def test_state_changes_need_post(client: TestClient) -> None:
    assert (await client.get("/api/public/" + "a" * 43 + "/cancel")).status == 405
    assert (await client.get("/api/staff/requests/1/approve")).status == 405


async def test_text_the_database_cannot_store_is_a_4xx_anywhere(client: TestClient) -> None:
    """A NUL byte that slips past a form's own checks still ends as a clear 422, never a 500."""
    from tests.staff.helpers import sign_in

    csrf = await sign_in(client, "admin")
    r = await client.post("/api/staff/invitations", headers={"X-CSRF-Token": csrf}, json={
        "phone": "+4915123456703", "concern": "job_offer", "language": "tr", "invitation": "mandatory",
        "notice_text": "Einladung\x00"})
    assert r.status == 422
