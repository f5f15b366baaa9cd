"""Concerns per site (issue 18): an admin adds a concern and writes label and description in each language of
the office; the German label is required; clients see the texts in their language on the web form."""

from __future__ import annotations

import html as html_
import re

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import site_settings
from tests.channels.test_kiosk import TOKEN as KIOSK
from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in


def _errors(page: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]+)</p>', html_.unescape(page)))


async def test_an_admin_adds_a_concern_and_writes_its_texts_in_every_language(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    r = await client.post("/staff/admin/concerns?lang=de", data={"csrf_token": csrf, "code": "housing_costs",
                                                                 "label_de": "Kosten der Unterkunft"})
    assert html_.unescape(flash(await r.text())).startswith("Das Anliegen ist angelegt.")
    concern_id = await conn.fetchval("SELECT id FROM concerns WHERE site_id = $1 AND code = 'housing_costs'",
                                     site.site_id)
    assert str(r.url.path) == f"/staff/admin/concerns/{concern_id}"
    page = await r.text()
    for lang in ("de", "de-simple", "en", "uk", "ar", "tr", "ru", "fa"):  # the demo office offers all eight
        assert f'name="label_{lang}"' in page and f'name="description_{lang}"' in page
    r = await client.post(f"/staff/admin/concerns/{concern_id}", data={
        "csrf_token": csrf, "label_de": "Kosten der Unterkunft", "description_de": "Miete, Heizung, Nebenkosten.",
        "label_tr": "Konut masrafları", "description_tr": "Kira, ısınma ve yan giderler.", "label_en": ""})
    assert html_.unescape(flash(await r.text())) == "Gespeichert."
    row = await conn.fetchrow("SELECT labels, descriptions FROM concerns WHERE id = $1", concern_id)
    assert row["labels"] == {"de": "Kosten der Unterkunft", "tr": "Konut masrafları"}
    assert row["descriptions"] == {"de": "Miete, Heizung, Nebenkosten.", "tr": "Kira, ısınma ve yan giderler."}

    web = await (await client.get("/request?lang=tr")).text()
    assert "Konut masrafları" in web and "Kira, ısınma ve yan giderler." in web
    web = await (await client.get("/request?lang=de-simple")).text()
    assert "Miete, Heizung, Nebenkosten." in web  # Leichte Sprache falls back to German
    kiosk = await (await client.get("/kiosk/api/config?lang=tr", headers=KIOSK)).json()
    shown = next(c for c in kiosk["concerns"] if c["code"] == "housing_costs")
    assert (shown["label"], shown["description"]) == ("Konut masrafları", "Kira, ısınma ve yan giderler.")
    audit = await conn.fetch("SELECT action FROM audit_events WHERE subject_type = 'concern' AND subject_id = $1 "
                             "ORDER BY id", concern_id)
    assert [a["action"] for a in audit] == ["concern.add", "concern.texts"]


async def test_the_german_label_is_required_and_long_texts_are_refused_at_their_field(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    concern_id = site.concerns["no_money"]
    before = await conn.fetchrow("SELECT labels, descriptions FROM concerns WHERE id = $1", concern_id)
    r = await client.post(f"/staff/admin/concerns/{concern_id}?lang=en", data={
        "csrf_token": csrf, "label_de": " ", "description_uk": "x" * 201, "label_ar": "لا يوجد مال"})
    assert r.status == 422
    assert _errors(await r.text()) == {
        "label_de": "Please enter a label of at most 80 characters; the German label is required.",
        "description_uk": "Please enter a description of at most 200 characters."}
    assert 'value="لا يوجد مال"' in await r.text()
    assert await conn.fetchrow("SELECT labels, descriptions FROM concerns WHERE id = $1", concern_id) == before
    r = await client.post("/staff/admin/concerns?lang=de", data={"csrf_token": csrf, "code": "no_money",
                                                                 "label_de": "Doppelt"})
    assert html_.unescape(flash(await r.text())) == "Dieses Jobcenter hat schon ein Anliegen mit diesem Kürzel."


async def test_other_roles_and_other_offices_concerns_are_refused(client: TestClient, conn: asyncpg.Connection,
                                                                  site: SiteFacts) -> None:
    other = await site_settings.create_site(conn, site_settings.parse({"code": "altstadt", "name": "JC Altstadt"}),
                                            actor="test")
    foreign = await conn.fetchval("INSERT INTO concerns (site_id, code, labels) VALUES ($1, 'general', "
                                  "'{\"de\": \"Allgemein\"}') RETURNING id", other)
    csrf = await sign_in(client, "lead.u25")
    assert (await client.get(f"/staff/admin/concerns/{site.concerns['no_money']}")).status == 403
    await client.post("/staff/sign-out", data={"csrf_token": csrf})
    csrf = await sign_in(client, "admin")
    assert (await client.get(f"/staff/admin/concerns/{foreign}")).status == 404
    r = await client.post(f"/staff/admin/concerns/{foreign}", data={"csrf_token": csrf, "label_de": "Meins"})
    assert r.status == 404
    assert await conn.fetchval("SELECT labels->>'de' FROM concerns WHERE id = $1", foreign) == "Allgemein"
