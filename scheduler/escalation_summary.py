"""The team lead's daily escalation summary: once per team and local working day, from SUMMARY_FROM on.

The hour and the days are settings: `escalation.summary_from`, `escalation.summary_days` (workdays or every_day).

Owner of `escalation_summaries` (migration 0034). Its UNIQUE (team_id, day) makes the job idempotent across
processes: the INSERT that wins also queues the mails, in the same transaction; a second process finds the row
and does nothing. Where the site allows e-mail, each active team lead with an address gets a staff mail through
the outbox (kind SUMMARY_KIND, counts and a link only, no client data); otherwise the escalation page shows it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Final

import asyncpg

from scheduler import outbox, sites, teams
from scheduler.escalation import ESCALATED
from scheduler.i18n import N_, STAFF_LANGUAGES, translate

SUMMARY_KIND: Final = "email.escalation_summary"
SUMMARY_FROM: Final = time(7, 0)  # local time from which a working day's summary goes out
PAGE_PATH: Final = "/staff/escalation"

MAIL_SUBJECT: Final = N_("Escalations of %(team)s: %(count)s requests past their decision deadline")
MAIL_TEXT: Final = N_(
    "Good morning,\n\n%(count)s requests of the team %(team)s are past their decision deadline, %(new)s of them "
    "new since the previous summary.\n\nPlease look at them and reassign where needed:\n%(link)s\n\n"
    "This summary is sent once per working day.")


@dataclass(frozen=True, slots=True)
class Summary:
    """A team's summary of one day, as the escalation page shows it."""

    team_id: int
    day: date
    escalated: int
    new_since: int
    oldest_deadline_at: datetime | None
    mails: int
    created_at: datetime


_DUE = f"""
SELECT r.site_id, r.team_id, t.name AS team_name, count(*) AS escalated, min(r.deadline_at) AS oldest
FROM requests r JOIN teams t ON t.id = r.team_id
WHERE {ESCALATED} GROUP BY r.site_id, r.team_id, t.name ORDER BY r.site_id, r.team_id
"""

_NEW_SINCE = f"""
SELECT count(*) FROM requests r
WHERE r.site_id = $1 AND r.team_id = $2 AND {ESCALATED}
  AND r.overdue_flagged_at > coalesce((SELECT max(e.created_at) FROM escalation_summaries e
                                       WHERE e.team_id = $2 AND e.day < $3), '-infinity')
"""

_INSERT = """
INSERT INTO escalation_summaries (site_id, team_id, day, escalated, new_since, oldest_deadline_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (team_id, day) DO NOTHING RETURNING id
"""


def is_due(site: sites.Site, now: datetime, *, start: time = SUMMARY_FROM, workdays_only: bool = True) -> date | None:
    """The site's local day if a summary is due now, else None: from `start` local time on, on the working days
    of the site's calendar (on every day when not workdays_only)."""
    calendar = site.calendar()
    local = now.astimezone(calendar.zone)
    if (workdays_only and not calendar.is_workday(local.date())) or local.time() < start:
        return None
    return local.date()


async def send_due(pool: asyncpg.Pool, *, now: datetime, start: time = SUMMARY_FROM,
                   workdays_only: bool = True, public_base_url: str = "http://localhost:8080") -> int:
    """Write today's summary of every team with escalated requests, where due (see is_due) and not yet written;
    the count."""
    async with pool.acquire() as conn:
        by_site: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in await conn.fetch(_DUE):
            by_site[row["site_id"]].append(row)
        written = 0
        for site_id, rows in by_site.items():
            site = sites.resolved(await sites.site_by_id(conn, site_id), public_base_url)
            day = is_due(site, now, start=start, workdays_only=workdays_only)
            if day is None:
                continue
            for row in rows:
                async with conn.transaction():
                    written += await _summarise(conn, site=site, row=row, day=day, now=now)
    return written


async def _summarise(conn: asyncpg.Connection, *, site: sites.Site, row: Mapping[str, Any], day: date,
                     now: datetime) -> int:
    team_id = row["team_id"]
    new_since = min(int(await conn.fetchval(_NEW_SINCE, site.id, team_id, day)), row["escalated"])
    summary_id = await conn.fetchval(_INSERT, site.id, team_id, day, row["escalated"], new_since, row["oldest"], now)
    if summary_id is None:
        return 0  # another process (or an earlier run) wrote today's summary
    if not site.email_enabled:
        return 1
    payload = {"team": row["team_name"], "count": row["escalated"], "new": new_since,
               "link": site.public_base_url.rstrip("/") + PAGE_PATH}
    queued = [outbox.Queued(site_id=site.id, key=f"escalation-summary:{team_id}:{day.isoformat()}:{lead['id']}",
                            channel="email", kind=SUMMARY_KIND, recipient=lead["email"],
                            language=_language(lead["languages"]), payload=payload)
              for lead in await teams.leads_with_email(conn, team_id)]
    mails = await outbox.enqueue_many(conn, queued)
    await conn.execute("UPDATE escalation_summaries SET mails = $2 WHERE id = $1", summary_id, mails)
    return 1


def _language(languages: list[str] | None) -> str:
    return next((lang for lang in languages or () if lang in STAFF_LANGUAGES), "de")


def mail_text(language: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and text of a summary mail from its outbox payload."""
    params = {"team": str(payload.get("team", "")), "count": int(payload.get("count", 0)),
              "new": int(payload.get("new", 0)), "link": str(payload.get("link", ""))}
    return (translate(language, MAIL_SUBJECT, team=params["team"], count=params["count"]),
            translate(language, MAIL_TEXT, **params))


async def latest(conn: asyncpg.Connection, *, site_id: int, team_ids: list[int]) -> dict[int, Summary]:
    """The most recent summary of each listed team of a site, by team."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (team_id) team_id, day, escalated, new_since, oldest_deadline_at, mails, created_at
        FROM escalation_summaries WHERE site_id = $1 AND team_id = ANY($2::bigint[])
        ORDER BY team_id, day DESC
        """, site_id, team_ids)
    return {r["team_id"]: Summary(**r) for r in rows}
