"""proposals.py called directly: add, list (earliest first), get one, replace and clear a request's proposals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.policy.rules import Mode
from scheduler.policy.slots import Slot
from tests.factories import SiteFacts, create_request

START = (datetime.now(UTC) + timedelta(days=7)).replace(hour=8, minute=0, second=0, microsecond=0)


def _slot(site: SiteFacts, hours: int, staff: str = "cw.meyer") -> Slot:
    start = START + timedelta(hours=hours)
    return Slot(site.staff[staff], start, start + timedelta(minutes=30), Mode.in_person, "A.03")


async def test_add_list_get_replace_and_clear(conn: asyncpg.Connection, site: SiteFacts) -> None:
    request = await requests_.get(conn, await create_request(conn, site, status="proposed"))
    await proposals_.add(conn, request, _slot(site, 2), source="freed_slot")
    await proposals_.add(conn, request, _slot(site, 1, "cw.demir"), source="policy")
    listed = await proposals_.list_for_request(conn, request.id)
    assert [(p.start, p.source) for p in listed] == [(START + timedelta(hours=1), "policy"),
                                                     (START + timedelta(hours=2), "freed_slot")]
    assert listed[0].staff_id == site.staff["cw.demir"] and listed[0].mode is Mode.in_person
    assert await proposals_.get(conn, request.id, listed[1].id) == listed[1]
    other = await requests_.get(conn, await create_request(conn, site, status="proposed"))
    assert await proposals_.get(conn, other.id, listed[1].id) is None   # not another request's

    await proposals_.replace(conn, request, [_slot(site, 3)])
    assert [p.start for p in await proposals_.list_for_request(conn, request.id)] == [START + timedelta(hours=3)]
    await proposals_.clear(conn, request.id)
    assert await proposals_.list_for_request(conn, request.id) == []
