"""The rule builder's library of common office rules: one click adds one to the form, to be edited before saving.

Each template is a rule in the YAML shape, with the demo office's concern and team codes (scheduler/demo);
an office whose codes differ changes them in the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from scheduler.i18n import N_
from scheduler.policy.rules import format_duration
from scheduler.staff.rule_form import Values, section_values
from scheduler.staff.rule_form_fields import THEN, WHEN

INTERPRETER_EXTRA_MINUTES: Final = 15


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    label: str  # N_ message id
    rule_id: str
    when: Mapping[str, object]
    then: Mapping[str, object]


def _library(default_minutes: int) -> tuple[Template, ...]:
    longer = format_duration(timedelta(minutes=default_minutes + INTERPRETER_EXTRA_MINUTES))
    return (
        Template("no-money", N_("No money left / eviction: within 1 workday, priority 95"), "no-money",
                 {"concern": ["no_money", "eviction"]},
                 {"priority": 95, "lead_time": 0, "within": 1}),
        Template("under-25", N_("Under 25 → the U25 team"), "under-25", {"age": {"lt": 25}},
                 {"route": {"team": "u25"}}),
        Template("eservice-help", N_("Help with the eService by video or phone"), "eservice-help",
                 {"concern": ["eservice_help"]}, {"modes": ["video", "phone"]}),
        Template("interpreter", N_("Interpreter needed → 15 minutes longer"), "interpreter",
                 {"needs": ["interpreter"]}, {"duration": longer}),
    )


def library(default_minutes: int = 30) -> tuple[Template, ...]:
    """The templates; "15 minutes longer" counts from the rule set's default duration."""
    return _library(default_minutes)


def form_values(default_minutes: int = 30) -> dict[str, Values]:
    """Each template as the form's values of one rule, by key (for rule_form.apply)."""
    out: dict[str, Values] = {}
    for t in library(default_minutes):
        values: Values = {"id": (t.rule_id,)}
        values.update(section_values(WHEN, t.when, "when."))
        values.update(section_values(THEN, t.then, "then."))
        out[t.key] = values
    return out
