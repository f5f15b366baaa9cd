"""The policy's "why here" on the staff pages: readable, translated, with team and staff names."""

from __future__ import annotations

import re

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.policy.decision import ExplanationLine
from scheduler.policy.rules import Kind
from scheduler.staff.explain import Explainer, Names, lines
from tests.staff.helpers import MEYER_CLIENT, sign_in, submit

NAMES = Names(teams={"entrance": "Eingangszone", "u25": "U25-Team"}, staff={12: "Thomas Meyer"})
TEAM_RULES = """rules:
  - id: documents-first
    when: {concern: documents}
    then: {priority: 95}
"""


def why_cell(html: str, kind: str, item_id: int) -> str:
    row = re.search(rf'<tr id="{kind}-{item_id}".*?<td class="why">(.*?)</td>', html, re.S)
    assert row is not None, html
    return row.group(1).strip()


@pytest.mark.parametrize(("explanation", "de", "en"), [
    ([("priority", "defaults", "10"), ("route", "defaults", "assigned caseworker 12")],
     "Standard: Priorität 10, zugewiesene Fachkraft Thomas Meyer",
     "Default: priority 10, assigned caseworker Thomas Meyer"),
    ([("priority", "no-money", "90"), ("route", "no-money", "team entrance")],
     "Regel „no-money“: Priorität 90, Team Eingangszone", "Rule “no-money”: priority 90, team Eingangszone"),
    ([("priority", "u25:fast-track", "70"), ("route", "defaults", "team entrance (no assigned caseworker)")],
     "Regel „fast-track“ des Teams U25-Team: Priorität 70; Standard: Team Eingangszone (keine zugewiesene Fachkraft)",
     "Rule “fast-track” of team U25-Team: priority 70; Default: team Eingangszone (no assigned caseworker)"),
    ([("priority", "caseworker-12:mine", "50"), ("route", "caseworker-12:mine", "caseworker 99")],
     "Regel „mine“ von Thomas Meyer: Priorität 50, Fachkraft Mitarbeiter/in Nr. 99",
     "Rule “mine” of Thomas Meyer: priority 50, caseworker staff member no. 99"),
    ([("priority", "defaults", "10"), ("route", "defaults", "somewhere new")],
     "Standard: Priorität 10, somewhere new", "Default: priority 10, somewhere new"),
])
def test_summary_line(explanation: list[tuple[str, str, str]], de: str, en: str) -> None:
    found = [ExplanationLine(*e) for e in explanation]
    assert Explainer("de", NAMES).summary(found) == de
    assert Explainer("en", NAMES).summary(found) == en


def test_table_rows_translate_fields_and_values() -> None:
    raw = [{"field": "duration", "rule_id": "defaults", "value": "1h30m"},
           {"field": "lead_time", "rule_id": "defaults", "value": "1 workday"},
           {"field": "within", "rule_id": "x", "value": "2 workdays (raised to lead_time)"},
           {"field": "modes", "rule_id": "defaults", "value": "in_person, phone (client's wish)"},
           {"field": "propose", "rule_id": "defaults", "value": "3"},
           {"field": "auto_confirm", "rule_id": "entrance:quick", "value": "true"},
           {"field": "route", "rule_id": 7, "value": "broken"}]  # malformed: left out
    rows = Explainer("de", NAMES).rows(lines(raw))
    assert [(r.label, r.value, r.source) for r in rows] == [
        ("Dauer", "90 Min.", "Standard"), ("Vorlauf", "1 Arbeitstag", "Standard"),
        ("Innerhalb von", "2 Arbeitstage (auf den Vorlauf angehoben)", "Regel „x“"),
        ("Wege", "Vor Ort, Am Telefon (Wunsch der Kundin / des Kunden)", "Standard"),
        ("Vorschläge", "3", "Standard"), ("Automatische Bestätigung", "ja", "Regel „quick“ des Teams Eingangszone")]
    assert lines(None) == [] and lines("x") == []


async def test_inbox_shows_the_readable_why_in_german_and_english(client: TestClient, pool: asyncpg.Pool) -> None:
    created = await submit(pool, phone=MEYER_CLIENT)
    await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/inbox")).text()
    assert why_cell(html, "request", created.id) == "Standard: Priorität 10, zugewiesene Fachkraft Thomas Meyer"
    assert "defaults:" not in html and not re.search(r"caseworker \d", html)
    html = await (await client.get("/staff/inbox?lang=en")).text()
    assert why_cell(html, "request", created.id) == "Default: priority 10, assigned caseworker Thomas Meyer"
    assert "defaults:" not in html and not re.search(r"caseworker \d", html)


async def test_inbox_names_the_rule_and_team_and_team_rules(client: TestClient, pool: asyncpg.Pool) -> None:
    urgent = await submit(pool, concern="no_money")
    csrf = await sign_in(client, "lead.entrance")
    html = await (await client.get("/staff/inbox?view=team")).text()
    assert why_cell(html, "request", urgent.id) == "Regel „no-money“: Priorität 90, Team Eingangszone"
    r = await client.post("/staff/rules", data={"yaml": TEAM_RULES, "action": "activate", "csrf_token": csrf},
                          allow_redirects=False)
    assert r.status == 303
    documents = await submit(pool, concern="documents", phone="+4915123456702")  # cw.kowalenko, entrance team
    html = await (await client.get("/staff/inbox?view=team&lang=en")).text()
    assert why_cell(html, "request", documents.id) == (
        "Rule “documents-first” of team Eingangszone: priority 95; Default: assigned caseworker Olena Kowalenko")


async def test_callbacks_show_the_readable_why(client: TestClient, pool: asyncpg.Pool) -> None:
    await submit(pool, kind=Kind.callback, phone=MEYER_CLIENT)
    await sign_in(client, "cw.meyer")
    html = await (await client.get("/staff/callbacks")).text()
    assert "Warum hier: Standard: Priorität 10, zugewiesene Fachkraft Thomas Meyer" in html
    assert "defaults:" not in html


async def test_request_page_explains_every_setting(client: TestClient, pool: asyncpg.Pool) -> None:
    created = await submit(pool, phone=MEYER_CLIENT)
    await sign_in(client, "cw.meyer")
    html = await (await client.get(f"/staff/requests/{created.id}")).text()
    assert '<dd class="why">Standard: Priorität 10, zugewiesene Fachkraft Thomas Meyer</dd>' in html
    table = re.search(r'<table class="explanation">(.*?)</table>', html, re.S)
    assert table is not None
    rows = re.findall(r'<tr data-field="(\w+)"><th scope="row">(.*?)</th><td>(.*?)</td><td>(.*?)</td></tr>',
                      table.group(1))
    assert [r[0] for r in rows] == ["priority", "route", "duration", "lead_time", "within", "modes", "propose",
                                    "auto_confirm", "follow_up", "walk_in"]
    assert ("route", "Weiterleitung", "zugewiesene Fachkraft Thomas Meyer", "Standard") in rows
    assert ("lead_time", "Vorlauf", "1 Arbeitstag", "Standard") in rows
    assert ("auto_confirm", "Automatische Bestätigung", "nein", "Standard") in rows
    assert ("follow_up", "Nach einem Nichterscheinen", "eine Aufgabe für die Fachkraft", "Standard") in rows
    html = await (await client.get(f"/staff/requests/{created.id}?lang=en")).text()
    assert "How the rules decided" in html and "<td>1 workday</td>" in html and "defaults:" not in html
