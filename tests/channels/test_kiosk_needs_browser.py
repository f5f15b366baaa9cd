"""Needs in a real browser (Debian chromium + Playwright): chosen on the kiosk's needs step (axe-core finds no
violations there), seen by the caseworker in the inbox with a label for screen readers; screenshot
tests/artifacts/kiosk-needs.png."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser_support import require_chromium
from tests.staff.conftest import base_url, browser  # noqa: F401  (the staff browser tests' server and chromium)
from tests.staff.test_browser import assert_accessible, sign_in

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
KIOSK_TOKEN = "demo-kiosk-foyer-1"
MEYER_PHONE = "015123456704"  # a client assigned to cw.meyer in the demo data: the request lands in his inbox


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


async def _press(page: Page, keypad: str, text: str) -> None:
    for char in text:
        await page.locator(f"#{keypad} .key", has_text=re.compile(rf"^{re.escape(char)}$")).click()


async def test_needs_chosen_on_the_kiosk_show_in_the_caseworkers_inbox(
        base_url: str, browser: Browser, conn: asyncpg.Connection) -> None:  # noqa: F811
    kiosk = await (await browser.new_context(viewport={"width": 1280, "height": 1024}, locale="de-DE",
                                             has_touch=True)).new_page()
    await kiosk.goto(f"{base_url}/kiosk/?idle=600#token={KIOSK_TOKEN}")
    await kiosk.locator("[data-lang=ar]").click()  # Arabic: the interpreter language is preselected
    await kiosk.locator("#screen-home .tile").first.click()
    await kiosk.locator("[data-concern=general]").click()
    await kiosk.locator("[data-kind=appointment]").click()
    await kiosk.locator("#when-next").click()
    await expect(kiosk.locator("#screen-needs")).to_be_visible()
    await expect(kiosk.locator("#interpreter-languages")).to_be_hidden()
    await kiosk.locator("[data-need=interpreter]").click()
    await kiosk.locator("[data-need=step_free]").click()
    await expect(kiosk.locator("[data-need=interpreter]")).to_have_attribute("aria-pressed", "true")
    await expect(kiosk.locator("[data-interpreter-language=ar]")).to_have_attribute("aria-pressed", "true")
    await assert_accessible(kiosk)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await kiosk.screenshot(path=str(ARTIFACTS / "kiosk-needs.png"), full_page=True)
    await kiosk.locator("#screen-needs .primary").click()
    await _press(kiosk, "phone-keypad", MEYER_PHONE)
    await kiosk.locator("#phone-next").click()
    if await kiosk.locator("#screen-email").is_visible():
        await kiosk.locator("#email-skip").click()
    await expect(kiosk.locator("#summary")).to_contain_text("مترجم فوري")
    await kiosk.locator("#send").click()
    await expect(kiosk.locator("#screen-receipt")).to_be_visible()
    reference = await kiosk.locator("#receipt-reference").inner_text()
    row = await conn.fetchrow("SELECT id, needs, interpreter_language FROM requests WHERE reference = $1", reference)
    assert (row["needs"], row["interpreter_language"]) == (["interpreter", "step_free"], "ar")

    staff = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(staff, base_url, "cw.meyer")
    needs = staff.locator(f"#request-{row['id']} ul.needs")
    await expect(needs).to_have_attribute("aria-label", "Bedarf")
    await expect(needs.locator("[data-need=interpreter]")).to_have_text(re.compile(r"Dolmetschen: Arabisch"))
    await expect(needs.locator("[data-need=step_free]")).to_contain_text("Stufenloser Zugang")
    assert await needs.locator(".need-icon").first.get_attribute("aria-hidden") == "true"
    await assert_accessible(staff)
    await staff.locator(f"#request-{row['id']} a").first.click()
    await expect(staff.locator("dl ul.needs")).to_contain_text("Dolmetschen: Arabisch")


async def test_the_rooms_page_is_accessible(base_url: str, browser: Browser) -> None:  # noqa: F811
    admin = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in(admin, base_url, "admin")
    await admin.goto(f"{base_url}/staff/admin/rooms?lang=de")
    await admin.get_by_label("Raumname").fill("E.01")
    await admin.locator("#new-room-step").check()
    await admin.get_by_role("button", name="Raum hinzufügen").click()
    await expect(admin.locator("table")).to_contain_text("in Arbeitszeiten eingetragen")
    await expect(admin.locator("input[name=step_free]").first).to_be_checked()
    await assert_accessible(admin)
