"""Problems of a rule set are shown in the staff member's language, naming the rule (or section) and field."""

from __future__ import annotations

import html
import re

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import RuleError, RuleSetInvalid
from scheduler.staff import rule_groups
from scheduler.staff.rule_errors import DETAILS, describe
from tests.staff.helpers import sign_in

CODES = ("yaml-syntax", "not-a-mapping", "not-a-list", "bad-type", "unknown-field", "missing", "empty",
         "duplicate-id", "bad-id", "bad-duration", "bad-workdays", "out-of-range", "bad-mode", "bad-value",
         "bad-route", "within-before-lead-time", "auto-confirm-in-defaults", "too-long", "too-many",
         "bad-follow-up", "walk-in-in-defaults", "bad-code")
# Found by the staff pages, not the parser: a customer group the office does not have (staff/rule_groups.py).
PAGE_CODES = ("unknown-group",)

# One rule set per code, each with exactly that one problem (found by the real parser).
BROKEN = {
    "yaml-syntax": "rules: [\n  {id: a\n",
    "not-a-mapping": "rules:\n  - id: a\n    when: 25\n    then: {priority: 5}\n",
    "not-a-list": "rules:\n  - id: a\n    when: {concern: {x: 1}}\n    then: {priority: 5}\n",
    "bad-type": "rules:\n  - id: a\n    then: {priority: high}\n",
    "unknown-field": "rules:\n  - id: a\n    then: {priority: 5, colour: red}\n",
    "missing": "rules:\n  - id: a\n    when: {urgent: true}\n",
    "empty": "rules:\n  - id: a\n    then: {}\n",
    "duplicate-id": "rules:\n  - id: a\n    then: {priority: 5}\n  - id: a\n    then: {priority: 6}\n",
    "bad-id": "rules:\n  - id: 'bad id!'\n    then: {priority: 5}\n",
    "bad-duration": "rules:\n  - id: a\n    then: {duration: soon}\n",
    "bad-workdays": "rules:\n  - id: a\n    then: {within: 2 weeks}\n",
    "out-of-range": "rules:\n  - id: under-25\n    then: {duration: 9h}\n",
    "bad-mode": "rules:\n  - id: a\n    then: {modes: [fax]}\n",
    "bad-value": "rules:\n  - id: a\n    when: {channel: pigeon}\n    then: {priority: 5}\n",
    "bad-route": "rules:\n  - id: a\n    then: {route: {team: Front Desk}}\n",
    "within-before-lead-time": "rules:\n  - id: a\n    then: {lead_time: 5 workdays, within: 2 workdays}\n",
    "auto-confirm-in-defaults": "rules: []\ndefaults: {auto_confirm: true}\n",
    "walk-in-in-defaults": "rules: []\ndefaults: {walk_in: true}\n",
    "too-long": "rules:\n  - id: a\n    then: {duration: '" + " " * 300 + "20m'}\n",
    "too-many": "rules:\n  - id: a\n    when: {language: [" + ", ".join(["de"] * 101) + "]}\n    then: {priority: 5}\n",
    "bad-follow-up": "rules:\n  - id: a\n    then: {follow_up: {invite: 40 workdays}}\n",
    "bad-code": "rules:\n  - id: a\n    when: {groups: [Reha]}\n    then: {priority: 5}\n",
}


def only_error(text: str) -> RuleError:
    with pytest.raises(RuleSetInvalid) as exc:
        load_yaml(text)
    (error,) = exc.value.errors
    return error


def test_every_code_has_a_text() -> None:
    assert set(BROKEN) == set(CODES)
    assert set(DETAILS) | {"yaml-syntax"} == set(CODES) | set(PAGE_CODES)


def test_an_unknown_group_reads_in_german_and_english() -> None:
    ruleset = load_yaml("rules:\n  - id: a\n    when: {groups: [reha, gibtsnicht]}\n    then: {priority: 5}\n")
    (error,) = rule_groups.unknown_groups(ruleset, {"reha", "aufstocker"})
    assert describe(error, "de") == ("Regel „a“, Feld „when.groups“: das Jobcenter hat keine Kundengruppe "
                                     "„gibtsnicht“; seine Gruppen sind „aufstocker“, „reha“.")
    assert describe(error, "en") == ("Rule “a”, field “when.groups”: the office has no customer group "
                                     "“gibtsnicht”; its groups are “aufstocker”, “reha”.")
    assert rule_groups.unknown_groups(ruleset, {"reha", "gibtsnicht"}) == ()


@pytest.mark.parametrize("code", CODES)
def test_every_code_reads_in_german_naming_the_rule_and_field(code: str) -> None:
    error = only_error(BROKEN[code])
    assert error.code == code
    de, en = describe(error, "de"), describe(error, "en")
    assert de != en
    assert de != error.message
    assert de.endswith(".") and en.endswith(".")
    if code == "yaml-syntax":
        assert "Zeile 3" in de and "line 3" in en, de
        return
    field = error.params["field"]
    rule = error.params.get("rule")
    if rule is not None and code != "duplicate-id":
        assert f"Regel „{rule}“" in de and f"Rule “{rule}”" in en
    elif rule is not None:
        assert "Regel Nr. 2" in de and "„a“" in de and "Regel Nr. 1" in de
    else:
        assert "Standardwerte" in de and f"„{field.removeprefix('defaults.')}“" in de
    if rule is not None:
        assert f"Feld „{field}“" in de and f"field “{field}”" in en
    if "allowed" in error.params and code not in ("bad-id", "bad-route", "auto-confirm-in-defaults",
                                                     "within-before-lead-time", "walk-in-in-defaults"):
        assert "erlaubt" in de


def test_the_example_sentence() -> None:
    error = only_error(BROKEN["out-of-range"])
    assert describe(error, "de") == "Regel „under-25“, Feld „then.duration“: erlaubt ist 5m bis 4h, angegeben war „9h“."
    assert describe(error, "en") == "Rule “under-25”, field “then.duration”: allowed is 5m to 4h, given was “9h”."


def test_sections_and_unnamed_rules() -> None:
    error = only_error("rules: []\nordering: {tie_break: random}\n")
    assert describe(error, "de") == ("Die Reihenfolge (ordering), Feld „tie_break“: erlaubt ist einer der Werte "
                                     "„oldest_first“, „newest_first“, angegeben war „random“.")
    error = only_error("rules: []\ncaps: {appointments_per_caseworker_per_day: 0}\n")
    assert describe(error, "de").startswith("Die Obergrenzen (caps), Feld „appointments_per_caseworker_per_day“:")
    error = only_error("rules:\n  - no-money\n")
    assert describe(error, "de").startswith("Regel Nr. 1: erwartet werden Felder")
    error = only_error("rules:\n  - then: {priority: 5}\n")
    assert describe(error, "de") == "Regel Nr. 1, Feld „id“: dieses Feld ist vorgeschrieben, fehlt aber."


def test_unknown_code_falls_back_to_the_english_message() -> None:
    error = RuleError("rules[0] (a).then.x", "brand-new", {"field": "then.x", "rule": "a"})
    assert describe(error, "de") == error.message


async def test_rules_page_shows_german_problems_for_validate_save_and_preview(client: TestClient,
                                                                           conn: asyncpg.Connection) -> None:
    csrf = await sign_in(client, "lead.entrance")
    broken = BROKEN["out-of-range"] + "  - id: b\n    then: {modes: [fax]}\n"
    for action in ("validate", "preview", "save", "activate"):
        r = await client.post("/staff/rules", data={"yaml": broken, "action": action, "csrf_token": csrf},
                              allow_redirects=False)
        assert r.status == 422, action
        page = await r.text()
        problems = [html.unescape(p) for p in re.findall(r"<li>([^<]*)</li>", page.split('id="rule-errors"')[1])]
        assert "Regel „under-25“, Feld „then.duration“: erlaubt ist 5m bis 4h, angegeben war „9h“." in problems
        assert any(p.startswith("Regel „b“, Feld „then.modes“: erlaubt sind nur") for p in problems), problems
        assert "must be" not in page
    assert await conn.fetchval("SELECT count(*) FROM policies WHERE scope = 'team'") == 0  # nothing saved
