"""create_app(config): the one place where the service is wired together."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from scheduler import db, ops
from scheduler.config import Config
from scheduler.errors import REQUEST_ID_KEY, Handler, error_middleware
from scheduler.keys import CONFIG, POOL, ROLE
from scheduler.metrics import HTTP_LATENCY, HTTP_REQUESTS
from scheduler.api import public as public_api
from scheduler.api import staff as staff_api
from scheduler.staff import session_api

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
ROLES = ("all", "web", "worker")


@web.middleware
async def request_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id (echoed in X-Request-Id) and count it by route name."""
    request[REQUEST_ID_KEY] = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)
    started = time.perf_counter()
    route = request.match_info.route.name or "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request[REQUEST_ID_KEY]
        return response
    except web.HTTPException as e:
        status = e.status
        e.headers["X-Request-Id"] = request[REQUEST_ID_KEY]
        raise
    finally:
        HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
        HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)


async def _database(app: web.Application) -> AsyncIterator[None]:
    cfg = app[CONFIG].database
    assert cfg.url, "create_app needs config.database.url (the caller starts the embedded server)"
    # min_size=0: the process starts and answers /healthz even while PostgreSQL is still down.
    app[POOL] = await db.create_pool(cfg.url, min_size=0, max_size=cfg.pool_max,
                                     command_timeout=cfg.command_timeout)
    yield
    await app[POOL].close()


def create_app(config: Config, *, role: str = "all") -> web.Application:
    """Build the aiohttp application for a role: all (default), web only, or worker only."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    app = web.Application(
        middlewares=[request_context_middleware, error_middleware],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    app[ROLE] = role
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app.cleanup_ctx.append(_database)
    app.add_routes(ops.routes)
    app.add_routes(session_api.routes)
    app.add_routes(public_api.routes)
    app.add_routes(staff_api.routes)
    return app
