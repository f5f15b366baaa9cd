"""/metrics and the API docs can be limited to the operators' networks."""

from __future__ import annotations

import dataclasses

import pytest

from scheduler.app import create_app
from scheduler.config import Config

OPERATOR_PATHS = ("/metrics", "/api/docs", "/api/openapi.json")


def allowing(config: Config, *networks: str) -> Config:
    return dataclasses.replace(config, security=dataclasses.replace(config.security, ops_allowed_networks=networks))


@pytest.mark.parametrize("path", OPERATOR_PATHS)
async def test_other_addresses_get_403(aiohttp_client, config: Config, pool: object, path: str) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(allowing(config, "10.20.0.0/16")))  # the test client is 127.0.0.1
    assert (await client.get(path)).status == 403
    assert (await client.get("/healthz")).status == 200  # probes stay open


@pytest.mark.parametrize("path", OPERATOR_PATHS)
async def test_configured_networks_get_through(aiohttp_client, config: Config, pool: object, path: str) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(allowing(config, "10.20.0.0/16", "127.0.0.0/8")))
    assert (await client.get(path)).status == 200


async def test_open_by_default(client) -> None:  # type: ignore[no-untyped-def]
    for path in OPERATOR_PATHS:
        assert (await client.get(path)).status == 200
