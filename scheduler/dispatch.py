"""The outbox worker: claim due rows, send them outside any transaction, record what happened.

Claiming is one statement (FOR UPDATE SKIP LOCKED + a lease), so several workers on one database take
different rows. Transient failures retry with exponential backoff and jitter (Retry-After wins when it
is longer); permanent ones end in `failed` with a code and a reason staff can read. Quiet hours move a
message to the end of the night; a client who sent STOP gets nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from typing import Final, Protocol
from zoneinfo import ZoneInfo

import asyncpg

from scheduler import clients, messages, outbox
from scheduler.availability import Site
from scheduler.config import Config
from scheduler.metrics import OUTBOX_SENT
from scheduler.notify.email import invite_message
from scheduler.notify.sms import PermanentSendError, SendResult, SmsSender, TransientSendError
from scheduler.outbox import Message, OutboxStatus

log = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 30.0
BACKOFF_CAP_S: Final = 3600.0
MAX_ATTEMPTS: Final = 6
_PHONE_LIKE: Final = re.compile(r"\+\d[\d ]{5,}\d|\b\d{8,}\b")

class EmailSender(Protocol):
    sender: str

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> SendResult: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Settings:
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    lease: timedelta = timedelta(seconds=60)
    batch: int = 50
    concurrency: int = 8
    max_attempts: int = MAX_ATTEMPTS
    status_callback_url: str | None = None


@dataclass(slots=True)
class Senders:
    sms: SmsSender
    email: EmailSender | None = None
    settings: Settings = field(default_factory=Settings)


@dataclass(slots=True)
class Stats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    lost: int = 0  # result not recorded: the lease had expired and another worker took the row


def settings_from(config: Config) -> Settings:
    """Dispatcher settings from the service configuration."""
    return Settings(
        quiet_start=config.sms.quiet_start, quiet_end=config.sms.quiet_end,
        lease=timedelta(seconds=config.jobs.outbox_lease_seconds), batch=config.jobs.outbox_batch,
        status_callback_url=config.server.public_base_url.rstrip("/") + "/webhooks/twilio/status"
        if config.sms.provider == "twilio" else None,
    )


def in_quiet_hours(moment: datetime, tz: str, start: time, end: time) -> bool:
    """Whether a moment falls in the site's night (the window may span midnight)."""
    t = moment.astimezone(ZoneInfo(tz)).time()
    if start == end:
        return False
    return (t >= start or t < end) if start > end else (start <= t < end)


def quiet_hours_end(moment: datetime, tz: str, end: time) -> datetime:
    """The next end of quiet hours after moment, in the site's zone."""
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    day = local.date() if local.time() < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


def backoff(attempt: int, *, retry_after: float | None, rng: Callable[[], float] = random.random) -> timedelta:
    """Exponential delay with jitter (0.5x-1.5x) after the nth attempt; when the provider said when to come
    back (429 with Retry-After), that time plus up to half again, so a throttled wave does not return at once."""
    if retry_after is not None:
        return timedelta(seconds=min(BACKOFF_CAP_S, retry_after * (1 + 0.5 * rng())))
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, attempt - 1))
    return timedelta(seconds=base * (0.5 + rng()))


def mask(number: str) -> str:
    """A phone number or address shortened for logs."""
    return number[:3] + "…" + number[-2:] if len(number) > 6 else "…"


def _clean_error(text: str) -> str:
    # Provider messages can echo the number; staff see last_error, logs may too.
    return _PHONE_LIKE.sub("…", text)[:500]


async def dispatch_due(pool: asyncpg.Pool, senders: Senders, *, now: datetime,
                       rng: Callable[[], float] = random.random) -> Stats:
    """Claim due messages and deliver them; safe to run in several processes at once."""
    s = senders.settings
    async with pool.acquire() as conn:
        claimed = await outbox.claim_due(conn, now=now, lease_until=now + s.lease, limit=s.batch)
    stats = Stats(claimed=len(claimed))
    if not claimed:
        return stats
    sites: dict[int, Site] = {}
    gate = asyncio.Semaphore(s.concurrency)

    async def one(message: Message) -> None:
        async with gate:
            await _deliver(pool, senders, message, now=now, sites=sites, stats=stats, rng=rng)

    await asyncio.gather(*(one(m) for m in claimed))
    return stats


async def _deliver(pool: asyncpg.Pool, senders: Senders, message: Message, *, now: datetime,
                   sites: dict[int, Site], stats: Stats, rng: Callable[[], float]) -> None:
    s = senders.settings
    extra = {"outbox_id": message.id, "kind": message.kind, "attempt": message.attempts,
             "recipient": mask(message.recipient)}
    # 1. Decide and render (short reads, no transaction).
    async with pool.acquire() as conn:
        prepared = await _prepare(conn, senders, message, now=now, sites=sites, stats=stats, extra=extra, rng=rng)
    if prepared is None:
        return
    # 2. Send: no connection is held while the provider answers.
    try:
        result = await prepared.send()
    except PermanentSendError as e:
        reason = _clean_error(str(e))
        if e.about_recipient:
            reason = f"number cannot receive SMS, please call or write: {reason}"
        async with pool.acquire() as conn:
            await _finish(conn, message, OutboxStatus.failed, reason, e.code, stats, extra)
        return
    except TransientSendError as e:
        async with pool.acquire() as conn:
            await _transient(conn, message, e, now, s, stats, extra, rng)
        return
    except Exception as e:
        log.exception("unexpected send error", extra=extra)
        async with pool.acquire() as conn:
            await _transient(conn, message, TransientSendError(f"{type(e).__name__}"), now, s, stats, extra, rng)
        return
    # 3. Record.
    async with pool.acquire() as conn:
        ok = await outbox.mark_sent(conn, message, provider_id=result.provider_id, segments=result.segments or None,
                                    body=prepared.body, now=now)
    if ok:
        stats.sent += 1
        OUTBOX_SENT.labels(message.channel, "sent").inc()
        log.info("message sent", extra={**extra, "provider_id": result.provider_id, "segments": result.segments})
    else:
        stats.lost += 1
        log.warning("sent, but the lease had expired; the row belongs to another worker now", extra=extra)


async def _prepare(conn: asyncpg.Connection, senders: Senders, message: Message, *, now: datetime,
                   sites: dict[int, Site], stats: Stats, extra: dict[str, object],
                   rng: Callable[[], float]) -> _Prepared | None:
    """What to send, or None when the row was settled here (opted out, quiet hours, out of date)."""
    s = senders.settings
    site = await messages.site_for(conn, message.site_id, sites)
    if message.channel == "sms":
        if await clients.opted_out(conn, site_id=message.site_id, phone=message.recipient):
            await _finish(conn, message, OutboxStatus.cancelled, "client opted out of SMS", "opted-out", stats, extra)
            return None
        if in_quiet_hours(now, site.timezone, s.quiet_start, s.quiet_end):
            due = quiet_hours_end(now, site.timezone, s.quiet_end)
            if await outbox.defer(conn, message, due_at=due):
                stats.deferred += 1
                log.info("sms deferred to the end of quiet hours", extra={**extra, "due_at": due.isoformat()})
            return None
    try:
        prepared = await _render(conn, senders, message, site=site, now=now)
    except Exception as e:  # a bug or bad payload: bounded retries, then failed, never stuck
        log.exception("rendering failed", extra=extra)
        await _transient(conn, message, TransientSendError(f"render: {type(e).__name__}"), now, s, stats, extra, rng)
        return None
    if prepared is None:
        await _finish(conn, message, OutboxStatus.cancelled, "out of date: appointment or callback changed",
                      "superseded", stats, extra)
    return prepared


@dataclass(frozen=True, slots=True)
class _Prepared:
    body: str | None
    send: Callable[[], Awaitable[SendResult]]


async def _render(conn: asyncpg.Connection, senders: Senders, message: Message, *, site: Site,
                  now: datetime) -> _Prepared | None:
    if message.channel == "sms":
        rendered = await messages.render(conn, site=site, kind=message.kind, payload=message.payload,
                                         language=message.language, now=now)
        if rendered is None:
            return None
        return _Prepared(rendered.body, functools.partial(
            senders.sms.send, to=message.recipient, body=rendered.body,
            status_callback=senders.settings.status_callback_url, idempotency_key=message.idempotency_key))
    if message.channel == "email":
        email = senders.email
        if email is None or not site.email_enabled:
            return _Prepared(None, _email_disabled)
        invite = await messages.render_invite(conn, site=site, payload=message.payload, language=message.language,
                                              organizer_email=email.sender, attendee=message.recipient)
        if invite is None:
            return None
        mail = invite_message(sender=email.sender, to=message.recipient, subject=invite.subject, text=invite.text,
                              ics=invite.ics, method=invite.method)
        return _Prepared(None, functools.partial(email.send, mail, idempotency_key=message.idempotency_key))
    raise ValueError(f"unknown channel {message.channel!r}")


async def _email_disabled() -> SendResult:
    raise PermanentSendError("e-mail is not enabled for this site", code="email-disabled")


async def _transient(conn: asyncpg.Connection, message: Message, error: TransientSendError, now: datetime,
                     s: Settings, stats: Stats, extra: dict[str, object], rng: Callable[[], float]) -> None:
    reason = _clean_error(str(error))
    if message.attempts >= s.max_attempts:
        await _finish(conn, message, OutboxStatus.failed, f"gave up after {message.attempts} attempts: {reason}",
                      "retries-exhausted", stats, extra)
        return
    due = now + backoff(message.attempts, retry_after=error.retry_after, rng=rng)
    if await outbox.retry_later(conn, message, due_at=due, error=reason):
        stats.retried += 1
        OUTBOX_SENT.labels(message.channel, "retried").inc()
        log.warning("send failed, will retry", extra={**extra, "due_at": due.isoformat(), "error": reason})
    else:
        stats.lost += 1


async def _finish(conn: asyncpg.Connection, message: Message, status: OutboxStatus, reason: str, code: str,
                  stats: Stats, extra: dict[str, object]) -> None:
    if not await outbox.finish(conn, message, status=status, error=reason, code=code):
        stats.lost += 1
        return
    if status is OutboxStatus.failed:
        stats.failed += 1
        log.warning("message failed for good", extra={**extra, "error_code": code, "error": reason})
    else:
        stats.cancelled += 1
        log.info("message cancelled", extra={**extra, "reason": code})
    OUTBOX_SENT.labels(message.channel, status.value).inc()


async def sweep(pool: asyncpg.Pool, *, now: datetime, max_attempts: int = MAX_ATTEMPTS) -> int:
    """Re-queue messages whose worker died between claim and result."""
    async with pool.acquire() as conn:
        count = await outbox.requeue_stuck(conn, now=now, max_attempts=max_attempts)
    if count:
        log.warning("re-queued messages with an expired lease", extra={"count": count})
    return count
