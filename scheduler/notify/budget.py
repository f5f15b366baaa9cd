"""The daily SMS budget of a site: one unit per SMS handed to the provider, counted per local day.

It bounds what SMS pumping can cost: once a site's budget for the day is used, its SMS wait for the next
day (the dispatcher moves them, nothing is lost). The send that reaches 80 % writes one audit row and
marks the day, which the admins' dashboard shows; the mark makes the notice once per site and day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from scheduler import audit

log = logging.getLogger(__name__)
ACTOR = "system:sms-budget"


@dataclass(frozen=True, slots=True)
class BudgetDay:
    day: date
    used: int
    budget: int
    warned_at: datetime | None      # the 80 % notice was given
    exhausted_at: datetime | None   # an SMS had to wait for the next day


@dataclass(frozen=True, slots=True)
class Taken:
    allowed: bool   # False: the budget is used up, the SMS must wait
    warned: bool    # this send reached 80 % and the admins' notice was written now


def warn_at(budget: int) -> int:
    """How many SMS of a budget trigger the admins' notice: 80 %, rounded up."""
    if budget < 1:
        raise ValueError("an SMS budget is at least 1")
    return -(-budget * 4 // 5)


def local_day(now: datetime, timezone: str) -> date:
    """The site's calendar day at a moment."""
    return now.astimezone(ZoneInfo(timezone)).date()


def next_day_start(now: datetime, timezone: str) -> datetime:
    """Midnight at the start of the site's next calendar day."""
    return datetime.combine(local_day(now, timezone) + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))


async def take(conn: asyncpg.Connection, *, site_id: int, timezone: str, budget: int, now: datetime) -> Taken:
    """Use one SMS of the site's budget for today, unless it is used up (safe under concurrent workers)."""
    day = local_day(now, timezone)
    row = await conn.fetchrow(
        """
        INSERT INTO sms_budget_days AS b (site_id, day, used, budget) VALUES ($1, $2, 1, $3)
        ON CONFLICT (site_id, day) DO UPDATE SET used = b.used + 1, budget = EXCLUDED.budget
        WHERE b.used < EXCLUDED.budget
        RETURNING used, warned_at
        """,
        site_id, day, budget,
    )
    if row is None:
        await conn.execute(
            "UPDATE sms_budget_days SET exhausted_at = coalesce(exhausted_at, $3) WHERE site_id = $1 AND day = $2",
            site_id, day, now)
        return Taken(allowed=False, warned=False)
    if row["warned_at"] is not None or row["used"] < warn_at(budget):
        return Taken(allowed=True, warned=False)
    async with conn.transaction():
        marked = await conn.fetchval(
            "UPDATE sms_budget_days SET warned_at = $3 WHERE site_id = $1 AND day = $2 AND warned_at IS NULL "
            "RETURNING true", site_id, day, now)
        if marked:
            log.warning("sms budget of the site 80 % used", extra={"site_id": site_id, "budget": budget})
            await audit.record(conn, site_id=site_id, actor=ACTOR, action="sms-budget-warning", subject_type="site",
                               subject_id=site_id,
                               details={"day": day.isoformat(), "used": row["used"], "budget": budget})
    return Taken(allowed=True, warned=bool(marked))


async def today(conn: asyncpg.Connection, *, site_id: int, timezone: str, now: datetime) -> BudgetDay | None:
    """The site's budget use today, or None when no SMS went out yet."""
    row = await conn.fetchrow(
        "SELECT day, used, budget, warned_at, exhausted_at FROM sms_budget_days WHERE site_id = $1 AND day = $2",
        site_id, local_day(now, timezone))
    return BudgetDay(**row) if row else None
