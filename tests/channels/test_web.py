"""Client web pages through the real app: forms, field errors with values kept, the SMS-link page, language."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from scheduler.i18n import translate
from tests.factories import SiteFacts, create_appointment, create_client, create_request

PHONE = "0151 23456799"


def _form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {"concern": "documents", "phone": PHONE, "weekdays": "1", "parts": "morning",
                               "note": "Bitte vormittags", "sms_consent": "yes", "idempotency_key": "web-test-key-1"}
    data.update(overrides)
    return data


async def test_start_page_offers_both_ways_and_every_language(client: TestClient) -> None:
    response = await client.get("/?lang=de")
    html = await response.text()
    assert response.status == 200
    assert '<html lang="de" dir="ltr">' in html
    assert 'href="/request?lang=de"' in html and 'href="/callback?lang=de"' in html
    for name in ("Deutsch", "Leichte Sprache", "English", "Українська", "العربية", "Türkçe", "Русский", "فارسی"):
        assert name in html
    assert 'class="skip-link" href="#main"' in html


async def test_language_is_kept_in_a_cookie(client: TestClient) -> None:
    response = await client.get("/?lang=uk")
    assert response.cookies["lang"].value == "uk"
    html = await (await client.get("/request")).text()
    assert '<html lang="uk" dir="ltr">' in html
    assert "Записатися на прийом" in html


async def test_arabic_pages_are_right_to_left(client: TestClient) -> None:
    html = await (await client.get("/callback?lang=ar")).text()
    assert '<html lang="ar" dir="rtl">' in html
    assert "طلب معاودة الاتصال" in html
    assert 'autocomplete="tel"' in html


async def test_accept_language_chooses_when_nothing_else(client: TestClient) -> None:
    html = await (await client.get("/", headers={"Accept-Language": "tr-TR,tr;q=0.9"})).text()
    assert '<html lang="tr"' in html


async def test_appointment_request_leads_to_thank_you_page_with_reference(
        client: TestClient, conn: asyncpg.Connection) -> None:
    response = await client.post("/request?lang=de", data=_form(), allow_redirects=False)
    assert response.status == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/r/[A-Za-z0-9_\-]{20,64}/thanks\?lang=de", location)
    html = await (await client.get(location)).text()
    reference = re.search(r'class="reference" dir="ltr">([0-9A-Z]{4}-[0-9A-Z]{4})<', html)
    assert reference, html
    row = await conn.fetchrow("SELECT channel, language, windows, note FROM requests WHERE reference = $1",
                              reference.group(1))
    assert row["channel"] == "web" and row["language"] == "de"
    assert row["windows"] == {"weekdays": [1], "parts": ["morning"]}
    assert row["note"] == "Bitte vormittags"


async def test_same_form_sent_twice_makes_one_request(client: TestClient, conn: asyncpg.Connection) -> None:
    first = await client.post("/request", data=_form(), allow_redirects=False)
    second = await client.post("/request", data=_form(), allow_redirects=False)
    assert first.headers["Location"] == second.headers["Location"]
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE idempotency_key = 'web-test-key-1'") == 1


async def test_errors_are_shown_next_to_fields_and_values_are_kept(client: TestClient) -> None:
    response = await client.post("/request?lang=de", data=_form(concern="", phone="12", note="Mein Text"))
    html = await response.text()
    assert response.status == 422
    assert 'id="err-concern"' in html and translate("de", "Please choose what it is about.") in html
    assert 'id="err-phone"' in html and 'aria-describedby="hint-phone err-phone"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="12"' in html and "Mein Text</textarea>" in html
    assert 'id="weekday-1" value="1" checked' in html and 'id="part-morning" value="morning" checked' in html
    assert 'id="sms_consent" name="sms_consent" value="yes" checked' in html
    assert 'href="#f-concern"' in html  # the summary links to the field


async def test_appointment_needs_a_mobile_number_callback_takes_a_landline(client: TestClient) -> None:
    landline = "030 1234567"
    html = await (await client.post("/request?lang=en", data=_form(phone=landline))).text()
    assert "Please enter a mobile number, so that we can send you an SMS." in html
    response = await client.post("/callback?lang=en", data=_form(phone=landline, idempotency_key="web-cb-key-1"),
                                 allow_redirects=False)
    assert response.status == 303


async def test_callback_request_thank_you_page_in_farsi(client: TestClient, conn: asyncpg.Connection) -> None:
    response = await client.post("/callback?lang=fa", data=_form(idempotency_key="web-cb-key-2"))
    html = await response.text()
    assert '<html lang="fa" dir="rtl">' in html
    assert "درخواست تماس شما را دریافت کردیم." in html
    row = await conn.fetchrow("SELECT channel, language FROM callbacks WHERE idempotency_key = 'web-cb-key-2'")
    assert (row["channel"], row["language"]) == ("web", "fa")


async def test_unknown_link_gives_a_friendly_404(client: TestClient) -> None:
    response = await client.get("/r/" + "x" * 30 + "?lang=en")
    assert response.status == 404
    assert "Link not found" in await response.text()


async def _scheduled(conn: asyncpg.Connection, site: SiteFacts) -> tuple[str, int]:
    client_id = await create_client(conn, site, language="de")
    request_id = await create_request(conn, site, client_id=client_id, status="scheduled", staff="cw.meyer")
    await create_appointment(conn, site, request_id=request_id, start=datetime.now(UTC) + timedelta(days=3))
    token = await conn.fetchval("SELECT link_token FROM requests WHERE id = $1", request_id)
    return token, request_id


async def test_status_page_shows_time_place_and_the_actions(client: TestClient, conn: asyncpg.Connection,
                                                            site: SiteFacts) -> None:
    token, _ = await _scheduled(conn, site)
    html = await (await client.get(f"/r/{token}?lang=de")).text()
    assert "Sie haben einen Termin." in html
    assert "Jobcenter Musterstadt" in html and "Bahnhofstraße 12" in html
    assert f'action="/r/{token}/confirm?lang=de"' in html
    assert f'action="/r/{token}/another-time?lang=de"' in html
    assert f'action="/r/{token}/cancel?lang=de"' in html
    assert f'href="/r/{token}/invite.ics?lang=de"' in html
    assert "+49151" not in html  # no phone number on the page


async def test_confirm_from_the_status_page(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    token, _ = await _scheduled(conn, site)
    response = await client.post(f"/r/{token}/confirm?lang=de", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == f"/r/{token}?lang=de&done=confirmed"
    html = await (await client.get(response.headers["Location"])).text()
    assert "Danke. Sie haben den Termin bestätigt." in html
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'appointment.client_confirmed'") == 1


async def test_another_time_sends_the_request_back(client: TestClient, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    token, request_id = await _scheduled(conn, site)
    response = await client.post(f"/r/{token}/another-time?lang=en", allow_redirects=False)
    assert response.headers["Location"].endswith("done=another_time")
    row = await conn.fetchrow("SELECT status, wants_other_time FROM requests WHERE id = $1", request_id)
    assert row["status"] == "scheduled" and row["wants_other_time"]  # kept until staff move it (issue 14)


async def test_cancel_asks_first_then_cancels(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    token, request_id = await _scheduled(conn, site)
    question = await client.post(f"/r/{token}/cancel?lang=en")
    assert "Do you really want to cancel?" in await question.text()
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "scheduled"
    response = await client.post(f"/r/{token}/cancel?lang=en", data={"really": "yes"}, allow_redirects=False)
    assert response.headers["Location"].endswith("done=cancelled")
    assert await conn.fetchval("SELECT status FROM requests WHERE id = $1", request_id) == "withdrawn"
    again = await client.post(f"/r/{token}/confirm?lang=en", allow_redirects=False)
    assert again.headers["Location"].endswith("done=conflict")


async def test_callback_can_be_cancelled_from_its_page(client: TestClient, conn: asyncpg.Connection) -> None:
    response = await client.post("/callback?lang=en", data=_form(idempotency_key="web-cb-key-3"),
                                 allow_redirects=False)
    token = response.headers["Location"].split("/")[2]
    html = await (await client.get(f"/r/{token}?lang=en")).text()
    assert "Cancel my request" in html and "/confirm" not in html
    await client.post(f"/r/{token}/cancel?lang=en", data={"really": "yes"})
    assert await conn.fetchval("SELECT status FROM callbacks WHERE link_token = $1", token) == "cancelled"


async def test_stylesheet_is_served(client: TestClient) -> None:
    response = await client.get("/static/web.css")
    assert response.status == 200 and ":focus-visible" in await response.text()


async def test_a_file_in_the_form_is_ignored_not_a_server_error(client: TestClient, conn: asyncpg.Connection) -> None:
    """A multipart post with a file where text belongs: the field counts as empty and the form names it."""
    form = aiohttp.FormData()
    for name, value in _form().items():
        if name != "concern":
            for one in value if isinstance(value, list) else [value]:
                form.add_field(name, one)
    form.add_field("concern", b"general", filename="concern.txt", content_type="text/plain")
    form.add_field("weekdays", b"1", filename="weekdays.txt", content_type="text/plain")
    response = await client.post("/request?lang=de", data=form, allow_redirects=False)
    assert response.status == 422, await response.text()
    assert await conn.fetchval("SELECT count(*) FROM requests") == 0
