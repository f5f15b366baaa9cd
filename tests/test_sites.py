"""The per-process cache of site setups is bounded and keyed by the site row's config stamp."""

from __future__ import annotations

import uuid

from scheduler.policy.store import ActivePolicies
from scheduler.sites import SetupCache, Site, SiteConfig, Teams


def _site(site_id: int, stamp: uuid.UUID | None = None) -> Site:
    return Site(id=site_id, code=f"s{site_id}", name="", timezone="Europe/Berlin", address="", holiday_region="DE-BE",
                languages=("de",), public_base_url="", email_enabled=False, retention_days=1,
                config_stamp=stamp or uuid.uuid4())


def _setup() -> SiteConfig:
    return SiteConfig(teams=Teams({}, {}, ""), concerns={}, policies=ActivePolicies(site=None, teams={}, caseworkers={}))


def test_a_new_stamp_misses_and_the_least_recently_used_goes_first() -> None:
    cache = SetupCache(limit=2)
    a, b, c = _site(1), _site(2), _site(3)
    for site in (a, b):
        cache.put(site, _setup())
    assert cache.get(a) is not None  # a is now the most recently used
    cache.put(c, _setup())
    assert len(cache) == 2 and cache.get(b) is None and cache.get(a) is not None
    assert cache.get(_site(1)) is None  # same site, renewed stamp
