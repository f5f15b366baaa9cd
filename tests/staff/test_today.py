"""The today list, its status JSON and the outcome form, through the real app with a signed-in caseworker."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler import appointments, outcomes
from tests.factories import SiteFacts, create_appointment
from tests.staff import helpers
from tests.staff.helpers import flash, sign_in


def _soon_started() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


async def _status(client: TestClient, view: str = "team") -> dict:  # type: ignore[type-arg]
    r = await client.get("/staff/today/status", params={"view": view}, headers={"Accept": "application/json"})
    assert r.status == 200, await r.text()
    return await r.json()  # type: ignore[no-any-return]


async def _outcome(client: TestClient, csrf: str, appointment_id: int, *, accept: str = "text/html",
                   **fields: str) -> tuple[int, str]:
    r = await client.post(f"/staff/appointments/{appointment_id}/outcome", data={"csrf_token": csrf, **fields},
                          headers={"Accept": accept}, allow_redirects=False)
    return r.status, await r.text()


async def test_the_status_shows_an_arrival_after_check_in(client: TestClient, conn: asyncpg.Connection,
                                                          site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=_soon_started())
    await sign_in(client, "cw.meyer")
    before = await _status(client)
    assert appointment_id in before["ids"]
    assert before["rows"][str(appointment_id)]["arrived"] is None
    assert before["rows"][str(appointment_id)]["open"] is True

    async with conn.transaction():
        await appointments.check_in(conn, appointment_id, at=datetime.now(UTC), actor="kiosk:1")
    after = await _status(client)
    assert after["rows"][str(appointment_id)]["arrived"].startswith("angekommen ")
    # The status carries no client data: no names, references or concerns.
    body = str(after)
    reference = await conn.fetchval("SELECT r.reference FROM requests r JOIN appointments a ON a.request_id = r.id "
                                    "WHERE a.id = $1", appointment_id)
    assert reference not in body


async def test_the_page_lists_the_team_and_records_the_view(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    mine = await create_appointment(conn, site, start=_soon_started())
    colleague = await create_appointment(conn, site, staff="cw.demir", start=_soon_started() + timedelta(minutes=1))
    other_team = await create_appointment(conn, site, staff="cw.yilmaz", start=_soon_started())
    await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/today")).text()
    assert f'data-appointment="{mine}"' in html and f'data-appointment="{colleague}"' in html
    assert f'data-appointment="{other_team}"' not in html
    # One-click outcome buttons only where I may record: my own started appointment.
    assert f'/staff/appointments/{mine}/outcome' in html
    assert f'/staff/appointments/{colleague}/outcome' not in html
    audit = await conn.fetchrow("SELECT details FROM audit_events WHERE action = 'client.view_list' "
                                "AND subject_type = 'appointments' ORDER BY id DESC LIMIT 1")
    assert audit is not None and sorted(audit["details"]["appointment_ids"]) == sorted([mine, colleague])

    mine_only = await (await client.get("/staff/today", params={"view": "mine"})).text()
    assert f'data-appointment="{mine}"' in mine_only and f'data-appointment="{colleague}"' not in mine_only
    assert (await _status(client, "mine"))["ids"] == [mine]


async def test_held_in_one_click_then_a_second_click_gets_409(client: TestClient, conn: asyncpg.Connection,
                                                              site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=_soon_started())
    csrf = await sign_in(client, "cw.meyer")
    status, _ = await _outcome(client, csrf, appointment_id, outcome="held", back="/staff/today")
    assert status == 303
    page = await (await client.get("/staff/today")).text()
    assert "Erfasst: Der Termin hat stattgefunden." in flash(page)
    assert await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id) == "held"

    status, text = await _outcome(client, csrf, appointment_id, outcome="no_show")
    assert status == 409 and "bereits erfasst" in text
    status, text = await _outcome(client, csrf, appointment_id, outcome="no_show", accept="application/json")
    assert status == 409 and "bereits erfasst" in text
    assert await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id) == "held"
    assert (await _status(client))["rows"][str(appointment_id)]["outcome"] == "stattgefunden"


async def test_a_future_appointment_gets_422(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=datetime.now(UTC) + timedelta(hours=3))
    csrf = await sign_in(client, "cw.meyer")
    status, text = await _outcome(client, csrf, appointment_id, outcome="held", accept="application/json")
    assert status == 422 and "noch nicht begonnen" in text
    assert await conn.fetchval("SELECT status FROM appointments WHERE id = $1", appointment_id) == "confirmed"


async def test_another_team_gets_403_and_no_csrf_gets_403(client: TestClient, conn: asyncpg.Connection,
                                                          site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=_soon_started())  # cw.meyer, placement
    csrf = await sign_in(client, "cw.yilmaz")
    status, _ = await _outcome(client, csrf, appointment_id, outcome="held")
    assert status == 403
    status, _ = await _outcome(client, "wrong", appointment_id, outcome="held")
    assert status == 403
    assert await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id) is None


async def test_bad_input_gets_field_messages_not_500(client: TestClient, conn: asyncpg.Connection,
                                                     site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=_soon_started())
    csrf = await sign_in(client, "cw.meyer")
    for fields, field in (({"outcome": "maybe"}, "outcome"),
                          ({"outcome": "held", "reason": "ill"}, "reason"),
                          ({"outcome": "no_show", "reason": "bored"}, "reason"),
                          ({"outcome": "no_show", "reason": "ill", "reason_date": "yesterday"}, "reason_date"),
                          ({"outcome": "no_show", "reason_date": "2026-01-01"}, "reason_date"),
                          ({"outcome": "no_show", "reason": "ill", "reason_date": "2999-01-01"}, "reason_date"),
                          ({"outcome": "x" * 10_000}, "outcome")):
        r = await client.post(f"/staff/appointments/{appointment_id}/outcome", data={"csrf_token": csrf, **fields},
                              headers={"Accept": "application/json"}, allow_redirects=False)
        assert r.status == 422, (fields, await r.text())
        assert set((await r.json())["fields"]) == {field}, fields
    assert await conn.fetchval("SELECT outcome FROM appointments WHERE id = $1", appointment_id) is None
    r = await client.post("/staff/appointments/999999999/outcome", data={"csrf_token": csrf, "outcome": "held"},
                          allow_redirects=False)
    assert r.status == 404


async def test_no_show_with_reason_from_the_form(client: TestClient, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=_soon_started())
    csrf = await sign_in(client, "cw.meyer")
    today = datetime.now(UTC).date()
    status, _ = await _outcome(client, csrf, appointment_id, outcome="no_show", reason="appointment_clash",
                               reason_date=today.isoformat(), back=f"/staff/calendar?date={today.isoformat()}")
    assert status == 303
    row = await conn.fetchrow("SELECT status, outcome_reason, outcome_reason_date FROM appointments WHERE id = $1",
                              appointment_id)
    assert dict(row) == {"status": "no_show", "outcome_reason": "appointment_clash", "outcome_reason_date": today}


async def test_calendar_and_request_page_offer_the_outcome(client: TestClient, conn: asyncpg.Connection,
                                                           site: SiteFacts) -> None:
    appointment_id = await create_appointment(conn, site, start=_soon_started())
    request_id = await conn.fetchval("SELECT request_id FROM appointments WHERE id = $1", appointment_id)
    await sign_in(client, "cw.meyer")
    calendar = await (await client.get("/staff/calendar")).text()
    assert f'/staff/appointments/{appointment_id}/outcome' in calendar
    request_page = await (await client.get(f"/staff/requests/{request_id}")).text()
    assert f'/staff/appointments/{appointment_id}/outcome' in request_page
    assert 'data-outcome="held"' in request_page


async def test_flagged_outcomes_show_to_the_caseworker_then_the_lead(client: TestClient, pool: asyncpg.Pool,
                                                                     conn: asyncpg.Connection, site: SiteFacts,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(helpers.PASSWORDS, "lead.placement", "demo-lead")  # the demo lead of cw.meyer's team
    # Last week's Monday, long unmarked: the job flags it now and escalates it a working day later.
    last_monday = date.today() - timedelta(days=date.today().weekday() + 7)
    start = datetime(last_monday.year, last_monday.month, last_monday.day, 9, tzinfo=UTC)
    appointment_id = await create_appointment(conn, site, start=start)
    now = datetime.now(UTC)
    await outcomes.flag_unmarked(pool, now=now)
    await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/today")).text()
    assert f'data-appointment="{appointment_id}"' in html and "Ergebnis fehlt" in html
    assert appointment_id in (await _status(client))["missing"]

    client.session.cookie_jar.clear()  # sign out and in as the team lead
    await sign_in(client, "lead.placement")
    assert f'data-appointment="{appointment_id}"' not in await (await client.get("/staff/today")).text()
    await outcomes.flag_unmarked(pool, now=now + timedelta(days=7))  # a working day after the caseworker's flag
    lead_html = await (await client.get("/staff/today")).text()
    assert f'data-appointment="{appointment_id}"' in lead_html and "Teamleitung informiert" in lead_html
