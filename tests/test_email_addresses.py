"""Client e-mail addresses (issue 15): staff set them (verified); the web form and the kiosk keep them with the
request until the address confirms itself by the link of one confirmation mail, which arrives at aiosmtpd."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller

from scheduler import approvals, email_addresses, privacy, retention, seed, sites
from scheduler.i18n import translate
from scheduler.notify.dispatch import Senders, dispatch_due
from scheduler.notify.email import SmtpEmail
from scheduler.notify.sms import ConsoleSms
from scheduler.permissions import Role, StaffUser
from tests.factories import SiteFacts
from tests.notify.conftest import free_port
from tests.notify.test_email import Inbox, calendar_part
from tests.staff.helpers import flash, sign_in

KIOSK = {"X-Kiosk-Token": "demo-kiosk-foyer-1"}
LINK = re.compile(r"https?://[^/\s]+(/r/[A-Za-z0-9_\-]+/email/[A-Za-z0-9_\-]{32})")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def mailer(smtp: tuple[Inbox, int], tmp_path) -> Senders:  # type: ignore[no-untyped-def]
    return Senders(sms=ConsoleSms(tmp_path / "sms.log"),
                   email=SmtpEmail(host="127.0.0.1", port=smtp[1], sender="termine@jc.example"))


async def _allow_email(conn: asyncpg.Connection, site: SiteFacts, allowed: bool = True) -> None:
    await conn.execute("UPDATE sites SET email_enabled = $2 WHERE id = $1",
                       site.site_id, allowed)


def _later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def _web_form(**overrides: str) -> dict[str, str]:
    return {"concern": "documents", "phone": "0151 23456711", "weekdays": "1", "parts": "morning",
            "sms_consent": "yes", "idempotency_key": "email-test-key-1", **overrides}


def _subject(message: Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def _text(message: Message) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return str(part.get_payload(decode=True).decode())


def test_parse_checks_syntax_and_length() -> None:
    errors: dict[str, str] = {}
    assert email_addresses.parse("  Client@Example.org ", errors) == "Client@example.org" and not errors
    assert email_addresses.parse("", errors) is None and not errors
    for bad in ("no-at-sign", "a b@example.org", "x@localhost", "x@example.org\r\nBcc: y@example.org", 42):
        errors = {}
        assert email_addresses.parse(bad, errors) is None
        assert errors == {"email": email_addresses.INVALID}
    errors = {}
    assert email_addresses.parse("a" * 64 + "@" + "b" * 186 + ".org", errors) is None
    assert errors == {"email": email_addresses.TOO_LONG}


async def test_web_address_is_confirmed_by_post_only_then_gets_the_invite(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts, app_pool: asyncpg.Pool,
        smtp: tuple[Inbox, int], mailer: Senders) -> None:
    await _allow_email(conn, site)
    page = await (await client.get("/request?lang=de")).text()
    assert 'name="email"' in page and 'type="email"' in page
    r = await client.post("/request?lang=de", data=_web_form(email="Person@Example.org"), allow_redirects=False)
    assert r.status == 303
    token = r.headers["Location"].split("/")[2]
    req = await conn.fetchrow("SELECT id, client_id FROM requests WHERE link_token = $1", token)
    # Unverified: kept with the request, never on the client.
    assert await conn.fetchval("SELECT email FROM clients WHERE id = $1", req["client_id"]) is None
    assert await conn.fetchval("SELECT email FROM email_confirmations WHERE request_id = $1",
                               req["id"]) == "Person@example.org"
    thanks = await (await client.get(r.headers["Location"])).text()
    assert "Wir haben Ihnen eine E-Mail geschickt" in thanks  # the client knows to look for it

    assert (await dispatch_due(app_pool, mailer, now=_later())).sent >= 1
    inbox = smtp[0]
    [(_, recipients, mail)] = [m for m in inbox.messages if m[1] == ["Person@example.org"]]
    assert _subject(mail) == translate("de", "Please confirm your e-mail address")
    body = _text(mail)
    assert "Jobcenter" in body and not any(p.get_content_type() == "text/calendar" for p in mail.walk())
    found = LINK.search(body)
    assert found is not None
    path = found.group(1)
    assert path.startswith(f"/r/{token}/email/")

    # A GET (a link scanner) shows the button and changes nothing.
    form = await client.get(path + "?lang=de")
    assert form.status == 200 and "<form method=\"post\"" in await form.text()
    assert await conn.fetchval("SELECT confirmed_at FROM email_confirmations WHERE request_id = $1", req["id"]) \
        is None
    done = await client.post(path + "?lang=de")
    assert done.status == 200
    assert translate("de", "Thank you. Your e-mail address is confirmed. We will send your appointment to it too.") \
        in await done.text()
    assert await conn.fetchval("SELECT confirmed_at FROM email_confirmations WHERE request_id = $1", req["id"])
    # Used once: the same link now answers 404 to GET and POST.
    assert (await client.post(path)).status == 404
    assert (await client.get(path)).status == 404
    # From now on this request's invites go there; the client (staff-verified data) is untouched.
    assert await email_addresses.invite_address(conn, site_id=site.site_id, client_id=req["client_id"],
                                                request_id=req["id"]) == (True, "Person@example.org")
    assert await conn.fetchval("SELECT email FROM clients WHERE id = $1", req["client_id"]) is None
    # A booking now mails the calendar invite to the confirmed address.
    site_row = await sites.site_by_id(conn, site.site_id)
    staff_id = site.staff["cw.meyer"]
    day = site_row.calendar().local_date(datetime.now(UTC)) + timedelta(days=7)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    free = await approvals.free_slots(conn, site=site_row, staff_id=staff_id, day=day,
                                      duration=timedelta(minutes=30), now=datetime.now(UTC))
    user = _meyer(site)
    await conn.execute("UPDATE requests SET staff_id = $2 WHERE id = $1", req["id"], staff_id)
    await approvals.book_other(app_pool, request_id=req["id"], staff_id=staff_id, start=free[0].start,
                               mode="in_person", user=user, now=datetime.now(UTC), reminder_offsets=())
    await dispatch_due(app_pool, mailer, now=_later())
    invites = [m for m in inbox.messages if m[1] == ["Person@example.org"] and
               any(p.get_content_type() == "text/calendar" for p in m[2].walk())]
    assert len(invites) == 1
    _part, cal = calendar_part(invites[0][2])
    assert cal.vevent.dtstart.value.astimezone(UTC) == free[0].start


def _meyer(site: SiteFacts) -> StaffUser:
    return StaffUser(id=site.staff["cw.meyer"], site_id=site.site_id, username="cw.meyer", display_name="Meyer",
                     role=Role.caseworker, team_id=site.teams["placement"], languages=("de",))


async def test_expired_reused_and_foreign_codes_are_refused(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    await _allow_email(conn, site)
    tokens = []
    for n, address in enumerate(("one@example.org", "two@example.org")):
        r = await client.post("/request", data=_web_form(email=address, phone=f"0151 2345670{n}",
                                                         idempotency_key=f"email-test-key-{n}9"),
                              allow_redirects=False)
        tokens.append(r.headers["Location"].split("/")[2])
    codes = [row["payload"]["code"] for row in await conn.fetch(
        "SELECT payload FROM outbox WHERE kind = 'email.address_confirm' ORDER BY id")]
    assert len(codes) == 2 and codes[0] != codes[1]
    # The second request's code under the first request's link: refused.
    assert (await client.post(f"/r/{tokens[0]}/email/{codes[1]}")).status == 404
    assert (await client.get(f"/r/{tokens[0]}/email/{'A' * 32}")).status == 404
    # Expired: refused, nothing confirmed.
    await conn.execute("UPDATE email_confirmations SET created_at = now() - interval '8 days', "
                       "expires_at = now() - interval '1 day'")
    assert (await client.get(f"/r/{tokens[0]}/email/{codes[0]}")).status == 404
    assert (await client.post(f"/r/{tokens[0]}/email/{codes[0]}")).status == 404
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations WHERE confirmed_at IS NOT NULL") == 0


async def test_site_without_email_shows_no_field_and_ignores_an_address(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    await _allow_email(conn, site, allowed=False)
    assert 'name="email"' not in await (await client.get("/request?lang=de")).text()
    r = await client.post("/request", data=_web_form(email="not an address"), allow_redirects=False)
    assert r.status == 303
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations") == 0
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE channel = 'email'") == 0
    kiosk = await client.post("/kiosk/api/requests", headers=KIOSK, json={
        "concern": "general", "phone": "0151 23456722", "language": "de", "email": "kiosk@example.org"})
    assert kiosk.status == 201
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations") == 0
    assert (await (await client.get("/kiosk/api/config?lang=de", headers=KIOSK)).json())["email_allowed"] is False
    api = await client.post("/api/requests", json={"concern": "general", "phone": "0151 23456723", "language": "de",
                                                   "email": "not an address"})
    assert api.status == 201, await api.text()  # ignored like the web form's, not refused
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations") == 0


async def test_bad_address_is_a_field_error_in_the_clients_language_and_stores_nothing(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    await _allow_email(conn, site)
    before = await conn.fetchval("SELECT count(*) FROM requests")
    r = await client.post("/request?lang=uk", data=_web_form(email="ivan@@example"))
    assert r.status == 422
    html = await r.text()
    assert translate("uk", email_addresses.INVALID) in html and 'id="err-email"' in html
    assert 'value="ivan@@example"' in html
    long = await client.post("/request?lang=de", data=_web_form(email="a" * 250 + "@example.org"))
    assert long.status == 422 and translate("de", email_addresses.TOO_LONG) in await long.text()
    kiosk = await client.post("/kiosk/api/requests?lang=tr", headers=KIOSK, json={
        "concern": "general", "phone": "0151 23456733", "language": "tr", "email": "x" * 300})
    assert kiosk.status == 422
    assert (await kiosk.json())["fields"]["email"] == translate("tr", email_addresses.TOO_LONG)
    assert await conn.fetchval("SELECT count(*) FROM requests") == before
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations") == 0


async def test_kiosk_address_gets_a_confirmation_mail(client: TestClient, conn: asyncpg.Connection,
                                                      site: SiteFacts, app_pool: asyncpg.Pool,
                                                      smtp: tuple[Inbox, int], mailer: Senders) -> None:
    await _allow_email(conn, site)
    assert (await (await client.get("/kiosk/api/config?lang=de", headers=KIOSK)).json())["email_allowed"] is True
    r = await client.post("/kiosk/api/requests", headers=KIOSK, json={
        "concern": "general", "phone": "0151 23456744", "language": "ru", "email": "kiosk@example.org"})
    assert r.status == 201
    row = await conn.fetchrow("SELECT channel, email, confirmed_at FROM email_confirmations")
    assert (row["channel"], row["email"], row["confirmed_at"]) == ("kiosk", "kiosk@example.org", None)
    await dispatch_due(app_pool, mailer, now=_later())
    [(_, recipients, mail)] = smtp[0].messages
    assert recipients == ["kiosk@example.org"]
    assert _subject(mail) == translate("ru", "Please confirm your e-mail address")
    assert LINK.search(_text(mail))
    # A callback request takes no address.
    cb = await client.post("/kiosk/api/callbacks", headers=KIOSK, json={
        "concern": "general", "phone": "0151 23456755", "language": "de", "email": "cb@example.org"})
    assert cb.status == 201
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations") == 1


async def test_staff_address_is_set_on_the_client_and_the_booked_invitation_is_mailed(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts, app_pool: asyncpg.Pool,
        smtp: tuple[Inbox, int], mailer: Senders) -> None:
    await _allow_email(conn, site)
    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    template_id = await conn.fetchval("SELECT id FROM notice_templates WHERE kind = 'voluntary'")
    site_row = await sites.site_by_id(conn, site.site_id)
    now = datetime.now(UTC)
    day = site_row.calendar().local_date(now) + timedelta(days=8)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    free = await approvals.free_slots(conn, site=site_row, staff_id=site.staff["cw.meyer"], day=day,
                                      duration=timedelta(minutes=30), now=now)
    local = free[0].start.astimezone(ZoneInfo("Europe/Berlin"))
    csrf = await sign_in(client, "cw.meyer")
    assert 'name="email"' in await (await client.get("/staff/invite")).text()
    form = {"phone": "0151 22334477", "concern": "general", "language": "en", "template": str(template_id),
            "csrf_token": csrf, "fixed_mode": "in_person", "fixed_start": local.strftime("%Y-%m-%dT%H:%M")}
    bad = await client.post("/staff/invite?lang=de", data={**form, "email": "kein@adresse"})
    assert translate("de", email_addresses.INVALID) in flash(await bad.text())
    r = await client.post("/staff/invite", data={**form, "email": "staff-given@example.org"}, allow_redirects=False)
    assert r.status == 303
    request_id = int(r.headers["Location"].rsplit("/", 1)[1])
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", request_id)
    person = await conn.fetchrow("SELECT email, email_verified_at FROM clients WHERE id = $1", client_id)
    assert person["email"] == "staff-given@example.org" and person["email_verified_at"] is not None
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.email' AND subject_id = $1",
                               client_id) == 1
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations") == 0  # no confirmation for staff
    await dispatch_due(app_pool, mailer, now=_later())
    [(_, recipients, mail)] = smtp[0].messages
    assert recipients == ["staff-given@example.org"]
    _part, cal = calendar_part(mail)
    assert cal.vevent.dtstart.value.astimezone(UTC) == free[0].start
    # The delivery evidence of the invitation records the mail (trigger on the outbox).
    assert await conn.fetchval("SELECT count(*) FROM invitation_evidence WHERE request_id = $1 "
                               "AND kind = 'email_sent'", request_id) == 1

    # The request page shows the address and lets staff correct or remove it (audited).
    page = await (await client.get(f"/staff/requests/{request_id}?lang=en")).text()
    assert "staff-given@example.org" in page and "/email" in page
    r = await client.post(f"/staff/requests/{request_id}/email",
                          data={"csrf_token": csrf, "email": "other@example.org"}, allow_redirects=False)
    assert r.status == 303
    assert await conn.fetchval("SELECT email FROM clients WHERE id = $1", client_id) == "other@example.org"
    await client.post(f"/staff/requests/{request_id}/email", data={"csrf_token": csrf, "email": ""})
    assert await conn.fetchval("SELECT email FROM clients WHERE id = $1", client_id) is None
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.email' AND subject_id = $1",
                               client_id) == 3
    # Without e-mail at the office, neither form offers it and the edit is refused.
    await _allow_email(conn, site, allowed=False)
    assert 'name="email"' not in await (await client.get("/staff/invite")).text()
    assert 'name="email"' not in await (await client.get(f"/staff/requests/{request_id}")).text()
    refused = await client.post(f"/staff/requests/{request_id}/email?lang=en",
                                data={"csrf_token": csrf, "email": "x@example.org"})
    assert flash(await refused.text())
    assert await conn.fetchval("SELECT email FROM clients WHERE id = $1", client_id) is None


async def test_export_erase_and_retention_cover_the_given_addresses(client: TestClient, conn: asyncpg.Connection,
                                                                    site: SiteFacts, app_pool: asyncpg.Pool) -> None:
    await _allow_email(conn, site)
    r = await client.post("/request", data=_web_form(email="export@example.org"), allow_redirects=False)
    token = r.headers["Location"].split("/")[2]
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE link_token = $1", token)
    data = await privacy.export(conn, site_id=site.site_id, client_id=client_id, actor="staff:1")
    [given] = data["email_addresses_given"]
    assert given["email"] == "export@example.org" and given["channel"] == "web" and "code_hash" not in given
    assert "export@example.org" in [m["recipient"] for m in data["messages"]]
    async with conn.transaction():
        await privacy.erase(conn, site_id=site.site_id, client_id=client_id, actor="staff:1",
                            now=datetime.now(UTC))
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations WHERE email IS NOT NULL") == 0
    assert await conn.fetchval("SELECT count(*) FROM outbox WHERE recipient LIKE '%@%'") == 0

    # Retention: an unconfirmed address whose code ran out goes.
    r = await client.post("/request", data=_web_form(email="late@example.org", phone="0151 23456766",
                                                     idempotency_key="email-test-key-77"), allow_redirects=False)
    await conn.execute("UPDATE email_confirmations SET created_at = now() - interval '9 days', "
                       "expires_at = now() - interval '2 days' WHERE email = 'late@example.org'")
    assert await email_addresses.purge_batch(conn, datetime.now(UTC)) == 1
    assert await conn.fetchval("SELECT count(*) FROM email_confirmations WHERE email IS NOT NULL") == 0
    done = await retention.purge_due(app_pool, now=datetime.now(UTC), link_days=30)
    assert done["email_addresses"] == 0
