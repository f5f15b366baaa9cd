"""Shared helpers of the server-rendered staff pages: language, rendering, flash messages, errors."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from babel.dates import format_date, format_datetime, format_time, format_timedelta

from scheduler import escalation, needs
from scheduler.errors import DomainError, Forbidden, NotFound, Unauthorized
from scheduler.http_errors import LANGUAGE_KEY
from scheduler.i18n import N_, STAFF_LANGUAGES, babel_locale, negotiate, translate
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth
from scheduler.staff.auth import Session

log = logging.getLogger(__name__)

FLASH_COOKIE: Final = "staff_flash"
LANG_COOKIE: Final = "staff_lang"
DEFAULT_TZ: Final = "Europe/Berlin"
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SYSTEM_ADMINS: Final = (Role.admin, "system")  # a nav entry only admins with the system flag see

_NAV: Final = (
    ("staff-inbox", N_("Inbox"), None),
    ("staff-today", N_("Today"), None),
    ("staff-front-desk", N_("Front desk"), None),
    ("staff-callbacks", N_("Callbacks"), None),
    ("staff-calendar", N_("Calendar"), None),
    ("staff-expired", N_("Expired"), None),
    ("staff-invite", N_("Invite"), None),
    ("staff-group-sessions", N_("Group sessions"), None),
    ("staff-letters", N_("Letters"), None),
    ("staff-batch-invite", N_("Batch invitations"), (Role.team_lead, Role.admin)),
    ("staff-rules", N_("Rules"), (Role.team_lead, Role.admin)),
    ("staff-my-rules", N_("My rules"), (Role.caseworker, Role.team_lead)),
    ("staff-dashboard", N_("Dashboard"), (Role.team_lead, Role.admin)),
    ("staff-escalation", N_("Escalation"), (Role.team_lead, Role.admin)),
    ("staff-capacity", N_("Demand and capacity"), (Role.team_lead, Role.admin)),
    ("staff-admin-staff", N_("Administration"), (Role.admin,)),
    ("staff-system-sites", N_("Sites"), SYSTEM_ADMINS),
)


def language(request: web.Request, user: StaffUser | None) -> str:
    """The staff UI language: ?lang=, then the saved choice, then the person's languages, then the browser."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in STAFF_LANGUAGES:
            return candidate
    if user is not None:
        spoken = [lang for lang in user.languages if lang in STAFF_LANGUAGES]
        if spoken:
            return spoken[0]
    return negotiate(request.headers.get("Accept-Language"), STAFF_LANGUAGES)


def url(request: web.Request, route: str, query: Mapping[str, object] | None = None, /, **parts: object) -> str:
    """The path of a named route, with optional query parameters (None values are left out)."""
    built = request.app.router[route].url_for(**{k: str(v) for k, v in parts.items()})
    if query:
        built = built.with_query({k: str(v) for k, v in query.items() if v is not None and v != ""})
    return str(built)


def int_param(value: object, name: str = "id") -> int:
    """An integer from a path, query or form value; 400 when it is not one."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text=f"{name} must be a number") from None
    if not 0 < number < 2**62:
        raise web.HTTPBadRequest(text=f"{name} is out of range")
    return number


def optional_int(value: object, name: str = "id") -> int | None:
    """An integer parameter, or None when it is empty or missing."""
    return None if value in (None, "") else int_param(value, name)


def text(form: Mapping[str, Any], name: str, limit: int = 2000) -> str:
    """A form field as text (empty when missing), cut to a sane length."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


class Formatter:
    """Dates, times and durations written the staff member's way, in the site's time zone."""

    def __init__(self, lang: str, tz: str) -> None:
        self.lang, self.zone, self.locale = lang, ZoneInfo(tz), babel_locale(lang)

    def local(self, moment: datetime) -> datetime:
        """A moment in the site's time zone."""
        return moment.astimezone(self.zone)

    def when(self, moment: datetime | None) -> str:
        """A short date and time."""
        if moment is None:
            return "–"
        return str(format_datetime(self.local(moment), format="short", locale=self.locale))

    def day(self, moment: datetime | date | None, fmt: str = "full") -> str:
        """A date."""
        if moment is None:
            return "–"
        day = self.local(moment).date() if isinstance(moment, datetime) else moment
        return str(format_date(day, format=fmt, locale=self.locale))

    def time(self, moment: datetime | None) -> str:
        """A time of day."""
        if moment is None:
            return "–"
        return str(format_time(self.local(moment), format="short", locale=self.locale))

    def ago(self, moment: datetime, now: datetime) -> str:
        """How long ago, e.g. "3 days"."""
        return str(format_timedelta(max(now - moment, timedelta(0)), threshold=1.5, locale=self.locale))


def read_flash(request: web.Request) -> dict[str, str] | None:
    """The message a previous POST left for this page, if any."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("kind") not in ("ok", "error"):
        return None
    return {"kind": str(data["kind"]), "text": str(data.get("text", ""))[:1000]}


def set_flash(response: web.StreamResponse, kind: str, message: str) -> None:
    """Leave a one-time message (already translated) for the page the browser goes to next."""
    value = quote(json.dumps({"kind": kind, "text": message}, ensure_ascii=False))
    response.set_cookie(FLASH_COOKIE, value, max_age=120, path="/staff", httponly=True, samesite="Lax")


def error_text(lang: str, error: DomainError) -> str:
    """A domain error as one translated sentence, with its field messages."""
    parts = [translate(lang, error.message, **error.params)]
    parts += [translate(lang, m) for m in error.fields.values()]
    return " ".join(dict.fromkeys(parts))


async def current_session(request: web.Request) -> Session | None:
    """The signed-in session of this request, if any."""
    return await auth.authenticate(request)


async def page_user(request: web.Request, *roles: Role) -> StaffUser:
    """The signed-in staff member for a page (GET); Unauthorized sends them to the sign-in form."""
    session = await auth.authenticate(request)
    if session is None:
        raise Unauthorized()
    if roles and session.user.role not in roles:
        raise Forbidden()
    request[LANGUAGE_KEY] = language(request, session.user)
    await _count_for_nav(request, session.user)
    return session.user


NAV_COUNTS = web.RequestKey("nav_counts", dict)


async def _count_for_nav(request: web.Request, user: StaffUser) -> None:
    """The navigation's counts (escalated requests for leads and admins): one indexed count, once per request."""
    if NAV_COUNTS in request or user.role is Role.caseworker or (user.role is Role.team_lead and user.team_id is None):
        return
    async with request.app[POOL].acquire() as conn:
        escalated = await escalation.count(conn, site_id=user.site_id, team_id=escalation.team_scope(user))
    request[NAV_COUNTS] = {"staff-escalation": escalated}


def render(request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    """Render a staff template with the shared context (translate function, user, CSRF token, flash)."""
    session = request.get(auth.SESSION_KEY)
    user = session.user if session is not None else None
    lang = language(request, user)
    request[LANGUAGE_KEY] = lang
    tz = context.get("tz", DEFAULT_TZ)
    flash = read_flash(request)

    def _(msgid: str, **params: object) -> str:
        return translate(lang, msgid, **params)

    def link(route: str, query: Mapping[str, object] | None = None, /, **parts: object) -> str:
        return url(request, route, query, **parts)

    here = request.match_info.route.name or ""
    nav = [(name, label, here == name or any(name.startswith(p) and here.startswith(p)
                                             for p in ("staff-admin", "staff-system")))
           for name, label, roles in _NAV if user is not None and (roles is None or (
               user.role in roles and ("system" not in roles or user.system_admin)))]
    base_context = {
        "_": _, "lang": lang, "user": user, "csrf": session.csrf_token if session is not None else "",
        "flash": flash, "url": link, "fmt": Formatter(lang, tz), "nav": nav, "here": here,
        "staff_languages": STAFF_LANGUAGES, "path": request.path, "query": dict(request.query),
        "now": datetime.now(UTC), "nav_counts": request.get(NAV_COUNTS) or {},
        "needs_noted": lambda needs_, language=None: needs.describe(needs_ or (), language, lang),  # _needs.html
    }
    response = aiohttp_jinja2.render_template(f"staff/{template}", request, {**base_context, **context},
                                              status=status)
    response.headers["Cache-Control"] = "no-store"
    if flash is not None:
        response.del_cookie(FLASH_COOKIE, path="/staff")
    if request.query.get("lang") in STAFF_LANGUAGES:
        response.set_cookie(LANG_COOKIE, request.query["lang"], max_age=365 * 86400, path="/staff",
                            httponly=True, samesite="Lax")
    return response


def see_other(location: str, *, flash: tuple[str, str] | None = None) -> web.Response:
    """A 303 redirect (the answer to every successful form), optionally with a flash message."""
    response = web.Response(status=303, headers={"Location": location})
    if flash is not None:
        set_flash(response, *flash)
    return response


def _sign_in_redirect(request: web.Request) -> web.Response:
    target = request.path_qs if request.method == "GET" else ""
    return see_other(url(request, "staff-signin-form", {"next": target} if target else None))


def pages(handler: PageHandler) -> PageHandler:
    """Wrap a page handler: no session -> sign-in form; Forbidden/NotFound -> an HTML error page."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Unauthorized:
            return _sign_in_redirect(request)
        except (Forbidden, NotFound) as e:
            return render(request, "error.html", {"message": error_text(language(request, None), e)},
                          status=e.status)
        except DomainError as e:
            if request.method != "GET":
                raise
            return render(request, "error.html", {"message": error_text(language(request, None), e)},
                          status=e.status)

    return wrapped


async def perform(request: web.Request, user: StaffUser, back: str, action: Callable[[], Awaitable[object]], *,
                  success: str, to: Callable[[Any], str] | None = None) -> web.Response:
    """Run a command for a form: 303 to `to(result)` (or back) with a message; a refusal goes back as a message.

    Forbidden and NotFound are not form errors: they propagate to the page wrapper as a 403 or 404 page, so an
    object of another site (or one that is gone) is answered as such, never as a form to correct.
    """
    lang = language(request, user)
    try:
        result = await action()
    except (Forbidden, NotFound):
        raise
    except DomainError as e:
        log.info("staff form refused", extra={"path": request.path, "code": e.code, "staff_id": user.id})
        return see_other(back, flash=("error", error_text(lang, e)))
    return see_other(to(result) if to is not None else back, flash=("ok", translate(lang, success)))


def safe_next(target: str | None, fallback: str) -> str:
    """Only follow same-site staff paths after sign-in (no open redirect)."""
    if target and target.startswith("/staff") and not target.startswith("//") and "\\" not in target:
        return target
    return fallback


CHANNEL_LABELS: Final = {"web": N_("Web"), "kiosk": N_("Kiosk"), "phone": N_("Phone"), "sms": N_("SMS"),
                         "staff": N_("Staff")}
MODE_LABELS: Final = {"in_person": N_("In person"), "phone": N_("By phone"), "video": N_("Video")}
STATUS_LABELS: Final = {
    "received": N_("received"), "proposed": N_("proposed"), "scheduled": N_("scheduled"), "done": N_("done"),
    "no_show": N_("no-show"), "declined": N_("declined"), "withdrawn": N_("withdrawn"), "expired": N_("expired"),
    "open": N_("open"), "in_progress": N_("in progress"), "reached": N_("reached"),
    "unreachable": N_("unreachable"), "cancelled": N_("cancelled"), "confirmed": N_("confirmed"),
    "completed": N_("completed"), "pending": N_("pending"), "sending": N_("sending"), "sent": N_("sent"),
    "delivered": N_("delivered"), "undelivered": N_("undelivered"), "failed": N_("failed"),
    "draft": N_("draft"), "active": N_("active"), "retired": N_("retired"),
}
ROLE_LABELS: Final = {"caseworker": N_("Caseworker"), "team_lead": N_("Team lead"), "admin": N_("Admin")}


def labels(lang: str) -> dict[str, Any]:
    """Translated labels for coded values, for templates."""
    def table(source: Mapping[str, str]) -> dict[str, str]:
        return {k: translate(lang, v) for k, v in source.items()}

    locale = babel_locale(lang)
    return {"channel": table(CHANNEL_LABELS), "mode": table(MODE_LABELS), "status": table(STATUS_LABELS),
            "role": table(ROLE_LABELS),
            "language": lambda code: str(locale.languages.get(code.split("-")[0], code))}


def concern_label(labels_: Mapping[str, str], lang: str) -> str:
    """A concern's label for staff: the site's text in the UI language, else German."""
    return labels_.get(lang) or labels_.get("de") or next(iter(labels_.values()), "")
