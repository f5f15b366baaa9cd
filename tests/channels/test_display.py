"""The call display through the real app: the page, its board JSON, its server-sent events, the neutral screen."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import appointments, displays, lobby_calls
from scheduler.channels import display
from scheduler.keys import LOBBY_FEED
from scheduler.permissions import Role, StaffUser
from tests.factories import SiteFacts, create_appointment


async def _display(conn: asyncpg.Connection, site: SiteFacts) -> tuple[int, str]:
    token = displays.new_token()
    device_id = await displays.register(conn, site_id=site.site_id, name="Wartebereich", location="EG",
                                        token=token, issued_by=site.staff["admin"])
    return device_id, token


async def _called(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, *, room: str = "A.03") -> str:
    appointment_id = await create_appointment(conn, site, start=datetime.now(UTC) - timedelta(minutes=2))
    await conn.execute("UPDATE appointments SET room = $2 WHERE id = $1", appointment_id, room)
    async with conn.transaction():
        await appointments.check_in(conn, appointment_id, at=datetime.now(UTC), actor="kiosk:test")
    admin = StaffUser(id=site.staff["admin"], site_id=site.site_id, username="admin", display_name="Ada Admin",
                      role=Role.admin, team_id=None, languages=("de",))
    made = await lobby_calls.call(pool, user=admin, appointment_id=appointment_id, room=None, now=datetime.now(UTC))
    return made.reference


async def test_the_page_shows_references_and_rooms_never_names(client: TestClient, app_pool: asyncpg.Pool,
                                                                conn: asyncpg.Connection, site: SiteFacts) -> None:
    _device_id, token = await _display(conn, site)
    reference = await _called(app_pool, conn, site)
    r = await client.get(f"/display/{token}")
    assert r.status == 200
    html = await r.text()
    assert reference in html and "A.03" in html
    assert "Aufruf" in html and "Now called" in html  # German with English beneath
    assert "<script>" not in html and 'src="/static/display.js"' in html
    names = [n for (n,) in await conn.fetch("SELECT name FROM clients WHERE name IS NOT NULL")]
    assert names and not any(name in html for name in names)
    assert r.headers["Cache-Control"] == "no-store"
    board = await (await client.get(f"/display/{token}/board")).json()
    assert board["calls"][0]["reference"] == reference and board["calls"][0]["repeated"] is False
    assert set(board["calls"][0]) == {"id", "reference", "room", "time", "repeated"}


async def test_unknown_and_revoked_tokens_get_the_same_neutral_screen(client: TestClient, conn: asyncpg.Connection,
                                                                      app_pool: asyncpg.Pool,
                                                                      site: SiteFacts) -> None:
    device_id, token = await _display(conn, site)
    reference = await _called(app_pool, conn, site)
    await displays.revoke(conn, device_id, site_id=site.site_id, now=datetime.now(UTC))
    answers = []
    for path in (f"/display/{token}", f"/display/{displays.new_token()}", "/display/x"):
        r = await client.get(path)
        answers.append((r.status, await r.text()))
    assert {status for status, _ in answers} == {404}
    assert len({body for _, body in answers}) == 1
    assert reference not in answers[0][1] and "revoked" not in answers[0][1].lower()
    for suffix in ("/board", "/events"):
        r = await client.get(f"/display/{token}{suffix}")
        assert r.status == 404 and reference not in await r.text()


async def test_events_stream_the_board_and_each_new_call(client: TestClient, app_pool: asyncpg.Pool,
                                                        conn: asyncpg.Connection, site: SiteFacts) -> None:
    _device_id, token = await _display(conn, site)
    await asyncio.wait_for(client.app[LOBBY_FEED].connected.wait(), 10)
    response = await client.get(f"/display/{token}/events")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")

    async def next_board() -> dict:  # type: ignore[type-arg]
        event, data = None, None
        while True:
            line = (await response.content.readline()).decode().rstrip("\r\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and event == "board" and data is not None:
                return json.loads(data)  # type: ignore[no-any-return]

    first = await asyncio.wait_for(next_board(), 5)
    assert first == {"calls": []}
    reference = await _called(app_pool, conn, site)
    second = await asyncio.wait_for(next_board(), 2)  # well within a second in practice; 2 s on a busy machine
    assert [c["reference"] for c in second["calls"]] == [reference]
    response.close()


async def test_an_open_stream_ends_with_gone_once_its_token_is_revoked(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(display, "WAKE_SECONDS", 0.1)
    monkeypatch.setattr(display, "RECHECK_SECONDS", 0.2)
    device_id, token = await _display(conn, site)
    response = await client.get(f"/display/{token}/events")
    assert response.status == 200
    await displays.revoke(conn, device_id, site_id=site.site_id, now=datetime.now(UTC))

    async def events() -> list[str]:
        seen = []
        while line := (await response.content.readline()).decode():
            if line.startswith("event: "):
                seen.append(line[7:].strip())
        return seen

    assert (await asyncio.wait_for(events(), 5))[-1] == "gone"
