"""A group session booked to full in a real browser (Debian chromium + Playwright): the last seat goes to one
client on the web page, the next client, whose form was already open, is told the session is full and offered
the next one; the staff list shows 20/20 and the session page its participants. axe-core on the client's pages
and the staff's session pages; screenshots to tests/artifacts/group-session*.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from scheduler import group_session_seats
from tests.browser_support import require_chromium
from tests.factories import SiteFacts
from tests.group_session_support import make_session, phone
from tests.staff.test_browser import PROJECT, assert_accessible, sign_in

ARTIFACTS = PROJECT / "tests" / "artifacts"


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_session_is_booked_to_full_and_the_next_client_is_told(
        base_url: str, browser: Browser, pool: asyncpg.Pool, site: SiteFacts) -> None:
    session = await make_session(pool, site, seats=20, topic="Bewerbungstraining")
    later = await make_session(pool, site, seats=20, topic="Bewerbungstraining",
                               start=datetime.now(UTC) + timedelta(days=21))
    for n in range(19):
        await group_session_seats.book_on_web(pool, session_id=session.id, site_id=site.site_id, phone=phone(n),
                                              language="de", sms_consent=True, now=datetime.now(UTC))

    # Two clients open the session's form while one seat is left.
    first = await (await browser.new_context(viewport={"width": 1024, "height": 900})).new_page()
    await first.goto(f"{base_url}/sessions?lang=de")
    await expect(first.get_by_role("heading", level=1)).to_have_text("Infoveranstaltungen")
    await expect(first.locator('[data-free="1"]')).to_contain_text("1 von 20 Plätzen frei")
    await assert_accessible(first)
    await _shot(first, "group-session-list")
    await first.locator(f'a[href="/sessions/{session.id}?lang=de"]').click()
    second = await (await browser.new_context(viewport={"width": 1024, "height": 900})).new_page()
    await second.goto(f"{base_url}/sessions/{session.id}?lang=tr")
    await expect(second.get_by_role("button", name="Yer ayırt")).to_be_visible()

    # The first books the last seat (after a field error that names the field).
    await first.get_by_role("button", name="Platz buchen").click()
    await expect(first.locator("#err-phone")).to_be_visible()
    await assert_accessible(first)
    await first.get_by_label("Ihre Telefonnummer").fill("0151 72000001")
    await first.get_by_label("Ja, schicken Sie mir").check()
    await first.get_by_role("button", name="Platz buchen").click()
    await expect(first.locator(".status-text")).to_have_text("Ihr Platz ist gebucht.")
    reference = await first.locator(".reference-inline").inner_text()
    assert len(reference) == 9
    await assert_accessible(first)
    await _shot(first, "group-session-seat")

    # The second submits the form they opened before: full, in Turkish, with the next session offered.
    await second.get_by_label("Telefon numaranız").fill("0151 72000002")
    await second.locator("#sms_consent").check()
    response_status: list[int] = []
    second.on("response", lambda r: response_status.append(r.status) if r.request.method == "POST" else None)
    await second.get_by_role("button", name="Yer ayırt").click()
    await expect(second.get_by_role("heading", level=1)).to_have_text("Bu oturum dolu")
    assert response_status == [409]
    await expect(second.locator("#next-session")).to_have_attribute("href", f"/sessions/{later.id}?lang=tr")
    await assert_accessible(second)
    await _shot(second, "group-session-full")

    # Staff: the list shows 20/20, the session page its 20 participants.
    staff = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(staff, base_url, "lead.entrance")
    await staff.get_by_role("link", name="Gruppentermine", exact=True).first.click()
    await expect(staff.get_by_role("heading", level=1)).to_have_text("Gruppentermine")
    row = staff.locator(f'tr[data-session="{session.id}"]')
    await expect(row.locator('[data-cell="taken"]')).to_have_text("20/20")
    await expect(row.locator('[data-cell="free"]')).to_have_text("0")
    await assert_accessible(staff)
    await _shot(staff, "group-session-staff-list")
    await row.get_by_role("link", name="Bewerbungstraining").click()
    await expect(staff.locator("#seats-taken")).to_have_text("20/20")
    await expect(staff.locator("tr[data-seat]")).to_have_count(20)
    await expect(staff.locator("table.participants")).to_contain_text(reference)
    await assert_accessible(staff)
    await _shot(staff, "group-session-staff")

    # The invitation review on a full session: every line lies beyond the free seats, said before sending.
    await staff.get_by_label("Liste der Kundinnen und Kunden").fill("phone;name\n0151 73000001;Erika Muster")
    await staff.get_by_role("button", name="Liste prüfen").click()
    await expect(staff.locator("#beyond")).to_contain_text("1 Zeilen liegen über den freien Plätzen")
    await assert_accessible(staff)
    await _shot(staff, "group-session-invite-review")
