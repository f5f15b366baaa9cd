"""Call displays (Aufrufanzeige): lobby screens bound to an admin-issued device token, one site each."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg

MAX_TOKEN_LENGTH: Final = 200
SEEN_EVERY: Final = timedelta(minutes=1)  # last_seen_at is written at most this often (displays poll)


@dataclass(frozen=True, slots=True)
class DisplayDevice:
    id: int
    site_id: int
    name: str


def token_hash(token: str) -> str:
    """How display tokens are stored: only their SHA-256 (like kiosk tokens)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh unguessable device token (256 bits)."""
    return secrets.token_urlsafe(32)


async def authenticate(conn: asyncpg.Connection, token: str, *, now: datetime) -> DisplayDevice | None:
    """The display for a token unless unknown or revoked; notes (at most once a minute) that it was seen."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = await conn.fetchrow(
        "SELECT id, site_id, name, last_seen_at FROM display_devices WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash(token))
    if row is None:
        return None
    if row["last_seen_at"] is None or now - row["last_seen_at"] >= SEEN_EVERY:
        await conn.execute("UPDATE display_devices SET last_seen_at = $2 WHERE id = $1", row["id"], now)
    return DisplayDevice(id=row["id"], site_id=row["site_id"], name=row["name"])


async def list_for_site(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    """The site's displays with who issued them, oldest first."""
    return list(await conn.fetch(
        """
        SELECT d.id, d.name, d.location, d.issued_at, d.revoked_at, d.last_seen_at, s.display_name AS issued_by
        FROM display_devices d LEFT JOIN staff s ON s.id = d.issued_by WHERE d.site_id = $1 ORDER BY d.id
        """, site_id))


async def register(conn: asyncpg.Connection, *, site_id: int, name: str, location: str, token: str,
                   issued_by: int) -> int:
    """Store a new display under its token's hash; returns its id."""
    device_id: int = await conn.fetchval(
        "INSERT INTO display_devices (site_id, name, location, token_hash, issued_by) VALUES ($1, $2, $3, $4, $5) "
        "RETURNING id", site_id, name, location, token_hash(token), issued_by)
    return device_id


async def revoke(conn: asyncpg.Connection, device_id: int, *, site_id: int, now: datetime) -> bool:
    """Revoke a display's token; False when there is no such unrevoked display at the site."""
    found = await conn.fetchval(
        "UPDATE display_devices SET revoked_at = $3 WHERE id = $1 AND site_id = $2 AND revoked_at IS NULL "
        "RETURNING id", device_id, site_id, now)
    return found is not None
