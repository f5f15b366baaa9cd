"""Clients' e-mail addresses, where a site allows e-mail (issue 15): owns `email_confirmations` and the writes
of `clients.email` / `clients.email_verified_at`.

Staff are an authenticated channel: an address they enter is set on the client at once (verified, audited).
Anyone can type someone else's address into the web form or at the kiosk, so, as with SMS consent, such an
address stays with its request, unverified, and gets one confirmation mail (no appointment data) with a link
`/r/<link token>/email/<code>`: the code is random, stored only as its SHA-256, bound to that request and
address, single use and valid for `CONFIRM_DAYS`. Confirming proves the address, not the person behind the
phone number: a confirmed address therefore gets the invites of *its own request* (whose link the person who
typed it already had), never those of the client's other cases. Staff can take it onto the client after a
check (the request page shows it as confirmed by the address, not verified by staff).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg
from email_validator import EmailNotValidError, validate_email

from scheduler import audit, outbox
from scheduler.i18n import N_

MAX_LENGTH: Final = 254  # RFC 5321's limit of a forward path, less the angle brackets
CONFIRM_DAYS: Final = 7
CONFIRM_KIND: Final = "email.address_confirm"
CODE_PATTERN: Final = r"[A-Za-z0-9_\-]{32}"  # secrets.token_urlsafe(24)
INVALID: Final = N_("Please enter an e-mail address like name@example.org.")
TOO_LONG: Final = N_("This e-mail address is too long.")
ANONYMOUS_CHANNELS: Final = frozenset({"web", "kiosk"})


def parse(value: object, errors: dict[str, str], *, name: str = "email") -> str | None:
    """An optional address as typed, checked by syntax only (no DNS from here); None when empty or invalid (then
    `errors[name]` says why)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        errors[name] = INVALID
        return None
    text = value.strip()
    if len(text) > MAX_LENGTH:
        errors[name] = TOO_LONG
        return None
    try:
        normalized = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        errors[name] = INVALID
        return None
    if len(normalized) > MAX_LENGTH:
        errors[name] = TOO_LONG
        return None
    return normalized


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


async def site_allows(conn: asyncpg.Connection, site_id: int) -> bool:
    """Whether the site allows e-mail to clients."""
    return bool(await conn.fetchval("SELECT email_enabled FROM sites WHERE id = $1", site_id))


async def given(conn: asyncpg.Connection, *, site_id: int, client_id: int, request_id: int, email: str,
                channel: str, staff_id: int | None, language: str, link_token: str, now: datetime) -> bool:
    """An address that came with a new request (intake): from staff it is set on the client; from the web form or
    the kiosk it waits for its confirmation. Nothing where the site does not allow e-mail. True when used."""
    if not await site_allows(conn, site_id):
        return False
    if staff_id is not None:
        await set_by_staff(conn, site_id=site_id, client_id=client_id, email=email, actor=f"staff:{staff_id}",
                           request_id=request_id)
        return True
    if channel not in ANONYMOUS_CHANNELS:
        return False
    return await offer(conn, site_id=site_id, client_id=client_id, request_id=request_id, email=email,
                       channel=channel, language=language, link_token=link_token, now=now)


async def set_by_staff(conn: asyncpg.Connection, *, site_id: int, client_id: int, email: str | None, actor: str,
                       request_id: int | None = None) -> None:
    """Staff set (or, with None, remove) the client's address: verified; the audit row names no address."""
    await conn.execute(
        "UPDATE clients SET email = $3, email_verified_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() END, "
        "updated_at = now() WHERE id = $1 AND site_id = $2", client_id, site_id, email)
    await audit.record(conn, site_id=site_id, actor=actor, action="client.email", subject_type="client",
                       subject_id=client_id, details={"request_id": request_id, "removed": email is None})


async def offer(conn: asyncpg.Connection, *, site_id: int, client_id: int, request_id: int, email: str,
                channel: str, language: str, link_token: str, now: datetime) -> bool:
    """Keep an unverified address with its request and queue its one confirmation mail (idempotent per request).

    The code travels only in the mail (the outbox payload, blanked with the rest by erasure and retention)."""
    code = secrets.token_urlsafe(24)
    confirmation_id = await conn.fetchval(
        """
        INSERT INTO email_confirmations (site_id, client_id, request_id, channel, email, code_hash, created_at,
                                         expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $7::timestamptz + make_interval(days => $8))
        ON CONFLICT (request_id) DO NOTHING RETURNING id
        """, site_id, client_id, request_id, channel, email, _hash(code), now, CONFIRM_DAYS)
    if confirmation_id is None:
        return False
    await outbox.enqueue(conn, site_id=site_id, key=f"request:{request_id}:email_confirm", channel="email",
                         kind=CONFIRM_KIND, recipient=email, language=language,
                         payload={"token": link_token, "code": code}, request_id=request_id)
    await audit.record(conn, site_id=site_id, actor=f"client:{channel}", action="request.email_given",
                       subject_type="request", subject_id=request_id, details={})
    return True


@dataclass(frozen=True, slots=True)
class Pending:
    """A request's unverified address and whether it may still be confirmed."""

    email: str
    expires_at: datetime
    confirmed_at: datetime | None


async def for_code(conn: asyncpg.Connection, *, request_id: int, code: str, now: datetime) -> Pending | None:
    """The unconfirmed, unexpired address of this request that the code was made for, or None."""
    row = await conn.fetchrow(
        "SELECT email, expires_at, confirmed_at FROM email_confirmations WHERE request_id = $1 AND code_hash = $2 "
        "AND confirmed_at IS NULL AND expires_at > $3 AND email IS NOT NULL", request_id, _hash(code), now)
    return Pending(**row) if row else None


async def confirm(conn: asyncpg.Connection, *, request_id: int, code: str, now: datetime) -> str | None:
    """Use a code once: its address is confirmed for its request (audited). The address, or None when the code
    is unknown, of another request, used or expired."""
    row = await conn.fetchrow(
        """
        UPDATE email_confirmations SET confirmed_at = $3
        WHERE request_id = $1 AND code_hash = $2 AND confirmed_at IS NULL AND expires_at > $3 AND email IS NOT NULL
        RETURNING site_id, email
        """, request_id, _hash(code), now)
    if row is None:
        return None
    await audit.record(conn, site_id=row["site_id"], actor="client:email", action="request.email_confirmed",
                       subject_type="request", subject_id=request_id, details={})
    email: str = row["email"]
    return email


async def still_open(conn: asyncpg.Connection, request_id: int, now: datetime) -> bool:
    """Whether the request's confirmation mail is still worth sending (not confirmed, expired or erased)."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM email_confirmations WHERE request_id = $1 AND confirmed_at IS NULL AND expires_at > $2 "
        "AND email IS NOT NULL", request_id, now))


async def invite_address(conn: asyncpg.Connection, *, site_id: int, client_id: int,
                         request_id: int) -> tuple[bool, str | None]:
    """Whether the site allows e-mail, and where a request's invite goes: the client's (staff-verified) address,
    else the address confirmed with this request."""
    row = await conn.fetchrow(
        """
        SELECT s.email_enabled, coalesce(c.email, (SELECT e.email FROM email_confirmations e
                                                  WHERE e.request_id = $3 AND e.confirmed_at IS NOT NULL)) AS email
        FROM sites s, clients c WHERE s.id = $1 AND c.id = $2
        """, site_id, client_id, request_id)
    return bool(row["email_enabled"]), row["email"]


@dataclass(frozen=True, slots=True)
class StaffView:
    """What staff see of a request's e-mail: the client's address and the one given with this request."""

    allowed: bool
    client_email: str | None
    client_verified_at: datetime | None
    given: str | None
    given_confirmed_at: datetime | None
    given_expires_at: datetime | None


async def staff_view(conn: asyncpg.Connection, *, site_id: int, client_id: int, request_id: int) -> StaffView:
    """The request page's e-mail facts."""
    row = await conn.fetchrow(
        """
        SELECT s.email_enabled, c.email, c.email_verified_at, e.email AS given, e.confirmed_at, e.expires_at
        FROM sites s JOIN clients c ON c.id = $2
        LEFT JOIN email_confirmations e ON e.request_id = $3
        WHERE s.id = $1
        """, site_id, client_id, request_id)
    return StaffView(bool(row["email_enabled"]), row["email"], row["email_verified_at"], row["given"],
                     row["confirmed_at"], row["expires_at"])


async def export_for(conn: asyncpg.Connection, *, site_id: int, client_id: int) -> list[dict[str, Any]]:
    """The addresses given with the client's requests (codes are left out: only their hashes are stored)."""
    rows = await conn.fetch(
        "SELECT request_id, channel, email, created_at, expires_at, confirmed_at FROM email_confirmations "
        "WHERE site_id = $1 AND client_id = $2 ORDER BY id", site_id, client_id)
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in dict(r).items()} for r in rows]


async def anonymise(conn: asyncpg.Connection, request_ids: list[int]) -> None:
    """Requests past retention (or erased) lose the address given with them."""
    await conn.execute("UPDATE email_confirmations SET email = NULL WHERE request_id = ANY($1) AND email IS NOT NULL",
                       request_ids)


async def erase_for(conn: asyncpg.Connection, *, site_id: int, client_id: int) -> None:
    """Erasure: every address given with the client's requests at this site goes."""
    await conn.execute("UPDATE email_confirmations SET email = NULL WHERE site_id = $1 AND client_id = $2",
                       site_id, client_id)


PURGE_AFTER: Final = timedelta(days=1)  # an unconfirmed address is kept one day past its code's end, then goes


async def purge_batch(conn: asyncpg.Connection, now: datetime, batch: int = 200) -> int:
    """Unconfirmed addresses whose code ran out lose the address (retention's job): nobody confirmed them."""
    result: str = await conn.execute(
        """
        UPDATE email_confirmations SET email = NULL WHERE id IN (
            SELECT id FROM email_confirmations WHERE confirmed_at IS NULL AND email IS NOT NULL AND expires_at < $1
            ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        """, now - PURGE_AFTER, batch)
    return int(result.split()[-1])
