"""One-time password links: issued by an admin, shown once (and mailed), valid once and for 30 minutes; setting
the password ends every session of the person; weak passwords are refused at the field, saying why."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.keys import SENDERS
from scheduler.notify.sms import SendResult
from scheduler.redact import mask_link_tokens
from scheduler.staff import auth
from scheduler.staff.signin_limits import PasswordChecks
from tests.factories import SiteFacts
from tests.staff.helpers import PASSWORDS, flash, sign_in, signin_token

NEW_PASSWORD = "Kaffee-Fenster-Regen-7"


async def issue(client: TestClient, csrf: str, staff_id: int) -> str:
    """Press "issue password link" on the person's page; the link the page shows."""
    r = await client.post(f"/staff/admin/staff/{staff_id}/password-link", data={"csrf_token": csrf},
                          allow_redirects=False)
    html = await r.text()
    assert r.status == 201, html
    found = re.search(r'id="password-link"[^>]*value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


async def set_password(client: TestClient, link: str, password: str, repeated: str | None = None):  # type: ignore[no-untyped-def]
    return await client.post(path_of(link), data={"password": password, "password_repeat": repeated or password},
                              allow_redirects=False)


async def signs_in(client: TestClient, username: str, password: str) -> bool:
    r = await client.post("/staff/sign-in", data={"username": username, "password": password,
                                                  "signin_token": await signin_token(client)}, allow_redirects=False)
    return r.status == 303


async def test_a_link_sets_the_password_once_and_ends_every_session(
        client: TestClient, pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts,
        checks: PasswordChecks) -> None:
    meyer = site.staff["cw.meyer"]
    elsewhere = await auth.sign_in(pool, username="cw.meyer", password=PASSWORDS["cw.meyer"], now=datetime.now(UTC),
                                   checks=checks)  # signed in on another computer
    bearer = {"Authorization": f"Bearer {elsewhere.token}"}
    assert (await client.get("/api/staff/session", headers=bearer)).status == 200

    csrf = await sign_in(client, "admin")
    link = await issue(client, csrf, meyer)
    assert link.startswith("http://localhost:8080/staff/password/")
    token = link.rsplit("/", 1)[1]
    stored = await conn.fetchrow("SELECT * FROM staff_password_resets WHERE staff_id = $1", meyer)
    assert token not in str(dict(stored)) and stored["used_at"] is None and stored["issued_by"] == site.staff["admin"]
    assert 1790 <= (stored["expires_at"] - stored["created_at"]).total_seconds() <= 1800
    client.session.cookie_jar.clear()

    form = await client.get(path_of(link))  # opening the link uses nothing up
    assert form.status == 200 and 'value="cw.meyer"' in await form.text()
    assert (await client.get(path_of(link))).status == 200
    r = await set_password(client, link, NEW_PASSWORD)
    assert r.status == 303 and r.headers["Location"] == "/staff/sign-in"
    assert "Ihr Passwort ist gesetzt" in flash(await (await client.get("/staff/sign-in")).text())
    assert (await client.get("/api/staff/session", headers=bearer)).status == 401  # every session ended
    assert await conn.fetchval("SELECT count(*) FROM staff_sessions WHERE staff_id = $1 AND revoked_at IS NULL",
                               meyer) == 0
    assert await signs_in(client, "cw.meyer", NEW_PASSWORD)
    client.session.cookie_jar.clear()
    assert not await signs_in(client, "cw.meyer", PASSWORDS["cw.meyer"])
    event = await conn.fetchrow("SELECT actor, details FROM audit_events WHERE action = 'staff.password_set'")
    assert event["actor"] == f"staff:{meyer}" and event["details"]["how"] == "link"
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'staff.password_link' "
                               "AND subject_id = $1", meyer) == 1

    # A second use is refused, and says why.
    again = await set_password(client, link, "Ganz-anderes-Passwort-99")
    assert again.status == 410 and "Link nicht mehr gültig" in await again.text()
    assert (await client.get(path_of(link))).status == 410
    assert await signs_in(client, "cw.meyer", NEW_PASSWORD)


async def test_expired_and_replaced_links_are_refused(client: TestClient, conn: asyncpg.Connection,
                                                      site: SiteFacts) -> None:
    meyer = site.staff["cw.meyer"]
    csrf = await sign_in(client, "admin")
    first = await issue(client, csrf, meyer)
    second = await issue(client, csrf, meyer)  # ends the first
    assert (await client.get(path_of(first))).status == 410
    assert (await set_password(client, first, NEW_PASSWORD)).status == 410
    await conn.execute("UPDATE staff_password_resets SET created_at = now() - interval '1 hour', "
                       "expires_at = now() - interval '30 minutes' WHERE used_at IS NULL AND ended_at IS NULL")
    gone = await client.get(path_of(second) + "?lang=en")
    assert gone.status == 410 and "has been used, has expired or was replaced" in await gone.text()
    assert (await set_password(client, second, NEW_PASSWORD)).status == 410
    assert (await client.get("/staff/password/" + "A" * 43)).status == 410  # never issued
    assert (await client.get("/staff/password/short")).status == 404
    assert await conn.fetchval("SELECT password_hash FROM staff WHERE id = $1", meyer) == await conn.fetchval(
        "SELECT password_hash FROM snapshot.staff WHERE id = $1", meyer)


async def test_single_sign_on_accounts_get_no_link(client: TestClient, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    meyer = site.staff["cw.meyer"]
    csrf = await sign_in(client, "admin")
    link = await issue(client, csrf, meyer)
    await conn.execute("UPDATE staff SET sso = 'username' WHERE id = $1", meyer)
    page = await (await client.get(f"/staff/admin/staff/{meyer}/account")).text()
    assert "Passwort-Link erstellen" not in page and "meldet sich per Single Sign-on an" in page
    assert "Passwort-Link erstellen" not in await (await client.get(f"/staff/admin/staff/{meyer}")).text()
    r = await client.post(f"/staff/admin/staff/{meyer}/password-link", data={"csrf_token": csrf},
                          allow_redirects=False)
    assert r.status == 303
    assert "hat kein Passwort" in flash(await (await client.get(r.headers["Location"])).text())
    assert await conn.fetchval("SELECT count(*) FROM staff_password_resets WHERE used_at IS NULL "
                               "AND ended_at IS NULL") == 1  # only the one issued before
    # The link issued before the account changed no longer sets a password.
    assert (await set_password(client, link, NEW_PASSWORD)).status == 410


@pytest.mark.parametrize(("password", "repeated", "field", "message"), [
    ("kurz", None, "password", "Das Passwort ist zu kurz"),
    ("x" * 257, None, "password", "Das Passwort ist zu lang"),
    ("Passwort123456", None, "password", "Dieses Passwort ist zu verbreitet"),
    ("iloveyou12345", None, "password", "Dieses Passwort ist zu verbreitet"),
    ("cw.meyer12345", None, "password", "Es enthält Ihren Namen, Ihren Benutzernamen"),
    ("ThomasMeyer1", None, "password", "Es enthält Ihren Namen, Ihren Benutzernamen"),
    ("aaaaaaaaaaaaaaaa", None, "password", "Dieses Passwort ist zu leicht zu erraten (Wörter"),
    (NEW_PASSWORD, "Kaffee-Fenster-Regen-8", "password_repeat", "Die beiden Passwörter stimmen nicht überein"),
])
async def test_weak_or_common_passwords_are_refused_at_the_field(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts, password: str, repeated: str | None,
        field: str, message: str) -> None:
    csrf = await sign_in(client, "admin")
    link = await issue(client, csrf, site.staff["cw.meyer"])
    client.session.cookie_jar.clear()
    r = await set_password(client, link, password, repeated)
    html = await r.text()
    assert r.status == 422
    found = re.search(rf'id="p-{field}-error">([^<]*)<', html)
    assert found and message in found.group(1), html
    assert await conn.fetchval("SELECT used_at FROM staff_password_resets") is None  # the link still works
    assert (await set_password(client, link, NEW_PASSWORD)).status == 303


async def test_the_password_check_speaks_english_too(client: TestClient, site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    link = await issue(client, csrf, site.staff["cw.meyer"])
    r = await client.post(path_of(link) + "?lang=en", data={"password": "qwertzuiop123",
                                                             "password_repeat": "qwertzuiop123"})
    assert r.status == 422 and "This password is too common" in await r.text()


class _Mailbox:
    sender = "termine@jobcenter.example"

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_id="m1", status="sent", segments=0)

    async def close(self) -> None:
        """Nothing to close."""


async def test_the_link_uses_the_office_address_and_is_mailed(client: TestClient, conn: asyncpg.Connection,
                                                              site: SiteFacts) -> None:
    await conn.execute("UPDATE sites SET public_base_url = 'https://termine.jobcenter-a.example' WHERE id = $1",
                       site.site_id)
    await conn.execute("UPDATE staff SET email = 'meyer@jobcenter-a.example' WHERE id = $1", site.staff["cw.meyer"])
    mailbox = _Mailbox()
    client.app[SENDERS].email = mailbox
    csrf = await sign_in(client, "admin")
    r = await client.post(f"/staff/admin/staff/{site.staff['cw.meyer']}/password-link", data={"csrf_token": csrf})
    html = await r.text()
    link = re.search(r'id="password-link"[^>]*value="([^"]+)"', html)
    assert link and link.group(1).startswith("https://termine.jobcenter-a.example/staff/password/")
    assert "wurde auch an meyer@jobcenter-a.example geschickt" in html
    [mail] = mailbox.sent
    assert mail["To"] == "meyer@jobcenter-a.example" and "Passwort" in mail["Subject"]
    body = mail.get_content()
    assert link.group(1) in body and "cw.meyer" in body
    assert (await set_password(client, link.group(1), NEW_PASSWORD)).status == 303


def test_password_links_are_masked_in_logs() -> None:
    token = "pfyBUe2-I05b9N9lNX8q4ds27y8njE5iCQB3IXwSGt0"
    assert mask_link_tokens(f"GET /staff/password/{token} 200") == "GET /staff/password/… 200"
