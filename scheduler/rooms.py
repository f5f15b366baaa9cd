"""A site's rooms and what they offer (step-free access, a hearing loop); owner of the `rooms` table.

A room is named as in the working hours (`working_hours.room`), which is the room a slot and an appointment
carry: the slot search (planning, with `policy.rooms`) reads the rooms that meet a client's needs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import asyncpg

from scheduler import audit
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_
from scheduler.policy.rooms import Room, room_needs

NAME_LIMIT = 40


@dataclass(frozen=True, slots=True)
class StoredRoom:
    id: int
    name: str
    step_free: bool
    hearing_loop: bool
    in_use: bool  # named in someone's working hours

    def as_room(self) -> Room:
        return Room(self.name, self.step_free, self.hearing_loop)


def clean_name(value: object) -> str:
    """A room name as stored: trimmed, 1 to 40 characters, or ValidationFailed on `name`."""
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > NAME_LIMIT or not name.isprintable():
        raise ValidationFailed(fields={"name": N_("Please enter a room name of at most 40 characters.")})
    return name


async def list_for_site(conn: asyncpg.Connection, site_id: int) -> list[StoredRoom]:
    """The site's rooms by name, each with whether working hours name it."""
    rows = await conn.fetch(
        """
        SELECT r.id, r.name, r.step_free, r.hearing_loop,
               EXISTS (SELECT 1 FROM working_hours w WHERE w.site_id = r.site_id AND w.room = r.name) AS in_use
        FROM rooms r WHERE r.site_id = $1 ORDER BY r.name
        """, site_id)
    return [StoredRoom(**r) for r in rows]


async def exists(conn: asyncpg.Connection, site_id: int, room_id: int) -> bool:
    """Whether the room is one of this site's."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM rooms WHERE id = $1 AND site_id = $2)",
                                    room_id, site_id))


async def unlisted_names(conn: asyncpg.Connection, site_id: int) -> list[str]:
    """Rooms named in working hours that have no row yet (so they have no known attributes)."""
    rows = await conn.fetch(
        "SELECT DISTINCT w.room FROM working_hours w WHERE w.site_id = $1 AND w.room IS NOT NULL AND "
        "NOT EXISTS (SELECT 1 FROM rooms r WHERE r.site_id = w.site_id AND r.name = w.room) ORDER BY 1", site_id)
    return [r["room"] for r in rows]


async def suitable_names(conn: asyncpg.Connection, site_id: int, needs: Collection[str]) -> frozenset[str] | None:
    """Names of the site's rooms that meet the client's room needs; None when the needs ask nothing of a room
    (then no query runs)."""
    wanted = room_needs(needs)
    if not wanted:
        return None
    rows = await conn.fetch(
        "SELECT name FROM rooms WHERE site_id = $1 AND ($2 OR step_free) AND ($3 OR hearing_loop)",
        site_id, "step_free" not in wanted, "hearing_loop" not in wanted)
    return frozenset(r["name"] for r in rows)


async def save(conn: asyncpg.Connection, *, site_id: int, room_id: int | None, name: str, step_free: bool,
               hearing_loop: bool, staff_id: int) -> int:
    """Add a room (room_id None) or change one of this site's; a name taken at the site is a field error."""
    try:
        if room_id is None:
            saved = await conn.fetchval(
                "INSERT INTO rooms (site_id, name, step_free, hearing_loop) VALUES ($1, $2, $3, $4) RETURNING id",
                site_id, name, step_free, hearing_loop)
        else:
            saved = await conn.fetchval(
                "UPDATE rooms SET name = $3, step_free = $4, hearing_loop = $5, updated_at = now() "
                "WHERE id = $1 AND site_id = $2 RETURNING id", room_id, site_id, name, step_free, hearing_loop)
    except asyncpg.UniqueViolationError:
        raise ValidationFailed(fields={"name": N_("This office already has a room with this name.")}) from None
    if saved is None:
        raise NotFound()
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="room.saved", subject_type="room",
                       subject_id=saved, details={"name": name, "step_free": step_free,
                                                  "hearing_loop": hearing_loop})
    return int(saved)


async def delete(conn: asyncpg.Connection, *, site_id: int, room_id: int, staff_id: int) -> None:
    """Remove a room's attributes (working hours keep naming it as plain text)."""
    name = await conn.fetchval("DELETE FROM rooms WHERE id = $1 AND site_id = $2 RETURNING name", room_id, site_id)
    if name is None:
        raise NotFound()
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="room.deleted",
                       subject_type="room", subject_id=room_id, details={"name": name})
