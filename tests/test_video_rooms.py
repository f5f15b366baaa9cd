"""Video appointments (issue 17): the site's URL template, each appointment's own room, who sees the link when.

The status page shows the link from an hour before the start until the end; the calendar invite carries it; no
SMS ever does (they point to the status page). A site without a template books video appointments as before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import vobject
from aiohttp.test_utils import TestClient

from scheduler import planning, sites, video_rooms
from scheduler import requests as requests_
from scheduler.errors import ValidationFailed
from scheduler.i18n import LANGUAGES, translate
from scheduler.notify import messages
from scheduler.policy.rules import Mode
from scheduler.policy.slots import Slot
from tests import factories
from tests.factories import SiteFacts

JITSI = "https://meet.jit.si/jc-musterstadt-{room}"
LATER = video_rooms.CLIENT_TEXTS["later"]
CASEWORKER = video_rooms.CLIENT_TEXTS["caseworker"]


# --- the template ---

GOOD = ["https://meet.jit.si/jc-{room}", "https://bbb.jobcenter.example:8443/b/{room}/join?lang=de",
        "https://video.example.org/{room}"]
BAD = ["http://meet.jit.si/jc-{room}", "https://meet.jit.si/jc-room", "javascript:alert(1)//{room}",
       "https://meet.jit.si/a b/{room}", "https://meet.jit.si/" + "x" * 290 + "{room}", "https://{room}.example.org/",
       'https://meet.jit.si/"><script>{room}', "https://meet.jit.si/{x}{room}", "ftp://x.example/{room}"]


@pytest.mark.parametrize("template", GOOD)
async def test_usable_templates_are_kept_by_the_check_and_the_database(conn: asyncpg.Connection, site: SiteFacts,
                                                                        template: str) -> None:
    assert video_rooms.check_template(f"  {template} ") == template
    await sites.set_video_url_template(conn, site.site_id, template)
    assert await sites.video_url_template(conn, site.site_id) == template


@pytest.mark.parametrize("template", BAD)
async def test_unusable_templates_are_refused_by_the_check_and_the_database(conn: asyncpg.Connection,
                                                                            site: SiteFacts, template: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        video_rooms.check_template(template)
    assert set(refused.value.fields) == {"video_url_template"}
    with pytest.raises(asyncpg.CheckViolationError):
        await sites.set_video_url_template(conn, site.site_id, template)


def test_an_empty_field_means_no_video_service() -> None:
    assert video_rooms.check_template("   ") is None


def test_rooms_are_long_random_and_url_safe() -> None:
    found = {video_rooms.new_room() for _ in range(200)}
    assert len(found) == 200
    assert all(len(room) == 32 and room.replace("-", "").replace("_", "").isalnum() for room in found)
    assert video_rooms.link(JITSI, "abc") == "https://meet.jit.si/jc-musterstadt-abc"


# --- booking ---

async def _book(conn: asyncpg.Connection, site: SiteFacts, *, mode: Mode = Mode.video,
                start: datetime | None = None, language: str = "de") -> tuple[int, str]:
    """A video (or other) appointment booked through the one booking sequence; (appointment id, link token)."""
    client_id = await factories.create_client(conn, site, language=language)
    request_id = await factories.create_request(conn, site, client_id=client_id, concern="no_money",
                                                staff="cw.schulz")
    await conn.execute("UPDATE requests SET language = $2 WHERE id = $1", request_id, language)
    start = start or datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    async with conn.transaction():
        appointment = await planning.book(
            conn, request=await requests_.get(conn, request_id), actor="test", now=datetime.now(UTC),
            slot=Slot(site.staff["cw.schulz"], start, start + timedelta(minutes=30), mode, None),
            reminder_offsets=(timedelta(hours=24),))
    token = await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", request_id)
    return appointment.id, token


async def _room(conn: asyncpg.Connection, appointment_id: int) -> str | None:
    return await conn.fetchval("SELECT room FROM video_rooms WHERE appointment_id = $1", appointment_id)


async def test_booking_a_video_appointment_gives_it_its_own_room(conn: asyncpg.Connection, site: SiteFacts) -> None:
    first, _ = await _book(conn, site)
    second, _ = await _book(conn, site, start=datetime.now(UTC).replace(microsecond=0) + timedelta(days=3))
    in_person, _ = await _book(conn, site, mode=Mode.in_person,
                               start=datetime.now(UTC).replace(microsecond=0) + timedelta(days=4))
    rooms = [await _room(conn, first), await _room(conn, second)]
    assert all(room and len(room) >= 32 for room in rooms) and rooms[0] != rooms[1]
    assert await _room(conn, in_person) is None
    # Booked again (a retried transaction): the first room stays.
    appointment = await planning.appointments.get(conn, first)
    await video_rooms.ensure(conn, [appointment])
    assert await _room(conn, first) == rooms[0]


# --- the status page ---

async def test_status_page_shows_the_link_only_around_the_appointment(client: TestClient, conn: asyncpg.Connection,
                                                                      site: SiteFacts) -> None:
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)
    now_id, now_token = await _book(conn, site, start=soon)
    later_id, later_token = await _book(conn, site)
    html = await (await client.get(f"/r/{now_token}")).text()
    link = video_rooms.link(JITSI, str(await _room(conn, now_id)))
    assert f'href="{link}"' in html and translate("de", video_rooms.CLIENT_TEXTS["open"]) in html
    html = await (await client.get(f"/r/{later_token}")).text()
    assert str(await _room(conn, later_id)) not in html and "meet.jit.si" not in html
    assert translate("de", LATER) in html
    # The JSON API says the same.
    body = await (await client.get(f"/api/public/{later_token}")).json()
    assert body["appointment"]["video"]["state"] == "later" and body["appointment"]["video"]["url"] is None
    # After the end, and once cancelled, no link.
    await conn.execute("UPDATE appointments SET during = tstzrange(now() - interval '2 hours', "
                       "now() - interval '1 hour') WHERE id = $1", now_id)
    html = await (await client.get(f"/r/{now_token}")).text()
    assert "meet.jit.si" not in html
    await conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", later_id)
    assert "meet.jit.si" not in await (await client.get(f"/r/{later_token}")).text()


async def test_a_site_without_a_service_books_video_without_a_link(client: TestClient, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    await sites.set_video_url_template(conn, site.site_id, None)
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=20)
    appointment_id, token = await _book(conn, site, start=soon)
    html = await (await client.get(f"/r/{token}")).text()
    assert translate("de", CASEWORKER) in html and "https://meet" not in html
    cal = vobject.readOne(await (await client.get(f"/r/{token}/invite.ics")).text(), validate=True)
    assert translate("de", CASEWORKER) in cal.vevent.description.value
    assert not hasattr(cal.vevent, "location") or "https://" not in cal.vevent.location.value


# --- the invite ---

@pytest.mark.parametrize("language", ["de", "fa"])
async def test_the_invite_carries_the_room_link(client: TestClient, conn: asyncpg.Connection, site: SiteFacts,
                                                language: str) -> None:
    appointment_id, token = await _book(conn, site, language=language)
    link = video_rooms.link(JITSI, str(await _room(conn, appointment_id)))
    cal = vobject.readOne(await (await client.get(f"/r/{token}/invite.ics")).text(), validate=True)
    event = cal.vevent
    assert event.location.value == link
    assert event.description.value.startswith(translate(language, video_rooms.INVITE_TEXT, link=link))
    assert event.url.value.endswith(f"/r/{token}")  # the status page stays the URL
    # The e-mail invite (email.invite outbox row) says the same.
    s = await sites.site_by_id(conn, site.site_id)
    invite = await messages.render_invite(conn, site=s, payload={"appointment_id": appointment_id, "token": token},
                                          language=language, organizer_email="termine@jobcenter.example",
                                          attendee="client@example.org")
    assert invite is not None
    assert vobject.readOne(invite.ics.decode(), validate=True).vevent.location.value == link


async def test_the_caseworker_feed_carries_the_room_link(client: TestClient, conn: asyncpg.Connection,
                                                         site: SiteFacts) -> None:
    appointment_id, _ = await _book(conn, site)
    feed_token = "f" * 43
    await conn.execute("UPDATE staff SET feed_token = $2 WHERE id = $1", site.staff["cw.schulz"], feed_token)
    cal = vobject.readOne(await (await client.get(f"/staff/feed/{feed_token}.ics")).text(), validate=True)
    link = video_rooms.link(JITSI, str(await _room(conn, appointment_id)))
    assert [e.url.value for e in cal.vevent_list if hasattr(e, "url")] == [link]


# --- never in an SMS ---

@pytest.mark.parametrize("language", LANGUAGES)
async def test_no_sms_about_a_video_appointment_contains_the_link(conn: asyncpg.Connection, site: SiteFacts,
                                                                 language: str) -> None:
    appointment_id, token = await _book(conn, site, language=language)
    room = str(await _room(conn, appointment_id))
    s = await sites.site_by_id(conn, site.site_id)
    request_id, reference = await conn.fetchrow(
        "SELECT r.id, r.reference FROM requests r JOIN appointments a ON a.request_id = r.id WHERE a.id = $1",
        appointment_id)
    payload = {"appointment_id": appointment_id, "token": token, "reference": reference, "request_id": request_id}
    now = datetime.now(UTC)
    bodies: list[str] = []
    for kind in [k for k in messages.TEXTS if not k.startswith("sms.callback")]:
        rendered = await messages.render(conn, site=s, kind=kind, payload=payload, language=language, now=now)
        if rendered is not None:
            bodies.append(rendered.body)
    queued = await conn.fetch("SELECT kind, payload, language FROM outbox WHERE appointment_id = $1 AND channel = 'sms'",
                              appointment_id)
    assert {r["kind"] for r in queued} >= {"sms.appointment_confirmed", "sms.reminder"}
    for row in queued:
        rendered = await messages.render(conn, site=s, kind=row["kind"], payload=dict(row["payload"]),
                                         language=row["language"], now=now)
        assert rendered is not None
        bodies.append(rendered.body)
    assert len(bodies) >= len(messages.TEXTS)
    for body in bodies:
        assert room not in body and "meet.jit.si" not in body, body
    assert any(f"/r/{token}" in body for body in bodies)
