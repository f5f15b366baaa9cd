"""The address book: dict lookups, reloaded on a notification from another connection (issue 18)."""

from __future__ import annotations

import asyncio

import asyncpg

from scheduler import site_addresses
from scheduler.config import Config
from scheduler.site_directory import AddressBook
from tests.factories import SiteFacts


async def test_lookups_after_a_load(conn: asyncpg.Connection, site: SiteFacts) -> None:
    await site_addresses.set_hosts(conn, site.site_id, ["termine.musterstadt.example"])
    await site_addresses.set_phone_numbers(conn, site.site_id, ["+495111234500"])
    book = AddressBook()
    assert book.stale
    await book.refresh(conn)
    assert not book.stale
    assert book.site_for_host("termine.musterstadt.example") == site.site_id
    assert book.site_for_number("+495111234500") == site.site_id
    assert book.site_for_host("elsewhere.example") is None and book.site_for_number("+4930000000") is None
    assert book.site_for_code("musterstadt") == site.site_id and book.code_of(site.site_id) == "musterstadt"


async def test_a_change_in_another_connection_reaches_the_book(config: Config, pool: asyncpg.Pool,
                                                               site: SiteFacts) -> None:
    book = AddressBook(config.database.url, max_age=3600)  # only a notification can make it stale
    book.start()
    try:
        await asyncio.wait_for(book.connected.wait(), 10)
        await book.fresh(pool)
        assert book.site_for_host("neu.musterstadt.example") is None and not book.stale
        async with pool.acquire() as other:
            await site_addresses.set_hosts(other, site.site_id, ["neu.musterstadt.example"])
        async with asyncio.timeout(10):
            while not book.stale:  # the trigger's NOTIFY arrives after the commit
                await asyncio.sleep(0.02)
        await book.fresh(pool)
        assert book.site_for_host("neu.musterstadt.example") == site.site_id
        async with pool.acquire() as other:
            await site_addresses.set_hosts(other, site.site_id, [])
        async with asyncio.timeout(10):
            while not book.stale:
                await asyncio.sleep(0.02)
        assert (await book.fresh(pool)).site_for_host("neu.musterstadt.example") is None
    finally:
        await book.stop()


async def test_an_old_book_is_read_again(pool: asyncpg.Pool, site: SiteFacts) -> None:
    book = AddressBook(max_age=0.05)
    await book.fresh(pool)
    loads = book.generation
    await book.fresh(pool)
    assert book.generation == loads  # fresh enough: no query
    await asyncio.sleep(0.06)
    await book.fresh(pool)
    assert book.generation == loads + 1
