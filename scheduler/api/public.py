"""Client JSON API (no login): create appointment and callback requests, follow the SMS link."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from scheduler import callbacks, client_actions, intake, ratelimit, sites
from scheduler import requests as requests_
from scheduler.errors import NotFound, ValidationFailed
from scheduler.http import TOKEN, json_object
from scheduler.http_errors import request_language
from scheduler.i18n import N_
from scheduler.keys import CONFIG, HOLDS, POOL, SITE_EXPLICIT, SITE_ID, SITE_SETUPS
from scheduler.policy.rules import Kind

routes = web.RouteTableDef()


def submitted_json(submitted: intake.Submitted, base_url: str) -> dict[str, Any]:
    """What a client gets back after submitting: reference, token and their status link."""
    return {"kind": "callback" if submitted.kind is Kind.callback else "appointment",
            "reference": submitted.reference, "token": submitted.link_token, "status": submitted.status,
            "status_url": f"{base_url}/r/{submitted.link_token}"}


async def _target_site(request: web.Request, named: object) -> sites.Site | None:
    """The office a submission goes to: the one the address chose. A `site` in the body must name that office when
    it was chosen by its own host or prefix (422 otherwise); on the deployment's own address (the default site) the
    body may still name any office, as before several offices had their own hosts. None: intake names the bad site."""
    site_id = request.get(SITE_ID)  # set by the middleware of channels/site_choice.py
    async with request.app[POOL].acquire() as conn:  # no address book yet (database down at start): a 503 here
        chosen = await (sites.site_by_id(conn, site_id) if site_id is not None
                        else sites.site_by_code(conn, request.app[CONFIG].default_site))
    if chosen is None:
        raise NotFound()
    if named is None or named == chosen.code:
        return chosen
    if request.get(SITE_EXPLICIT):
        raise ValidationFailed(fields={"site": N_("This address belongs to another office. Please leave out "
                                                  "“site” or use that office's address.")})
    if not isinstance(named, str):
        return None
    async with request.app[POOL].acquire() as conn:
        return await sites.site_by_code(conn, named)


async def _submit(request: web.Request, kind: Kind) -> web.Response:
    body = await json_object(request)
    config = request.app[CONFIG]
    if "idempotency_key" not in body and request.headers.get("Idempotency-Key"):
        body["idempotency_key"] = request.headers["Idempotency-Key"]
    site = await _target_site(request, body.get("site"))
    if body.get("email") is not None and site is not None and not site.email_enabled:
        del body["email"]  # as the web form: an address sent to an office without e-mail is ignored, not checked
    parsed = intake.parse_intake(body, kind=kind, channel="web", default_site=site.code if site else "",
                                 countries=sites.countries(site, config.sms.allowed_countries) if site
                                 else config.sms.allowed_countries)
    limiter = request.app[ratelimit.LIMITER]
    submitted = await intake.submit(request.app[POOL], parsed, now=datetime.now(UTC),
                                    reminder_offsets=config.reminder_offsets,
                                    limit_phone=limiter.phone_limit(site.id) if site else limiter.hit_phone,
                                    holds=request.app[HOLDS], setups=request.app[SITE_SETUPS], site=site)
    # A None site was refused by intake (unknown office), so the site is known here.
    assert site is not None
    return web.json_response(submitted_json(submitted, sites.public_url(site, config.server.public_base_url)),
                             status=201)


@routes.post("/api/requests", name="api-create-request")
async def create_request(request: web.Request) -> web.Response:
    """A client asks for an appointment."""
    return await _submit(request, Kind.appointment)


@routes.post("/api/callbacks", name="api-create-callback")
async def create_callback(request: web.Request) -> web.Response:
    """A client asks to be called back."""
    return await _submit(request, Kind.callback)


@routes.get(f"/api/public/{TOKEN}", name="api-public-status")
async def public_status(request: web.Request) -> web.Response:
    """Status of a request or callback, for the holder of its link."""
    async with request.app[POOL].acquire() as conn:
        view = await client_actions.status_view(conn, request.match_info["token"], request_language(request))
    return web.json_response(view)


async def _request_by_token(request: web.Request) -> requests_.Request:
    async with request.app[POOL].acquire() as conn:
        found = await requests_.find_by_token(conn, request.match_info["token"])
    if found is None:
        raise NotFound()
    return found


@routes.post(f"/api/public/{TOKEN}/confirm", name="api-public-confirm")
async def public_confirm(request: web.Request) -> web.Response:
    """The client confirms they will come."""
    found = await _request_by_token(request)
    await client_actions.confirm(request.app[POOL], request_id=found.id, actor="client:web")
    return await public_status(request)


@routes.post(f"/api/public/{TOKEN}/cancel", name="api-public-cancel")
async def public_cancel(request: web.Request) -> web.Response:
    """The client cancels their request or callback."""
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        found = await requests_.find_by_token(conn, request.match_info["token"])
        callback = None if found else await callbacks.find_by_token(conn, request.match_info["token"])
    if found is not None:
        await client_actions.cancel(pool, request_id=found.id, actor="client:web", now=datetime.now(UTC))
    elif callback is not None:
        await client_actions.cancel_callback(pool, callback_id=callback.id, actor="client:web")
    else:
        raise NotFound()
    return await public_status(request)


@routes.post(f"/api/public/{TOKEN}/another-time", name="api-public-another-time")
async def public_another_time(request: web.Request) -> web.Response:
    """The client asks for another time; their caseworker gets the request back."""
    found = await _request_by_token(request)
    await client_actions.another_time(request.app[POOL], request_id=found.id, actor="client:web",
                                      now=datetime.now(UTC), reminder_offsets=request.app[CONFIG].reminder_offsets)
    return await public_status(request)

