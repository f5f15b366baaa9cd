"""The second demo office (`seed-demo --sites 2`): another Jobcenter beside the first, for trying isolation."""

from __future__ import annotations

import logging
from typing import Any, Final

import asyncpg
import yaml

from scheduler import site_addresses
from scheduler.seed import DEMO_DIR, seed_demo

log = logging.getLogger(__name__)

MAX_DEMO_SITES: Final = 2  # the first demo site and the one described in demo/second-site.yaml


def load_second_site() -> dict[str, Any]:
    """The second demo site's description from demo/second-site.yaml (laid out like site.yaml)."""
    data: dict[str, Any] = yaml.safe_load((DEMO_DIR / "second-site.yaml").read_text(encoding="utf-8"))
    return data


async def seed_second_site(pool: asyncpg.Pool) -> bool:
    """Load the second demo site unless it exists, with its host name and Twilio number; True when loaded."""
    demo = load_second_site()
    loaded = await seed_demo(pool, demo)
    async with pool.acquire() as conn:
        site_id = await conn.fetchval("SELECT id FROM sites WHERE code = $1", demo["site"]["code"])
        # Idempotent: set_* replaces the site's list with the same one on every run.
        await site_addresses.set_hosts(conn, site_id, site_addresses.parse_hosts(demo.get("hosts", [])))
        await site_addresses.set_phone_numbers(conn, site_id,
                                               site_addresses.parse_numbers(demo.get("phone_numbers", [])))
    if loaded:
        log.info("second demo site loaded", extra={"site": demo["site"]["code"]})
    return loaded
