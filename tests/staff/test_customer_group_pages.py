"""Customer groups in the staff UI (issue 16): the admin page (roles, office, field errors in German and
English, deactivate instead of delete), the request page's form, and a team rule on a group that changes the
decision for the client's next request."""

from __future__ import annotations

import html as html_
import re

import asyncpg
from aiohttp.test_utils import TestClient
from multidict import MultiDict

from scheduler import customer_groups
from scheduler.policy import store
from tests.factories import SiteFacts
from tests.staff.helpers import flash, sign_in, submit


def _errors(page: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]+)</p>', html_.unescape(page)))


async def _groups(conn: asyncpg.Connection, site: SiteFacts) -> dict[str, customer_groups.CustomerGroup]:
    return {g.code: g for g in await customer_groups.list_for_site(conn, site.site_id)}


async def test_only_admins_see_and_change_the_groups(client: TestClient, conn: asyncpg.Connection,
                                                     site: SiteFacts) -> None:
    csrf = await sign_in(client, "lead.u25")
    assert (await client.get("/staff/admin/customer-groups")).status == 403
    r = await client.post("/staff/admin/customer-groups", data={"csrf_token": csrf, "code": "neu",
                                                                "label_de": "Neu", "label_en": "New"})
    assert r.status == 403
    reha = (await _groups(conn, site))["reha"]
    r = await client.post(f"/staff/admin/customer-groups/{reha.id}/delete", data={"csrf_token": csrf})
    assert r.status == 403 and "reha" in await _groups(conn, site)


async def test_an_admin_adds_relabels_and_deletes_a_group(client: TestClient, conn: asyncpg.Connection,
                                                          site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    page = await (await client.get("/staff/admin/customer-groups?lang=de")).text()
    assert "Kundengruppen" in page and "Alleinerziehend" in page and 'data-group-code="reha"' in page
    assert 'href="/staff/admin/customer-groups" aria-current="page"' in page  # in the admin navigation
    r = await client.post("/staff/admin/customer-groups", data={"csrf_token": csrf, "code": " wohnungslos ",
                                                                "label_de": "Wohnungslos", "label_en": "Homeless"})
    assert r.status == 200 and html_.unescape(flash(await r.text())) == "Kundengruppe gespeichert."
    new = (await _groups(conn, site))["wohnungslos"]
    assert (dict(new.labels), new.active) == ({"de": "Wohnungslos", "en": "Homeless"}, True)
    r = await client.post(f"/staff/admin/customer-groups/{new.id}", data={"csrf_token": csrf, "label_de": "Ohne Wohnung",
                                                                          "label_en": "Without a home"})
    assert r.status == 200
    changed = (await _groups(conn, site))["wohnungslos"]
    assert (changed.labels["de"], changed.active) == ("Ohne Wohnung", False)  # box not ticked: switched off
    r = await client.post(f"/staff/admin/customer-groups/{new.id}/delete", data={"csrf_token": csrf})
    assert html_.unescape(flash(await r.text())) == "Kundengruppe gelöscht."
    assert "wohnungslos" not in await _groups(conn, site)
    actions = [r["action"] for r in await conn.fetch(
        "SELECT action FROM audit_events WHERE subject_type = 'customer_group' ORDER BY id")]
    assert actions[-3:] == ["customer_group.added", "customer_group.saved", "customer_group.deleted"]


async def test_bad_input_is_shown_at_its_field_and_nothing_is_stored(client: TestClient, conn: asyncpg.Connection,
                                                                      site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    before = await conn.fetchval("SELECT count(*) FROM customer_groups")
    r = await client.post("/staff/admin/customer-groups?lang=en", data={
        "csrf_token": csrf, "code": "Groß Schreibung", "label_de": "", "label_en": "x" * 500})
    assert r.status == 422
    errors = _errors(await r.text())
    assert errors["new-code"].startswith("Please enter a code of 2 to 40 lowercase letters")
    assert errors["new-label_de"] == errors["new-label_en"] == "Please enter a label of 1 to 80 characters."
    assert 'value="Groß Schreibung"' in await r.text()  # what was typed stays
    r = await client.post("/staff/admin/customer-groups?lang=de", data={"csrf_token": csrf, "code": "reha",
                                                                "label_de": "Reha", "label_en": "Rehab"})
    assert r.status == 422
    assert _errors(await r.text())["new-code"] == "Dieses Jobcenter hat schon eine Kundengruppe mit diesem Kürzel."
    reha = (await _groups(conn, site))["reha"]
    r = await client.post(f"/staff/admin/customer-groups/{reha.id}", data={"csrf_token": csrf, "label_de": " ",
                                                                            "label_en": "Rehab", "active": "yes"})
    assert r.status == 422 and f"g{reha.id}-label_de" in _errors(await r.text())
    assert await conn.fetchval("SELECT count(*) FROM customer_groups") == before
    assert (await _groups(conn, site))["reha"].labels["de"] == "Rehabilitand/in"


async def test_another_offices_group_is_not_found(client: TestClient, conn: asyncpg.Connection) -> None:
    csrf = await sign_in(client, "admin")
    other = await conn.fetchval("INSERT INTO sites (code, name) VALUES ('anderswo', 'Anderswo') RETURNING id")
    foreign = await customer_groups.add(conn, site_id=other, code="reha", labels={"de": "R", "en": "R"}, staff_id=1)
    for path in (f"/staff/admin/customer-groups/{foreign}", f"/staff/admin/customer-groups/{foreign}/delete"):
        r = await client.post(path, data={"csrf_token": csrf, "label_de": "X", "label_en": "X"})
        assert r.status == 404
    assert await conn.fetchval("SELECT labels->>'de' FROM customer_groups WHERE id = $1", foreign) == "R"


async def _activate_team_rule(client: TestClient, csrf: str, team_id: int, code: str, priority: int) -> None:
    form = MultiDict([("csrf_token", csrf), ("action", "activate"), ("scope", f"team:{team_id}"),
                      ("r0.id", "group-first"), ("r0.when.groups", code), ("r0.then.priority", str(priority))])
    r = await client.post("/staff/rules/builder", data=form, allow_redirects=False)
    assert r.status == 303, await r.text()


async def test_a_caseworker_sets_groups_and_a_team_rule_on_a_group_decides(
        client: TestClient, conn: asyncpg.Connection, app_pool: asyncpg.Pool, site: SiteFacts) -> None:
    phone = "+4915199887766"
    first = await submit(app_pool, phone=phone)
    req = await conn.fetchrow("SELECT id, client_id, team_id, priority FROM requests WHERE id = $1",
                              first.id)
    groups = await _groups(conn, site)
    csrf = await sign_in(client, "admin")
    page = await (await client.get(f"/staff/requests/{req['id']}?lang=en")).text()
    assert 'id="client-groups"' in page and f'value="{groups["aufstocker"].id}"' in page
    r = await client.post(f"/staff/requests/{req['id']}/customer-groups", data=MultiDict([
        ("csrf_token", csrf), ("group", str(groups["aufstocker"].id)), ("group", str(groups["reha"].id))]))
    assert r.status == 200 and html_.unescape(flash(await r.text())) == "The client's customer groups were saved."
    assert await customer_groups.codes_of_client(conn, req["client_id"]) == {"aufstocker", "reha"}
    page = await (await client.get(f"/staff/requests/{req['id']}")).text()
    assert re.search(rf'value="{groups["reha"].id}" data-group-code="reha" checked', page)
    audit = await conn.fetchval("SELECT details FROM audit_events WHERE action = 'client.customer_groups_set' "
                                "AND subject_id = $1", req["client_id"])
    assert audit == {"before": [], "after": ["aufstocker", "reha"]}
    # A group of no office of this one, or not a number: a message, nothing changed.
    for bad in ("999999", "x"):
        r = await client.post(f"/staff/requests/{req['id']}/customer-groups",
                              data={"csrf_token": csrf, "group": bad})
        assert "Please choose only customer groups this office offers." in html_.unescape(flash(await r.text()))
    assert await customer_groups.codes_of_client(conn, req["client_id"]) == {"aufstocker", "reha"}
    # The team the request went to prefers its Aufstocker clients: the client's next request comes first.
    await _activate_team_rule(client, csrf, req["team_id"], "aufstocker", 88)
    second = await submit(app_pool, phone=phone)
    decided = await conn.fetchrow("SELECT priority, decision FROM requests WHERE id = $1", second.id)
    assert decided["priority"] == 88 != req["priority"]
    assert any(line["rule_id"].endswith("group-first") for line in decided["decision"]["explanation"])
    stranger = await submit(app_pool)  # same team, no group
    assert await conn.fetchval("SELECT priority FROM requests WHERE id = $1", stranger.id) != 88


async def test_a_caseworker_of_another_team_may_not_set_groups(client: TestClient, conn: asyncpg.Connection,
                                                               app_pool: asyncpg.Pool, site: SiteFacts) -> None:
    first = await submit(app_pool)
    req = await conn.fetchrow("SELECT id, client_id, team_id, staff_id FROM requests WHERE id = $1", first.id)
    team_of = {r["id"]: r["team_id"] for r in await conn.fetch("SELECT id, team_id FROM staff")}
    outsider = next(name for name in ("cw.meyer", "cw.demir", "cw.yilmaz")
                    if team_of[site.staff[name]] != req["team_id"] and site.staff[name] != req["staff_id"])
    csrf = await sign_in(client, outsider)
    reha = (await _groups(conn, site))["reha"]
    r = await client.post(f"/staff/requests/{req['id']}/customer-groups", data={"csrf_token": csrf,
                                                                                "group": str(reha.id)})
    assert r.status == 403
    assert await customer_groups.codes_of_client(conn, req["client_id"]) == frozenset()


async def test_an_unknown_group_in_a_rule_is_a_field_error(client: TestClient, conn: asyncpg.Connection,
                                                           site: SiteFacts) -> None:
    csrf = await sign_in(client, "lead.u25")
    page = await (await client.get("/staff/rules")).text()
    assert re.search(r'name="r0.when.groups" value="alleinerziehend"', page) is None  # no rule yet, but offered:
    assert 'value="alleinerziehend"' in html_.unescape(await (await client.post("/staff/rules/builder", data=MultiDict(
        [("csrf_token", csrf), ("action", "add")]))).text())
    form = MultiDict([("csrf_token", csrf), ("action", "save"), ("r0.id", "ghost"), ("r0.when.groups", "gibtsnicht"),
                      ("r0.then.priority", "50")])
    r = await client.post("/staff/rules/builder", data=form)
    assert r.status == 422
    errors = _errors(await r.text())
    assert errors["r0-when-groups"] == ("Regel „ghost“, Feld „when.groups“: das Jobcenter hat keine Kundengruppe "
                                        "„gibtsnicht“; seine Gruppen sind „alleinerziehend“, „aufstocker“, „reha“.")
    r = await client.post("/staff/rules", data={"csrf_token": csrf, "action": "save", "yaml":
                                                "rules: [{id: ghost, when: {groups: [gibtsnicht]}, then: {priority: 5}}]"})
    assert r.status == 422 and "gibtsnicht" in html_.unescape(await r.text())
    assert (await store.active(conn, site.site_id)).teams.get(site.teams["u25"]) is None or all(
        rule.id != "ghost" for rule in (await store.active(conn, site.site_id)).teams[site.teams["u25"]].ruleset.rules)


async def test_a_group_an_active_rule_tests_is_switched_off_not_deleted(client: TestClient,
                                                                        conn: asyncpg.Connection,
                                                                        site: SiteFacts) -> None:
    csrf = await sign_in(client, "admin")
    await _activate_team_rule(client, csrf, site.teams["u25"], "reha", 60)
    page = await (await client.get("/staff/admin/customer-groups?lang=en")).text()
    assert "tested by rules" in page
    reha = (await _groups(conn, site))["reha"]
    r = await client.post(f"/staff/admin/customer-groups/{reha.id}/delete", data={"csrf_token": csrf})
    assert html_.unescape(flash(await r.text())) == "Rules test this customer group, so it was switched off instead of deleted."
    assert (await _groups(conn, site))["reha"].active is False
    # Switched off: no longer offered in the builder, but the rule naming it still saves.
    page = await (await client.get(f"/staff/rules?scope=team:{site.teams['u25']}")).text()
    assert re.search(r'name="r0.when.groups" value="reha" checked', page)
    await _activate_team_rule(client, csrf, site.teams["u25"], "reha", 61)
