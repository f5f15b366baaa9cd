"""Real-browser tests (Debian chromium via Playwright) of the client pages and the kiosk, with axe-core scans.

The app runs on a free port in a thread of its own; screenshots land in tests/artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from scheduler.app import create_app
from scheduler.config import Config
from scheduler.i18n import translate
from tests import dbharness
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.factories import SiteFacts, create_appointment, create_client, create_request, load_site_facts

playwright_api = pytest.importorskip("playwright.sync_api")

PROJECT_DIR = Path(__file__).resolve().parents[2]
AXE = PROJECT_DIR / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = PROJECT_DIR / "tests" / "artifacts" / "screenshots"
KIOSK_TOKEN = "demo-kiosk-foyer-1"

# Each appointment made here goes to the next caseworker, so that none is double-booked.
CASEWORKERS = itertools.cycle(["cw.yilmaz", "cw.kowalenko", "cw.haddad", "cw.rahimi", "cw.schulz", "cw.ivanova",
                               "cw.demir", "cw.meyer", "cw.popescu"])



@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    require_chromium()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The real app served by aiohttp in a background thread with its own event loop."""

    def __init__(self, config: Config) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Many page loads from one address in a few seconds: lift the public rate limits for this server.
        self.config = dataclasses.replace(
            config, server=dataclasses.replace(config.server, public_base_url=self.url),
            security=dataclasses.replace(config.security, lookup_rate_limit="10000/minute",
                                         public_rate_limit="10000/minute"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = web.AppRunner(create_app(self.config), access_log=None)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


    def db(self, work: Any) -> Any:
        """Run work(conn) on the server's loop (Playwright's sync API owns this thread's loop)."""
        async def run() -> Any:
            conn = await asyncpg.connect(self.config.database.url)
            try:
                return await work(conn)
            finally:
                await conn.close()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)


@pytest.fixture(scope="module")
def server(base_config: Config) -> Iterator[Server]:
    running = Server(base_config)
    running.start()
    running.db(dbharness.reset)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE")
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def kiosk_page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1024}, locale="de-DE", has_touch=True)
    opened = context.new_page()
    yield opened
    context.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Inject axe-core and return its violations for the page as it is now."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")  # evaluated, not a <script>: the CSP forbids inline script
    result: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))")
    return result


def assert_accessible(page: Any, where: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"{where}: {violations}"


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def scheduled_link(server: Server, *, start: datetime, reference: str | None = None) -> str:
    staff = next(CASEWORKERS)

    async def work(conn: asyncpg.Connection) -> str:
        site: SiteFacts = await load_site_facts(conn)
        client_id = await create_client(conn, site, language="de")
        request_id = await create_request(conn, site, client_id=client_id, status="scheduled", staff=staff)
        if reference:
            await conn.execute("UPDATE requests SET reference = $2 WHERE id = $1", request_id, reference)
        await create_appointment(conn, site, request_id=request_id, staff=staff, start=start)
        token: str = await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", request_id)
        return token
    return str(server.db(work))


# --- web pages ---

def test_full_web_flow_in_german(server: Server, page: Any) -> None:
    page.goto(f"{server.url}/?lang=de")
    assert page.locator("html").get_attribute("lang") == "de"
    shot(page, "web-start-de")
    page.get_by_role("link", name="Termin anfragen").click()
    page.get_by_role("button", name="Absenden").click()
    assert page.locator("#err-concern").is_visible() and page.locator("#err-phone").is_visible()
    shot(page, "web-form-errors-de")
    page.get_by_label("Unterlagen abgeben").check()
    page.get_by_label("Ihre Telefonnummer").fill("0151 23456711")
    page.locator("#weekday-2").check()
    page.get_by_label("Vormittags").check()
    page.get_by_role("button", name="Absenden").click()
    assert page.locator("#err-phone").count() == 0 or page.locator(".reference").count() == 1
    reference = page.locator(".reference").inner_text()
    assert len(reference) == 9 and reference[4] == "-"
    shot(page, "web-thanks-de")
    page.get_by_role("link", name="Stand Ihrer Anfrage ansehen").click()
    assert reference in page.content()
    shot(page, "web-status-de")


def test_keyboard_reaches_the_form_and_focus_is_visible(server: Server, page: Any) -> None:
    page.goto(f"{server.url}/request?lang=de")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_status_page_actions_without_javascript(server: Server, browser: Any) -> None:
    token = scheduled_link(server, start=datetime.now(UTC) + timedelta(days=4))
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{server.url}/r/{token}?lang=de")
        page.get_by_role("button", name="Ich komme").click()
        assert page.get_by_text("Danke. Sie haben den Termin bestätigt.").is_visible()
        page.get_by_role("button", name="Termin absagen").click()
        page.get_by_role("button", name="Ja, absagen").click()
        assert page.get_by_text("Es ist abgesagt.").is_visible()
    finally:
        context.close()


def test_arabic_pages_are_right_to_left(server: Server, page: Any) -> None:
    token = scheduled_link(server, start=datetime.now(UTC) + timedelta(days=5))
    for path, name in (("/", "start"), ("/request", "form"), (f"/r/{token}", "status")):
        page.goto(f"{server.url}{path}?lang=ar")
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
        shot(page, f"web-{name}-ar")


@pytest.mark.parametrize("lang", ["de", "ar", "uk"])
def test_every_client_page_has_no_axe_violations(server: Server, page: Any, lang: str) -> None:
    token = scheduled_link(server, start=datetime.now(UTC) + timedelta(days=6))
    for path in ("/", "/request", "/callback", f"/r/{token}", f"/r/{token}/thanks", "/r/" + "x" * 30):
        page.goto(f"{server.url}{path}?lang={lang}")
        assert_accessible(page, f"{path} [{lang}]")
    page.goto(f"{server.url}/request?lang={lang}")
    page.locator("button[type=submit]").click()
    assert page.locator(".error-summary").is_visible()
    assert_accessible(page, f"/request with errors [{lang}]")
    page.goto(f"{server.url}/r/{token}?lang={lang}")
    page.locator(f"form[action^='/r/{token}/cancel'] button").click()
    assert_accessible(page, f"cancel question [{lang}]")


# --- kiosk ---

def press_keys(page: Any, keypad: str, text: str) -> None:
    """Type text on one of the kiosk's on-screen keypads, key by key."""
    for char in text:
        page.locator(f"#{keypad} .key", has_text=re.compile(rf"^{re.escape(char)}$")).click()


def open_kiosk(page: Any, server: Server, *, idle: int = 600) -> None:
    page.goto(f"{server.url}/kiosk/?idle={idle}#token={KIOSK_TOKEN}")
    page.locator("#screen-start").wait_for(state="visible")


# The buttons that carry a pictogram, by kiosk screen.
PICTOGRAM_BUTTONS = {"home": "#screen-home .tile", "concern": "#concern-list button", "kind": "#screen-kind .tile",
                     "when": "#screen-when [data-part]"}


def assert_pictograms(page: Any, selector: str) -> None:
    """Every button matched shows one drawn SVG pictogram (no emoji glyph), hidden from assistive technology."""
    buttons = page.locator(selector)
    assert buttons.count() > 0
    for i in range(buttons.count()):
        button = buttons.nth(i)
        assert button.locator("svg").count() == 1, button.inner_text()
        assert button.locator("svg").get_attribute("aria-hidden") == "true"
        drawn = button.locator("svg use").evaluate(
            "use => { const s = document.querySelector(use.getAttribute('href'));"
            " const b = use.getBoundingClientRect(); return {symbol: s ? s.id : null, width: b.width}; }")
        assert drawn["symbol"] and drawn["symbol"] != "icon-fallback" and drawn["width"] > 0, drawn


def test_full_kiosk_flow_with_receipt(server: Server, kiosk_page: Any) -> None:
    page = kiosk_page
    open_kiosk(page, server)
    assert page.evaluate("location.hash") == ""  # the token left the address bar
    assert page.evaluate("localStorage.getItem('kiosk-device-token')") == KIOSK_TOKEN
    shot(page, "kiosk-start-de")
    page.locator("[data-lang=de]").click()
    page.locator("#screen-home").wait_for(state="visible")
    page.get_by_role("button", name="Ich brauche einen Termin oder einen Rückruf").click()
    page.locator("[data-concern=documents]").click()
    page.get_by_role("button", name="Termin", exact=False).first.click()
    page.locator("#screen-when").wait_for(state="visible")
    page.locator("[data-weekday='0']").click()
    page.locator("[data-part=morning]").click()
    assert page.locator("[data-part=morning]").get_attribute("aria-pressed") == "true"
    page.locator("#screen-when .primary").click()
    page.locator("#screen-needs .primary").click()  # no special needs (the needs step, appointments only)
    press_keys(page, "phone-keypad", "015123456712")
    assert page.locator("#phone-display").inner_text() == "015123456712"
    page.locator("#phone-next").click()
    assert "015123456712" in page.locator("#summary").inner_text()
    page.locator("#sms-consent").click()
    shot(page, "kiosk-confirm-de")
    page.locator("#send").click()
    page.locator("#screen-receipt").wait_for(state="visible")
    reference = page.locator("#receipt-reference").inner_text()
    assert len(reference) == 9
    assert page.locator("#receipt-qr").evaluate("img => img.complete && img.naturalWidth > 0")
    shot(page, "kiosk-receipt-de")
    page.emulate_media(media="print")
    assert page.locator("#receipt-reference").is_visible() and not page.locator("#bar").is_visible()
    shot(page, "kiosk-receipt-print-de")
    page.emulate_media(media="screen")
    page.locator("#screen-receipt [data-reset]").click()
    page.locator("#screen-start").wait_for(state="visible")
    assert page.locator("#receipt-reference").inner_text() == ""
    assert page.locator("#receipt-qr").get_attribute("src") is None

    async def stored(conn: asyncpg.Connection) -> asyncpg.Record:
        return await conn.fetchrow("SELECT channel, windows FROM requests WHERE reference = $1", reference)
    row = server.db(stored)
    assert row["channel"] == "kiosk" and json.loads(row["windows"]) == {"weekdays": [0], "parts": ["morning"]}


def test_kiosk_returns_to_start_after_idle_time(server: Server, kiosk_page: Any) -> None:
    page = kiosk_page
    open_kiosk(page, server, idle=2)
    page.locator("[data-lang=uk]").click()
    page.locator("#screen-home").wait_for(state="visible")
    assert page.locator("html").get_attribute("lang") == "uk"
    page.locator("#screen-home [data-go=checkin]").click()
    page.locator("#checkin-keypad .key").nth(1).click()
    assert page.locator("#checkin-display").inner_text() != ""
    page.locator("#screen-start").wait_for(state="visible", timeout=8000)
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.locator("#checkin-display").inner_text() == ""


def test_kiosk_check_in(server: Server, kiosk_page: Any) -> None:
    reference = "".join(secrets.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(8))
    reference = f"{reference[:4]}-{reference[4:]}"
    scheduled_link(server, start=datetime.now(UTC), reference=reference)
    page = kiosk_page
    open_kiosk(page, server)
    page.locator("[data-lang=de]").click()
    page.locator("#screen-home [data-go=checkin]").click()
    page.locator("#checkin-mode-reference").click()
    press_keys(page, "checkin-keypad", reference.replace("-", ""))
    assert page.locator("#checkin-display").inner_text() == reference.replace("-", "")
    shot(page, "kiosk-checkin-de")
    page.locator("#checkin-send").click()
    page.locator("#screen-checkin-result").wait_for(state="visible")
    assert page.locator("#checkin-result").inner_text() == translate(
        "de", "You are checked in. Please take a seat. We will call you.")
    shot(page, "kiosk-checkin-result-de")


def test_kiosk_check_in_by_phone_and_customer_number(server: Server, kiosk_page: Any) -> None:
    phone = f"0151{secrets.randbelow(10**8):08d}"
    customer = f"{secrets.randbelow(1000):03d}K{secrets.randbelow(10**6):06d}"
    token = scheduled_link(server, start=datetime.now(UTC))

    async def identify(conn: asyncpg.Connection) -> None:
        await conn.execute("UPDATE clients SET phone = $2, customer_number = $3 "
                           "WHERE id = (SELECT client_id FROM requests WHERE link_token = $1)",
                           token, "+49" + phone[1:], customer)
    server.db(identify)
    page = kiosk_page
    open_kiosk(page, server)
    page.locator("[data-lang=de]").click()
    page.locator("#screen-home [data-go=checkin]").click()
    page.locator("#checkin-mode-phone").click()
    press_keys(page, "checkin-keypad", phone)
    assert page.locator("#checkin-send").inner_text() == translate("de", "Next")
    page.locator("#checkin-send").click()
    page.locator("#screen-checkin-identity").wait_for(state="visible")
    press_keys(page, "checkin-identity-keypad", customer)
    assert page.locator("#checkin-identity-display").inner_text() == customer
    shot(page, "kiosk-checkin-identity-de")
    page.locator("#checkin-identity-send").click()
    page.locator("#screen-checkin-result").wait_for(state="visible")
    assert page.locator("#checkin-result").inner_text() == translate(
        "de", "You are checked in. Please take a seat. We will call you.")


def test_kiosk_shows_a_neutral_pictogram_for_an_unknown_icon(server: Server, kiosk_page: Any) -> None:
    page = kiosk_page

    def unknown_icon(route: Any) -> None:
        response = route.fetch()
        config = response.json()
        config["concerns"][0]["icon"] = "no-such-icon"
        route.fulfill(response=response, json=config)
    page.route("**/kiosk/api/config*", unknown_icon)
    open_kiosk(page, server)
    page.locator("[data-lang=de]").click()
    page.locator("#screen-home [data-go=concern]").click()
    page.locator("#screen-concern").wait_for(state="visible")
    hrefs = page.locator("#concern-list button svg use").evaluate_all("uses => uses.map(u => u.getAttribute('href'))")
    assert hrefs[0] == "#icon-fallback" and "#icon-fallback" not in hrefs[1:]
    assert page.locator("#concern-list button").first.locator("svg use").evaluate(
        "use => use.getBoundingClientRect().width") > 0


@pytest.mark.parametrize("lang", ["de", "ar", "uk"])
def test_every_kiosk_screen_has_no_axe_violations(server: Server, kiosk_page: Any, lang: str) -> None:
    page = kiosk_page
    open_kiosk(page, server)
    assert_accessible(page, f"kiosk start [{lang}]")
    page.locator(f"[data-lang={lang}]").click()
    page.locator("#screen-home").wait_for(state="visible")
    expected_dir = "rtl" if lang == "ar" else "ltr"
    assert page.locator("html").get_attribute("dir") == expected_dir
    steps = [("home", None), ("concern", "#screen-home [data-go=concern]"), ("kind", "[data-concern=general]"),
             ("when", "[data-kind=callback]"), ("phone", "#screen-when .primary")]
    for name, click in steps:
        if click:
            page.locator(click).click()
        page.locator(f"#screen-{name}").wait_for(state="visible")
        if name in PICTOGRAM_BUTTONS:
            assert_pictograms(page, PICTOGRAM_BUTTONS[name])
        assert_accessible(page, f"kiosk {name} [{lang}]")
        if lang in ("de", "ar"):
            shot(page, f"kiosk-{name}-{lang}")
    press_keys(page, "phone-keypad", "0301234567")
    page.locator("#phone-next").click()
    page.locator("#screen-confirm").wait_for(state="visible")
    assert_accessible(page, f"kiosk confirm [{lang}]")
    page.locator("#send").click()
    page.locator("#screen-receipt").wait_for(state="visible")
    assert_accessible(page, f"kiosk receipt [{lang}]")
    if lang in ("de", "ar"):
        shot(page, f"kiosk-receipt-{lang}")
    page.locator("#screen-receipt [data-reset]").click()
    page.locator("#screen-start").wait_for(state="visible")
    page.locator(f"[data-lang={lang}]").click()
    page.locator("#screen-home [data-go=checkin]").click()
    page.locator("#checkin-send").click()
    page.locator("#screen-checkin-result").wait_for(state="visible")
    assert_accessible(page, f"kiosk check-in result [{lang}]")
