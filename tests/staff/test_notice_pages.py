"""The admin pages of notice templates: field-level errors in the staff member's language, versions, roles."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler import notice_templates
from tests.factories import SiteFacts
from tests.staff.helpers import sign_in

GERMAN = "Bitte kommen Sie am {date} um {time} in {place}. Mitbringen: {bring}."


async def test_an_unknown_placeholder_is_refused_next_to_its_field(client: TestClient, conn: asyncpg.Connection,
                                                                   site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    r = await client.post("/staff/admin/notices?lang=de", data={
        "csrf_token": csrf, "name": "Test", "kind": "mandatory", "german": "Am {datum} um {time}.",
        "text_en": "On {date} {ort}."})
    assert r.status == 422
    html = await r.text()
    assert 'id="e-german">Unbekannter Platzhalter {datum}. Erlaubt sind: {date}, {time}' in html
    assert 'id="e-en">Unbekannter Platzhalter {ort}.' in html
    assert 'aria-describedby="e-german"' in html and "Am {datum} um {time}." in html  # the input is kept
    assert await notice_templates.list_for_site(conn, site.site_id) == []
    english = await client.post("/staff/admin/notices?lang=en", data={
        "csrf_token": csrf, "name": "", "kind": "bogus", "german": "{date"})
    text = await english.text()
    assert english.status == 422
    assert 'id="e-name">Please fill in this field.' in text and 'id="e-german">Braces must hold' in text
    long = await client.post("/staff/admin/notices?lang=en", data={
        "csrf_token": csrf, "name": "x" * 121, "kind": "voluntary", "german": "x" * 7000})
    assert long.status == 422 and "This text is too long." in await long.text()


async def test_saving_makes_a_new_version_and_keeps_the_old_one(client: TestClient, conn: asyncpg.Connection,
                                                                site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    r = await client.post("/staff/admin/notices", data={"csrf_token": csrf, "name": "Pflicht", "kind": "mandatory",
                                                        "german": GERMAN, "text_uk": "Прийдіть {date}."},
                          allow_redirects=False)
    assert r.status == 303
    template_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = await client.post(f"/staff/admin/notices/{template_id}", data={
        "csrf_token": csrf, "name": "Pflicht", "kind": "mandatory", "german": GERMAN + " Neu."},
        allow_redirects=False)
    assert r.status == 303
    versions = await notice_templates.versions(conn, template_id)
    assert [(v.version, v.german.endswith("Neu.")) for v in versions] == [(2, True), (1, False)]
    assert versions[1].translations == {"uk": "Прийдіть {date}."} and versions[0].translations == {}
    page = await (await client.get(f"/staff/admin/notices/{template_id}?lang=de")).text()
    assert "Version 2" in page and "Version 1" in page
    # Retired templates are no longer offered on the invitation form; their versions stay.
    await client.post(f"/staff/admin/notices/{template_id}/active", data={"csrf_token": csrf, "active": "no"})
    client.session.cookie_jar.clear()
    await sign_in(client, "cw.meyer")
    form = await (await client.get("/staff/invite?lang=de")).text()
    assert "Pflicht" not in form
    assert len(await notice_templates.versions(conn, template_id)) == 2


async def test_only_admins_of_the_site_may_edit(client: TestClient, conn: asyncpg.Connection,
                                                site: SiteFacts) -> None:
    async with conn.transaction():
        saved = await notice_templates.save(conn, site_id=site.site_id, template_id=None, name="T", kind="voluntary",
                                            german="Am {date}.", translations={}, staff_id=None, actor="test")
    csrf = await sign_in(client, "cw.meyer")
    assert (await client.get("/staff/admin/notices")).status == 403
    r = await client.post(f"/staff/admin/notices/{saved.id}", data={"csrf_token": csrf, "name": "T",
                                                                    "kind": "voluntary", "german": "x"})
    assert r.status == 403
    client.session.cookie_jar.clear()
    await sign_in(client, "admin")
    assert (await client.get("/staff/admin/notices/999999")).status == 404
    other_site = await conn.fetchval(
        "INSERT INTO sites (code, name) VALUES ('anderswo', 'Jobcenter Anderswo') RETURNING id")
    async with conn.transaction():
        foreign = await notice_templates.save(conn, site_id=other_site, template_id=None, name="T", kind="voluntary",
                                              german="Am {date}.", translations={}, staff_id=None, actor="test")
    assert (await client.get(f"/staff/admin/notices/{foreign.id}")).status == 403
