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

from scheduler import db, jobs, ops_access, ratelimit, security_headers
from scheduler.api import admin as admin_api
from scheduler.api import ops
from scheduler.api import public as public_api
from scheduler.api import staff as staff_api
from scheduler.channels import (
    calendar_links,
    email_links,
    group_session_web,
    phone_appointments,
    phone_audio,
    phone_codes,
    site_choice,
    twilio_hooks,
)
from scheduler.channels import display as display_channel
from scheduler.channels import kiosk as kiosk_channel
from scheduler.channels import phone as phone_channel
from scheduler.channels import web as web_channel
from scheduler.config import Config
from scheduler.holds import Holds
from scheduler.http_errors import ERROR_PAGE, REQUEST_ID_KEY, Handler, error_middleware
from scheduler.keys import ADDRESS_BOOK, CONFIG, HOLDS, LOBBY_FEED, POOL, ROLE, SENDERS, SITE_SETUPS
from scheduler.lobby_feed import LobbyFeed
from scheduler.metrics import HTTP_LATENCY, HTTP_REQUESTS
from scheduler.notify import dispatch
from scheduler.notify.email import SmtpEmail
from scheduler.notify.sms import make_sender
from scheduler.site_directory import AddressBook
from scheduler.sites import SetupCache
from scheduler.staff import capacity_pages, escalation_pages, session_api, signin_limits
from scheduler.staff import oidc as staff_oidc
from scheduler.staff import pages as staff_pages

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
    limiter = ratelimit.RateLimiter(config.security)
    app = web.Application(
        middlewares=[request_context_middleware, error_middleware, ops_access.middleware(config),
                     site_choice.middleware(config), ratelimit.middleware(limiter, config.server),
                     site_choice.link_guard],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    security_headers.setup(app, config)
    app[ratelimit.LIMITER] = limiter
    app[ROLE] = role
    app[HOLDS] = Holds()
    app[SITE_SETUPS] = SetupCache()
    app[ADDRESS_BOOK] = AddressBook(config.database.url)  # host and called number -> site (issue 18)
    app.cleanup_ctx.append(_address_book)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app.cleanup_ctx.append(_database)
    app.add_routes(ops.routes)  # every role answers health, readiness and metrics
    if role != "worker":
        _add_web(app)
    _add_notifications(app, config, role)
    return app


def _add_web(app: web.Application) -> None:
    """Pages, JSON API and webhooks: everything a web process serves."""
    app.add_routes(session_api.routes)
    app.add_routes(public_api.routes)
    app.add_routes(staff_api.routes)
    app.add_routes(admin_api.routes)
    app.add_routes(staff_pages.routes)
    app.add_routes(escalation_pages.routes)  # escalated requests and their bulk reassignment (issue 16)
    app.add_routes(capacity_pages.routes)  # demand against capacity (issue 16)
    app.cleanup_ctx.append(staff_oidc.client_ctx)  # the HTTP session towards the single sign-on issuer
    app.cleanup_ctx.append(signin_limits.checks_ctx)  # argon2 in a bounded thread pool
    app.add_routes(web_channel.routes)
    app.add_routes(email_links.routes)  # confirming an e-mail address typed on the web form or kiosk (issue 15)
    app.add_routes(kiosk_channel.routes)
    app.add_routes(phone_channel.routes)
    app.add_routes(phone_appointments.routes)  # the IVR's appointment requests (issue 17)
    app.add_routes(phone_codes.routes)  # the IVR's confirm or cancel by reference code (issue 17)
    phone_audio.setup(app, app[CONFIG])  # the office's recorded prompts, played instead of speech (issue 17)
    app.add_routes(display_channel.routes)
    app.add_routes(group_session_web.routes)  # information sessions: list, booking, a seat's page (issue 17)
    app.cleanup_ctx.append(_lobby_feed)  # call displays and the front desk hear calls and arrivals
    app.on_shutdown.append(_end_lobby_streams)
    app.router.add_static("/static/", PACKAGE_DIR / "static", name="static")
    app[ERROR_PAGE] = web_channel.error_page


async def _lobby_feed(app: web.Application) -> AsyncIterator[None]:
    """This process's LISTEN connection for lobby changes (see scheduler/lobby_feed.py)."""
    app[LOBBY_FEED] = feed = LobbyFeed(app[CONFIG].database.url)
    feed.start()
    yield
    await feed.stop()


async def _address_book(app: web.Application) -> AsyncIterator[None]:
    """This process's LISTEN connection for changed site addresses (see scheduler/site_directory.py)."""
    app[ADDRESS_BOOK].start()
    yield
    await app[ADDRESS_BOOK].stop()


async def _end_lobby_streams(app: web.Application) -> None:
    """At shutdown, end the open display and front-desk streams (they reconnect to another process)."""
    if LOBBY_FEED in app:
        app[LOBBY_FEED].close_streams()


# -- notifications ------------------------------------------------------------------------------

async def _senders(app: web.Application) -> AsyncIterator[None]:
    """SMS (and e-mail) senders, created inside the running loop and closed at shutdown."""
    config = app[CONFIG]
    if config.sms.provider == "twilio":
        tw = config.sms.twilio
        sms = make_sender("twilio", account_sid=tw.account_sid, auth_token=tw.auth_token,
                          from_number=tw.from_number, api_base=tw.api_base)
    else:
        sms = make_sender("console", path=config.sms.console_path)
    email = SmtpEmail(host=config.email.smtp_host, port=config.email.smtp_port, sender=config.email.sender) \
        if config.email.enabled else None
    app[SENDERS] = dispatch.Senders(sms=sms, email=email, settings=dispatch.settings_from(config))
    yield
    await sms.close()
    if email is not None:
        await email.close()


def _add_notifications(app: web.Application, config: Config, role: str) -> None:
    app.cleanup_ctx.append(_senders)
    if role != "worker":
        app.add_routes(twilio_hooks.routes)
        app.add_routes(calendar_links.routes)
    if config.jobs.enabled and role != "web":
        app.cleanup_ctx.append(jobs.scheduler_ctx)
