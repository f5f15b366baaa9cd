"""The outbox worker: claim due rows, send them outside any transaction, record what happened.

Claiming is one statement (FOR UPDATE SKIP LOCKED + a lease), so several workers on one database take
different rows. Transient failures retry with exponential backoff and jitter (Retry-After wins when it
is longer); permanent ones end in `failed` with a code and a reason staff can read. Quiet hours move a
message to the end of the night; a client who sent STOP gets nothing.

One run claims a batch, then checks and renders each message right before its own send starts (at most
`concurrency` sends at once; the connection for those reads never waits for a provider). Results are
recorded in small groups as they come in: one guarded UPDATE for all acceptances of a group. Besides its
request to the provider, a message costs the reads that decide it (the opt-out check; for appointment
messages the appointment) and a share of one UPDATE.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from time import monotonic
from typing import Final, Protocol
from zoneinfo import ZoneInfo

import asyncpg

from scheduler import clients, letter_triggers, notices, outbox, phones
from scheduler.config import Config
from scheduler.metrics import OUTBOX_SENT
from scheduler.notify import budget, mails, messages
from scheduler.notify.sms import PermanentSendError, SendResult, SmsSender, TransientSendError
from scheduler.outbox import Message, OutboxStatus
from scheduler.sites import Site

log = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 30.0
BACKOFF_CAP_S: Final = 3600.0
MAX_ATTEMPTS: Final = 6
RECORD_WINDOW_S: Final = 0.02  # how long a send result may wait for others to be recorded with
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
    # No send starts later than this before the lease ends: a send may take the provider's whole timeout
    # (10 s) and its result must still be recorded while the row is ours. The rest go back to the queue.
    start_margin: timedelta = timedelta(seconds=20)
    max_attempts: int = MAX_ATTEMPTS
    status_callback_url: str | None = None
    daily_budget: int = 2000                      # SMS per site and local day (config sms.daily_budget_per_site)
    allowed_countries: tuple[str, ...] = ("DE",)  # no SMS to numbers of other countries (config sms.allowed_countries)
    public_base_url: str = "http://localhost:8080"  # links for sites without their own URL (sites.public_url)


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
    released: int = 0  # claimed but given back unsent, because the lease was running out

    def add(self, other: Stats) -> None:
        """Count another run's messages into these totals."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def settings_from(config: Config) -> Settings:
    """Dispatcher settings from the service configuration."""
    return Settings(
        quiet_start=config.sms.quiet_start, quiet_end=config.sms.quiet_end,
        lease=timedelta(seconds=config.jobs.outbox_lease_seconds), batch=config.jobs.outbox_batch,
        status_callback_url=config.server.public_base_url.rstrip("/") + "/webhooks/twilio/status"
        if config.sms.provider == "twilio" else None,
        daily_budget=config.sms.daily_budget_per_site, allowed_countries=config.sms.allowed_countries,
        public_base_url=config.server.public_base_url,
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


def _clean_error(text: str) -> str:
    # Provider messages can echo the number; staff see last_error, logs may too.
    return _PHONE_LIKE.sub("…", text)[:500]


async def dispatch_due(pool: asyncpg.Pool, senders: Senders, *, now: datetime,
                       rng: Callable[[], float] = random.random) -> Stats:
    """Claim due messages and deliver them; safe to run in several processes at once."""
    s = senders.settings
    run = _Run(pool, senders, now, rng, slots=asyncio.Semaphore(s.concurrency))
    recorder: asyncio.Task[None] | None = None
    start_by = monotonic() + (s.lease - s.start_margin).total_seconds()  # the lease counts from the claim
    try:
        async with pool.acquire() as conn:
            claimed = await outbox.claim_due(conn, now=now, lease_until=now + s.lease, limit=s.batch)
            run.stats.claimed = len(claimed)
            if not claimed:
                return run.stats
            recorder = asyncio.create_task(_record(run))
            queue = collections.deque(claimed)
            await _start_sends(conn, run, queue)
        while queue:
            # Wait for a free send slot without holding a connection, then take one for the next messages.
            await run.slots.acquire()
            run.slots.release()
            async with pool.acquire() as conn:
                if monotonic() >= start_by:  # a stalled provider ate the lease: never send unleased
                    run.stats.released = await outbox.release(conn, list(queue))
                    queue.clear()
                    break
                await _start_sends(conn, run, queue)
        await asyncio.gather(*run.sends)
    finally:
        if recorder is not None:
            if not all(t.done() for t in run.sends):  # failed half-way: sends under way are still recorded
                await asyncio.wait(run.sends)
            run.results.put_nowait(None)
            await recorder
    return run.stats


@dataclass(slots=True)
class _Run:
    """One dispatch_due call: its messages' sends, their results on the way to the recorder, the counts."""

    pool: asyncpg.Pool
    senders: Senders
    now: datetime
    rng: Callable[[], float]
    slots: asyncio.Semaphore  # one per send under way (Settings.concurrency)
    stats: Stats = field(default_factory=Stats)
    sites: dict[int, Site] = field(default_factory=dict)
    sends: list[asyncio.Task[None]] = field(default_factory=list)
    results: asyncio.Queue[_Result | None] = field(default_factory=asyncio.Queue)


async def _start_sends(conn: asyncpg.Connection, run: _Run, queue: collections.deque[Message]) -> None:
    """Decide, render and start sending queued messages while a send slot is free.

    Each message is checked (opted out, quiet hours, still current) right before its own send starts, as
    one message at a time would be; the connection is only used for those reads and never waits for a send.
    """
    while queue and not run.slots.locked():
        await run.slots.acquire()
        message = queue.popleft()
        extra = _extra(message)
        prepared = await _prepare(conn, run.senders, message, now=run.now, sites=run.sites, stats=run.stats,
                                  extra=extra, rng=run.rng)
        if prepared is None:
            run.slots.release()
        else:
            run.sends.append(asyncio.create_task(_send(run, message, prepared, extra)))


def _extra(message: Message) -> dict[str, object]:
    return {"outbox_id": message.id, "kind": message.kind, "attempt": message.attempts,
            "recipient": phones.masked(message.recipient)}


@dataclass(frozen=True, slots=True)
class _Result:
    message: Message
    extra: dict[str, object]
    body: str | None = None
    sent: SendResult | None = None
    error: PermanentSendError | TransientSendError | None = None


async def _send(run: _Run, message: Message, prepared: _Prepared, extra: dict[str, object]) -> None:
    """Hand one message to the provider (no connection held) and pass the outcome to the recorder."""
    try:
        result = _Result(message, extra, prepared.body, sent=await prepared.send())
    except (PermanentSendError, TransientSendError) as e:
        result = _Result(message, extra, error=e)
    except Exception as e:
        log.exception("unexpected send error", extra=extra)
        result = _Result(message, extra, error=TransientSendError(f"{type(e).__name__}"))
    finally:
        run.slots.release()
    run.results.put_nowait(result)


async def _record(run: _Run) -> None:
    """Write send results in groups until the end marker (None).

    A group is what arrives within RECORD_WINDOW_S of its first result (at most `concurrency` results, and
    whatever came in while the previous group was being written); all acceptances in a group are recorded
    by one guarded statement. The window keeps a result unrecorded for milliseconds only: a status callback
    finds no row until the provider id is stored.
    """
    group_size = run.senders.settings.concurrency
    while True:
        group = [await run.results.get()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RECORD_WINDOW_S):
                while group[-1] is not None and len(group) < group_size:
                    group.append(await run.results.get())
        while group[-1] is not None and not run.results.empty():
            group.append(run.results.get_nowait())
        complete = [r for r in group if r is not None]
        if complete:
            async with run.pool.acquire() as conn:
                await _record_group(conn, complete, now=run.now, settings=run.senders.settings, stats=run.stats,
                                    rng=run.rng)
        if group[-1] is None:
            return


async def _record_group(conn: asyncpg.Connection, group: list[_Result], *, now: datetime, settings: Settings,
                        stats: Stats, rng: Callable[[], float]) -> None:
    accepted = [(r, r.sent) for r in group if r.sent is not None]
    recorded = await outbox.mark_sent_many(conn, [
        outbox.Accepted(r.message, sent.provider_id, sent.segments or None, r.body) for r, sent in accepted], now=now)
    for r, sent in accepted:
        if r.message.id in recorded:
            stats.sent += 1
            OUTBOX_SENT.labels(r.message.channel, "sent").inc()
            log.info("message sent", extra={**r.extra, "provider_id": sent.provider_id, "segments": sent.segments})
        else:
            stats.lost += 1
            log.warning("sent, but the lease had expired; the row belongs to another worker now", extra=r.extra)
    for r in group:
        if isinstance(r.error, PermanentSendError):
            reason = _clean_error(str(r.error))
            if r.error.about_recipient:
                reason = f"number cannot receive SMS, please call or write: {reason}"
            await _finish(conn, r.message, OutboxStatus.failed, reason, r.error.code, stats, r.extra)
        elif r.error is not None:
            await _transient(conn, r.message, r.error, now, settings, stats, r.extra, rng)


async def _prepare(conn: asyncpg.Connection, senders: Senders, message: Message, *, now: datetime,
                   sites: dict[int, Site], stats: Stats, extra: dict[str, object],
                   rng: Callable[[], float]) -> _Prepared | None:
    """What to send, or None when the row was settled here (opted out, quiet hours, out of date)."""
    s = senders.settings
    site = await messages.site_for(conn, message.site_id, sites, s.public_base_url)
    if message.channel == "sms":
        if not phones.country_allowed(message.recipient, s.allowed_countries):
            await _finish(conn, message, OutboxStatus.cancelled, "SMS to this country are not allowed",
                          "country-not-allowed", stats, extra)
            return None
        if await clients.opted_out(conn, site_id=message.site_id, phone=message.recipient,
                                   receipt=message.kind in notices.RECEIPT_KINDS):
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
    elif message.channel == "sms" and not (await budget.take(conn, site_id=site.id, timezone=site.timezone,
                                                             budget=s.daily_budget, now=now)).allowed:
        # The site's SMS budget for today is used up: the message waits for the next day, it is not lost.
        if await outbox.defer(conn, message, due_at=budget.next_day_start(now, site.timezone),
                              error="daily SMS budget of the site is used up", code="sms-budget"):
            stats.deferred += 1
            log.warning("sms held back: daily budget used up", extra=extra)
        return None
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
        mail = await mails.render(conn, site=site, message=message, sender=email.sender, now=now)
        if mail is None:
            return None
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
    if not await letter_triggers.finish_message(conn, message, status=status, error=reason, code=code):
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
    """Re-queue messages whose worker died between claim and result; apply receipts that came early."""
    async with pool.acquire() as conn:
        count = await outbox.requeue_stuck(conn, now=now, max_attempts=max_attempts)
        early = await outbox.apply_early_receipts(conn, now=now)
    if early:
        log.info("applied delivery receipts that came before their send was recorded", extra={"count": early})
    if count:
        log.warning("re-queued messages with an expired lease", extra={"count": count})
    return count
