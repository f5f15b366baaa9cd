"""The OpenAPI spec says the truth: every JSON route is described, every described route exists,
and schemathesis finds no 5xx and no response that breaks the spec."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator

import asyncpg
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis import checks

from scheduler.api.ops import openapi_spec
from scheduler.app import create_app
from scheduler.config import Config
from tests import dbharness

DOCUMENTED_PREFIXES = ("/api/requests", "/api/callbacks", "/api/public/", "/api/staff/", "/healthz", "/readyz")


def _route_paths(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)
        if route.method != "HEAD" and path.startswith(DOCUMENTED_PREFIXES):
            found.add((route.method.lower(), path))
    return found


def test_every_json_route_is_documented_and_vice_versa(config: Config) -> None:
    app = create_app(config)
    routes = _route_paths(app)
    spec = {(m, p) for p, item in openapi_spec()["paths"].items() for m in item if m in {"get", "post", "delete"}}
    assert routes - spec == set(), "routes missing from scheduler/openapi.yaml"
    assert spec - routes == set(), "spec describes routes that do not exist"


@pytest.fixture(scope="module")
def live_server(base_config: Config, test_database) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The real app on a free port, in its own thread and event loop (schemathesis calls it synchronously)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        runner = web.AppRunner(create_app(base_config))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    started.wait(30)
    yield f"http://127.0.0.1:{holder['port']}"
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(30)  # type: ignore[attr-defined]
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


schema = schemathesis.openapi.from_dict(openapi_spec())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_spec(case: schemathesis.Case, live_server: str) -> None:
    # A phone number or concern can be schema-valid and still not exist, so "valid data is accepted" is not
    # expected; everything about the answers themselves is.
    case.call_and_validate(base_url=live_server, checks=[
        checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
        checks.response_schema_conformance, checks.negative_data_rejection,
    ])


async def _forget_sign_in_failures(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM sign_in_failures")
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def admin_token(live_server: str, test_database: dbharness.TestDatabase) -> str:
    import json
    import urllib.request

    # The fuzzing above signs in with made-up names from this same address, which the spraying limit then
    # refuses (as it should); the admin's own sign-in here starts from a clean slate.
    asyncio.run(_forget_sign_in_failures(test_database.url))
    req = urllib.request.Request(f"{live_server}/api/staff/session", method="POST",
                                 data=json.dumps({"username": "admin", "password": "demo-admin", "session": "bearer"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:  # noqa: S310 (loopback only)
        token: str = json.loads(resp.read())["token"]
    return token


staff_schema = schemathesis.openapi.from_dict(openapi_spec()).include(path_regex="^/api/staff/(?!session)")


@staff_schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_staff_api_conforms_to_spec_when_signed_in(case: schemathesis.Case, live_server: str,
                                                    admin_token: str) -> None:
    case.call_and_validate(base_url=live_server, headers={"Authorization": f"Bearer {admin_token}"}, checks=[
        checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
        checks.response_schema_conformance,
    ])
