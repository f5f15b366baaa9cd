"""Sending outgoing webhooks: sign as the Standard Webhooks specification describes, POST, record the result.

One run claims a batch of due deliveries (webhook_deliveries.claim_due: SKIP LOCKED and a lease, so several
processes deliver each row once), posts them outside any transaction, at most CONCURRENCY at once, each with
a 10 s timeout and without following redirects, and records each answer. The signature is
`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">` keyed with the endpoint's decoded
secret; the body is the payload as PostgreSQL stored it, sent byte for byte as signed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import aiohttp
import asyncpg

from scheduler import webhook_deliveries, webhooks
from scheduler.notify.webhook_reach import AddressRefused, Reach, connector
from scheduler.webhook_deliveries import Claimed, DeliveryStatus

log = logging.getLogger(__name__)

TIMEOUT_SECONDS: Final = 10.0
CONCURRENCY: Final = 8
BATCH: Final = 50
USER_AGENT: Final = "scheduler-webhooks/1"


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header value for one message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(key: bytes, message_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers of one POST (timestamp: seconds since the epoch, now unless given)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, message_id, timestamp, body),
            "content-type": "application/json", "user-agent": USER_AGENT}


async def post(http: aiohttp.ClientSession, target: webhooks.Target, message_id: str,
               body: bytes, reach: Reach | None = None) -> tuple[int | None, str | None]:
    """POST one message: (HTTP status, None) when the receiver answered, else (None, a short error)."""
    try:
        if reach is not None:
            reach.check_url(target.url)
        async with http.post(target.url, data=body, headers=headers(target.key, message_id, body),
                             allow_redirects=False) as response:
            # The answer's body is not kept: it is the receiver's, and the log only needs the status.
            return response.status, None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except TimeoutError:
        return None, f"no answer within {TIMEOUT_SECONDS:.0f} s"
    except AddressRefused as e:
        return None, str(e)[:webhook_deliveries.ERROR_MAX]
    except aiohttp.ClientConnectorError as e:  # the resolver's refusal arrives wrapped
        cause = e.os_error if isinstance(e.os_error, AddressRefused) else e
        return None, f"{type(cause).__name__}: {cause}"[:webhook_deliveries.ERROR_MAX]
    except aiohttp.ClientError as e:
        return None, f"{type(e).__name__}: {e}"[:webhook_deliveries.ERROR_MAX]


@dataclass(slots=True)
class Stats:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


async def dispatch_due(pool: asyncpg.Pool, *, now: datetime, batch: int = BATCH,
                       http: aiohttp.ClientSession | None = None, reach: Reach | None = None) -> Stats:
    """Claim one batch of due deliveries, send them and record the answers.

    `reach`: which addresses may be posted to (the job passes the configured rule; see webhook_reach.py).
    """
    stats = Stats()
    async with pool.acquire() as conn, conn.transaction():
        claimed = await webhook_deliveries.claim_due(conn, now=now, limit=batch)
    if not claimed:
        return stats
    stats.claimed = len(claimed)
    async with pool.acquire() as conn:
        found = await webhooks.targets(conn, sorted({c.endpoint_id for c in claimed}))
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(session: aiohttp.ClientSession, item: Claimed) -> None:
        target = found.get(item.endpoint_id)
        status: int | None = None
        error: str | None = "endpoint deactivated"
        if target is not None:
            async with slots:
                status, error = await post(session, target, item.id, item.body.encode(), reach)
        async with pool.acquire() as conn:
            result = await webhook_deliveries.record(conn, item, now=now, http_status=status, error=error,
                                                     give_up=target is None)
        if result is DeliveryStatus.delivered:
            stats.delivered += 1
        elif result is DeliveryStatus.pending:
            stats.retrying += 1
        elif result is DeliveryStatus.failed:
            stats.failed += 1

    if http is not None:
        await asyncio.gather(*(one(http, item) for item in claimed))
    else:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout,
                                         connector=connector(reach) if reach is not None else None) as session:
            await asyncio.gather(*(one(session, item) for item in claimed))
    if stats.retrying or stats.failed:
        log.info("webhooks not delivered", extra={"retrying": stats.retrying, "failed": stats.failed})
    return stats
