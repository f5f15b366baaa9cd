"""A moved appointment's invite: the same UID, a higher SEQUENCE, METHOD:REQUEST (checked with vobject)."""

from __future__ import annotations

import asyncpg
import vobject

from scheduler import appointments, moves, sites
from scheduler.notify.messages import build_invite
from tests.factories import SiteFacts
from tests.test_moves import MEYER_CLIENT, NOW, booked, free_later, user


def _parse(ics: bytes):  # type: ignore[no-untyped-def]
    return vobject.readOne(ics.decode("utf-8"), validate=True)


async def test_the_moved_invite_replaces_the_first_one_in_the_calendar(pool: asyncpg.Pool, conn: asyncpg.Connection,
                                                                        site: SiteFacts) -> None:
    await conn.execute("UPDATE sites SET email_enabled = true WHERE id = $1", site.site_id)
    await conn.execute("UPDATE clients SET email = 'sabine@example.org' WHERE phone = $1", MEYER_CLIENT)
    before = await booked(pool, conn, site)
    target = (await free_later(conn, site, username="cw.meyer", after=before.start))[1]
    await moves.move(pool, target=moves.Target(before.id, target.caseworker_id, target.start, before.mode),
                     user=user(site, "cw.meyer"), now=NOW, reminder_offsets=())
    # one invite row per version, both to the client's address
    rows = await conn.fetch("SELECT idempotency_key, recipient FROM outbox WHERE appointment_id = $1 "
                            "AND kind = 'email.invite' ORDER BY id", before.id)
    assert [r["idempotency_key"] for r in rows] == [f"appointment:{before.id}:invite:0",
                                                    f"appointment:{before.id}:invite:1"]
    site_ = await sites.site_by_id(conn, site.site_id)
    moved = await appointments.get(conn, before.id)
    first = _parse(build_invite(before, site_, language="de", organizer_email="termine@example.org",
                                token="t0k3n").ics)
    second = _parse(build_invite(moved, site_, language="de", organizer_email="termine@example.org",
                                 token="t0k3n").ics)
    assert first.method.value == second.method.value == "REQUEST"
    assert first.vevent.uid.value == second.vevent.uid.value == before.ical_uid
    assert int(second.vevent.sequence.value) > int(first.vevent.sequence.value)
    assert int(second.vevent.sequence.value) == 1
    assert second.vevent.dtstart.value == target.start
    assert second.vevent.dtstart.value != first.vevent.dtstart.value
