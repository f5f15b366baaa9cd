"""The caseworker's own rules page over HTTP: the form builds settings, widening is refused at the field,
save, activate and roll back are the caseworker's own; another caseworker's version is not found."""

from __future__ import annotations

import re

import asyncpg
from aiohttp.test_utils import TestClient

from scheduler.policy import store
from tests.factories import SiteFacts
from tests.staff.helpers import sign_in


def _form(csrf: str, action: str, **extra: str) -> dict[str, str]:
    return {"csrf_token": csrf, "action": action, "buffer_minutes": "10", "appointments_cap": "",
            "callbacks_cap": "", "lead_time": "", **extra}


async def _as_shown(client: TestClient, csrf: str, action: str, **extra: str) -> list[tuple[str, str]]:
    """The form as the page fills it (every concern ticked as the page shows it), with some fields changed."""
    html = await (await client.get("/staff/my-rules")).text()
    taken = re.findall(r'name="take" value="([a-z0-9_-]+)"[^>]* checked', html)
    return [*_form(csrf, action, **extra).items(), *(("take", code) for code in taken)]


async def _active(conn: asyncpg.Connection, site: SiteFacts, username: str) -> store.StoredPolicy | None:
    versions = await store.history(conn, site_id=site.site_id, scope=store.Scope.caseworker,
                                   staff_id=site.staff[username])
    return next((v for v in versions if v.status is store.PolicyStatus.active), None)


async def test_the_page_shows_the_form_with_labels_for_a_caseworker(client: TestClient) -> None:
    await sign_in(client, "cw.meyer")
    r = await client.get("/staff/my-rules?lang=de")
    html = await r.text()
    assert r.status == 200, html
    assert "Meine Regeln" in html
    assert 'for="appointments_cap"' in html and 'id="appointments_cap"' in html
    assert "Kein Geld mehr" not in html  # the placement team does not take no_money: the entrance team does
    assert 'name="take" value="job_offer"' in html


async def test_a_cap_above_the_teams_is_refused_at_its_field(client: TestClient, conn: asyncpg.Connection,
                                                             site: SiteFacts) -> None:
    csrf = await sign_in(client, "cw.meyer")
    r = await client.post("/staff/my-rules?lang=en",
                          data=await _as_shown(client, csrf, "activate", appointments_cap="12"))
    html = await r.text()
    assert r.status == 422, html
    error = re.search(r'<p class="field-error" id="e-appointments_cap">(.*?)</p>', html)
    assert error and "at most 8 a day" in error.group(1)
    assert 'aria-invalid="true"' in html
    assert await _active(conn, site, "cw.meyer") is None  # nothing stored


async def test_a_concern_or_mode_the_team_does_not_allow_is_refused(client: TestClient) -> None:
    csrf = await sign_in(client, "cw.yilmaz")  # entrance: no_money is in person or by phone
    data = await _as_shown(client, csrf, "save")
    r = await client.post("/staff/my-rules?lang=en", data=[*data, ("modes.no_money", "video")])
    html = await r.text()
    assert r.status == 422
    assert re.search(r'id="e-modes-no_money">Your team allows only In person, By phone', html), html
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, "cw.meyer")  # placement does not take no_money
    r = await client.post("/staff/my-rules?lang=en", data=[*await _as_shown(client, csrf, "save"), ("take", "no_money")])
    assert r.status == 422
    assert "does not take this concern" in await r.text()


async def test_save_activate_and_roll_back_my_own_versions(client: TestClient, conn: asyncpg.Connection,
                                                          site: SiteFacts) -> None:
    csrf = await sign_in(client, "cw.meyer")
    first = await _as_shown(client, csrf, "activate", appointments_cap="5", blocked_weekday_0="0",
                            blocked_from_0="08:00", blocked_to_0="10:00", blocked_label_0="Post")
    r = await client.post("/staff/my-rules", data=first, allow_redirects=False)
    assert r.status == 303, await r.text()
    active = await _active(conn, site, "cw.meyer")
    assert active is not None and active.personal is not None
    assert active.personal.appointments_cap == 5 and active.personal.buffer_minutes == 10
    assert [(b.weekday, b.start.hour, b.end.hour, b.label) for b in active.personal.blocked] == [(0, 8, 10, "Post")]
    r = await client.post("/staff/my-rules", data=await _as_shown(client, csrf, "activate", appointments_cap="3"),
                          allow_redirects=False)
    assert r.status == 303
    assert (await _active(conn, site, "cw.meyer")).personal.appointments_cap == 3  # type: ignore[union-attr]
    r = await client.post(f"/staff/my-rules/{active.id}/activate", data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status == 303
    rolled_back = await _active(conn, site, "cw.meyer")
    assert rolled_back is not None and rolled_back.id == active.id
    # Someone else cannot activate my versions.
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, "cw.demir")
    r = await client.post(f"/staff/my-rules/{active.id}/activate", data={"csrf_token": csrf})
    assert r.status == 404


async def test_an_admin_has_no_page_of_own_rules(client: TestClient) -> None:
    await sign_in(client, "admin")
    r = await client.get("/staff/my-rules")
    assert r.status == 403


async def test_bad_input_is_named_at_its_field_in_the_form_row_it_was_typed_in(client: TestClient) -> None:
    csrf = await sign_in(client, "cw.meyer")
    data = await _as_shown(client, csrf, "save", buffer_minutes="lots", blocked_weekday_1="2",
                           blocked_from_1="11:00", blocked_to_1="09:30", blocked_label_1="x" * 500)
    r = await client.post("/staff/my-rules?lang=de", data=data)
    html = await r.text()
    assert r.status == 422
    assert re.search(r'id="e-buffer_minutes">Bitte eine ganze Zahl von 0 bis 120 eingeben', html), html
    assert 'id="e-blocked-1-to">Das Ende muss nach dem Beginn liegen' in html  # row 1, where it was typed
    assert 'value="lots"' in html and 'value="11:00"' in html  # what was typed stays in the form
