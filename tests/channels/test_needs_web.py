"""Needs on the web form: offered, stored with the request, kept with a field error, shown on the status page."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

FORM = {"concern": "documents", "phone": "0151 23456799", "sms_consent": "yes",
        "idempotency_key": "web-needs-key-1"}


async def test_the_form_offers_every_need_and_interpreter_languages(client: TestClient) -> None:
    html = await (await client.get("/request?lang=en")).text()
    for code in ("interpreter", "sign_language", "step_free", "hearing_loop", "more_time"):
        assert f'id="need-{code}" value="{code}"' in html
    assert '<option value="ar">Arabic</option>' in html
    callback = await (await client.get("/callback?lang=en")).text()
    assert 'name="needs"' not in callback  # a callback is a call: needs belong to appointments


async def test_needs_are_stored_and_shown_on_the_status_page(client: TestClient, conn: asyncpg.Connection) -> None:
    data = [*FORM.items(), ("needs", "interpreter"), ("needs", "step_free"), ("interpreter_language", "ar")]
    response = await client.post("/request?lang=de", data=data, allow_redirects=False)
    assert response.status == 303
    row = await conn.fetchrow("SELECT needs, interpreter_language, link_token FROM requests")
    assert (row["needs"], row["interpreter_language"]) == (["interpreter", "step_free"], "ar")
    html = await (await client.get(f"/r/{row['link_token']}?lang=de")).text()
    assert "Dolmetschen: Arabisch" in html and "Stufenloser Zugang" in html


async def test_an_unknown_language_is_a_field_error_and_keeps_the_choices(client: TestClient,
                                                                         conn: asyncpg.Connection) -> None:
    data = [*FORM.items(), ("needs", "interpreter"), ("interpreter_language", "xx"), ("needs", "more_time")]
    response = await client.post("/request?lang=en", data=data)
    html = await response.text()
    assert response.status == 422
    assert 'id="err-interpreter_language"' in html
    assert 'id="need-more_time" value="more_time" checked' in html
    assert await conn.fetchval("SELECT count(*) FROM requests") == 0


async def test_a_forged_need_is_refused(client: TestClient, conn: asyncpg.Connection) -> None:
    response = await client.post("/request?lang=en", data=[*FORM.items(), ("needs", "jetpack")])
    assert response.status == 422
    assert 'id="err-needs"' in await response.text()
    assert await conn.fetchval("SELECT count(*) FROM requests") == 0
