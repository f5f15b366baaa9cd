"""Liveness, readiness, metrics, API docs, and how errors reach the client."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from scheduler.app import create_app
from scheduler.config import Config
from scheduler.errors import ValidationFailed


async def test_health_ready_metrics_docs(client: TestClient) -> None:
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["status"] == "ready"
    await client.get("/healthz")
    metrics = await (await client.get("/metrics")).text()
    assert 'scheduler_http_requests_total{method="GET",route="healthz",status="200"}' in metrics
    spec = await (await client.get("/api/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    docs = await client.get("/api/docs")
    assert docs.status == 200 and "/readyz" in await docs.text()


async def test_readyz_fails_when_database_is_unreachable(aiohttp_client, config: Config) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    broken = dataclasses.replace(config, database=dataclasses.replace(
        config.database, url="postgresql://nobody@127.0.0.1:1/none"))
    client = await aiohttp_client(create_app(broken))
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 503 and ready.headers["Retry-After"]


async def test_domain_error_and_unexpected_error_shapes(aiohttp_client, config: Config) -> None:  # type: ignore[no-untyped-def]
    app = create_app(config)

    async def invalid(request: web.Request) -> web.Response:
        raise ValidationFailed(fields={"phone": "Please enter a valid mobile phone number."})

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail")

    app.router.add_get("/_invalid", invalid, name="test-invalid")
    app.router.add_get("/_broken", broken, name="test-broken")
    client = await aiohttp_client(app)

    r = await client.get("/_invalid", headers={"Accept-Language": "en"})
    body = await r.json()
    assert r.status == 422 and body["error"] == "validation" and "phone" in body["fields"]

    r = await client.get("/_broken")
    body = await r.json()
    assert r.status == 500 and body["error"] == "internal"
    assert body["request_id"] == r.headers["X-Request-Id"]
    assert "secret detail" not in await r.text() and "Traceback" not in await r.text()


async def test_oversized_body_is_refused_before_parsing(client: TestClient, config: Config) -> None:
    r = await client.post("/healthz", data=b"x" * (config.server.max_body_bytes + 1))
    assert r.status in (405, 413)
