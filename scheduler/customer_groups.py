"""An office's customer groups (Alleinerziehend, Rehabilitand/in …) and which clients belong to them; owner of
the `customer_groups` and `client_customer_groups` tables.

Rules test a group by its code (policy `Condition.groups`); planning reads a client's codes for the facts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import asyncpg

from scheduler import audit
from scheduler.errors import NotFound

CODE_RE: Final = re.compile(r"[a-z0-9_]{2,40}")  # as the table's CHECK and the rule parser's code shape
LABEL_LIMIT: Final = 80
LABEL_LANGUAGES: Final = ("de", "en")  # every group is labelled in both
MAX_GROUPS: Final = 100  # per office: a rule's list of values holds at most 100 (policy/readers.py)


@dataclass(frozen=True, slots=True)
class CustomerGroup:
    id: int
    code: str
    labels: Mapping[str, str]
    active: bool

    def label(self, lang: str) -> str:
        """The label in `lang`, German otherwise."""
        return self.labels.get(lang) or self.labels.get("en" if lang.startswith("en") else "de") or self.code


class CodeTaken(Exception):
    """The office already has a group with this code."""


class TooManyGroups(Exception):
    """The office has MAX_GROUPS groups already."""


class UnknownGroup(Exception):
    """A group id that is not one the client may be put in (another office's, or inactive)."""


def _group(row: asyncpg.Record) -> CustomerGroup:
    return CustomerGroup(row["id"], row["code"], dict(row["labels"]), row["active"])


async def list_for_site(conn: asyncpg.Connection, site_id: int, *, active_only: bool = False) -> list[CustomerGroup]:
    """The office's groups by code (only the active ones when asked)."""
    rows = await conn.fetch("SELECT id, code, labels, active FROM customer_groups WHERE site_id = $1 "
                            "AND (active OR NOT $2) ORDER BY code", site_id, active_only)
    return [_group(r) for r in rows]


async def add(conn: asyncpg.Connection, *, site_id: int, code: str, labels: Mapping[str, str],
              staff_id: int) -> int:
    """Add a group (code and labels already checked) to the office; CodeTaken or TooManyGroups otherwise."""
    count = await conn.fetchval("SELECT count(*) FROM customer_groups WHERE site_id = $1", site_id)
    if count >= MAX_GROUPS:
        raise TooManyGroups()
    try:
        async with conn.transaction():  # a savepoint: the caller's transaction stays usable after a duplicate
            group_id = await conn.fetchval(
                "INSERT INTO customer_groups (site_id, code, labels) VALUES ($1, $2, $3) RETURNING id",
                site_id, code, dict(labels))
    except asyncpg.UniqueViolationError:
        raise CodeTaken() from None
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="customer_group.added",
                       subject_type="customer_group", subject_id=group_id, details={"code": code, **labels})
    return int(group_id)


async def update(conn: asyncpg.Connection, *, site_id: int, group_id: int, labels: Mapping[str, str],
                 active: bool, staff_id: int) -> None:
    """Relabel, deactivate or reactivate one of the office's groups (its code stays: rules name it)."""
    found = await conn.fetchval(
        "UPDATE customer_groups SET labels = $3, active = $4, updated_at = now() "
        "WHERE id = $1 AND site_id = $2 RETURNING code", group_id, site_id, dict(labels), active)
    if found is None:
        raise NotFound()
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="customer_group.saved",
                       subject_type="customer_group", subject_id=group_id,
                       details={"code": found, "active": active, **labels})


async def delete(conn: asyncpg.Connection, *, site_id: int, group_id: int, staff_id: int,
                 codes_in_rules: Collection[str]) -> bool:
    """Delete a group, or only deactivate it when a rule names its code (so the rule keeps its meaning and the
    builder still shows it); True when it was deleted, False when deactivated."""
    code = await conn.fetchval("SELECT code FROM customer_groups WHERE id = $1 AND site_id = $2 FOR UPDATE",
                               group_id, site_id)
    if code is None:
        raise NotFound()
    used = code in codes_in_rules
    if used:
        await conn.execute("UPDATE customer_groups SET active = false, updated_at = now() WHERE id = $1", group_id)
    else:
        await conn.execute("DELETE FROM customer_groups WHERE id = $1", group_id)
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}",
                       action="customer_group.deactivated" if used else "customer_group.deleted",
                       subject_type="customer_group", subject_id=group_id, details={"code": code})
    return not used


async def codes_of_client(conn: asyncpg.Connection, client_id: int) -> frozenset[str]:
    """The codes of every group (active or not) the client belongs to; none for a client not stored yet."""
    if client_id <= 0:
        return frozenset()
    rows = await conn.fetch("SELECT g.code FROM client_customer_groups m JOIN customer_groups g ON g.id = m.group_id "
                            "WHERE m.client_id = $1", client_id)
    return frozenset(r["code"] for r in rows)


async def ids_of_client(conn: asyncpg.Connection, client_id: int) -> frozenset[int]:
    """The ids of the groups the client belongs to."""
    rows = await conn.fetch("SELECT group_id FROM client_customer_groups WHERE client_id = $1", client_id)
    return frozenset(r["group_id"] for r in rows)


async def set_for_client(conn: asyncpg.Connection, *, site_id: int, client_id: int, group_ids: Iterable[int],
                         staff_id: int) -> frozenset[str]:
    """Make the client a member of exactly these groups of the client's office (ids of another office, or of an
    inactive group the client is not yet in, raise UnknownGroup); audited; the codes now set."""
    wanted = frozenset(group_ids)
    if len(wanted) > MAX_GROUPS:
        raise UnknownGroup()
    allowed = await conn.fetch(
        "SELECT g.id, g.code FROM customer_groups g JOIN clients c ON c.site_id = g.site_id "
        "WHERE c.id = $1 AND g.site_id = $2 AND g.id = ANY($3::bigint[]) AND (g.active OR EXISTS "
        "(SELECT 1 FROM client_customer_groups m WHERE m.client_id = c.id AND m.group_id = g.id))",
        client_id, site_id, list(wanted))
    if len(allowed) != len(wanted):
        raise UnknownGroup()
    before = await codes_of_client(conn, client_id)
    await conn.execute("DELETE FROM client_customer_groups WHERE client_id = $1 AND NOT group_id = ANY($2::bigint[])",
                       client_id, list(wanted))
    await conn.execute("INSERT INTO client_customer_groups (site_id, client_id, group_id) "
                       "SELECT $3, $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING", client_id, list(wanted), site_id)
    after = frozenset(r["code"] for r in allowed)
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="client.customer_groups_set",
                       subject_type="client", subject_id=client_id,
                       details={"before": sorted(before), "after": sorted(after)})
    return after
