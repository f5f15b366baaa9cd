"""Outgoing webhook endpoints of a site: an office's case-management system follows its case events.

Owner of `webhook_endpoints`. The events themselves are written by triggers (migration 0040) into
`webhook_deliveries` (webhook_deliveries.py) in the same transaction as the change, and sent by
notify/webhook_send.py, signed as the Standard Webhooks specification describes (docs/webhooks.md).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

import asyncpg

URL_MAX: Final = 500
DESCRIPTION_MAX: Final = 200
SECRET_BYTES: Final = 32  # the specification allows 24 to 64
SECRET_PREFIX: Final = "whsec_"
# https anywhere; plain http only to this machine (tests, a case-management system on the same host).
_URL = re.compile(r"^(https://[^\s/?#@]+(/\S*)?|http://(127\.0\.0\.1|localhost)(:\d{1,5})?(/\S*)?)$")


class EventType(StrEnum):
    """The case events an endpoint can subscribe to (the CHECK lists of migration 0040)."""

    request_received = "request.received"
    appointment_booked = "appointment.booked"
    appointment_moved = "appointment.moved"
    appointment_cancelled = "appointment.cancelled"
    appointment_attended = "appointment.attended"
    appointment_no_show = "appointment.no_show"


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    site_id: int
    url: str
    description: str
    event_types: tuple[EventType, ...]
    active: bool
    created_at: datetime
    secret_rotated_at: datetime | None
    deactivated_at: datetime | None


_COLUMNS = ("id, site_id, url, description, event_types, active, created_at, secret_rotated_at, "
            "deactivated_at")


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(**{**dict(row), "event_types": tuple(EventType(t) for t in row["event_types"])})


def url_allowed(url: str) -> bool:
    """Whether an endpoint may be registered at this address (https, or http to this machine only)."""
    return len(url) <= URL_MAX and _URL.match(url) is not None


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: whsec_ and the base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: its base64 part, decoded."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


async def create(conn: asyncpg.Connection, *, site_id: int, url: str, description: str,
                 event_types: tuple[EventType, ...], created_by: int | None) -> tuple[Endpoint, str]:
    """Register an endpoint; returns it with its secret (shown to the admin this once)."""
    secret = new_secret()
    row = await conn.fetchrow(
        f"INSERT INTO webhook_endpoints (site_id, url, description, event_types, secret, created_by) "
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
        site_id, url, description, [t.value for t in event_types], secret, created_by)
    return _endpoint(row), secret


async def get(conn: asyncpg.Connection, endpoint_id: int, *, site_id: int) -> Endpoint | None:
    """One endpoint of the site (None for another site's)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND site_id = $2",
                              endpoint_id, site_id)
    return None if row is None else _endpoint(row)


async def list_for_site(conn: asyncpg.Connection, site_id: int) -> list[Endpoint]:
    """The site's endpoints, active ones first, newest first."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE site_id = $1 "
                            f"ORDER BY active DESC, id DESC", site_id)
    return [_endpoint(r) for r in rows]


async def rotate_secret(conn: asyncpg.Connection, endpoint_id: int, *, site_id: int, now: datetime) -> str | None:
    """Give an active endpoint a new secret (pending deliveries are signed with it); None when not found."""
    secret = new_secret()
    found = await conn.fetchval(
        "UPDATE webhook_endpoints SET secret = $3, secret_rotated_at = $4 "
        "WHERE id = $1 AND site_id = $2 AND active RETURNING id", endpoint_id, site_id, secret, now)
    return secret if found else None


async def deactivate(conn: asyncpg.Connection, endpoint_id: int, *, site_id: int, now: datetime) -> bool:
    """Stop an endpoint: no new events; the caller gives up its pending deliveries. False if not found/active."""
    found = await conn.fetchval(
        "UPDATE webhook_endpoints SET active = false, deactivated_at = $3 "
        "WHERE id = $1 AND site_id = $2 AND active RETURNING id", endpoint_id, site_id, now)
    return found is not None


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how a delivery is sent: the endpoint's address and signing key (active endpoints only)."""

    url: str
    key: bytes


async def targets(conn: asyncpg.Connection, endpoint_ids: list[int]) -> dict[int, Target]:
    """The active endpoints among these ids with their address and signing key."""
    rows = await conn.fetch("SELECT id, url, secret FROM webhook_endpoints WHERE id = ANY($1) AND active",
                            endpoint_ids)
    return {r["id"]: Target(r["url"], secret_key(r["secret"])) for r in rows}
