"""The changes between two rule sets in words, in the staff member's language: 'Priority for “Kein Geld mehr”
90 → 95'. The changes themselves come from the pure scheduler.policy.diff."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from scheduler.i18n import N_
from scheduler.policy.decision import ExplanationLine
from scheduler.policy.diff import Change, ChangeKind
from scheduler.policy.rules import format_workdays
from scheduler.staff import ui
from scheduler.staff.explain import FIELD_LABELS, Explainer, Names

WHEN_LABELS: Final = {
    "concern": N_("Concern"), "channel": N_("Channel"), "language": N_("Language"), "kind": N_("Kind"),
    "age": N_("Age"), "urgent": N_("Urgent"), "needs": N_("Needs"), "invitation": N_("Invitation"),
    "no_shows": N_("Earlier no-shows"), "groups": N_("Customer groups"),
}
SETTING_LABELS: Final = {
    "aging_per_workday": N_("Aging per working day"), "tie_break": N_("Tie break"),
    "appointments_per_caseworker_per_day": N_("Appointments per caseworker per day"),
    "callbacks_per_caseworker_per_day": N_("Callbacks per caseworker per day"),
    "retry_after": N_("Callback retry after"), "max_attempts": N_("Callback attempts at most"),
}
KIND_LABELS: Final = {"appointment": N_("appointment"), "callback": N_("callback")}
TIE_BREAKS: Final = {"oldest_first": N_("oldest first"), "newest_first": N_("newest first")}
AGE_BOUNDS: Final = {"lt": "<", "lte": "≤", "gt": ">", "gte": "≥"}
# Coded values shown by their label in the staff member's language.
CODE_LABELS: Final[Mapping[str, Mapping[str, str]]] = {
    "channel": ui.CHANNEL_LABELS, "modes": ui.MODE_LABELS, "kind": KIND_LABELS, "tie_break": TIE_BREAKS,
}
NOT_SET: Final = "–"


class DiffWriter:
    """Sentences for rule set changes, with one site's concern labels and team and staff names."""

    def __init__(self, lang: str, names: Names, concern_labels: Mapping[str, Mapping[str, str]]) -> None:
        self.lang = lang
        self.explainer = Explainer(lang, names)
        self.concerns = {code: ui.concern_label(labels, lang) for code, labels in concern_labels.items()}

    def _(self, msgid: str, **params: object) -> str:
        return self.explainer._(msgid, **params)

    def sentences(self, changes: Sequence[Change]) -> list[str]:
        """One sentence per change; one saying there is none for an empty list."""
        return [self.sentence(c) for c in changes] or [self._(N_("No changes."))]

    def sentence(self, change: Change) -> str:
        """One change in words."""
        rule = self.rule_name(change)
        if change.kind is ChangeKind.rule_added:
            return self._(N_("New rule %(rule)s at position %(pos)s"), rule=rule, pos=change.new)
        if change.kind is ChangeKind.rule_removed:
            return self._(N_("Rule %(rule)s removed"), rule=rule)
        if change.kind is ChangeKind.rule_moved:
            return self._(N_("Rule %(rule)s moved from position %(old)s to %(new)s"), rule=rule, old=change.old,
                          new=change.new)
        field = change.field or ""
        if change.kind is ChangeKind.rule_field:
            labels = WHEN_LABELS if change.part == "when" else FIELD_LABELS
            label = self._(labels.get(field, field))
            if change.old is None:
                return self._(N_("%(field)s for %(rule)s set to %(new)s"), field=label, rule=rule,
                              new=self.value(field, change.new))
            if change.new is None:
                return self._(N_("%(field)s for %(rule)s no longer set (was %(old)s)"), field=label, rule=rule,
                              old=self.value(field, change.old))
            return self._(N_("%(field)s for %(rule)s %(old)s → %(new)s"), field=label, rule=rule,
                          old=self.value(field, change.old), new=self.value(field, change.new))
        label = self._(SETTING_LABELS.get(field) or FIELD_LABELS.get(field, field))
        if change.part == "defaults":
            return self._(N_("%(field)s by default %(old)s → %(new)s"), field=label, old=self.value(field, change.old),
                          new=self.value(field, change.new))
        return self._(N_("%(field)s %(old)s → %(new)s"), field=label, old=self.value(field, change.old),
                      new=self.value(field, change.new))

    def rule_name(self, change: Change) -> str:
        """“Kein Geld mehr” when the rule is the one about that concern, else the rule's id in quotes."""
        if change.concern is not None and change.concern in self.concerns:
            return self._(N_("“%(name)s”"), name=self.concerns[change.concern])
        return self._(N_("“%(name)s”"), name=change.rule)

    def value(self, field: str, value: object) -> str:
        """A YAML-shape value as staff read it: labels for codes, names for ids, translated units."""
        if value is None:
            return NOT_SET
        if isinstance(value, bool):
            return self._(N_("yes")) if value else self._(N_("no"))
        if isinstance(value, list):
            return ", ".join(self.value(field, v) for v in value) or NOT_SET
        if isinstance(value, Mapping):
            return self._mapping(field, value)
        text = str(value)
        if field == "concern":
            return self.concerns.get(text, text)
        if field in CODE_LABELS:
            return self._(CODE_LABELS[field].get(text, text))
        if field == "follow_up":
            return self.explainer.value(_line(field, text))
        if field in ("lead_time", "within", "duration", "retry_after"):
            shown = format_workdays(value) if isinstance(value, int) else text
            return self.explainer.value(_line("duration" if field == "retry_after" else field, shown))
        return text

    def _mapping(self, field: str, value: Mapping[str, object]) -> str:
        if field in ("age", "no_shows"):
            return " ".join(f"{AGE_BOUNDS.get(k, k)} {v}" for k, v in value.items())
        if field == "route":
            return self._route(value)
        if field == "follow_up":
            return self.explainer.value(_line(field, f"invite {value.get('invite', '')}"))
        return ", ".join(f"{k}: {v}" for k, v in value.items())

    def _route(self, value: Mapping[str, object]) -> str:
        if "team" in value:
            return self.explainer.route(f"team {value['team']}")
        if value.get("caseworker") == "assigned":
            return self._(N_("the assigned caseworker"))
        return self.explainer.route(f"caseworker {value.get('caseworker')}")


def _line(field: str, value: str) -> ExplanationLine:
    """A value in the shape of an explanation line, so the explainer's wording is used for it."""
    return ExplanationLine(field, "", value)
