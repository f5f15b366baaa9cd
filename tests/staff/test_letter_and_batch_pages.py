"""Staff pages of issue 15: the letter print queue (print once, post once) and batch invitations (plan, review,
send once), with role checks, CSRF, audit rows and size limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in
from tests.test_letters import _book, _invite_without_phone

LIST = "customer_number;phone;name;language;street;postcode;city\n" \
       "123A100001;0151 44445555;Lena Muster;de;;;\n" \
       "123A100002;;Mira Muster;uk;Lindenweg 3;30159;Hannover\n" \
       ";;Nils Muster;tr;;;\n"


async def test_letters_are_listed_printed_as_one_pdf_and_posted_once(
        client: TestClient, app_pool: asyncpg.Pool, conn: asyncpg.Connection, site: SiteFacts) -> None:
    waiting = await _invite_without_phone(app_pool, site, customer_number="123A200001")
    ready = await _invite_without_phone(app_pool, site, customer_number="123A200002")
    await _book(app_pool, site, ready)
    references = dict(await conn.fetch("SELECT id, reference FROM requests WHERE id = ANY($1)", [waiting, ready]))
    csrf = await sign_in(client, "cw.meyer")
    html = await (await client.get(client.app.router["staff-letters"].url_for())).text()
    assert references[waiting] in html and references[ready] in html
    assert "Print 1 ready letters as one PDF" in html or "1 fertige Briefe" in html
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.view_list' "
                               "AND subject_type = 'letters'") == 1

    refused = await client.post(client.app.router["staff-letters-print"].url_for(), data={},
                                allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    r = await client.post(client.app.router["staff-letters-print"].url_for(), data={"csrf_token": csrf},
                          allow_redirects=False)
    assert r.status == 303
    pdf = await client.get(r.headers["Location"])
    assert pdf.status == 200 and pdf.content_type == "application/pdf"
    assert (await pdf.read()).startswith(b"%PDF")
    again = await client.post(client.app.router["staff-letters-print"].url_for(), data={"csrf_token": csrf})
    assert "Kein Brief" in flash(await again.text()) or "No letter" in flash(await again.text())

    batch_id = await conn.fetchval("SELECT batch_id FROM letters WHERE request_id = $1", ready)
    posted_url = client.app.router["staff-letters-posted"].url_for(batch_id=str(batch_id))
    first = await client.post(posted_url, data={"csrf_token": csrf})
    assert await conn.fetchval("SELECT status FROM letter_batches WHERE id = $1", batch_id) == "posted"
    assert flash(await first.text())
    second = await client.post(posted_url, data={"csrf_token": csrf})
    assert "error" in (await second.text()) and await conn.fetchval(
        "SELECT count(*) FROM audit_events WHERE action = 'letters.posted'") == 1


def _form(csrf: str, text: str, *, field: str = "pasted", **extra: str) -> aiohttp.FormData:
    today = datetime.now(UTC).date()
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    values = {"concern": "general", "invitation": "voluntary", "template": "",
              "window_from": (today + timedelta(days=1)).isoformat(),
              "window_to": (today + timedelta(days=21)).isoformat(), **extra}
    for name, value in values.items():
        form.add_field(name, value)
    if field == "file":
        form.add_field("file", text.encode(), filename="list.csv", content_type="text/csv")
    else:
        form.add_field(field, text)
    return form


async def test_a_team_lead_plans_reviews_and_sends_a_batch_once(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    caseworker_csrf = await sign_in(client, "cw.meyer")
    denied = await client.get(client.app.router["staff-batch-invite"].url_for())
    assert denied.status == 403
    denied_post = await client.post(client.app.router["staff-batch-invite-plan"].url_for(),
                                    data=_form(caseworker_csrf, LIST), allow_redirects=False)
    assert denied_post.status == 403
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, "lead.placement")
    assert (await client.get(client.app.router["staff-batch-invite"].url_for())).status == 200
    r = await client.post(client.app.router["staff-batch-invite-plan"].url_for(), data=_form(csrf, LIST, field="file"),
                          allow_redirects=False)
    assert r.status == 303, await r.text()
    review = await client.get(r.headers["Location"])
    html = await review.text()
    assert "Lena Muster" in html and "Mira Muster" in html and "Nils Muster" in html
    assert "Weder Handynummer" in html or "Neither a mobile number" in html
    batch_id = await conn.fetchval("SELECT max(id) FROM invitation_batches")
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE server_key LIKE 'batch-%'") == 0
    send_url = client.app.router["staff-batch-invite-send"].url_for(batch_id=str(batch_id))
    await client.post(send_url, data={"csrf_token": csrf})
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE server_key LIKE $1", f"batch-{batch_id}-%") == 2
    again = await client.post(send_url, data={"csrf_token": csrf})
    assert flash(await again.text())  # refused with a message, nothing new
    assert await conn.fetchval("SELECT count(*) FROM requests WHERE server_key LIKE $1", f"batch-{batch_id}-%") == 2


async def test_a_list_too_large_or_a_bad_window_is_refused_with_a_message_and_nothing_stored(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    csrf = await sign_in(client, "lead.placement")
    url = client.app.router["staff-batch-invite-plan"].url_for()
    big = "phone;name\n" + "0151 44445555;Lena Muster\n" * 12_000
    r = await client.post(url, data=_form(csrf, big, field="file"))
    assert r.status == 200 and ("256 KB" in flash(await r.text()))
    past = await client.post(url, data=_form(csrf, LIST, window_from="2020-01-01"))
    assert flash(await past.text())
    assert await conn.fetchval("SELECT count(*) FROM invitation_batches") == 0


async def test_a_form_of_many_parts_is_refused_before_it_is_read_whole(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    """The list is read as a stream past the app's body limit; extra parts can't make it read without end."""
    csrf = await sign_in(client, "lead.placement")
    url = client.app.router["staff-batch-invite-plan"].url_for()
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf)
    form.add_field("file", LIST.encode(), filename="list.csv", content_type="text/csv")
    for n in range(500):
        form.add_field(f"x{n}", "y" * 500)
    r = await client.post(url, data=form)
    assert r.status == 200 and flash(await r.text())
    assert await conn.fetchval("SELECT count(*) FROM invitation_batches") == 0


async def test_a_client_without_mobile_is_invited_through_the_form_and_the_address_kept_on_the_request_page(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    from scheduler import notice_templates, seed

    await seed.insert_notice_templates(conn, site.site_id, site.staff["admin"])
    voluntary = next(t for t in await notice_templates.list_for_site(conn, site.site_id) if t.kind.value == "voluntary")
    csrf = await sign_in(client, "cw.meyer")
    url = client.app.router["staff-invite-submit"].url_for()
    form = {"csrf_token": csrf, "concern": "general", "language": "ar", "template": str(voluntary.id),
            "customer_number": "123A300001", "name": "Samir Beispiel", "phone": ""}
    missing = await client.post(url, data=form)
    assert "ganze Adresse" in flash(await missing.text()) or "whole address" in flash(await missing.text())
    assert await conn.fetchval("SELECT count(*) FROM clients WHERE customer_number = '123A300001'") == 0
    r = await client.post(url, data={**form, "address_street": "Am Markt 5", "address_postcode": "30159",
                                     "address_city": "Hannover"}, allow_redirects=False)
    assert r.status == 303, flash(await r.text())
    request_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    row = await conn.fetchrow("SELECT c.id, c.phone, c.name FROM clients c JOIN requests r ON r.client_id = c.id "
                              "WHERE r.id = $1", request_id)
    assert (row["phone"], row["name"]) == (None, "Samir Beispiel")
    assert await conn.fetchval("SELECT reason FROM letters WHERE request_id = $1", request_id) == "no_mobile"
    page = await (await client.get(r.headers["Location"])).text()
    assert "Am Markt 5" in page and 'id="letters"' in page

    address_url = client.app.router["staff-request-address"].url_for(request_id=str(request_id))
    bad = await client.post(address_url, data={"csrf_token": csrf, "address_street": "Am Markt 6",
                                               "address_postcode": "301", "address_city": "Hannover"})
    assert "fünf Ziffern" in flash(await bad.text()) or "five digits" in flash(await bad.text())
    await client.post(address_url, data={"csrf_token": csrf, "address_recipient": "S. Beispiel",
                                         "address_street": "Am Markt 6", "address_postcode": "30161",
                                         "address_city": "Hannover", "electronic_consent": "yes"})
    saved = await conn.fetchrow("SELECT street, postcode FROM postal_addresses WHERE client_id = $1", row["id"])
    assert (saved["street"], saved["postcode"]) == ("Am Markt 6", "30161")
    assert await conn.fetchval("SELECT count(*) FROM electronic_notice_consents WHERE client_id = $1 "
                               "AND withdrawn_at IS NULL", row["id"]) == 1
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'client.address'") == 1
