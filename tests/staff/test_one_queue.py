"""The inbox as one queue of requests and callbacks: one list in policy order, the kind filter, pages, and the
actions of each kind from the merged list (move, claim); in a real browser with axe-core, and a screenshot."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, expect

from scheduler.policy.rules import Kind
from scheduler.staff import inbox_pages
from tests.browser_support import chromium_available
from tests.staff.helpers import MEYER_CLIENT, flash, sign_in, submit
from tests.staff.test_browser import assert_accessible
from tests.staff.test_browser import sign_in as browser_sign_in

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "one-queue.png"


def _rows(html: str) -> list[str]:
    """The ids of the queue's rows ("request-12", "callback-3"), in order."""
    section = html.split('id="q-queue"')[1].split("</table>")[0]
    return re.findall(r'<tr id="((?:request|callback)-\d+)"', section)


async def _three_and_two(pool: asyncpg.Pool, conn: asyncpg.Connection) -> tuple[list[int], list[int]]:
    """Three requests and two callbacks of cw.meyer's client, with priorities that interleave the kinds."""
    requests = [(await submit(pool, phone=MEYER_CLIENT, concern=c)).id for c in ("general", "job_offer", "documents")]
    callbacks = [(await submit(pool, kind=Kind.callback, phone=MEYER_CLIENT, channel="phone")).id for _ in range(2)]
    for request_id, priority in zip(requests, (80, 40, 10), strict=True):
        await conn.execute("UPDATE requests SET priority = $2 WHERE id = $1", request_id, priority)
    for callback_id, priority in zip(callbacks, (60, 20), strict=True):
        await conn.execute("UPDATE callbacks SET priority = $2 WHERE id = $1", callback_id, priority)
    return requests, callbacks


async def test_one_list_in_policy_order_with_a_kind_filter(client: TestClient, pool: asyncpg.Pool,
                                                           conn: asyncpg.Connection) -> None:
    (r80, r40, r10), (c60, c20) = await _three_and_two(pool, conn)
    await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/inbox")).text()
    assert _rows(html) == [f"request-{r80}", f"callback-{c60}", f"request-{r40}", f"callback-{c20}",
                           f"request-{r10}"]
    assert 'id="q-request"' not in html and 'id="q-callback"' not in html  # no longer two lists
    html = await (await client.get("/staff/inbox?show=callbacks")).text()
    assert _rows(html) == [f"callback-{c60}", f"callback-{c20}"]
    assert '<option value="callbacks" selected>' in html
    html = await (await client.get("/staff/inbox?show=appointments")).text()
    assert _rows(html) == [f"request-{r80}", f"request-{r40}", f"request-{r10}"]
    html = await (await client.get("/staff/inbox?show=bogus&page=x")).text()
    assert len(_rows(html)) == 5


async def test_pages_of_a_long_queue(client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox_pages, "PER_PAGE", 2)
    (r80, r40, r10), (c60, c20) = await _three_and_two(pool, conn)
    await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/inbox?page=2")).text()
    assert _rows(html) == [f"request-{r40}", f"callback-{c20}"]
    assert "Seite 2 von 3" in html and 'rel="prev"' in html and 'rel="next"' in html
    html = await (await client.get("/staff/inbox?page=3")).text()
    assert _rows(html) == [f"request-{r10}"]
    assert "<td>5</td>" in html  # the position in the whole queue, not on the page


async def test_a_callback_moves_above_a_request_and_is_claimed_from_the_merged_list(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    (r80, r40, r10), (c60, c20) = await _three_and_two(pool, conn)
    csrf = await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/inbox")).text()
    row = html.split(f'<tr id="callback-{c20}"')[1].split("</tr>")[0]
    up = next(f for f in row.split("<form")[1:] if 'data-move="up"' in f)
    rank = re.search(r'name="rank" value="([^"]*)"', up)
    assert rank
    r = await client.post("/staff/inbox/rank", data={"kind": "callback", "item_id": str(c20), "rank": rank.group(1),
                                                      "csrf_token": csrf, "view": "mine", "show": "all"},
                          allow_redirects=False)
    assert r.status == 303, await r.text()
    html = await (await client.get("/staff/inbox")).text()
    assert _rows(html) == [f"request-{r80}", f"callback-{c60}", f"callback-{c20}", f"request-{r40}",
                           f"request-{r10}"]
    # the items kept above it are pinned where they were, of both kinds
    assert await conn.fetchval("SELECT manual_rank FROM requests WHERE id = $1", r80) is not None
    assert await conn.fetchval("SELECT manual_rank FROM callbacks WHERE id = $1", c60) is not None

    claim = html.split(f'<tr id="callback-{c60}"')[1].split("</tr>")[0]
    back = re.search(r'name="back" value="([^"]*)"', claim)
    assert back and "data-claim" in claim
    r = await client.post(f"/staff/callbacks/{c60}/claim", data={"csrf_token": csrf, "back": back.group(1)},
                          allow_redirects=False)
    assert r.status == 303
    assert r.headers["Location"] == f"/staff/callbacks?focus={c60}#callback-{c60}"
    assert await conn.fetchval("SELECT claimed_by FROM callbacks WHERE id = $1", c60) is not None
    card = await (await client.get(f"/staff/callbacks?focus={c60}")).text()
    assert f'href="tel:{MEYER_CLIENT}"' in card.split(f'id="callback-{c60}"')[1]
    assert flash(card)  # the claim's message
    # A back address outside the staff pages is not followed.
    r = await client.post(f"/staff/callbacks/{c20}/claim", data={"csrf_token": csrf, "back": "https://evil.example/"},
                          allow_redirects=False)
    assert r.headers["Location"].startswith(f"/staff/callbacks?focus={c20}")


async def test_the_callback_cards_open_on_the_page_of_the_one_asked_for(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox_pages, "PER_PAGE", 1)
    _requests, (c60, c20) = await _three_and_two(pool, conn)
    await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/callbacks")).text()
    assert f'id="callback-{c60}"' in html and f'id="callback-{c20}"' not in html
    html = await (await client.get(f"/staff/callbacks?focus={c20}")).text()
    assert f'id="callback-{c20}"' in html and f'id="callback-{c60}"' not in html


@pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium")
async def test_the_one_queue_in_a_browser(base_url: str, browser: Browser, pool: asyncpg.Pool,
                                          conn: asyncpg.Connection) -> None:
    (r80, _r40, _r10), (c60, _c20) = await _three_and_two(pool, conn)
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await browser_sign_in(page, base_url, "cw.meyer")
    rows = page.locator("#queue table.queue tbody tr")
    await expect(rows).to_have_count(5)
    assert await rows.nth(1).get_attribute("id") == f"callback-{c60}"
    await assert_accessible(page)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACT), full_page=True)
    await page.get_by_label("Art").select_option("callbacks")
    await page.get_by_role("button", name="Anwenden").click()
    await expect(rows).to_have_count(2)
    await page.locator(f"#callback-{c60} button[data-claim]").click()
    await expect(page.locator(f"#callback-{c60} a.tel")).to_have_attribute("href", f"tel:{MEYER_CLIENT}")
    await assert_accessible(page)
    await page.goto(f"{base_url}/staff/inbox")
    await page.locator(f"#request-{r80} a").first.click()
    await expect(page).to_have_url(re.compile(f"/staff/requests/{r80}$"))
    await page.close()
