"""The rules page's impact preview: the weeks field, and what the partial templates/staff/_preview_impact.html
needs to show scheduler.preview_impact's result in the staff member's language."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from babel.numbers import format_decimal

from scheduler import concerns as concerns_
from scheduler import teams as teams_
from scheduler.i18n import N_, babel_locale, translate
from scheduler.policy import store
from scheduler.policy.decision import ExplanationLine
from scheduler.policy.rules import RuleSet
from scheduler.preview_impact import DEFAULT_WEEKS, MAX_WEEKS, preview_impact
from scheduler.preview_replay import Draft
from scheduler.staff import explain, ui

WEEKS_FIELD = "weeks"


def parse_weeks(raw: str) -> tuple[int, str | None]:
    """The weeks to replay (1..12, empty: 4), or the default and the field's problem in English (a msgid)."""
    raw = raw.strip()
    if not raw:
        return DEFAULT_WEEKS, None
    if raw.isdigit() and 1 <= int(raw) <= MAX_WEEKS:
        return int(raw), None
    return DEFAULT_WEEKS, N_("Please enter a number of weeks from 1 to 12.")


async def context(pool: asyncpg.Pool, *, site_id: int, scope: store.Scope, team_id: int | None,
                  staff_id: int | None = None, ruleset: RuleSet | None, raw_weeks: str, lang: str,
                  now: datetime | None = None) -> dict[str, Any]:
    """`impact_*` entries for the rules page: the weeks field's value and problem, and with a rule set to
    preview (and a valid field) its impact, with names to show it by."""
    weeks, problem = parse_weeks(raw_weeks)
    found: dict[str, Any] = {"impact_weeks": raw_weeks.strip() or DEFAULT_WEEKS, "impact_max_weeks": MAX_WEEKS,
                             "impact_error": translate(lang, problem) if problem else None, "impact": None}
    if ruleset is None or problem:
        return found
    draft = Draft(ruleset=ruleset, scope=scope, team_id=team_id, staff_id=staff_id)
    async with pool.acquire() as conn:
        impact = await preview_impact(conn, site_id=site_id, draft=draft, weeks=weeks, now=now or datetime.now(UTC))
        team_names = await teams_.names(conn, site_id)
        names = await explain.site_names(conn, site_id)
        concern_labels = {c["code"]: ui.concern_label(c["labels"], lang)
                          for c in await concerns_.list_for_site(conn, site_id)}
    explainer = explain.Explainer(lang, names)

    def why(lines: Iterable[ExplanationLine]) -> str:
        return explainer.summary(lines) or "–"

    def team(team_id: int | None) -> str:
        return team_names.get(team_id, "–") if team_id is not None else translate(lang, N_("no team"))

    def days(value: float, signed: bool = False) -> str:
        return format_decimal(value, "+0.0;-0.0" if signed else "0.0", locale=babel_locale(lang))

    return found | {"impact": impact, "impact_why": why, "impact_team": team, "impact_days": days,
                    "impact_concern": lambda code: concern_labels.get(code, code)}
