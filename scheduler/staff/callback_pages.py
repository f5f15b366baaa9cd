"""Callback cards: claim, the number to dial, record the outcome, retries when due, turn into an appointment.

The inbox lists callbacks in one queue with requests; this page is that queue filtered to callbacks, each as a
card with what is needed to call (the same order and pages)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from aiohttp import web

from scheduler import approvals, audit, callbacks, inbox, sites
from scheduler import teams as teams_
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL
from scheduler.staff import auth, explain, inbox_pages, ui
from scheduler.staff.inbox_pages import inbox_filter, queue_params

routes = web.RouteTableDef()
CALLBACK = r"/staff/callbacks/{callback_id:\d{1,18}}"


@routes.get("/staff/callbacks", name="staff-callbacks")
@ui.pages
async def callbacks_page(request: web.Request) -> web.Response:
    """Open callbacks in policy order, each with what is needed to call and record the result."""
    user = await ui.page_user(request)
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        teams = await teams_.names(conn, user.site_id)
        filt, view = inbox_filter(user, request.query, teams)
        per_page = inbox_pages.PER_PAGE
        queue = await inbox.load_queue(conn, filt, team_of_staff=user.team_id, now=now, show=inbox.Show.callbacks,
                                       page=queue_params(request.query)[1], per_page=per_page)
        focus = ui.optional_int(request.query.get("focus"), "focus")
        at = next((i for i, e in enumerate(queue.entries) if e.id == focus), None)
        if at is not None and at // per_page + 1 != queue.page:  # the page that holds the callback asked for
            queue = await inbox.load_queue(conn, filt, team_of_staff=user.team_id, now=now,
                                           show=inbox.Show.callbacks, page=at // per_page + 1, per_page=per_page)
        items = queue.items
        details = await callbacks.staff_details(conn, [i.id for i in items])
        names = await explain.site_names(conn, user.site_id)
        explained = await explain.explanations(conn, callbacks=[i.id for i in items])
        # The list shows phone numbers and notes: one audit row per listing (not per client) keeps it cheap.
        await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="callback",
                                     clients_by_item={i: d["client_id"] for i, d in details.items()})
    lang = ui.language(request, user)
    return ui.render(request, "callbacks.html", {
        "tz": site.timezone, "items": items, "details": details, "view": view, "labels": ui.labels(lang),
        "queue": queue, "page_link": lambda n: ui.url(request, "staff-callbacks", {"view": view, "page": n}),
        "whys": explain.whys(lang, names, explained),
        "concern_label": lambda lbl: ui.concern_label(lbl, lang),
        "outcomes": [o.value for o in callbacks.CallbackOutcome],
    })


def _back(request: web.Request, callback_id: int, form: object = None) -> str:
    """Where a callback form returns: the page it names (the inbox or a filtered list), else the callback's card."""
    card = ui.url(request, "staff-callbacks", {"focus": callback_id})
    named = ui.text(form, "back", 500) if isinstance(form, Mapping) else ""
    return ui.safe_next(named, card) + f"#callback-{callback_id}"


@routes.post(CALLBACK + "/claim", name="staff-callback-claim")
@ui.pages
async def claim(request: web.Request) -> web.Response:
    """Take a callback to dial it now."""
    user = await auth.require_staff(request)
    callback_id = ui.int_param(request.match_info["callback_id"], "callback_id")
    form = await request.post()
    return await ui.perform(request, user, _back(request, callback_id, form), lambda: approvals.claim_callback(
        request.app[POOL], callback_id=callback_id, user=user, now=datetime.now(UTC)),
        success=N_("The callback is yours for the next 30 minutes."))


@routes.post(CALLBACK + "/attempt", name="staff-callback-attempt")
@ui.pages
async def attempt(request: web.Request) -> web.Response:
    """Record how the call went."""
    user = await auth.require_staff(request)
    callback_id = ui.int_param(request.match_info["callback_id"], "callback_id")
    form = await request.post()
    raw, note = ui.text(form, "outcome", 20), ui.text(form, "note", 500)

    async def run() -> object:
        try:
            outcome = callbacks.CallbackOutcome(raw)
        except ValueError:
            raise ValidationFailed(fields={"outcome": N_("Please choose how the call went.")}) from None
        return await approvals.record_attempt(request.app[POOL], callback_id=callback_id, outcome=outcome, note=note,
                                              user=user, now=datetime.now(UTC))

    return await ui.perform(request, user, _back(request, callback_id), run, success=N_("The call was recorded."))


@routes.post(CALLBACK + "/convert", name="staff-callback-convert")
@ui.pages
async def convert(request: web.Request) -> web.Response:
    """Turn the callback into an appointment request for the same client."""
    user = await auth.require_staff(request)
    callback_id = ui.int_param(request.match_info["callback_id"], "callback_id")
    return await ui.perform(
        request, user, _back(request, callback_id),
        lambda: approvals.convert_callback(request.app[POOL], callback_id=callback_id, user=user,
                                           now=datetime.now(UTC),
                                           reminder_offsets=request.app[CONFIG].reminder_offsets),
        success=N_("An appointment request was created. Choose a time for it."),
        to=lambda created: ui.url(request, "staff-request", request_id=created.id))
