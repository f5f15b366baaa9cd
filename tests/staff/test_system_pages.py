"""The system pages (issue 18): only system administrators list, create and edit sites; errors at their fields
in German and English; a new site's first team."""

from __future__ import annotations

import html as html_
import re

import asyncpg
from aiohttp.test_utils import TestClient
from multidict import MultiDict

from scheduler import site_addresses, site_settings
from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in

NEW_SITE = {"code": "neustadt", "name": "Jobcenter Neustadt", "address": "Marktplatz 1", "timezone": "Europe/Berlin",
            "holiday_region": "DE-NI", "opening_hours": "mon-fri: 08:00-12:30", "sms_sender": "JC Neustadt",
            "phone_numbers": "+49 5121 9876543", "hosts": "termine.neustadt.example", "public_base_url": "",
            "retention_days": "180", "allowed_countries": "DE"}


def _errors(page: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]+)</p>', html_.unescape(page)))


def _form(csrf: str, values: dict[str, str], languages: tuple[str, ...] = ("de", "en")) -> MultiDict[str]:
    form: MultiDict[str] = MultiDict({"csrf_token": csrf, **values})
    for lang in languages:
        form.add("languages", lang)
    return form


async def _make_system_admin(conn: asyncpg.Connection, username: str = "admin") -> None:
    await conn.execute("UPDATE staff SET system_admin = true WHERE username = $1", username)


async def test_only_system_admins_reach_the_system_pages(client: TestClient, conn: asyncpg.Connection,
                                                         site: SiteFacts) -> None:
    before = await conn.fetchval("SELECT count(*) FROM sites")
    for username in ("lead.u25", "admin"):  # a site administrator without the flag is refused as well
        csrf = await sign_in(client, username)
        for path in ("/staff/system/sites", "/staff/system/sites/new", f"/staff/system/sites/{site.site_id}"):
            assert (await client.get(path)).status == 403, (username, path)
        r = await client.post("/staff/system/sites", data=_form(csrf, NEW_SITE), allow_redirects=False)
        assert r.status == 403
        r = await client.post(f"/staff/system/sites/{site.site_id}/teams",
                              data={"csrf_token": csrf, "code": "x", "name": "X"}, allow_redirects=False)
        assert r.status == 403
        assert 'href="/staff/system/sites"' not in await (await client.get("/staff/inbox")).text()
        await client.post("/staff/sign-out", data={"csrf_token": csrf})
    assert await conn.fetchval("SELECT count(*) FROM sites") == before


async def test_a_system_admin_creates_and_edits_a_site(client: TestClient, conn: asyncpg.Connection,
                                                       site: SiteFacts) -> None:
    await _make_system_admin(conn)
    csrf = await sign_in(client, "admin")
    page = await (await client.get("/staff/system/sites?lang=de")).text()
    assert 'href="/staff/system/sites" aria-current="page"' in page  # in the navigation, for this user only
    assert 'data-site-code="musterstadt"' in page and "Standorte" in page
    r = await client.post("/staff/system/sites", data=_form(csrf, NEW_SITE, ("de", "en", "tr")))
    assert r.status == 200 and str(r.url.path).startswith("/staff/system/sites/")
    assert html_.unescape(flash(await r.text())) == "Der Standort ist angelegt. Legen Sie jetzt sein erstes Team an."
    site_id = int(str(r.url.path).rsplit("/", 1)[1])
    created = await site_settings.read(conn, site_id)
    assert created is not None and (created.code, created.languages, created.hosts) == (
        "neustadt", ("de", "en", "tr"), ("termine.neustadt.example",))
    assert await site_addresses.site_id_by_number(conn, "+4951219876543") == site_id
    page = await r.text()
    assert "Dieser Standort hat noch kein Team" in page and 'value="termine.neustadt.example"' not in page
    assert ">termine.neustadt.example</textarea>" in page

    r = await client.post(f"/staff/system/sites/{site_id}/teams", data={"csrf_token": csrf, "code": "entrance",
                                                                         "name": "Eingangszone"})
    assert html_.unescape(flash(await r.text())) == "Das Team ist angelegt."
    assert 'data-team-code="entrance"' in await r.text()
    assert await conn.fetchval("SELECT site_id FROM teams WHERE code = 'entrance' AND site_id = $1", site_id)
    r = await client.post(f"/staff/system/sites/{site_id}/teams", data={"csrf_token": csrf, "code": "entrance",
                                                                         "name": "Nochmal"})
    assert html_.unescape(flash(await r.text())) == "Dieser Standort hat schon ein Team mit diesem Kürzel."

    r = await client.post(f"/staff/system/sites/{site_id}", data=_form(csrf, {
        **NEW_SITE, "code": "ignored", "name": "Jobcenter Neustadt a. Rbge.", "email_enabled": "yes"}))
    assert html_.unescape(flash(await r.text())) == "Gespeichert."
    changed = await site_settings.read(conn, site_id)
    assert changed is not None and (changed.code, changed.name, changed.email_enabled, changed.languages) == (
        "neustadt", "Jobcenter Neustadt a. Rbge.", True, ("de", "en"))
    list_page = await (await client.get("/staff/system/sites")).text()
    assert "termine.neustadt.example" in list_page and "+4951219876543" in list_page
    actions = [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_events WHERE site_id = $1 ORDER BY id", site_id)]
    assert actions == ["site.create", "team.add", "site.update"]


async def test_wrong_fields_are_shown_at_their_place_and_nothing_is_stored(
        client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    await _make_system_admin(conn)
    await site_addresses.set_hosts(conn, site.site_id, ["termine.musterstadt.example"])
    csrf = await sign_in(client, "admin")
    before = await conn.fetchval("SELECT count(*) FROM sites")
    r = await client.post("/staff/system/sites?lang=en", data=_form(csrf, {
        **NEW_SITE, "sms_sender": "Jobcenter Neustadt", "retention_days": "0", "timezone": "Mars/Olympus"}, ()))
    assert r.status == 422
    errors = _errors(await r.text())
    assert errors == {
        "timezone": "Please enter a time zone such as Europe/Berlin.",
        "languages": "Please choose languages the service offers, German among them.",
        "sms_sender": "Please enter 1 to 11 letters, digits or spaces, at least one of them a letter.",
        "retention_days": "Please enter a number of days from 1 to 3650."}
    assert 'value="Mars/Olympus"' in await r.text()  # what was typed stays
    r = await client.post("/staff/system/sites?lang=de", data=_form(csrf, {
        **NEW_SITE, "hosts": "termine.musterstadt.example"}))
    assert r.status == 422
    assert _errors(await r.text()) == {"hosts": "„termine.musterstadt.example“ gehört schon zu einem anderen Jobcenter."}
    r = await client.post(f"/staff/system/sites/{site.site_id}?lang=de", data=_form(csrf, {
        **NEW_SITE, "opening_hours": "montags 8 bis 12"}))
    assert r.status == 422 and list(_errors(await r.text())) == ["opening_hours"]
    assert await conn.fetchval("SELECT count(*) FROM sites") == before
    assert (await client.get("/staff/system/sites/999999")).status == 404
