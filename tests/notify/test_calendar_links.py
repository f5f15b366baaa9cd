"""Client invite links and caseworker feeds: valid iCalendar (vobject), right instant, no hints on 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import vobject
from aiohttp.test_utils import TestClient

from tests import factories
from tests.factories import SiteFacts


def soon(days: int) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


async def get_ics(client: TestClient, path: str) -> vobject.base.Component:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/calendar"
    assert response.headers["Cache-Control"] == "private, no-store"
    return vobject.readOne(await response.text(), validate=True)


async def test_client_invite_request_then_cancel(client: TestClient, conn: asyncpg.Connection,
                                                 site: SiteFacts) -> None:
    start = soon(5)
    request_id = await factories.create_request(conn, site, status="scheduled", staff="cw.meyer")
    appointment_id = await factories.create_appointment(conn, site, start=start, request_id=request_id)
    token, uid = await conn.fetchrow("SELECT r.link_token, a.ical_uid FROM requests r JOIN appointments a "
                                     "ON a.request_id = r.id WHERE a.id = $1", appointment_id)
    cal = await get_ics(client, f"/r/{token}/invite.ics")
    assert cal.method.value == "REQUEST"
    event = cal.vevent
    assert event.uid.value == uid and int(event.sequence.value) == 0
    assert event.dtstart.value.astimezone(UTC) == start
    assert event.dtend.value.astimezone(UTC) == start + timedelta(minutes=30)
    assert event.dtstart.value.tzinfo is not None and cal.vtimezone.tzid.value == "Europe/Berlin"
    assert "Jobcenter Musterstadt" in event.organizer.params["CN"][0]
    assert token in event.url.value
    await conn.execute("UPDATE appointments SET status = 'cancelled', sequence = sequence + 1, updated_at = now() "
                       "WHERE id = $1", appointment_id)
    cancelled = await get_ics(client, f"/r/{token}/invite.ics")
    assert cancelled.method.value == "CANCEL"
    assert cancelled.vevent.uid.value == uid and int(cancelled.vevent.sequence.value) == 1
    assert cancelled.vevent.status.value == "CANCELLED"


async def test_unknown_token_or_no_appointment_is_404_without_hint(client: TestClient, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    request_id = await factories.create_request(conn, site)
    token = await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", request_id)
    for path in ("/r/not-a-token/invite.ics", f"/r/{token}/invite.ics", "/staff/feed/nope.ics"):
        response = await client.get(path)
        assert response.status == 404
        assert token not in await response.text()


async def test_caseworker_feed(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    feed_token = await conn.fetchval("SELECT feed_token FROM staff WHERE username = 'cw.meyer'")
    inside = await factories.create_appointment(conn, site, start=soon(2))
    past = await factories.create_appointment(conn, site, start=soon(-3))
    await factories.create_appointment(conn, site, start=soon(-10))
    await factories.create_appointment(conn, site, start=soon(100))
    await factories.create_appointment(conn, site, start=soon(3), status="cancelled")
    await factories.create_appointment(conn, site, start=soon(2), staff="cw.demir")
    await conn.execute("UPDATE clients SET name = 'Secret Person'")
    response = await client.get(f"/staff/feed/{feed_token}.ics")
    text = await response.text()
    assert "Secret Person" not in text
    cal = vobject.readOne(text, validate=True)
    assert cal.method.value == "PUBLISH"
    uids = {e.uid.value for e in cal.vevent_list}
    expected = {await conn.fetchval("SELECT ical_uid FROM appointments WHERE id = $1", i) for i in (inside, past)}
    assert uids == expected
    for event in cal.vevent_list:
        assert event.dtstart.value.astimezone(UTC).hour == 9
