"""Video appointments in a real browser (chromium, axe-core): the status page's room link, in German and Farsi.

Uses the server, browser and page of test_browser.py; screenshots go to tests/artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from scheduler import appointments, video_rooms
from scheduler.i18n import translate
from tests.channels.test_browser import (  # noqa: F401 (fixtures)
    Server,
    _chromium_installed,
    assert_accessible,
    browser,
    page,
    server,
    shot,
)
from tests.factories import create_appointment, create_client, create_request, load_site_facts


def _video_link(running: Server, *, language: str, start: datetime, staff: str) -> tuple[str, str]:
    """A booked video appointment with its room; (status page token, room link)."""
    async def work(conn: asyncpg.Connection) -> tuple[str, str]:
        site = await load_site_facts(conn)
        client_id = await create_client(conn, site, language=language)
        request_id = await create_request(conn, site, client_id=client_id, status="scheduled", staff=staff)
        appointment_id = await create_appointment(conn, site, request_id=request_id, staff=staff, start=start,
                                                  mode="video")
        await video_rooms.ensure(conn, [await appointments.get(conn, appointment_id)])
        links = await video_rooms.links(conn, site.site_id, [await appointments.get(conn, appointment_id)])
        return await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", request_id), \
            links[appointment_id]
    token, link = running.db(work)
    return str(token), str(link)


@pytest.mark.parametrize(("lang", "staff"), [("de", "cw.rahimi"), ("fa", "cw.ivanova")])
def test_the_status_page_shows_the_room_link_shortly_before(server: Server, page: Any, lang: str,  # noqa: F811
                                                            staff: str) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=20)
    token, link = _video_link(server, language=lang, start=start, staff=staff)
    page.goto(f"{server.url}/r/{token}?lang={lang}")
    join = page.get_by_role("link", name=translate(lang, video_rooms.CLIENT_TEXTS["open"]))
    assert join.is_visible() and join.get_attribute("href") == link
    assert_accessible(page, f"status with video link [{lang}]")
    shot(page, f"web-status-video-{lang}")
    later, _ = _video_link(server, language=lang, start=start + timedelta(days=2), staff=staff)
    page.goto(f"{server.url}/r/{later}?lang={lang}")
    assert page.get_by_text(translate(lang, video_rooms.CLIENT_TEXTS["later"])).is_visible()
    assert "meet.jit.si" not in page.content()
    assert_accessible(page, f"status before the video link [{lang}]")
