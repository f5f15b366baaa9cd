"""One PostgreSQL channel heard in the background: LISTEN on a connection of its own, re-opened until stopped.

Used by the lobby feed (calls and arrivals) and the site address book (host names and numbers). A listener needs
a session connection of its own, outside the pool (behind PgBouncer it must bypass transaction pooling). A lost
connection is re-opened with a growing pause; `on_gap` is called when listening starts and when it stops,
because notifications sent while nobody listened are lost and the owner must assume that anything changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

CHECK_SECONDS = 15.0  # how often an idle connection is probed, so a half-open one is noticed


class Listener:
    """LISTEN on `channel`, calling `on_payload(payload)` per notification and `on_gap()` around gaps."""

    def __init__(self, dsn: str | None, channel: str, *, name: str, on_payload: Callable[[str], None],
                 on_gap: Callable[[], None]) -> None:
        self._dsn, self._channel, self._name = dsn, channel, name
        self._on_payload, self._on_gap = on_payload, on_gap
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()  # set while the listening connection is up

    def start(self) -> None:
        """Listen in the background (without a database address: never)."""
        if self._dsn and self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        pause = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())  # type: ignore[misc]
                await conn.add_listener(self._channel, lambda _c, _pid, _channel, payload: self._on_payload(payload))
                self.connected.set()
                self._on_gap()  # anything may have happened while nobody listened
                pause = 0.5
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(CHECK_SECONDS):
                            await lost.wait()
                    if not lost.is_set():
                        await conn.execute("SELECT 1")  # notices a half-open connection
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
                log.warning("%s lost its database connection: %s", self._name, type(e).__name__)
            finally:
                if self.connected.is_set():
                    self.connected.clear()
                    self._on_gap()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)
