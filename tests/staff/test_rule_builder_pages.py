"""The rule builder pages (issue 16): rules built in a form, problems at their fields, YAML export and import,
scopes (admin: the office and every team; a team lead: their own team)."""

from __future__ import annotations

import html as html_
import re
from html.parser import HTMLParser

import asyncpg
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from multidict import MultiDict

from scheduler.policy import store
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Bounds, Need, Route
from tests.factories import SiteFacts
from tests.staff.helpers import sign_in


def _form(csrf: str, action: str, fields: list[tuple[str, str]], scope: str = "") -> MultiDict[str]:
    return MultiDict([("csrf_token", csrf), ("action", action), *([("scope", scope)] if scope else []), *fields])


# A team rule as a team lead fills in the form: an interpreter needs more time, invited clients come first.
TEAM_FORM = [
    ("r0.id", "interpreter"), ("r0.when.needs", "interpreter"), ("r0.when.age.gte", ""), ("r0.when.age.lt", ""),
    ("r0.then.duration", "45"), ("r0.then.priority", ""), ("r0.then.route", ""),
    ("r1.id", "invited"), ("r1.when.invitation", "true"), ("r1.when.no_shows.lt", "2"), ("r1.then.priority", "70"),
    ("r1.then.walk_in", "true"),
]


async def test_the_builder_shows_the_office_rules_in_fields(client: TestClient) -> None:
    await sign_in(client, "admin")
    r = await client.get("/staff/rules")
    page = await r.text()
    assert r.status == 200 and 'id="rule-builder"' in page
    # The demo's first rule: its name, its concerns ticked, its priority typed in, its team chosen.
    assert 'name="r0.id" value="no-money"' in page
    assert re.search(r'name="r0.when.concern" value="no_money" checked', page)
    assert 'name="r0.then.priority" inputmode="numeric" size="6" maxlength="20" value="90"' in page
    assert re.search(r'<option value="team:entrance" selected>Eingangszone</option>', page)
    assert "Kein Geld mehr" in page and "Dringendes Anliegen" in page  # labels in the staff member's language
    # Every input, select and fieldset has a label or legend and a help text.
    assert page.count('class="hint" id="r0-') == 21  # the id and the 20 fields of a rule


async def test_a_team_lead_builds_saves_and_activates_a_team_rule(client: TestClient, conn: asyncpg.Connection,
                                                                 site: SiteFacts) -> None:
    csrf = await sign_in(client, "lead.u25")
    r = await client.post("/staff/rules/builder", data=_form(csrf, "validate", TEAM_FORM))
    assert r.status == 200 and 'id="rule-valid"' in await r.text()
    r = await client.post("/staff/rules/builder", data=_form(csrf, "activate", TEAM_FORM), allow_redirects=False)
    assert r.status == 303 and "view=" not in r.headers["Location"]
    active = (await store.active(conn, site.site_id)).teams[site.teams["u25"]]
    interpreter, invited = active.ruleset.rules
    assert (interpreter.when.needs, interpreter.then.duration.seconds) == ((Need.interpreter,), 45 * 60)
    assert (invited.when.invitation, invited.when.no_shows, invited.then.priority, invited.then.walk_in) == (
        True, Bounds(lt=2), 70, True)
    assert active.source_yaml == ""  # the advanced view and the export write its YAML from the rules
    page = await (await client.get("/staff/rules?view=advanced")).text()
    assert load_yaml(html_.unescape(page.split('name="yaml"')[1].split(">", 1)[1].split("</textarea>")[0])) == \
        active.ruleset


async def test_problems_are_shown_at_their_fields_in_german(client: TestClient, conn: asyncpg.Connection) -> None:
    csrf = await sign_in(client, "lead.u25")
    broken = [("r0.id", "slow"), ("r0.then.duration", "600"), ("r1.id", "slow"), ("r1.then.priority", "x"),
              ("defaults.within", "0")]
    for action in ("validate", "preview", "save", "activate", "export"):
        r = await client.post("/staff/rules/builder", data=_form(csrf, action, broken), allow_redirects=False)
        assert r.status == 422, action
    page = html_.unescape(await r.text())
    errors = dict(re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]+)</p>', page))
    assert errors["r0-then-duration"] == "Regel „slow“, Feld „then.duration“: erlaubt ist 5m bis 4h, angegeben war „600m“."
    assert errors["r1-then-priority"] == ("Regel „slow“, Feld „then.priority“: erwartet wird eine ganze Zahl "
                                          "(erlaubt: 0 bis 100), angegeben war „x“.")
    assert "Regel Nr. 2" in errors["r1-id"] and "defaults-within" in errors
    assert 'id="r0-then-duration" name="r0.then.duration" inputmode="numeric" size="6" maxlength="20" value="600" ' \
           'aria-describedby="r0-then-duration-help r0-then-duration-error" aria-invalid="true"' in page
    assert '<a href="#r0-then-duration">' in page  # the summary links to the field
    assert await conn.fetchval("SELECT count(*) FROM policies WHERE scope = 'team'") == 0


async def test_moving_adding_and_removing_rules_keep_what_was_typed(client: TestClient) -> None:
    csrf = await sign_in(client, "lead.u25")
    fields = [("r0.id", "first"), ("r0.then.priority", "500"), ("r1.id", "second"), ("r1.then.duration", "25")]
    page = await (await client.post("/staff/rules/builder", data=_form(csrf, "down:0", fields))).text()
    assert page.index('value="second"') < page.index('value="first"')
    assert 'name="r1.then.priority" inputmode="numeric" size="6" maxlength="20" value="500"' in page  # kept, unchecked
    page = await (await client.post("/staff/rules/builder", data=_form(csrf, "template:interpreter", fields))).text()
    assert 'name="r2.id" value="interpreter"' in page and re.search(r'name="r2.when.needs" value="interpreter" checked',
                                                                    page)
    page = await (await client.post("/staff/rules/builder", data=_form(csrf, "remove:0", fields))).text()
    assert 'value="first"' not in page and 'name="r0.id" value="second"' in page
    page = await (await client.post("/staff/rules/builder", data=_form(csrf, "add", []))).text()
    assert 'name="r0.id" value="rule"' in page


async def test_export_and_import_give_the_same_rule_set(client: TestClient) -> None:
    csrf = await sign_in(client, "admin")
    # Built in the form, exported as a file ...
    r = await client.post("/staff/rules/builder", data=_form(csrf, "export", TEAM_FORM))
    assert r.status == 200 and r.headers["Content-Disposition"] == 'attachment; filename="rules-site.yaml"'
    exported = await r.text()
    built = load_yaml(exported)
    # ... imported as an upload: shown in the form, and built from there the same rule set again.
    upload = FormData()
    for name, value in (("csrf_token", csrf), ("action", "import"), ("scope", "site"), ("yaml", "")):
        upload.add_field(name, value)
    upload.add_field("yaml_file", exported.encode(), filename="rules.yaml", content_type="application/yaml")
    page = await (await client.post("/staff/rules", data=upload)).text()
    assert 'id="rule-builder"' in page and 'name="r1.id" value="invited"' in page
    r = await client.post("/staff/rules/builder", data=_form(csrf, "export", form_fields(page, "rule-builder")))
    assert load_yaml(await r.text()) == built
    # Pasted YAML opens in the form as well; a broken one stays in the text area with its problems.
    page = await (await client.post("/staff/rules", data={"csrf_token": csrf, "action": "import",
                                                          "yaml": exported})).text()
    assert 'name="r0.id" value="interpreter"' in page
    r = await client.post("/staff/rules", data={"csrf_token": csrf, "action": "import", "yaml": "rules: [1]"})
    assert r.status == 422 and 'id="yaml"' in await r.text()


async def test_a_stored_version_downloads_as_yaml(client: TestClient, conn: asyncpg.Connection,
                                                  site: SiteFacts) -> None:
    await sign_in(client, "admin")
    active = (await store.active(conn, site.site_id)).site
    assert active is not None
    r = await client.get(f"/staff/rules/export?scope=site&version={active.id}")
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/yaml")
    assert load_yaml(await r.text()) == active.ruleset
    assert (await client.get("/staff/rules/export?scope=site&version=999999")).status == 404


async def test_scopes(client: TestClient, conn: asyncpg.Connection, site: SiteFacts) -> None:
    csrf = await sign_in(client, "lead.u25")
    # A team lead edits their own team's rules, whatever scope the form names.
    r = await client.post("/staff/rules/builder", data=_form(csrf, "save", TEAM_FORM, scope="site"),
                          allow_redirects=False)
    assert r.status == 303
    scopes = await conn.fetch("SELECT scope, team_id FROM policies WHERE status = 'draft'")
    assert [(s["scope"], s["team_id"]) for s in scopes] == [("team", site.teams["u25"])]
    other_site_team = await conn.fetchval(
        "INSERT INTO sites (code, name, timezone, holiday_region) SELECT 'andere', 'Andere', timezone, holiday_region "
        "FROM sites WHERE id = $1 RETURNING id", site.site_id)
    team_id = await conn.fetchval("INSERT INTO teams (site_id, code, name) VALUES ($1, 'x', 'X') RETURNING id",
                                  other_site_team)
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, "admin")
    r = await client.post("/staff/rules/builder", data=_form(csrf, "save", TEAM_FORM, scope=f"team:{team_id}"))
    assert r.status == 404
    assert (await client.get(f"/staff/rules?scope=team:{team_id}")).status == 404
    r = await client.post("/staff/rules/builder", data=_form(csrf, "activate", TEAM_FORM,
                                                             scope=f"team:{site.teams['placement']}"),
                          allow_redirects=False)
    assert r.status == 303
    placement = (await store.active(conn, site.site_id)).teams[site.teams["placement"]]
    assert placement.ruleset.rules[0].id == "interpreter"
    client.session.cookie_jar.clear()
    csrf = await sign_in(client, "cw.meyer")
    r = await client.post("/staff/rules/builder", data=_form(csrf, "save", TEAM_FORM), allow_redirects=False)
    assert r.status == 403 and await conn.fetchval(
        "SELECT count(*) FROM policies WHERE owner_id = $1", site.staff["cw.meyer"]) == 0


async def test_template_rules_can_be_edited_before_saving(client: TestClient, conn: asyncpg.Connection,
                                                          site: SiteFacts) -> None:
    csrf = await sign_in(client, "lead.u25")
    page = await (await client.post("/staff/rules/builder", data=_form(csrf, "template:under-25", []))).text()
    fields = [(k, v) for k, v in form_fields(page, "rule-builder") if k != "r0.when.age.lt"] + [("r0.when.age.lt", "27")]
    r = await client.post("/staff/rules/builder", data=_form(csrf, "activate", fields), allow_redirects=False)
    assert r.status == 303
    rule = (await store.active(conn, site.site_id)).teams[site.teams["u25"]].ruleset.rules[0]
    assert (rule.id, rule.when.age, rule.then.route) == ("under-25", Bounds(lt=27), Route(team="u25"))


class _Controls(HTMLParser):
    """The values a browser would post for one form: inputs, ticked boxes, selected options (no buttons)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.select = form_id, False, ""
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and a.get("type") not in ("checkbox", "file") or tag == "input" and "checked" in a:
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and "selected" in a:
            self.fields.append((self.select, a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def form_fields(page: str, form_id: str) -> list[tuple[str, str]]:
    """The fields of a form on a page as a browser posts them, without csrf, scope and action."""
    parser = _Controls(form_id)
    parser.feed(page)
    return [(k, v) for k, v in parser.fields if k not in ("csrf_token", "scope", "action")]
