"""The kiosk's emergency walk-in: a callback request whose policy decision allows walk-ins (for example "no money
today") gets a same-day ticket for the front desk queue while the office is open; otherwise it stays a callback
request, as before. The ticket screen is kiosk/walk_in.js; its texts come with the kiosk's other texts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg

from scheduler import walk_in_desk
from scheduler.i18n import N_

# The ticket screen's texts, by key (added to the kiosk's TEXTS).
TEXTS: Mapping[str, str] = {
    "walk_in_heading": N_("Please wait here. Your number:"),
    "walk_in_note": N_("You will be called. Watch the screen in the waiting area for your number."),
    "walk_in_fallback": N_("If you cannot wait, you may go: we will call you back. Your reference code:"),
}


async def ticket(pool: asyncpg.Pool, *, callback_id: int, now: datetime) -> dict[str, str] | None:
    """The ticket for the receipt (its number), or None where the policy or the office hours do not allow one."""
    issued = await walk_in_desk.issue_for_callback(pool, callback_id=callback_id, now=now)
    return None if issued is None else {"ticket": issued.label}
