"""Operational endpoints: liveness, readiness, Prometheus metrics, OpenAPI spec and its docs page."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import yaml
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from scheduler import db
from scheduler.keys import POOL

routes = web.RouteTableDef()
OPENAPI_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"


@functools.cache
def openapi_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the JSON API (kept true by tests/test_openapi.py)."""
    spec: dict[str, Any] = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    return spec


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.Response:
    """The process is alive (says nothing about the database)."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz", name="readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers and every migration is applied."""
    try:
        async with asyncio.timeout(2):
            async with request.app[POOL].acquire() as conn:
                pending = await db.pending_migrations(conn)
    except Exception as e:  # any failure to reach the database means "not ready"
        return web.json_response({"status": "unavailable", "database": type(e).__name__}, status=503,
                                 headers={"Retry-After": "2"})
    if pending:
        return web.json_response({"status": "migrating", "pending": pending}, status=503)
    return web.json_response({"status": "ready"})


@routes.get("/metrics", name="metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this process's metrics."""
    resp = web.Response(body=generate_latest())
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


@routes.get("/api/openapi.json", name="openapi")
async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI spec as JSON."""
    return web.json_response(openapi_spec())


@routes.get("/api/docs", name="api-docs")
@aiohttp_jinja2.template("ops/api_docs.html")
async def api_docs(request: web.Request) -> dict[str, Any]:
    """A readable page listing every operation of the JSON API, drawn from the spec."""
    spec = openapi_spec()
    operations = [
        {"method": method.upper(), "path": path, **op}
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    return {"spec": spec, "operations": operations, "lang": "en"}
