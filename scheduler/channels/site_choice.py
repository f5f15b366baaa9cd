"""Which office a request is for: chosen before anything else looks at it, used by every client handler.

How a site is chosen (config `sites.choose_by`), first match wins:
- Twilio webhooks (voice and SMS): the called number (`To`) when it is one of a site's numbers.
- `path` only: a prefix `/s/<site code>/…` answers with a redirect to the same path without the prefix (303, or
  307 for a POST) and remembers the site in the cookie `site`; a request with that cookie is for that site. So
  pages, forms and links need no prefix, and every existing link keeps working.
- The Host header, when it is one of a site's host names (site_hosts, admin pages).
- Otherwise `default_site`: one-office installations and localhost need no address at all.

Links are bound to their office by their token. When the site was chosen *explicitly* (a known host, the prefix or
its cookie, a known called number), a link of another office answers 404 (`link_guard`, after the rate limits,
so that guessing stays counted): `/r/<token>…` (status, thanks, actions, calendar invite, e-mail confirmation),
`/g/<token>…` (group-session seats) and `/api/public/<token>…`. A request on an unknown host is for the default
site but still opens every link, because the SMS of a one-office installation carry the deployment's URL.
Reference and keypad look-ups (phone_codes.py) and SMS replies search only the chosen site's data.

Kiosks carry their site in the device token: the device's site wins (the intake goes to it), and a kiosk token
used on another office's host is refused like an unknown one (401).
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import web

from scheduler import callbacks, group_session_seats, site_addresses, sites
from scheduler import requests as requests_
from scheduler.config import Config
from scheduler.errors import NotFound
from scheduler.http_errors import Handler
from scheduler.keys import ADDRESS_BOOK, CONFIG, POOL, SITE_EXPLICIT, SITE_ID
from scheduler.site_directory import AddressBook

SITE_COOKIE: Final = "site"
_PREFIX: Final = re.compile(r"^/s/([a-z0-9][a-z0-9_-]{0,39})(/.*)?$")
_LINK: Final = re.compile(r"^/(?:r|g|api/public)/([A-Za-z0-9_\-]{20,64})(?:/|$)")
TWILIO_PATHS: Final = "/webhooks/twilio/"


def host_site(book: AddressBook, host: str) -> int | None:
    """The site of a Host header (with or without its port), if it is one of a site's host names."""
    try:
        host = site_addresses.normal_host(host)
    except ValueError:
        return None
    found = book.site_for_host(host)
    if found is None and ":" in host:
        found = book.site_for_host(host.rpartition(":")[0])
    return found


def number_site(book: AddressBook, number: str) -> int | None:
    """The site of a called number, if it is one of a site's Twilio numbers."""
    found = book.site_for_number(number)  # Twilio sends E.164 already: parsing (0.25 ms) only when that fails
    if found is not None:
        return found
    try:
        return book.site_for_number(site_addresses.normal_number(number))
    except ValueError:
        return None


async def _chosen(request: web.Request, book: AddressBook, config: Config) -> int | None:
    if request.method == "POST" and request.path.startswith(TWILIO_PATHS):
        called = (await request.post()).get("To", "")
        found = number_site(book, called) if isinstance(called, str) else None
        if found is not None:
            return found
    if config.sites.choose_by == "path":
        found = book.site_for_code(request.cookies.get(SITE_COOKIE, ""))
        if found is not None:
            return found
    return host_site(book, request.host)


def middleware(config: Config) -> Handler:  # type: ignore[valid-type]
    """Sets request[SITE_ID] and request[SITE_EXPLICIT]; runs before the rate limits, which count per site."""
    by_path = config.sites.choose_by == "path"

    @web.middleware
    async def choose_site(request: web.Request, handler: Handler) -> web.StreamResponse:
        book = await request.app[ADDRESS_BOOK].fresh(request.app[POOL])
        if by_path and (prefixed := _PREFIX.match(request.path)):
            raise _remember(request, book, prefixed[1], prefixed[2] or "/")
        site_id = await _chosen(request, book, config)
        request[SITE_EXPLICIT] = site_id is not None
        if site_id is None:
            site_id = book.site_for_code(config.default_site)
        if site_id is not None:
            request[SITE_ID] = site_id
        return await handler(request)

    return choose_site  # type: ignore[return-value]


def _remember(request: web.Request, book: AddressBook, code: str, rest: str) -> web.HTTPException:
    """`/s/<code>/<rest>`: remember the site in a cookie and go on at `/<rest>` (same query)."""
    if book.site_for_code(code) is None:
        raise NotFound()
    # One leading slash only: "//host" would send the browser to another server.
    location = "/" + rest.lstrip("/") + (f"?{request.query_string}" if request.query_string else "")
    redirect = web.HTTPSeeOther if request.method in ("GET", "HEAD") else web.HTTPTemporaryRedirect
    response = redirect(location)
    response.set_cookie(SITE_COOKIE, code, path="/", httponly=True, samesite="Lax",
                        secure=request.app[CONFIG].security.cookie_secure)
    return response


@web.middleware
async def link_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """404 for a link of another office, when the request's office was chosen explicitly (see the docstring)."""
    link = _LINK.match(request.path)
    if link and request.get(SITE_EXPLICIT) and await _link_site(request, link[1]) not in (None, request[SITE_ID]):
        raise NotFound()
    return await handler(request)


async def _link_site(request: web.Request, token: str) -> int | None:
    """The site of the request, callback or group-session seat with this link token (None: no such link)."""
    async with request.app[POOL].acquire() as conn:
        for find in (requests_.find_by_token, callbacks.find_by_token, group_session_seats.by_token):
            found = await find(conn, token)
            if found is not None:
                return found.site_id
    return None


async def request_site(request: web.Request) -> sites.Site:
    """The office this request is for (NotFound when not even the default site exists)."""
    site_id = request.get(SITE_ID)
    if site_id is None:
        # The address book could not be read (database down at start) or lacks the default site: ask the
        # database itself, so that an outage is a 503 like everywhere else and only a missing site a 404.
        async with request.app[POOL].acquire() as conn:
            site = await sites.site_by_code(conn, request.app[CONFIG].default_site)
        if site is None:
            raise NotFound()
        return site
    async with request.app[POOL].acquire() as conn:
        try:
            return await sites.site_by_id(conn, site_id)
        except LookupError:  # deleted since the address book was read
            raise NotFound() from None


def foreign(request: web.Request, site_id: int) -> bool:
    """Whether an object of `site_id` belongs to another office than the one this request explicitly chose."""
    return bool(request.get(SITE_EXPLICIT)) and request.get(SITE_ID) != site_id
