"""A real HTTP receiver for outgoing webhooks in tests: records every POST, answers as told."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook

from scheduler import webhooks
from scheduler.webhooks import EventType


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """What the receiver got, and the statuses it answers with (one per POST; then 204)."""

    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hooks/case-events"))

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        status = self.answers.pop(0) if self.answers else 204
        if status in (301, 302, 307):
            return web.Response(status=status, headers={"Location": "/elsewhere"})
        return web.Response(status=status)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every received payload, each checked by the reference Standard Webhooks library (raises if not)."""
        found = []
        for item in self.received:
            payload = Webhook(secret).verify(item.body, item.headers)
            assert isinstance(payload, dict)
            found.append(payload)
        return found


async def start_receiver(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Receiver:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/case-events", receiver.handle)
    app.router.add_post("/elsewhere", receiver.handle)
    receiver.server = await aiohttp_server(app)
    return receiver


async def endpoint(conn: asyncpg.Connection, site_id: int, url: str,
                   types: tuple[EventType, ...] = tuple(EventType)) -> tuple[int, str]:
    """An active endpoint of the site for these types: (id, secret)."""
    created, secret = await webhooks.create(conn, site_id=site_id, url=url, description="Fallakte",
                                            event_types=types, created_by=None)
    return created.id, secret
