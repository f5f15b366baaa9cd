"""What the rule builder's template needs besides the form's values: each field's options in the staff member's
language, and each problem as a sentence at its field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scheduler import needs
from scheduler.i18n import LANGUAGES, translate
from scheduler.policy.rules import Channel, Kind, Mode, Need, RuleError, TieBreak
from scheduler.staff import rule_errors, ui
from scheduler.staff.rule_form import errors_by_field
from scheduler.staff.rule_form_fields import (
    CALLBACKS,
    CAPS,
    DEFAULTS,
    KIND_LABELS,
    ORDERING,
    SECTIONS,
    THEN,
    TIE_BREAK_LABELS,
    WHEN,
    Field,
    Source,
)
from scheduler.staff.rule_templates import library

Option = tuple[str, str]  # (value, label)


@dataclass(frozen=True, slots=True)
class Options:
    """The choices of the site in the staff member's language, by Source; teams and caseworkers for routes."""

    by_source: Mapping[str, list[Option]]
    teams: list[Option]  # ("team:CODE", name)
    caseworkers: list[Option]  # ("caseworker:ID", name)

    def of(self, f: Field, chosen: Iterable[str] = ()) -> list[Option]:
        """A field's options; a chosen value the site no longer offers is kept, so it is not lost on saving."""
        found = list(self.by_source.get(f.source, []))
        known = {v for v, _ in found}
        return found + [(v, v) for v in chosen if v and v not in known]

    def route_extra(self, chosen: str) -> list[Option]:
        """A chosen route that is none of the listed ones (a team since renamed, a caseworker who left)."""
        listed = {"", "assigned", *(v for v, _ in self.teams), *(v for v, _ in self.caseworkers)}
        return [] if chosen in listed else [(chosen, chosen)]


def options(lang: str, *, concerns: Sequence[Mapping[str, Any]], teams: Mapping[str, str],
            staff: Mapping[int, str], groups: Sequence[Option] = ()) -> Options:
    """The options for the site's concerns, teams and staff (names by code and id), and its active customer
    groups (code, label), labelled in `lang`."""
    def _(msgid: str) -> str:
        return translate(lang, msgid)

    language_name = ui.labels(lang)["language"]
    return Options(
        by_source={
            Source.concern: [(c["code"], ui.concern_label(c["labels"] or {}, lang) or c["code"]) for c in concerns],
            Source.language: [(code, str(language_name(code)) + (" (" + code + ")" if "-" in code else ""))
                              for code in LANGUAGES],
            Source.channel: [(c.value, _(ui.CHANNEL_LABELS[c.value])) for c in Channel],
            Source.kind: [(k.value, _(KIND_LABELS[k.value])) for k in Kind],
            Source.need: [(n.value, _(needs.LABELS[n])) for n in Need],
            Source.mode: [(m.value, _(ui.MODE_LABELS[m.value])) for m in Mode],
            Source.tie_break: [(t.value, _(TIE_BREAK_LABELS[t.value])) for t in TieBreak],
            Source.group: list(groups),
        },
        teams=[(f"team:{code}", name) for code, name in sorted(teams.items(), key=lambda t: t[1])],
        caseworkers=[(f"caseworker:{sid}", name) for sid, name in sorted(staff.items(), key=lambda s: s[1])],
    )


def field_errors(errors: Sequence[RuleError], lang: str) -> dict[str, list[str]]:
    """Each problem as a sentence in `lang`, by the form field it is shown at ("" for the whole rule set)."""
    return {key: [rule_errors.describe(e, lang) for e in found] for key, found in errors_by_field(errors).items()}


def builder_context(lang: str, opts: Options, default_minutes: int) -> dict[str, Any]:
    """The builder's field table, options and template library, for templates/staff/rules_builder.html."""
    return {"when_fields": WHEN, "then_fields": THEN, "sections": SECTIONS, "options": opts,
            "rule_templates": library(default_minutes), "section_fields": {
                "defaults": DEFAULTS, "ordering": ORDERING, "caps": CAPS, "callbacks": CALLBACKS}}
