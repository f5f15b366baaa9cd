"""One-time password links for staff: owns the `staff_password_resets` table.

A link carries a `secrets.token_urlsafe(32)` token; only its SHA-256 is stored. It is valid for VALID_FOR and
once: `redeem` marks it used in the same guarded UPDATE that checks it is still open, so two tabs sending the
form at once set the password once. Issuing a link ends the person's older open links.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg

VALID_FOR: Final = timedelta(minutes=30)
TOKEN_PATTERN: Final = r"[A-Za-z0-9_\-]{43}"  # secrets.token_urlsafe(32)
KEEP_FOR: Final = timedelta(days=30)  # used and ended links are kept this long for the record, then purged


@dataclass(frozen=True, slots=True)
class OpenLink:
    """A link that may still be used: whose it is and until when."""

    site_id: int
    staff_id: int
    expires_at: datetime


def token_hash(token: str) -> str:
    """How a link's token is stored: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(conn: asyncpg.Connection, *, site_id: int, staff_id: int, issued_by: int | None,
                now: datetime) -> tuple[str, datetime]:
    """A new link for a staff member (token, expiry); their older open links end. Inside the caller's transaction."""
    # Two admins issuing at once: the second waits here instead of running into the one-open-link index.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('staff-password-link'), $1::int)",
                       staff_id % 2**31)
    await conn.execute(
        "UPDATE staff_password_resets SET ended_at = $2 WHERE staff_id = $1 AND used_at IS NULL AND ended_at IS NULL",
        staff_id, now)
    token = secrets.token_urlsafe(32)
    expires = now + VALID_FOR
    await conn.execute(
        "INSERT INTO staff_password_resets (site_id, staff_id, token_hash, issued_by, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)", site_id, staff_id, token_hash(token), issued_by, now, expires)
    return token, expires


async def end_open(conn: asyncpg.Connection, staff_id: int, *, now: datetime) -> int:
    """End a staff member's open links (their account changed to single sign-on, say); how many."""
    status = await conn.execute(
        "UPDATE staff_password_resets SET ended_at = $2 WHERE staff_id = $1 AND used_at IS NULL AND ended_at IS NULL",
        staff_id, now)
    return int(status.split()[-1])


async def find_open(conn: asyncpg.Connection, token: str, *, now: datetime) -> OpenLink | None:
    """The link of this token if it is neither used, ended nor expired."""
    row = await conn.fetchrow(
        "SELECT site_id, staff_id, expires_at FROM staff_password_resets "
        "WHERE token_hash = $1 AND used_at IS NULL AND ended_at IS NULL AND expires_at > $2",
        token_hash(token), now)
    return OpenLink(**row) if row else None


async def redeem(conn: asyncpg.Connection, token: str, *, now: datetime) -> OpenLink | None:
    """Mark the link of this token used if it is still open; None when it is used, ended, expired or unknown."""
    row = await conn.fetchrow(
        """
        UPDATE staff_password_resets SET used_at = $2
        WHERE token_hash = $1 AND used_at IS NULL AND ended_at IS NULL AND expires_at > $2
        RETURNING site_id, staff_id, expires_at
        """,
        token_hash(token), now)
    return OpenLink(**row) if row else None


async def purge(pool: asyncpg.Pool, *, now: datetime) -> int:
    """Delete links that were created more than KEEP_FOR ago (none of them can be used); how many."""
    status = await pool.execute("DELETE FROM staff_password_resets WHERE created_at < $1", now - KEEP_FOR)
    return int(status.split()[-1])
