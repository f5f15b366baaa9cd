"""Which office a request is for, by the address it came to: this process's `AddressBook`.

Every web request and webhook asks it (host name -> site, called number -> site), so a lookup is a dict read, not
a query. The book is loaded from `site_addresses.all_addresses` and `sites.site_codes`, and loaded again when a
notification on channel ``site_addresses`` arrives (the trigger of migration 0037 sends one on every change of a
host or number) and in any case once it is older than MAX_AGE, which also covers new sites and notifications lost
while the listening connection was down. (A listener needs a session connection, as in lobby_feed.py.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

import asyncpg

from scheduler import pg_listener, site_addresses, sites

log = logging.getLogger(__name__)

CHANNEL: Final = "site_addresses"
MAX_AGE: Final = 30.0  # seconds a book is trusted without a notification
RETRY: Final = 2.0     # seconds before a failed load is tried again


class AddressBook:
    """Host -> site id, number -> site id and site id <-> code, as this process last read them."""

    def __init__(self, dsn: str | None = None, *, max_age: float = MAX_AGE) -> None:
        self.max_age = max_age
        self._by_host: dict[str, int] = {}
        self._by_number: dict[str, int] = {}
        self._code_by_id: dict[int, str] = {}
        self._id_by_code: dict[str, int] = {}
        self._loaded_at = -1e18  # monotonic time of the last load; never loaded: stale
        self._stale = True
        self._retry_at = 0.0  # after a failed load: not before this monotonic time
        self._loading: asyncio.Lock | None = None
        self.generation = 0  # how often the book was loaded
        self._listener = pg_listener.Listener(dsn, CHANNEL, name="site address book",
                                              on_payload=lambda _payload: self.heard(), on_gap=self.heard)
        self.connected = self._listener.connected  # set while the listening connection is up

    # -- lookups (synchronous, a dict read each) -------------------------------------------------------

    def site_for_host(self, host: str) -> int | None:
        """The site answering this host name (as `site_addresses.normal_host` writes it), if any."""
        return self._by_host.get(host)

    def site_for_number(self, number: str) -> int | None:
        """The site whose Twilio number this is (E.164, as `site_addresses.normal_number` writes it), if any."""
        return self._by_number.get(number)

    def site_for_code(self, code: str) -> int | None:
        """The id of the site with this code, if the book knows it."""
        return self._id_by_code.get(code)

    def code_of(self, site_id: int) -> str | None:
        """The code of the site with this id, if the book knows it."""
        return self._code_by_id.get(site_id)

    @property
    def stale(self) -> bool:
        """Whether the book should be read again before it is trusted."""
        now = time.monotonic()
        return now >= self._retry_at and (self._stale or now - self._loaded_at > self.max_age)

    # -- loading ------------------------------------------------------------------------------------------

    async def refresh(self, conn: asyncpg.Connection) -> None:
        """Read every site's addresses and codes again (two small queries)."""
        self._stale = False  # a notification arriving during the load marks it stale again
        addresses = await site_addresses.all_addresses(conn)
        codes = await sites.site_codes(conn)
        self._by_host, self._by_number = addresses.by_host, addresses.by_number
        self._code_by_id, self._id_by_code = codes, {code: site_id for site_id, code in codes.items()}
        self._loaded_at = time.monotonic()
        self.generation += 1

    async def fresh(self, pool: asyncpg.Pool) -> AddressBook:
        """The book, read again first if it is stale; concurrent callers share one load."""
        if not self.stale:
            return self
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self.stale:
                try:
                    async with pool.acquire() as conn:
                        await self.refresh(conn)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
                    # Keep answering from the last book (health checks must not wait on a database that is down);
                    # try again in a few seconds.
                    log.warning("site address book not reloaded: %s", type(e).__name__)
                    self._stale = True
                    self._loaded_at = time.monotonic()
                    self._retry_at = time.monotonic() + RETRY
        return self

    def heard(self) -> None:
        """A notification: some host or number changed; the next lookup reads the book again."""
        self._stale = True

    # -- the listening connection -------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for changes in the background (re-connecting until stop)."""
        self._listener.start()

    async def stop(self) -> None:
        """Stop listening."""
        await self._listener.stop()
