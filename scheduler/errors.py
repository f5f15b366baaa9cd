"""Domain errors and the one middleware that turns them into HTTP answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from aiohttp import web

from scheduler.i18n import N_, negotiate, translate

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_KEY = web.RequestKey("request_id", str)
LANGUAGE_KEY = web.RequestKey("language", str)


class DomainError(Exception):
    """A rule of the domain said no. Carries a stable code, a message id and per-field message ids."""

    status = 400
    code = "invalid"
    default_message = N_("The request could not be processed.")

    def __init__(self, message: str | None = None, *, fields: Mapping[str, str] | None = None,
                 params: Mapping[str, object] | None = None, extra: Mapping[str, object] | None = None):
        self.message = message or self.default_message
        self.fields = dict(fields or {})
        self.params = dict(params or {})
        self.extra = dict(extra or {})
        super().__init__(self.message % self.params if self.params else self.message)


class ValidationFailed(DomainError):
    status, code = 422, "validation"
    default_message = N_("Please check the marked fields.")


class NotFound(DomainError):
    status, code = 404, "not-found"
    default_message = N_("Nothing was found for this link or reference.")


class InvalidTransition(DomainError):
    status, code = 409, "invalid-transition"
    default_message = N_("This was already changed by someone else. Please reload.")


class SlotTaken(DomainError):
    status, code = 409, "slot-taken"
    default_message = N_("This time was just taken. Please choose another one.")


class Forbidden(DomainError):
    status, code = 403, "forbidden"
    default_message = N_("You are not allowed to do this.")


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"
    default_message = N_("Please sign in.")


class TooManyRequests(DomainError):
    status, code = 429, "rate-limited"
    default_message = N_("Too many attempts. Please wait a moment and try again.")


class ServiceUnavailable(DomainError):
    status, code = 503, "unavailable"
    default_message = N_("The service is busy. Please try again in a moment.")


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
        log.warning("database unavailable", extra={"path": request.path, "error": type(e).__name__})
        return web.json_response(error_body(request, ServiceUnavailable()), status=503,
                                 headers={"Retry-After": "2"})
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        lang = request_language(request)
        return web.json_response(
            {"error": "internal", "request_id": request.get(REQUEST_ID_KEY, ""),
             "message": translate(lang, N_("Something went wrong on our side. Please try again."))},
            status=500,
        )
