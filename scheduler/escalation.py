"""Escalation: open requests past their decision deadline, for the team lead.

The deadlines job (`approvals.flag_overdue`) flags a request when its decision deadline passes; it is escalated
while it is open and that flag is later than its current deadline (migration 0034's partial index
`requests_escalated`). The team lead sees the list, with a count in the navigation, and reassigns in bulk to a
caseworker of the team: a fresh decision and deadline end the escalation. The daily summary is `escalation_summary`.

Owner of the escalation read model and the bulk reassignment's set-based statements on `requests` (its
per-request lifecycle stays in requests.py), like request_expiry.py for expiry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from scheduler import audit, planning, teams
from scheduler import requests as requests_
from scheduler.errors import Forbidden, NotFound, ValidationFailed
from scheduler.i18n import N_
from scheduler.permissions import Role, StaffUser

BATCH_LIMIT: Final = 200  # requests one bulk reassignment may carry (each is planned anew)
LIST_LIMIT: Final = 500

# The one definition of "escalated" (the partial index requests_escalated has the same predicate).
ESCALATED: Final = "r.status IN ('received', 'proposed') AND r.overdue_flagged_at > r.deadline_at"


@dataclass(frozen=True, slots=True)
class Escalated:
    """One escalated request, as the team lead's list shows it."""

    id: int
    client_id: int
    reference: str
    concern_label: Mapping[str, str]
    channel: str
    team_id: int | None
    staff_id: int | None
    staff_name: str | None
    received_at: datetime
    deadline_at: datetime
    escalated_at: datetime


_LIST = f"""
SELECT r.id, r.client_id, r.reference, c.labels AS concern_label, r.channel, r.team_id, r.staff_id,
       s.display_name AS staff_name, r.created_at AS received_at, r.deadline_at, r.overdue_flagged_at AS escalated_at
FROM requests r JOIN concerns c ON c.id = r.concern_id LEFT JOIN staff s ON s.id = r.staff_id
WHERE r.site_id = $1 AND ($2::bigint IS NULL OR r.team_id = $2) AND {ESCALATED}
ORDER BY r.deadline_at, r.id LIMIT $3
"""

_COUNT = f"""
SELECT count(*) FROM requests r WHERE r.site_id = $1 AND ($2::bigint IS NULL OR r.team_id = $2) AND {ESCALATED}
"""


async def list_escalated(conn: asyncpg.Connection, *, site_id: int, team_id: int | None,
                         limit: int = LIST_LIMIT) -> list[Escalated]:
    """Escalated requests of a team (None: of the whole site), longest past their deadline first."""
    rows = await conn.fetch(_LIST, site_id, team_id, limit)
    return [Escalated(**_item(r)) for r in rows]


def _item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, "concern_label": dict(row["concern_label"] or {})}


async def count(conn: asyncpg.Connection, *, site_id: int, team_id: int | None) -> int:
    """How many requests of a team (None: the site) are escalated now; one index-only count."""
    return int(await conn.fetchval(_COUNT, site_id, team_id))


def team_scope(user: StaffUser) -> int | None:
    """The team whose escalations a user sees: a lead their own, an admin every team of the site (None)."""
    if user.role is Role.admin:
        return None
    if user.role is Role.team_lead and user.team_id is not None:
        return user.team_id
    raise Forbidden()


async def check_team(conn: asyncpg.Connection, user: StaffUser, team_id: int) -> None:
    """A lead acts on their own team, an admin on any team of their site; another site's team is not found."""
    if await teams.site_of_team(conn, team_id) != user.site_id:
        raise NotFound()
    if user.role is Role.admin or (user.role is Role.team_lead and user.team_id == team_id):
        return
    raise Forbidden()


# Locks the chosen requests that are still escalated-or-open in the team; any other is refused by count.
_LOCK = """
SELECT r.id FROM requests r
WHERE r.id = ANY($1::bigint[]) AND r.site_id = $2 AND r.team_id = $3 AND r.status IN ('received', 'proposed')
ORDER BY r.id FOR UPDATE
"""


async def reassign(pool: asyncpg.Pool, *, user: StaffUser, team_id: int, request_ids: Sequence[int], staff_id: int,
                   now: datetime) -> int:
    """Give open requests of a team to one of its caseworkers, all or none, in one transaction; each is audited
    and planned anew for that person (a fresh deadline ends its escalation). How many were reassigned."""
    ids = sorted(set(request_ids))
    if not ids:
        raise ValidationFailed(fields={"request_ids": N_("Please choose at least one request.")})
    if len(ids) > BATCH_LIMIT:
        raise ValidationFailed(fields={"request_ids": N_("Please reassign at most %(n)s requests at once.")},
                               params={"n": BATCH_LIMIT})
    async with pool.acquire() as conn, conn.transaction():
        await check_team(conn, user, team_id)
        person = await teams.get_staff(conn, staff_id)
        if person is None or person["site_id"] != user.site_id or person["team_id"] != team_id \
                or not person["active"] or person["role"] == Role.admin.value:
            raise ValidationFailed(fields={"staff_id": N_("Please choose a caseworker of this team.")})
        locked = [r["id"] for r in await conn.fetch(_LOCK, ids, user.site_id, team_id)]
        if locked != ids:  # decided, moved or reassigned by someone else meanwhile: change nothing
            raise ValidationFailed(N_("This was already changed by someone else. Please reload."))
        for request_id in ids:
            await requests_.reroute(conn, request_id, team_id=team_id, staff_id=staff_id)
            await audit.record(conn, site_id=user.site_id, actor=user.actor, action="request.reassign",
                               subject_type="request", subject_id=request_id,
                               details={"team_id": team_id, "staff_id": staff_id, "from": "escalation"})
            await planning.plan_and_propose(conn, request_id, route=(team_id, staff_id), now=now,
                                            reminder_offsets=(), actor=user.actor)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="escalation.reassign",
                           subject_type="team", subject_id=team_id,
                           details={"staff_id": staff_id, "request_ids": ids})
    return len(ids)
