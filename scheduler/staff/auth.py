"""Staff sign-in with local argon2 accounts, server-side revocable sessions, CSRF and role checks.

Roles and the staff member themselves live in `scheduler.permissions`; this module is the web side.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from scheduler import audit, teams
from scheduler.errors import Forbidden, Unauthorized
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import Role, StaffUser, check_site
from scheduler.staff import signin_limits
from scheduler.staff.signin_limits import PasswordChecks

log = logging.getLogger(__name__)

SESSION_COOKIE: Final = "staff_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
TOUCH_INTERVAL: Final = timedelta(minutes=1)
DEFAULT_MAX_HOURS: Final = 10
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BAD_CREDENTIALS: Final = N_("Username or password is wrong.")
UNKNOWN_ACCOUNT: Final = N_("There is no staff account for this single sign-on identity. Please ask an administrator.")
INACTIVE_ACCOUNT: Final = N_("This staff account is deactivated. Please ask an administrator.")
_MAX_TOKEN_CHARS: Final = 256
_FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

_HASHER = PasswordHasher()


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str = field(repr=False)
    csrf_token: str = field(repr=False)
    user: StaffUser


@dataclass(frozen=True, slots=True)
class Session:
    user: StaffUser
    csrf_token: str = field(repr=False)
    token_hash: str = field(repr=False)


class CsrfFailed(Forbidden):
    code = "csrf"
    default_message = N_("This form has expired. Please reload the page and try again.")


SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("staff_session")
_VIA_BEARER_KEY = web.RequestKey("staff_session_bearer", bool)

_STAFF_COLUMNS = teams.STAFF_USER_COLUMNS


def token_hash(token: str) -> str:
    """How session tokens are stored: only their SHA-256 (hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash for storing in staff.password_hash."""
    return _HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    # Verified for unknown users so that they cost as much time as a wrong password.
    return _HASHER.hash(secrets.token_urlsafe(16))


def _verify(stored: str | None, password: str) -> bool:
    try:
        if stored is None:
            _HASHER.verify(_dummy_hash(), password)  # unknown or refused accounts cost as much time
            return False
        return _HASHER.verify(stored, password)
    except VerificationError:
        return False
    except InvalidHashError:
        log.warning("unreadable password hash in staff table")
        return False


async def sign_in(pool: asyncpg.Pool, *, username: str, password: str, now: datetime, checks: PasswordChecks,
                  address: str = "", max_hours: int = DEFAULT_MAX_HOURS) -> SignedIn:
    """Check a local account's password and open a new session; attempts are counted before the check.

    Accounts marked for single sign-on are refused like a wrong password (the answer reveals nothing).
    """
    # PostgreSQL text cannot hold NUL; no username has control characters, so dropping them changes no match.
    name = "".join(ch for ch in username.strip().lower() if ch.isprintable())[:100]
    async with checks.slot():
        async with pool.acquire() as conn, conn.transaction():
            account = await teams.account_by_username(conn, name)
            await signin_limits.admit(conn, username=name, address=address, now=now,
                                      site_id=account.user.site_id if account is not None else None)
        usable = account is not None and account.active and account.sso is None and account.oidc_subject is None
        stored: str | None = account.password_hash if usable and account is not None else None
        # argon2 takes tens of milliseconds and 64 MiB: off the event loop, bounded, outside any transaction.
        matches = await checks.run(_verify, stored, password)
        if stored is None or not matches or account is None:
            log.info("sign-in failed",  # not the name
                     extra={"staff_id": account.user.id if account is not None else None})
            raise Unauthorized(BAD_CREDENTIALS)
        new_hash = await checks.run(hash_password, password) if _HASHER.check_needs_rehash(stored) else None
    user = account.user
    async with pool.acquire() as conn, conn.transaction():
        await signin_limits.succeeded(conn, name)
        if new_hash is not None:
            await teams.set_password_hash(conn, user.id, new_hash)
        signed = await open_session(conn, user, now=now, max_hours=max_hours,
                                    details={"method": "password", "rehashed": new_hash is not None})
    log.info("staff signed in", extra={"staff_id": user.id})
    return signed


async def sign_in_linked(pool: asyncpg.Pool, *, subject: str, username: str, entitled: bool, now: datetime,
                         max_hours: int = DEFAULT_MAX_HOURS) -> SignedIn:
    """Open a session for an identity proven elsewhere (single sign-on), only for accounts an admin marked.

    An account marked "by subject" is found by the subject the admin entered. An account marked "by username"
    is linked on its first sign-in whose username claim matches, and only while the identity is `entitled`
    (carries the configured group or role claim). Unknown, unmarked or inactive staff are refused (Forbidden).
    """
    name = "".join(ch for ch in username.strip().lower() if ch.isprintable())[:100]
    async with pool.acquire() as conn, conn.transaction():
        account = await teams.account_by_subject(conn, subject)
        linking = account is None and bool(name) and entitled
        if linking:
            account = await teams.account_to_link(conn, name)
        if account is None or (account.sso == "username" and not entitled):
            log.info("single sign-on for unknown or unmarked staff", extra={"entitled": entitled})
            raise Forbidden(UNKNOWN_ACCOUNT)
        if not account.active:
            log.info("single sign-on for inactive staff", extra={"staff_id": account.user.id})
            raise Forbidden(INACTIVE_ACCOUNT)
        user = account.user
        if linking:
            await teams.link_subject(conn, user.id, subject)
            await audit.record(conn, site_id=user.site_id, actor=user.actor, action="staff.oidc_linked",
                               subject_type="staff", subject_id=user.id, details={"subject": subject})
        signed = await open_session(conn, user, now=now, max_hours=max_hours, details={"method": "oidc"})
    log.info("staff signed in", extra={"staff_id": user.id, "method": "oidc"})
    return signed


async def open_session(conn: asyncpg.Connection, user: StaffUser, *, now: datetime, max_hours: int,
                       details: Mapping[str, object]) -> SignedIn:
    """Store a new session with fresh tokens and audit the sign-in; runs inside the caller's transaction."""
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    hashed = token_hash(token)
    await conn.execute(
        """
        INSERT INTO staff_sessions (token_hash, site_id, staff_id, csrf_token, created_at, last_seen_at,
                                    expires_at)
        VALUES ($1, $2, $3, $4, $5, $5, $6)
        """,
        hashed, user.site_id, user.id, csrf_token, now, now + timedelta(hours=max_hours),
    )
    await audit.record(conn, site_id=user.site_id, actor=user.actor, action="staff.sign_in",
                       subject_type="staff", subject_id=user.id, details={"session": hashed[:12], **details})
    return SignedIn(token=token, csrf_token=csrf_token, user=user)


async def session_user(pool: asyncpg.Pool, token: str, *, now: datetime, idle_minutes: int) -> Session | None:
    """The session for a token if it is neither revoked, expired nor idle too long; marks it as seen."""
    if not token or len(token) > _MAX_TOKEN_CHARS:
        return None
    hashed = token_hash(token)
    row = await pool.fetchrow(
        f"""
        SELECT {_STAFF_COLUMNS}, s.csrf_token, s.last_seen_at
        FROM staff_sessions s JOIN staff st ON st.id = s.staff_id
        WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
          AND s.last_seen_at > $3 AND st.active
        """,
        hashed, now, now - timedelta(minutes=idle_minutes),
    )
    if row is None:
        return None
    # Touch at most once a minute: every staff page load would otherwise be a write.
    if row["last_seen_at"] <= now - TOUCH_INTERVAL:
        await pool.execute(
            "UPDATE staff_sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2",
            hashed, now,
        )
    return Session(user=teams.staff_user(row), csrf_token=row["csrf_token"], token_hash=hashed)


async def revoke(pool: asyncpg.Pool, token_hash: str, *, actor: str) -> bool:
    """End one session; False when it was already ended or never existed."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """
            UPDATE staff_sessions SET revoked_at = now()
            WHERE token_hash = $1 AND revoked_at IS NULL
            RETURNING site_id, staff_id
            """,
            token_hash,
        )
        if row is None:
            return False
        await audit.record(conn, site_id=row["site_id"], actor=actor, action="staff.session_revoked",
                           subject_type="staff", subject_id=row["staff_id"],
                           details={"session": token_hash[:12]})
    return True


async def revoke_all(pool: asyncpg.Pool, staff_id: int, *, actor: str) -> int:
    """End every open session of a staff member; returns how many were ended."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """
            UPDATE staff_sessions SET revoked_at = now()
            WHERE staff_id = $1 AND revoked_at IS NULL
            RETURNING site_id
            """,
            staff_id,
        )
        if rows:
            await audit.record(conn, site_id=rows[0]["site_id"], actor=actor, action="staff.sessions_revoked",
                               subject_type="staff", subject_id=staff_id, details={"count": len(rows)})
    return len(rows)


SESSION_HANDLE_CHARS: Final = 16  # sessions are named on the own-account page by this much of their token hash


async def list_sessions(pool: asyncpg.Pool, staff_id: int, *, now: datetime, idle_minutes: int) -> list[asyncpg.Record]:
    """A staff member's usable sessions, newest first: handle (a prefix of the token hash, never the token),
    created_at, last_seen_at, expires_at."""
    return list(await pool.fetch(
        """
        SELECT left(token_hash, $4) AS handle, created_at, last_seen_at, expires_at FROM staff_sessions
        WHERE staff_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3
        ORDER BY created_at DESC
        """, staff_id, now, now - timedelta(minutes=idle_minutes), SESSION_HANDLE_CHARS))


async def end_own_sessions(pool: asyncpg.Pool, user: StaffUser, *, handle: str | None = None,
                           keep: str | None = None) -> int:
    """End the staff member's own session named by `handle`, or (without it) all their sessions but the one whose
    token hash is `keep`; audited; how many were ended. Nobody ends another person's session this way."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """
            UPDATE staff_sessions SET revoked_at = now()
            WHERE staff_id = $1 AND revoked_at IS NULL
              AND ($2::text IS NULL OR left(token_hash, $4) = $2) AND ($3::text IS NULL OR token_hash <> $3)
            RETURNING left(token_hash, 12) AS session
            """, user.id, handle, keep, SESSION_HANDLE_CHARS)
        if rows:
            await audit.record(conn, site_id=user.site_id, actor=user.actor, action="staff.sessions_ended_by_self",
                               subject_type="staff", subject_id=user.id,
                               details={"sessions": [r["session"] for r in rows]})
    return len(rows)


async def set_password(conn: asyncpg.Connection, *, staff_id: int, site_id: int, password_hash: str, actor: str,
                       how: str, keep: str | None = None) -> int:
    """Store a new password hash, end the person's sessions (all but the one whose token hash is `keep`) and
    forget their failed sign-ins; audited as `how`. Inside the caller's transaction; how many sessions ended."""
    await teams.set_password_hash(conn, staff_id, password_hash)
    ended = await conn.fetchval(
        "WITH ended AS (UPDATE staff_sessions SET revoked_at = now() WHERE staff_id = $1 AND revoked_at IS NULL "
        "AND ($2::text IS NULL OR token_hash <> $2) RETURNING 1) SELECT count(*) FROM ended", staff_id, keep)
    person = await teams.get_staff(conn, staff_id)
    if person is not None:
        await signin_limits.succeeded(conn, person["username"])
    await audit.record(conn, site_id=site_id, actor=actor, action="staff.password_set", subject_type="staff",
                       subject_id=staff_id, details={"how": how, "sessions_ended": ended})
    return int(ended)


async def password_matches(pool: asyncpg.Pool, user: StaffUser, password: str, *, checks: PasswordChecks,
                           address: str, now: datetime) -> bool:
    """Whether this is the signed-in person's current password; counted like a sign-in attempt (a wrong one is a
    failure, so a taken-over session cannot guess it faster than the sign-in form)."""
    async with checks.slot():
        async with pool.acquire() as conn, conn.transaction():
            account = await teams.account_by_username(conn, user.username)
            await signin_limits.admit(conn, username=user.username, address=address, now=now, site_id=user.site_id)
        stored = account.password_hash if account is not None and account.sso is None else None
        matches = await checks.run(_verify, stored, password)
    if matches and stored is not None:
        async with pool.acquire() as conn:
            await signin_limits.succeeded(conn, user.username)
        return True
    return False


async def purge_sessions(pool: asyncpg.Pool, *, now: datetime, idle_minutes: int) -> int:
    """Delete sessions that can no longer be used (expired, idle too long or revoked); return how many."""
    status = await pool.execute(
        "DELETE FROM staff_sessions WHERE expires_at < $1 OR last_seen_at < $2 OR revoked_at < $1",
        now, now - timedelta(minutes=idle_minutes))
    return int(status.split()[-1])


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authenticate(request: web.Request) -> Session | None:
    """The staff session of this request (Bearer header first, then cookie), looked up once per request."""
    if SESSION_KEY in request:
        return request[SESSION_KEY]
    bearer = _bearer_token(request)
    token = bearer if bearer is not None else request.cookies.get(SESSION_COOKIE)
    session = None
    if token:
        session = await session_user(request.app[POOL], token, now=datetime.now(UTC),
                                     idle_minutes=request.app[CONFIG].security.session_idle_minutes)
    request[SESSION_KEY] = session
    request[_VIA_BEARER_KEY] = bearer is not None
    return session


async def _check_csrf(request: web.Request, session: Session) -> None:
    provided = request.headers.get(CSRF_HEADER)
    if provided is None and request.content_type in _FORM_TYPES:
        value = (await request.post()).get(CSRF_FIELD)
        provided = value if isinstance(value, str) else None
    if provided is None or not hmac.compare_digest(provided.encode(), session.csrf_token.encode()):
        log.warning("csrf check failed", extra={"staff_id": session.user.id, "path": request.path})
        raise CsrfFailed()


async def require_staff(request: web.Request, *roles: Role) -> StaffUser:
    """The signed-in staff member, who must hold one of roles (any role when none are given).

    Unsafe methods authenticated by cookie must also carry the session's CSRF token; Bearer requests
    are exempt because browsers never add that header on their own.
    """
    session = await authenticate(request)
    if session is None:
        raise Unauthorized()
    if roles and session.user.role not in roles:
        raise Forbidden()
    if request.method in UNSAFE_METHODS and not request[_VIA_BEARER_KEY]:
        await _check_csrf(request, session)
    return session.user


def require_site(user: StaffUser, site_id: int) -> None:
    """Refuse access to another site's data."""
    check_site(user, site_id)
