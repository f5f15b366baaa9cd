"""The page-layer check of a rule set against the office: every customer group a rule tests must be one of the
office's groups (the pure parser only checks the code's shape, as it does for concerns)."""

from __future__ import annotations

from collections.abc import Collection

from scheduler.policy.rules import RuleError, RuleSet, RuleSetInvalid


def unknown_groups(ruleset: RuleSet, known: Collection[str]) -> tuple[RuleError, ...]:
    """One problem per rule that names a group code the office does not have (active or not)."""
    allowed = ", ".join(sorted(known)) or "-"
    errors = []
    for i, rule in enumerate(ruleset.rules):
        missing = [code for code in rule.when.groups or () if code not in known]
        if missing:
            errors.append(RuleError(f"rules[{i}] ({rule.id}).when.groups", "unknown-group",
                                    {"field": "when.groups", "rule": rule.id, "allowed": allowed,
                                     "got": ", ".join(missing)}))
    return tuple(errors)


def check(ruleset: RuleSet, known: Collection[str]) -> RuleSet:
    """The rule set, or RuleSetInvalid when a rule names a group the office does not have."""
    errors = unknown_groups(ruleset, known)
    if errors:
        raise RuleSetInvalid(errors)
    return ruleset
