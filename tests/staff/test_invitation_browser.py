"""A mandatory invitation in a real browser (Debian chromium + Playwright): the client sees the notice before the
confirm button (axe-core finds nothing), staff see the delivery evidence; screenshots of both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from scheduler import approvals, invitation_evidence, invitations, notice_templates, seed
from scheduler import proposals as proposals_
from scheduler.invitation_evidence import EvidenceKind
from scheduler.keys import SENDERS
from scheduler.notify.dispatch import Senders, dispatch_due
from scheduler.permissions import Role, StaffUser
from tests.browser_support import require_chromium
from tests.factories import SiteFacts
from tests.notify.conftest import by_night_too
from tests.staff.test_browser import SCREENSHOTS, assert_accessible, screenshot, sign_in

PHONE = "+4915199880011"


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


def _meyer(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["cw.meyer"], site_id=site.site_id, username="cw.meyer", display_name="Meyer",
                     role=Role.caseworker, team_id=site.teams["placement"], languages=("de",))


async def _booked_invitation(pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts, *,
                             language: str) -> tuple[int, str]:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    mandatory = next(t for t in await notice_templates.list_for_site(conn, site.site_id) if t.kind == "mandatory")
    now = datetime.now(UTC)
    invited = await invitations.invite(pool, user=_meyer(site), phone=PHONE, concern="general", language=language,
                                       template_id=mandatory.id, bring="Personalausweis, Mietvertrag", now=now,
                                       reminder_offsets=())
    proposal = (await proposals_.list_for_request(conn, invited.request.id))[0]
    await approvals.approve(pool, request_id=invited.request.id, proposal_id=proposal.id, user=_meyer(site), now=now,
                            reminder_offsets=())
    return invited.request.id, invited.request.link_token


@pytest.mark.parametrize("language", ["ar", "uk"])
async def test_the_notice_comes_before_the_confirm_button(base_url: str, browser: Browser, pool: asyncpg.Pool,
                                                          conn: asyncpg.Connection, site: SiteFacts,
                                                          language: str) -> None:
    request_id, token = await _booked_invitation(pool, conn, site, language=language)
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    await page.goto(f"{base_url}/r/{token}?lang={language}")
    notice = page.locator("#invitation-notice")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("Rechtsfolgenbelehrung")
    confirm = page.locator("form[action*='/confirm'] button")
    await expect(confirm).to_be_visible()
    # The notice precedes the button in the document and on the screen.
    follows = await page.evaluate(
        "() => !!(document.querySelector('#invitation-notice').compareDocumentPosition("
        "document.querySelector(\"form[action*='/confirm'] button\")) & Node.DOCUMENT_POSITION_FOLLOWING)")
    assert follows
    notice_box, button_box = await notice.bounding_box(), await confirm.bounding_box()
    assert notice_box is not None and button_box is not None and notice_box["y"] < button_box["y"]
    await assert_accessible(page)
    await screenshot(page, f"invitation-notice-{language}")
    await confirm.click()
    kinds = [e.kind for e in await invitation_evidence.list_for_request(conn, request_id)]
    assert EvidenceKind.link_opened in kinds and EvidenceKind.confirmed in kinds
    await page.close()


async def test_staff_see_the_timeline(base_url: str, browser: Browser, app: web.Application, pool: asyncpg.Pool,
                                      conn: asyncpg.Connection, site: SiteFacts) -> None:
    request_id, token = await _booked_invitation(pool, conn, site, language="tr")
    # Sent at the real time, by night too (the booking and the link are real-time), through the console provider.
    await dispatch_due(pool, Senders(sms=app[SENDERS].sms, settings=by_night_too(app[SENDERS].settings)),
                       now=datetime.now(UTC) + timedelta(seconds=1))
    client_page = await browser.new_page()
    await client_page.goto(f"{base_url}/r/{token}")
    await client_page.close()
    async with conn.transaction():
        await invitation_evidence.record(conn, request_id=request_id, kind=EvidenceKind.letter_posted,
                                         at=datetime.now(UTC), channel="letter", detail={"batch": "1"})
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "cw.meyer")
    await page.goto(f"{base_url}/staff/requests/{request_id}?lang=de")
    evidence = page.locator("#evidence")
    await expect(evidence.get_by_role("heading", name="Zustellnachweis")).to_be_visible()
    await expect(evidence.locator("tr[data-evidence='created']")).to_contain_text("Einladung erstellt")
    await expect(evidence.locator("tr[data-evidence='link_opened']")).to_have_count(1)
    await expect(evidence.locator("tr[data-evidence='sms_accepted']")).to_have_count(1)
    await expect(evidence.locator("tr[data-evidence='presumed_receipt']")).to_contain_text("Gilt als zugegangen")
    await assert_accessible(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await evidence.screenshot(path=str(SCREENSHOTS / "invitation-timeline.png"))
    await screenshot(page, "invitation-request-page")
    await page.close()


async def test_admin_templates_and_invite_form_in_the_browser(base_url: str, browser: Browser,
                                                              conn: asyncpg.Connection, site: SiteFacts) -> None:
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, base_url, "admin")
    await page.goto(f"{base_url}/staff/admin/notices?lang=de")
    await expect(page.get_by_role("link", name="Meldeaufforderung (§ 59 SGB II)")).to_be_visible()
    await page.get_by_label("Name", exact=True).fill("Test mit Fehler")
    await page.get_by_label("Deutscher Text (verbindlich)").fill("Kommen Sie am {datum}.")
    await page.get_by_role("button", name="Vorlage anlegen").click()
    error = page.locator("#e-german")
    await expect(error).to_contain_text("Unbekannter Platzhalter {datum}")
    await expect(page.get_by_label("Deutscher Text (verbindlich)")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page)
    await screenshot(page, "admin-notice-templates")
    await page.goto(f"{base_url}/staff/invite?lang=de")
    await expect(page.get_by_label("Hinweistext (Vorlage)")).to_contain_text("Meldeaufforderung")
    await assert_accessible(page)
    await page.close()
