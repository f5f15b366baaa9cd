"""Reading request bodies at the boundary: JSON objects only, with clear errors."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from scheduler.errors import DomainError, ValidationFailed
from scheduler.i18n import N_

# A link token in a route path (the token in a client's SMS link).
TOKEN = r"{token:[A-Za-z0-9_\-]{20,64}}"  # a route pattern, not a secret  # nosec B105


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported-media-type"
    default_message = N_("Please send the data as JSON.")


class MalformedJson(DomainError):
    status, code = 400, "malformed-json"
    default_message = N_("The data could not be read. Please send a JSON object.")


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 415 for another content type, 400 for anything unreadable."""
    # Requiring application/json also stops cross-site HTML forms from posting to the API.
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise MalformedJson() from None
    if not isinstance(body, dict):
        raise MalformedJson()
    return body


def int_field(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    """An integer field of a JSON body, or a field error naming it."""
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**62:
        raise ValidationFailed(fields={name: N_("This value is not valid.")})
    return value


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric id from the URL path (the route pattern already allows digits only)."""
    value = int(request.match_info[name])
    if value >= 2**62:
        raise ValidationFailed(fields={name: N_("This value is not valid.")})
    return value
