"""Staff accounts in the admin pages: admins create and edit the staff of their office, system administrators
those of any office; nobody else, and never another office's person; every change audited, wrong fields named."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in

NEW = "/staff/admin/staff/new"


def _form(csrf: str, **overrides: object) -> dict[str, object]:
    form: dict[str, object] = {"csrf_token": csrf, "username": "p.neu", "display_name": "Paula Neu",
                               "email": "p.neu@jobcenter.example", "role": "caseworker", "team_id": "",
                               "languages": ["de", "tr"], "sign_in": "password"}
    form.update(overrides)
    return form


async def _post(client: TestClient, url: str, form: dict[str, object]):  # type: ignore[no-untyped-def]
    data = [(k, str(v)) for k, value in form.items() for v in (value if isinstance(value, list) else [value])]
    return await client.post(url, data=data, allow_redirects=False)


async def _other_site(conn: asyncpg.Connection) -> tuple[int, int, int]:
    """A second office with a team and a caseworker: (site, team, staff)."""
    site_id = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderswo', 'Jobcenter Anderswo') RETURNING id")
    team_id = await conn.fetchval("INSERT INTO teams (site_id, code, name) VALUES ($1, 'eingang', 'Eingang') "
                                  "RETURNING id", site_id)
    staff_id = await conn.fetchval(
        "INSERT INTO staff (site_id, team_id, username, display_name, role) VALUES ($1, $2, 'b.fremd', 'Bea Fremd', "
        "'caseworker') RETURNING id", site_id, team_id)
    return site_id, team_id, staff_id


async def test_admin_creates_staff_with_each_role(client: TestClient, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    page = await client.get(NEW)
    html = await page.text()
    assert page.status == 200 and 'name="username"' in html
    assert 'value="system_admin"' not in html  # only system administrators may make one
    team = site.teams["entrance"]
    for number, role in enumerate(("caseworker", "team_lead", "admin")):
        r = await _post(client, NEW, _form(csrf, username=f"neu.{number}", role=role, team_id=team))
        assert r.status == 303, await r.text()
        row = await conn.fetchrow("SELECT * FROM staff WHERE username = $1", f"neu.{number}")
        assert r.headers["Location"] == f"/staff/admin/staff/{row['id']}"
        assert (row["site_id"], row["role"], row["team_id"], row["languages"], row["email"]) == (
            site.site_id, role, team, ["de", "tr"], "p.neu@jobcenter.example")
        assert row["password_hash"] is None and row["sso"] is None and row["active"] and not row["system_admin"]
        event = await conn.fetchrow("SELECT * FROM audit_events WHERE action = 'staff.create' AND subject_id = $1",
                                    row["id"])
        assert event["site_id"] == site.site_id and event["actor"] == f"staff:{site.staff['admin']}"
        assert event["details"]["role"] == role and event["details"]["username"] == f"neu.{number}"
    person = await client.get(r.headers["Location"])
    assert "Passwort-Link erstellen" in await person.text()


async def test_caseworkers_and_leads_cannot_create_staff(client: TestClient, conn: asyncpg.Connection) -> None:
    for username in ("cw.meyer", "lead.entrance"):
        csrf = await sign_in(client, username)
        assert (await client.get(NEW)).status == 403
        r = await _post(client, NEW, _form(csrf, username=f"x.{username}"))
        assert r.status == 403
        client.session.cookie_jar.clear()
    assert await conn.fetchval("SELECT count(*) FROM staff WHERE username LIKE 'x.%'") == 0


async def test_a_site_admin_cannot_create_or_edit_staff_of_another_site(client: TestClient,
                                                                         conn: asyncpg.Connection) -> None:
    other_site, other_team, stranger = await _other_site(conn)
    csrf = await sign_in(client, "admin")
    assert (await client.get(f"{NEW}?site={other_site}")).status == 403
    r = await _post(client, NEW, _form(csrf, site=other_site, team_id=other_team))
    assert r.status == 403
    assert (await client.get(f"/staff/admin/staff/{stranger}/account")).status == 404
    r = await _post(client, f"/staff/admin/staff/{stranger}/account", _form(csrf, display_name="Übernommen"))
    assert r.status == 404
    r = await _post(client, f"/staff/admin/staff/{stranger}/password-link", {"csrf_token": csrf})
    assert r.status == 404
    assert await conn.fetchval("SELECT display_name FROM staff WHERE id = $1", stranger) == "Bea Fremd"
    assert await conn.fetchval("SELECT count(*) FROM staff WHERE site_id = $1", other_site) == 1
    assert await conn.fetchval("SELECT count(*) FROM staff_password_resets") == 0


async def test_a_system_admin_creates_the_first_team_lead_of_another_site(client: TestClient, conn: asyncpg.Connection,
                                                                          site: SiteFacts) -> None:
    other_site, other_team, stranger = await _other_site(conn)
    await conn.execute("UPDATE staff SET system_admin = true WHERE username = 'admin'")
    csrf = await sign_in(client, "admin")
    page = await client.get(f"{NEW}?site={other_site}")
    html = await page.text()
    assert page.status == 200 and "Standort: Jobcenter Anderswo" in html and f'value="{other_site}"' in html
    assert 'value="system_admin"' in html and "Eingang" in html
    # A team of the admin's own office is not a team of the other one.
    r = await _post(client, NEW, _form(csrf, site=other_site, role="team_lead", team_id=site.teams["entrance"]))
    assert r.status == 422 and "Team dieses Standorts" in await r.text()
    r = await _post(client, NEW, _form(csrf, username="lead.anderswo", site=other_site, role="team_lead",
                                       team_id=other_team))
    assert r.status == 303, await r.text()
    row = await conn.fetchrow("SELECT id, site_id, role, team_id FROM staff WHERE username = 'lead.anderswo'")
    assert (row["site_id"], row["role"], row["team_id"]) == (other_site, "team_lead", other_team)
    assert r.headers["Location"] == f"/staff/admin/staff/{row['id']}/account"
    event = await conn.fetchrow("SELECT site_id, details FROM audit_events WHERE action = 'staff.create' "
                                "AND subject_id = $1", row["id"])
    assert event["site_id"] == other_site and event["details"]["by_site"] == site.site_id
    # ... and may edit that office's staff.
    edit = await client.get(f"/staff/admin/staff/{stranger}/account")
    assert edit.status == 200 and "Bea Fremd" in await edit.text()
    r = await _post(client, f"/staff/admin/staff/{stranger}/account",
                    _form(csrf, display_name="Bea Fremd-Neu", role="team_lead", team_id=other_team, languages=["de"]))
    assert r.status == 303
    assert await conn.fetchval("SELECT role FROM staff WHERE id = $1", stranger) == "team_lead"


async def test_a_taken_or_wrong_username_is_a_field_error(client: TestClient, conn: asyncpg.Connection) -> None:
    csrf = await sign_in(client, "admin")
    before = await conn.fetchval("SELECT count(*) FROM staff")
    r = await _post(client, NEW, _form(csrf, username="cw.meyer"))
    html = await r.text()
    assert r.status == 422
    assert 'id="f-username-error">Dieser Benutzername ist schon vergeben.' in html
    assert 'aria-invalid="true"' in html and 'value="Paula Neu"' in html  # typed values stay
    r = await _post(client, f"{NEW}?lang=en", _form(csrf, username="Not Valid!", display_name="", languages=[],
                                                    email="kein-at", role="boss"))
    html = await r.text()
    assert r.status == 422
    for text in ("Please enter a username of 2 to 60 lowercase letters", "Please enter the name as colleagues",
                 "Please enter an e-mail address like", "Please choose one of the roles offered.",
                 "Please choose at least one language"):
        assert text in html, text
    assert await conn.fetchval("SELECT count(*) FROM staff") == before
    assert await conn.fetchval("SELECT count(*) FROM audit_events WHERE action = 'staff.create'") == 0


async def test_only_system_admins_make_system_admins(client: TestClient, conn: asyncpg.Connection) -> None:
    csrf = await sign_in(client, "admin")
    r = await _post(client, NEW, _form(csrf, role="system_admin"))
    assert r.status == 422 and 'id="f-role-error">Bitte wählen Sie eine der angebotenen Rollen.' in await r.text()
    assert await conn.fetchval("SELECT count(*) FROM staff WHERE username = 'p.neu'") == 0
    await conn.execute("UPDATE staff SET system_admin = true WHERE username = 'admin'")
    r = await _post(client, NEW, _form(csrf, role="system_admin"))
    assert r.status == 303
    assert await conn.fetchval("SELECT (role, system_admin)::text FROM staff WHERE username = 'p.neu'") == "(admin,t)"


async def test_admin_edits_role_team_and_languages(client: TestClient, conn: asyncpg.Connection,
                                                   site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    meyer = site.staff["cw.meyer"]
    page = await client.get(f"/staff/admin/staff/{meyer}")
    assert f'/staff/admin/staff/{meyer}/account' in await page.text()  # linked from the person's page
    r = await _post(client, f"/staff/admin/staff/{meyer}/account",
                    _form(csrf, username="ignored", display_name="  Mia   Meyer ", email="", role="team_lead",
                          team_id=site.teams["u25"], languages=["en", "de", "ar"]))
    assert r.status == 303
    assert "Gespeichert" in flash(await (await client.get(r.headers["Location"])).text())
    row = await conn.fetchrow("SELECT username, display_name, email, role, team_id, languages FROM staff WHERE id = $1",
                              meyer)
    assert dict(row) == {"username": "cw.meyer", "display_name": "Mia Meyer", "email": None, "role": "team_lead",
                         "team_id": site.teams["u25"], "languages": ["de", "en", "ar"]}
    event = await conn.fetchrow("SELECT details FROM audit_events WHERE action = 'staff.update' AND subject_id = $1",
                                meyer)
    assert event["details"]["role_choice"] == "team_lead" and event["details"]["team_id"] == site.teams["u25"]
    # Nobody changes their own role (the last admin could lock everyone out).
    own = site.staff["admin"]
    r = await _post(client, f"/staff/admin/staff/{own}/account", _form(csrf, role="caseworker"))
    assert r.status == 422 and "Ihre eigene Rolle können Sie nicht ändern." in await r.text()
    assert await conn.fetchval("SELECT role FROM staff WHERE id = $1", own) == "admin"


async def test_a_site_admin_cannot_touch_a_system_admin(client: TestClient, conn: asyncpg.Connection,
                                                        site: SiteFacts) -> None:
    lead = site.staff["lead.entrance"]
    await conn.execute("UPDATE staff SET role = 'admin', system_admin = true WHERE id = $1", lead)
    csrf = await sign_in(client, "admin")
    assert (await client.get(f"/staff/admin/staff/{lead}/account")).status == 403
    r = await _post(client, f"/staff/admin/staff/{lead}/password-link", {"csrf_token": csrf})
    assert r.status == 403
    assert await conn.fetchval("SELECT count(*) FROM staff_password_resets") == 0
