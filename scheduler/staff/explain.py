"""The policy's "why here" for staff: the stored explanation of a decision, readable and translated.

A decision's explanation lines (scheduler.policy.decision.ExplanationLine, stored as JSON
``{field, rule_id, value}``) are technical: rule ids with a layer prefix ("u25:fast-track",
"caseworker-12:x"), "defaults", route values like "assigned caseworker 12". Here they become
"Rule “no-money”: priority 90, team Entrance desk", with team and staff names looked up once per page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import asyncpg

from scheduler import callbacks as callbacks_
from scheduler import requests as requests_
from scheduler import teams
from scheduler.i18n import N_, translate
from scheduler.policy.decision import ExplanationLine
from scheduler.staff import ui

DEFAULTS: Final = "defaults"
FIELD_LABELS: Final = {
    "priority": N_("Priority"), "route": N_("Route"), "duration": N_("Duration"), "lead_time": N_("Lead time"),
    "within": N_("Within"), "modes": N_("Modes"), "propose": N_("Proposals"),
    "auto_confirm": N_("Auto-confirmation"), "follow_up": N_("After a no-show"), "room": N_("Room"),
    "walk_in": N_("Walk-in ticket"),
}
NEEDS_SOURCE: Final = "needs"  # policy.rooms.SOURCE: what the client's needs changed
FOLLOW_UPS: Final = {"none": N_("nothing"), "task": N_("a task for the caseworker")}
_INVITE = re.compile(r"invite (?P<n>\d+) workdays?")
SUMMARY_FIELDS: Final = ("priority", "route")

_TEAM = re.compile(r"team (?P<code>\S+)(?P<fallback> \(no assigned caseworker\))?")
_CASEWORKER = re.compile(r"(?P<assigned>assigned )?caseworker (?P<id>\d{1,18})")
_CASEWORKER_LAYER = re.compile(r"caseworker-(?P<id>\d{1,18})")
_DURATION = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?")
_WORKDAYS = re.compile(r"(?P<n>\d+) workdays?(?P<raised> \(raised to lead_time\))?")
_CLIENTS_WISH: Final = " (client's wish)"


@dataclass(frozen=True, slots=True)
class Names:
    """A site's team names by code and staff names by id."""

    teams: Mapping[str, str] = field(default_factory=dict)
    staff: Mapping[int, str] = field(default_factory=dict)


async def site_names(conn: asyncpg.Connection, site_id: int) -> Names:
    """The names an explanation may mention, for a whole page: one query for the site's teams and staff."""
    team_names, staff_names = await teams.directory(conn, site_id)
    return Names(teams=team_names, staff=staff_names)


async def explanations(conn: asyncpg.Connection, *, requests: Sequence[int] = (), callbacks: Sequence[int] = (),
                       ) -> dict[tuple[str, int], list[ExplanationLine]]:
    """The stored explanation lines of the listed requests and callbacks, by (kind, id): one query per kind."""
    found: dict[tuple[str, int], list[ExplanationLine]] = {}
    if requests:
        stored = await requests_.explanations(conn, list(requests))
        found |= {("request", i): lines(raw) for i, raw in stored.items()}
    if callbacks:
        stored = await callbacks_.explanations(conn, list(callbacks))
        found |= {("callback", i): lines(raw) for i, raw in stored.items()}
    return found


def lines(raw: object) -> list[ExplanationLine]:
    """Explanation lines from a decision's JSON (or already parsed); malformed entries are left out."""
    if not isinstance(raw, list | tuple):
        return []
    found = []
    for entry in raw:
        if isinstance(entry, ExplanationLine):
            found.append(entry)
        elif isinstance(entry, Mapping) and all(isinstance(entry.get(k), str) for k in ("field", "rule_id", "value")):
            found.append(ExplanationLine(entry["field"], entry["rule_id"], entry["value"]))
    return found


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the explanation table: the setting, its value, and what set it."""

    field: str
    label: str
    value: str
    source: str


class Explainer:
    """Explanation lines as text for one staff member's language and one site's names."""

    def __init__(self, lang: str, names: Names) -> None:
        self.lang, self.names = lang, names

    def _(self, msgid: str, **params: object) -> str:
        return translate(self.lang, msgid, **params)

    def staff_name(self, staff_id: int) -> str:
        return self.names.staff.get(staff_id) or self._(N_("staff member no. %(id)s"), id=staff_id)

    def source(self, rule_id: str) -> str:
        """Who set a value: the defaults, a rule of the site, or a team's or caseworker's own rule."""
        if rule_id == DEFAULTS:
            return self._(N_("Default"))
        if rule_id == NEEDS_SOURCE:
            return self._(N_("The client's needs"))
        layer, sep, rule = rule_id.partition(":")
        if not sep:
            return self._(N_("Rule “%(rule)s”"), rule=rule_id)
        caseworker = _CASEWORKER_LAYER.fullmatch(layer)
        if caseworker is not None:
            return self._(N_("Rule “%(rule)s” of %(name)s"), rule=rule, name=self.staff_name(int(caseworker["id"])))
        return self._(N_("Rule “%(rule)s” of team %(team)s"), rule=rule, team=self.names.teams.get(layer, layer))

    def route(self, value: str) -> str:
        team = _TEAM.fullmatch(value)
        if team is not None:
            name = self.names.teams.get(team["code"], team["code"])
            if team["fallback"]:
                return self._(N_("team %(name)s (no assigned caseworker)"), name=name)
            return self._(N_("team %(name)s"), name=name)
        caseworker = _CASEWORKER.fullmatch(value)
        if caseworker is not None:
            name = self.staff_name(int(caseworker["id"]))
            if caseworker["assigned"]:
                return self._(N_("assigned caseworker %(name)s"), name=name)
            return self._(N_("caseworker %(name)s"), name=name)
        return value

    def workdays(self, value: str) -> str:
        found = _WORKDAYS.fullmatch(value)
        if found is None:
            return value
        n = int(found["n"])
        text = self._(N_("1 workday")) if n == 1 else self._(N_("%(n)s workdays"), n=n)
        return text + (" " + self._(N_("(raised to the lead time)")) if found["raised"] else "")

    def room(self, value: str) -> str:
        """policy.rooms.adjust's line: the rooms that meet the client's needs, or "-" for none."""
        if value == "-":
            return self._(N_("no room meets the needs: phone or video only"))
        return self._(N_("in person only in: %(rooms)s"), rooms=value)

    def value(self, line: ExplanationLine) -> str:
        """A value the way staff read it: names for ids, translated units and modes."""
        value = line.value
        if line.field == "route":
            return self.route(value)
        if line.field == "duration":
            found = _DURATION.fullmatch(value)
            if found is None or not (found["h"] or found["m"]):
                return value
            return self._(N_("%(n)s min"), n=int(found["h"] or 0) * 60 + int(found["m"] or 0))
        if line.field in ("lead_time", "within"):
            return self.workdays(value)
        if line.field == "modes":
            wish = value.endswith(_CLIENTS_WISH)
            modes = value.removesuffix(_CLIENTS_WISH).split(", ")
            text = ", ".join(self._(ui.MODE_LABELS.get(m, m)) for m in modes if m)
            return text + (" " + self._(N_("(the client's wish)")) if wish else "")
        if line.field in ("auto_confirm", "walk_in"):
            return self._(N_("yes")) if value == "true" else self._(N_("no")) if value == "false" else value
        if line.field == "follow_up":
            if value in FOLLOW_UPS:
                return self._(FOLLOW_UPS[value])
            invite = _INVITE.fullmatch(value)
            if invite is not None:
                return self._(N_("a new invitation, %(lead)s ahead"),
                              lead=self.workdays(value.removeprefix("invite ")))
        return value

    def summary(self, explanation: Iterable[ExplanationLine]) -> str:
        """One line: priority and route, grouped by what set them, e.g. "Default: priority 10, team X"."""
        parts: dict[str, list[str]] = {}
        for line in explanation:
            if line.field not in SUMMARY_FIELDS:
                continue
            text = self._(N_("priority %(n)s"), n=line.value) if line.field == "priority" else self.route(line.value)
            parts.setdefault(line.rule_id, []).append(text)
        return "; ".join(f"{self.source(src)}: {', '.join(texts)}" for src, texts in parts.items())

    def rows(self, explanation: Iterable[ExplanationLine]) -> list[Row]:
        """Every explained setting, for the table on the request page."""
        return [Row(line.field, self._(FIELD_LABELS.get(line.field, line.field)),
                    self.room(line.value) if line.field == "room" else self.value(line),
                    self.source(line.rule_id)) for line in explanation]


def whys(lang: str, names: Names, explained: Mapping[tuple[str, int], Sequence[ExplanationLine]],
         ) -> dict[tuple[str, int], str]:
    """The one-line "why here" of every listed item, by (kind, id)."""
    explainer = Explainer(lang, names)
    return {key: explainer.summary(found) for key, found in explained.items()}
