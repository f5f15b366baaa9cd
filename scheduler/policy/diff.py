"""What changed between two rule sets, as structured items the staff pages put into words.

Rules are matched by id. A rule present in both is compared field by field in its `when` and `then`; the
order of the rules both share is compared as a whole, and only the fewest rules that explain the new order
are reported as moved (those outside a longest run kept in the same order). Values are given in the rule
set's YAML shape (`to_dict()`), so a reader can show them without knowing the model.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from scheduler.policy.rules import Rule, RuleSet


class ChangeKind(StrEnum):
    rule_added = "rule_added"
    rule_removed = "rule_removed"
    rule_moved = "rule_moved"
    rule_field = "rule_field"  # a field of a rule's when or then: set, unset or changed
    setting = "setting"  # a field of defaults, ordering, caps or callbacks


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. `old`/`new` are YAML-shape values (None: not set), or 1-based positions for a move."""

    kind: ChangeKind
    rule: str | None = None  # the rule's id
    part: str | None = None  # "when" | "then" | "defaults" | "ordering" | "caps" | "callbacks"
    field: str | None = None
    old: object = None
    new: object = None
    # The one concern the rule is about, when it is the only rule (in either set) about just that concern:
    # then a reader may name the rule by the concern ("priority for 'Kein Geld mehr'").
    concern: str | None = None


SETTINGS: tuple[str, ...] = ("defaults", "ordering", "caps", "callbacks")


def diff(old: RuleSet | None, new: RuleSet) -> list[Change]:
    """The changes from `old` to `new` (everything is added when there is no old rule set), in reading order:
    removed rules, added rules, moved rules, changed rule fields (in the new order), then settings."""
    before = old.rules if old is not None else ()
    naming = _concern_names((*before, *new.rules))
    old_by_id = {r.id: (i, r) for i, r in enumerate(before)}
    new_ids = {r.id for r in new.rules}
    changes = [Change(ChangeKind.rule_removed, rule=r.id, old=i + 1, concern=naming.get(r.id))
               for i, r in enumerate(before) if r.id not in new_ids]
    changes += [Change(ChangeKind.rule_added, rule=r.id, new=i + 1, concern=naming.get(r.id))
                for i, r in enumerate(new.rules) if r.id not in old_by_id]
    shared = [(old_by_id[r.id][0], i, r) for i, r in enumerate(new.rules) if r.id in old_by_id]
    kept = _longest_increasing([old_pos for old_pos, _, _ in shared])
    changes += [Change(ChangeKind.rule_moved, rule=r.id, old=old_pos + 1, new=new_pos + 1, concern=naming.get(r.id))
                for k, (old_pos, new_pos, r) in enumerate(shared) if k not in kept]
    for _, _, rule in shared:
        was = old_by_id[rule.id][1]
        for part in ("when", "then"):
            changes += [Change(ChangeKind.rule_field, rule=rule.id, part=part, field=name, old=a, new=b,
                               concern=naming.get(rule.id))
                        for name, a, b in _fields(getattr(was, part).to_dict(), getattr(rule, part).to_dict())]
    if old is not None:
        for part in SETTINGS:
            changes += [Change(ChangeKind.setting, part=part, field=name, old=a, new=b)
                        for name, a, b in _fields(getattr(old, part).to_dict(), getattr(new, part).to_dict())]
    return changes


def _fields(old: Mapping[str, object], new: Mapping[str, object]) -> list[tuple[str, object, object]]:
    names = [*old, *(k for k in new if k not in old)]
    return [(name, old.get(name), new.get(name)) for name in names if old.get(name) != new.get(name)]


def _concern_names(rules: Sequence[Rule]) -> dict[str, str]:
    """Rule id -> its single concern, for rules that are the only ones (by id) about just that concern."""
    single: dict[str, set[str]] = {}
    for r in rules:
        if r.when.concern is not None and len(r.when.concern) == 1:
            single.setdefault(r.when.concern[0], set()).add(r.id)
    return {next(iter(ids)): concern for concern, ids in single.items() if len(ids) == 1}


def _longest_increasing(values: Sequence[int]) -> set[int]:
    """Indexes of one longest strictly increasing subsequence (patience sorting, O(n log n))."""
    tails: list[int] = []  # value at the end of the best run of each length
    tail_index: list[int] = []
    previous: list[int] = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_index.append(i)
        else:
            tails[k], tail_index[k] = v, i
        previous[i] = tail_index[k - 1] if k else -1
    kept: set[int] = set()
    i = tail_index[-1] if tail_index else -1
    while i >= 0:
        kept.add(i)
        i = previous[i]
    return kept
