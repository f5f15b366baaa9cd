"""Lobby changes fanned out to the open call displays and front-desk lists of this process.

Why LISTEN/NOTIFY and not a poll of the calls table: the service runs as several processes on one PostgreSQL, and
a display must show a call within a second. A trigger (migration 0025) notifies channel ``lobby`` at commit of
every call, check-in and appointment status change, whichever process made it; each web process keeps one
listening connection (outside the pool) and wakes only the pages of that site. Idle offices cost nothing, and a
call costs each process one board query per site, however many displays are open (the board is loaded once per
change and shared). A lost listening connection is re-opened with a growing pause; after that every site counts
as changed, because notifications sent meanwhile are lost. (A listener needs a session connection: behind
PgBouncer it must bypass transaction pooling; `pg_listener.py` keeps it.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from scheduler import pg_listener

log = logging.getLogger(__name__)

CHANNEL: Final = "lobby"
CALLS: Final = "calls"          # what the displays show
ARRIVALS: Final = "arrivals"    # what the front desk shows (arrivals and calls)
TOPICS_OF: Final = {"call": (CALLS, ARRIVALS), "arrival": (ARRIVALS,)}
MAX_AGE: Final = 30.0           # a shared snapshot is reloaded after this long even without a notification
T = TypeVar("T")


class LobbyFeed:
    """This process's subscription to the ``lobby`` channel: versions per (site, topic) and waiting pages."""

    def __init__(self, dsn: str | None) -> None:
        self._versions: dict[tuple[int, str], int] = {}
        self._events: dict[tuple[int, str], asyncio.Event] = {}
        self._snapshots: dict[tuple[int, str], tuple[int, float, asyncio.Future[Any]]] = {}
        self._listener = pg_listener.Listener(dsn, CHANNEL, name="lobby feed", on_payload=self.heard,
                                              on_gap=self.changed_everywhere)
        self.connected = self._listener.connected
        self.closing = False  # the process is shutting down: open streams end

    # -- what pages use ---------------------------------------------------------------------------------

    def version(self, site_id: int, topic: str) -> int:
        """How many changes this process has heard of for a site and topic."""
        return self._versions.get((site_id, topic), 0)

    async def wait(self, site_id: int, topic: str, seen: int, *, timeout: float) -> bool:
        """Wait until the version moves past `seen` (True) or the timeout passes (False)."""
        key = (site_id, topic)
        if self._versions.get(key, 0) != seen:
            return True
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
        return self._versions.get(key, 0) != seen

    async def snapshot(self, site_id: int, topic: str, load: Callable[[], Awaitable[T]]) -> tuple[int, T]:
        """The current version and what `load` gives for it, loaded once per version (and at most MAX_AGE old)
        for every page of the process that asks."""
        key = (site_id, topic)
        version = self._versions.get(key, 0)
        held = self._snapshots.get(key)
        if held is None or held[0] != version or time.monotonic() - held[1] > MAX_AGE \
                or (held[2].done() and (held[2].cancelled() or held[2].exception() is not None)):
            future: asyncio.Future[T] = asyncio.ensure_future(load())
            held = (version, time.monotonic(), future)
            self._snapshots[key] = held
        return version, await asyncio.shield(held[2])

    def changed(self, site_id: int, topic: str) -> None:
        """Count a change and wake the pages waiting for it."""
        key = (site_id, topic)
        self._versions[key] = self._versions.get(key, 0) + 1
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    def changed_everywhere(self) -> None:
        """Count a change for every site and topic seen (after notifications may have been lost)."""
        for site_id, topic in list(self._versions) + list(self._events):
            self.changed(site_id, topic)

    # -- the listening connection -----------------------------------------------------------------------

    def heard(self, payload: str) -> None:
        """Handle one notification: "<what>:<site id>"."""
        what, _, site = payload.partition(":")
        try:
            site_id = int(site)
        except ValueError:
            log.warning("unexpected lobby notification %r", payload[:100])
            return
        for topic in TOPICS_OF.get(what, (CALLS, ARRIVALS)):
            self.changed(site_id, topic)

    def start(self) -> None:
        """Start listening in the background (re-connecting until stop)."""
        self._listener.start()

    def close_streams(self) -> None:
        """Tell every open stream to end (at shutdown, before the server waits for its handlers)."""
        self.closing = True
        for event in list(self._events.values()):
            event.set()

    async def stop(self) -> None:
        """Stop listening and wake every waiting page."""
        await self._listener.stop()
        for event in self._events.values():
            event.set()
