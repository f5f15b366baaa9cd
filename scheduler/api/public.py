"""Client JSON API (no login): create appointment and callback requests, follow the SMS link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from scheduler import appointments, callbacks, client_actions, concerns, intake, ratelimit
from scheduler import requests as requests_
from scheduler.config import Config
from scheduler.errors import NotFound, request_language
from scheduler.http import json_object
from scheduler.keys import CONFIG, POOL
from scheduler.policy.rules import Kind

routes = web.RouteTableDef()
TOKEN = r"{token:[A-Za-z0-9_\-]{20,64}}"


def reminder_offsets(config: Config) -> tuple[timedelta, ...]:
    """The configured reminder offsets."""
    return tuple(timedelta(minutes=m) for m in config.reminder_offsets_minutes)


def submitted_json(submitted: intake.Submitted, base_url: str) -> dict[str, Any]:
    """What a client gets back after submitting: reference, token and their status link."""
    return {"kind": "callback" if submitted.kind is Kind.callback else "appointment",
            "reference": submitted.reference, "token": submitted.link_token, "status": submitted.status,
            "status_url": f"{base_url}/r/{submitted.link_token}"}


async def _submit(request: web.Request, kind: Kind) -> web.Response:
    body = await json_object(request)
    config = request.app[CONFIG]
    if "idempotency_key" not in body and request.headers.get("Idempotency-Key"):
        body["idempotency_key"] = request.headers["Idempotency-Key"]
    parsed = intake.parse_intake(body, kind=kind, channel="web", default_site=config.default_site)
    submitted = await intake.submit(request.app[POOL], parsed, now=datetime.now(UTC),
                                    reminder_offsets=reminder_offsets(config),
                                    limit_phone=request.app[ratelimit.LIMITER].hit_phone)
    return web.json_response(submitted_json(submitted, config.server.public_base_url), status=201)


@routes.post("/api/requests", name="api-create-request")
async def create_request(request: web.Request) -> web.Response:
    """A client asks for an appointment."""
    return await _submit(request, Kind.appointment)


@routes.post("/api/callbacks", name="api-create-callback")
async def create_callback(request: web.Request) -> web.Response:
    """A client asks to be called back."""
    return await _submit(request, Kind.callback)


async def status_view(conn: asyncpg.Connection, token: str, lang: str) -> dict[str, Any]:
    """What the holder of a link may see: status, time and place; never name, phone or customer number."""
    request = await requests_.find_by_token(conn, token)
    if request is not None:
        concern = await conn.fetchval("SELECT labels FROM concerns WHERE id = $1", request.concern_id)
        appointment = await appointments.latest_for_request(conn, request.id)
        view: dict[str, Any] = {
            "kind": "appointment", "reference": request.reference, "status": request.status.value,
            "concern": concerns.label(concern, lang), "language": request.language,
            "appointment": None,
            "actions": _request_actions(request, appointment),
        }
        if appointment is not None:
            view["appointment"] = {
                "start": appointment.start.isoformat(), "end": appointment.end.isoformat(),
                "mode": appointment.mode, "room": appointment.room, "status": appointment.status.value,
                "caseworker": appointment.staff_name,
            }
        return view
    callback = await callbacks.find_by_token(conn, token)
    if callback is None:
        raise NotFound()
    concern = await conn.fetchval("SELECT labels FROM concerns WHERE id = $1", callback.concern_id)
    return {
        "kind": "callback", "reference": callback.reference, "status": callback.status.value,
        "concern": concerns.label(concern, lang), "language": callback.language,
        "next_attempt_at": callback.next_attempt_at.isoformat() if callback.next_attempt_at else None,
        "actions": ["cancel"] if callback.status in callbacks.OPEN else [],
    }


def _request_actions(request: requests_.Request, appointment: appointments.Appointment | None) -> list[str]:
    if request.status is requests_.Status.scheduled and appointment is not None:
        return ["confirm", "another_time", "cancel", "invite"]
    if request.status in requests_.OPEN:
        return ["cancel"]
    return []


@routes.get(f"/api/public/{TOKEN}", name="api-public-status")
async def public_status(request: web.Request) -> web.Response:
    """Status of a request or callback, for the holder of its link."""
    async with request.app[POOL].acquire() as conn:
        view = await status_view(conn, request.match_info["token"], request_language(request))
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
                                      now=datetime.now(UTC), reminder_offsets=reminder_offsets(request.app[CONFIG]))
    return await public_status(request)

