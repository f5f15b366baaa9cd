"""Rule set versions for the rules page: what each version changed against the one saved before it, and the
message after an activation or roll-back, in words (scheduler.policy.diff, worded by rule_diff_text)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from scheduler import concerns as concerns_
from scheduler.i18n import N_, translate
from scheduler.policy import store
from scheduler.policy.diff import Change, diff
from scheduler.policy.rules import RuleSet
from scheduler.staff import explain
from scheduler.staff.rule_diff_text import DiffWriter

# A flash message travels in a cookie: a long list of changes is cut, the version list has them all.
FLASH_SENTENCES: Final = 4


@dataclass(frozen=True, slots=True)
class VersionChanges:
    """Per version id, its changes against the version saved before it (None for the first), and the site's
    names to word them; called from the template with the page's language."""

    changes: dict[int, list[Change] | None]
    names: explain.Names
    concern_labels: dict[str, dict[str, str]]

    def __call__(self, policy_id: int, lang: str) -> list[str]:
        """The sentences for one version ([] when it is the first or not listed)."""
        found = self.changes.get(policy_id)
        if found is None:
            return []
        return DiffWriter(lang, self.names, self.concern_labels).sentences(found)


async def _labels(conn: asyncpg.Connection, site_id: int) -> tuple[explain.Names, dict[str, dict[str, str]]]:
    names = await explain.site_names(conn, site_id)
    concern_labels = {c["code"]: dict(c["labels"]) for c in await concerns_.list_for_site(conn, site_id)}
    return names, concern_labels


async def context(conn: asyncpg.Connection, site_id: int, versions: Sequence[store.StoredPolicy]) -> dict[str, Any]:
    """What the version list partial needs beyond the versions: `version_changes(policy_id, lang)`."""
    ordered = sorted(versions, key=lambda v: v.version)
    changes: dict[int, list[Change] | None] = {}
    for previous, version in zip([None, *ordered], ordered, strict=False):
        changes[version.id] = None if previous is None else diff(previous.ruleset, version.ruleset)
    names, concern_labels = await _labels(conn, site_id)
    return {"version_changes": VersionChanges(changes, names, concern_labels)}


async def active_ruleset(conn: asyncpg.Connection, policy: store.StoredPolicy) -> RuleSet | None:
    """The rule set active in the scope of `policy` now (before it is activated), or None."""
    active = await store.active(conn, policy.site_id)
    if policy.scope is store.Scope.site:
        current = active.site
    elif policy.scope is store.Scope.team:
        current = active.teams.get(policy.team_id or 0)
    else:
        current = active.caseworkers.get(policy.staff_id or 0)
    return current.ruleset if current is not None else None


async def activation_message(conn: asyncpg.Connection, lang: str, *, previous: RuleSet | None,
                             activated: store.StoredPolicy) -> str:
    """'Version 5 is active now. Changes: …' against the rule set that was active before."""
    head = translate(lang, N_("Version %(version)s is active now."), version=activated.version)
    if previous is None:
        return head
    names, concern_labels = await _labels(conn, activated.site_id)
    sentences = DiffWriter(lang, names, concern_labels).sentences(diff(previous, activated.ruleset))
    shown = "; ".join(sentences[:FLASH_SENTENCES])
    if len(sentences) > FLASH_SENTENCES:
        shown += " " + translate(lang, N_("(and %(n)s more changes, see the version list)"),
                                 n=len(sentences) - FLASH_SENTENCES)
    return f"{head} {translate(lang, N_('Changes: %(changes)s'), changes=shown)}"
