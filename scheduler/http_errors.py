"""Domain errors as HTTP answers: the one error middleware, JSON error bodies, the request's language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from scheduler.errors import DomainError, ServiceUnavailable, ValidationFailed
from scheduler.i18n import N_, negotiate, translate
from scheduler.redact import mask_link_tokens

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_KEY = web.RequestKey("request_id", str)
LANGUAGE_KEY = web.RequestKey("language", str)

def request_label(request: web.Request) -> str:
    """What a log line says about a request: the route name, or the path with its tokens masked."""
    name = request.match_info.route.name if request.match_info is not None else None
    return name or mask_link_tokens(request.path)


# Client pages register a function that shows a domain error as a page instead of JSON.
ErrorPage = Callable[[web.Request, DomainError], web.StreamResponse]
ERROR_PAGE: web.AppKey[ErrorPage] = web.AppKey("error_page")
JSON_PREFIXES = ("/api/", "/kiosk/api/", "/webhooks/", "/staff/")

HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 413: "too-large", 415: "unsupported-media-type"}


def request_language(request: web.Request) -> str:
    """The language chosen for this request (query ?lang=, then Accept-Language)."""
    chosen: str | None = request.get(LANGUAGE_KEY)
    if chosen:
        return chosen
    return negotiate(request.query.get("lang") or request.headers.get("Accept-Language"))


def error_body(request: web.Request, error: DomainError) -> dict[str, object]:
    """The JSON body for a domain error, translated into the request's language."""
    lang = request_language(request)
    body: dict[str, object] = {
        "error": error.code,
        "message": translate(lang, error.message, **error.params),
        "request_id": request.get(REQUEST_ID_KEY, ""),
    }
    if error.fields:
        body["fields"] = {name: translate(lang, msg) for name, msg in error.fields.items()}
    body.update(error.extra)
    return body


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors become 4xx JSON; anything unexpected a 500 with a request id and no trace."""
    try:
        return await handler(request)
    except DomainError as e:
        headers = {"Retry-After": str(e.extra.get("retry_after", 1))} if e.status in (429, 503) else {}
        if ERROR_PAGE in request.app and not request.path.startswith(JSON_PREFIXES) \
                and "text/html" in request.headers.get("Accept", ""):
            page: web.StreamResponse = request.app[ERROR_PAGE](request, e)
            page.headers.update(headers)
            return page
        return web.json_response(error_body(request, e), status=e.status, headers=headers)
    except web.HTTPException as e:
        if e.status >= 400 and request.path.startswith("/api/"):
            # JSON clients get JSON for routing errors too (unknown path, wrong method, body too large).
            return web.json_response({"error": HTTP_CODES.get(e.status, "http-error"), "message": e.reason,
                                      "request_id": request.get(REQUEST_ID_KEY, "")}, status=e.status)
        raise
    except (asyncpg.exceptions.CharacterNotInRepertoireError, asyncpg.exceptions.UntranslatableCharacterError):
        # Text PostgreSQL cannot store (a NUL byte) that a form let through: the input's fault, not ours.
        bad_text = ValidationFailed(N_("This text contains characters we cannot store. Please type it again."))
        return web.json_response(error_body(request, bad_text), status=bad_text.status)
    except (asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
            asyncpg.exceptions.InterfaceError, ConnectionError, OSError, TimeoutError) as e:
        # The database went away: answer fast so clients retry, the pool reconnects on its own.
        log.warning("database unavailable", extra={"route": request_label(request), "error": type(e).__name__})
        return web.json_response(error_body(request, ServiceUnavailable()), status=503,
                                 headers={"Retry-After": "2"})
    except Exception:
        log.exception("unhandled error", extra={"route": request_label(request)})
        lang = request_language(request)
        return web.json_response(
            {"error": "internal", "request_id": request.get(REQUEST_ID_KEY, ""),
             "message": translate(lang, N_("Something went wrong on our side. Please try again."))},
            status=500,
        )
