"""The own account: changing the password needs the current one and passes the same checks; the person sees their
active sessions and ends one or all others, which signs those out."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler.staff import auth
from scheduler.staff.signin_limits import PasswordChecks
from tests.factories import SiteFacts
from tests.staff.helpers import PASSWORDS, flash, sign_in, signin_token

NEW_PASSWORD = "Kaffee-Fenster-Regen-7"


async def _elsewhere(pool: asyncpg.Pool, checks: PasswordChecks, username: str) -> dict[str, str]:
    """A session of the same person opened on another computer, as a Bearer header."""
    signed = await auth.sign_in(pool, username=username, password=PASSWORDS[username], now=datetime.now(UTC),
                                checks=checks)
    return {"Authorization": f"Bearer {signed.token}"}


async def _signed_in(client: TestClient, headers: dict[str, str]) -> bool:
    return (await client.get("/api/staff/session", headers=headers)).status == 200


async def test_every_role_reaches_the_account_page_from_the_header(client: TestClient) -> None:
    for username in ("cw.meyer", "lead.entrance", "admin"):
        await sign_in(client, username)
        inbox = await (await client.get("/staff/inbox")).text()
        assert 'href="/staff/account"' in inbox
        page = await client.get("/staff/account")
        html = await page.text()
        assert page.status == 200 and "Mein Konto" in html and "Aktuelles Passwort" in html
        client.session.cookie_jar.clear()
    assert (await client.get("/staff/account", allow_redirects=False)).status == 303  # signed out: to sign-in


async def test_changing_the_password_needs_the_current_one(client: TestClient, pool: asyncpg.Pool,
                                                           conn: asyncpg.Connection, site: SiteFacts,
                                                           checks: PasswordChecks) -> None:
    other = await _elsewhere(pool, checks, "cw.meyer")
    csrf = await sign_in(client, "cw.meyer")
    before = await conn.fetchval("SELECT password_hash FROM staff WHERE username = 'cw.meyer'")
    r = await client.post("/staff/account/password", data={
        "csrf_token": csrf, "current_password": "falsch-geraten", "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD})
    html = await r.text()
    assert r.status == 422 and 'id="a-current_password-error">Das ist nicht Ihr aktuelles Passwort.' in html
    r = await client.post("/staff/account/password", data={
        "csrf_token": csrf, "current_password": PASSWORDS["cw.meyer"], "password": "Passwort123456",
        "password_repeat": "Passwort123456"})
    assert r.status == 422 and 'id="a-password-error">Dieses Passwort ist zu verbreitet' in await r.text()
    assert await conn.fetchval("SELECT password_hash FROM staff WHERE username = 'cw.meyer'") == before
    assert await _signed_in(client, other)

    r = await client.post("/staff/account/password", data={
        "csrf_token": csrf, "current_password": PASSWORDS["cw.meyer"], "password": NEW_PASSWORD,
        "password_repeat": NEW_PASSWORD}, allow_redirects=False)
    assert r.status == 303
    page = await (await client.get("/staff/account")).text()  # this session goes on
    assert "Ihr Passwort ist geändert" in flash(page)
    assert not await _signed_in(client, other)  # the other one is ended
    event = await conn.fetchrow("SELECT actor, details FROM audit_events WHERE action = 'staff.password_set'")
    assert event["actor"] == f"staff:{site.staff['cw.meyer']}" and event["details"]["how"] == "own"
    assert event["details"]["sessions_ended"] == 1
    client.session.cookie_jar.clear()
    for password, works in ((PASSWORDS["cw.meyer"], False), (NEW_PASSWORD, True)):
        r = await client.post("/staff/sign-in", data={"username": "cw.meyer", "password": password,
                                                      "signin_token": await signin_token(client)},
                              allow_redirects=False)
        assert (r.status == 303) is works


async def test_sessions_are_listed_and_ending_one_signs_it_out(client: TestClient, pool: asyncpg.Pool,
                                                               conn: asyncpg.Connection, site: SiteFacts,
                                                               checks: PasswordChecks) -> None:
    first = await _elsewhere(pool, checks, "lead.entrance")
    second = await _elsewhere(pool, checks, "lead.entrance")
    colleague = await _elsewhere(pool, checks, "cw.meyer")
    csrf = await sign_in(client, "lead.entrance")
    html = await (await client.get("/staff/account")).text()
    handles = re.findall(r'<tr data-session="([0-9a-f]{16})"( class="current")?', html)
    assert len(handles) == 3 and [h for h, current in handles if current] and "diese Sitzung" in html
    current = next(h for h, mark in handles if mark)
    others = [h for h, mark in handles if not mark]

    r = await client.post(f"/staff/account/sessions/{others[0]}/end", data={"csrf_token": csrf},
                          allow_redirects=False)
    assert r.status == 303
    assert "Sitzung beendet" in flash(await (await client.get("/staff/account")).text())
    assert [await _signed_in(client, h) for h in (first, second)].count(False) == 1
    # A colleague's session cannot be named here: the handle only reaches the person's own sessions.
    theirs = await conn.fetchval("SELECT left(token_hash, 16) FROM staff_sessions WHERE staff_id = $1",
                                 site.staff["cw.meyer"])
    r = await client.post(f"/staff/account/sessions/{theirs}/end", data={"csrf_token": csrf},
                          allow_redirects=False)
    assert "gibt es nicht" in flash(await (await client.get(r.headers["Location"])).text())
    assert await _signed_in(client, colleague)

    r = await client.post("/staff/account/sessions/end-others", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    assert not await _signed_in(client, first) and not await _signed_in(client, second)
    html = await (await client.get("/staff/account")).text()
    assert re.findall(r'<tr data-session="([0-9a-f]{16})"', html) == [current]
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'staff.sessions_ended_by_self'") == 2

    # Ending this session signs out here.
    r = await client.post(f"/staff/account/sessions/{current}/end", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/staff/sign-in"
    assert (await client.get("/api/staff/session")).status == 401


async def test_ending_sessions_needs_the_form_token(client: TestClient, pool: asyncpg.Pool,
                                                   checks: PasswordChecks) -> None:
    other = await _elsewhere(pool, checks, "cw.meyer")
    await sign_in(client, "cw.meyer")
    r = await client.post("/staff/account/sessions/end-others", data={"csrf_token": "wrong"}, allow_redirects=False)
    assert r.status == 403
    assert await _signed_in(client, other)
