"""Admin pages for outgoing webhooks: endpoints (add, show the secret once, rotate, deactivate) and the
delivery log of each with "retry now" for failed deliveries. Admins of the site only; audited."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import asyncpg
from aiohttp import web

from scheduler import audit, sites, webhook_deliveries, webhooks
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth, ui
from scheduler.webhooks import Endpoint, EventType

routes = web.RouteTableDef()

EVENT_LABELS: Final = {
    EventType.request_received: N_("Request received"),
    EventType.appointment_booked: N_("Appointment booked"),
    EventType.appointment_moved: N_("Appointment moved"),
    EventType.appointment_cancelled: N_("Appointment cancelled"),
    EventType.appointment_attended: N_("Appointment attended"),
    EventType.appointment_no_show: N_("Client did not come"),
}
DELIVERY_LABELS: Final = {"pending": N_("waiting"), "sending": N_("sending"), "delivered": N_("delivered"),
                          "failed": N_("failed")}
_DELIVERY_ID_MAX: Final = 40


def parse_form(form: Mapping[str, Any]) -> tuple[str, str, tuple[EventType, ...]]:
    """URL, description and event types of the add form; field-level errors for each bad one."""
    url = ui.text(form, "url", webhooks.URL_MAX + 1).strip()
    description = ui.text(form, "description", webhooks.DESCRIPTION_MAX + 1).strip()
    getall = getattr(form, "getall", None)
    chosen = [str(v) for v in (getall("event_types", []) if getall else [])][:len(EventType) + 1]
    errors: dict[str, str] = {}
    if not webhooks.url_allowed(url):
        errors["url"] = N_("Please enter an https address of at most 500 characters (http only to this machine).")
    if len(description) > webhooks.DESCRIPTION_MAX:
        errors["description"] = N_("Please keep the description to at most 200 characters.")
    types = tuple(t for t in EventType if t.value in chosen)
    if not types or len(types) != len(set(chosen)):
        errors["event_types"] = N_("Please choose at least one of the listed events.")
    if errors:
        raise ValidationFailed(fields=errors)
    return url, description, types


async def create_endpoint(pool: asyncpg.Pool, *, user: StaffUser, url: str, description: str,
                          types: tuple[EventType, ...]) -> tuple[Endpoint, str]:
    """Register an endpoint at the admin's site; its secret is returned this once."""
    async with pool.acquire() as conn, conn.transaction():
        endpoint, secret = await webhooks.create(conn, site_id=user.site_id, url=url, description=description,
                                                 event_types=types, created_by=user.id)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="webhook.create",
                           subject_type="webhook_endpoint", subject_id=endpoint.id,
                           details={"url": url, "event_types": [t.value for t in types]})
    return endpoint, secret


async def rotate_secret(pool: asyncpg.Pool, *, user: StaffUser, endpoint_id: int) -> str:
    """A new secret for an active endpoint of the admin's site (another site's: NotFound)."""
    async with pool.acquire() as conn, conn.transaction():
        secret = await webhooks.rotate_secret(conn, endpoint_id, site_id=user.site_id, now=datetime.now(UTC))
        if secret is None:
            raise NotFound()
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="webhook.rotate_secret",
                           subject_type="webhook_endpoint", subject_id=endpoint_id)
    return secret


async def deactivate_endpoint(pool: asyncpg.Pool, *, user: StaffUser, endpoint_id: int) -> None:
    """Stop an endpoint: no new events, its waiting deliveries fail."""
    async with pool.acquire() as conn, conn.transaction():
        if not await webhooks.deactivate(conn, endpoint_id, site_id=user.site_id, now=datetime.now(UTC)):
            raise NotFound()
        dropped = await webhook_deliveries.give_up_pending(conn, endpoint_id, site_id=user.site_id)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="webhook.deactivate",
                           subject_type="webhook_endpoint", subject_id=endpoint_id, details={"dropped": dropped})


async def retry_delivery(pool: asyncpg.Pool, *, user: StaffUser, endpoint_id: int, delivery_id: str) -> None:
    """Send a failed delivery of an active endpoint once more with the next run."""
    async with pool.acquire() as conn, conn.transaction():
        endpoint = await webhooks.get(conn, endpoint_id, site_id=user.site_id)
        if endpoint is None or not endpoint.active or not await webhook_deliveries.retry_now(
                conn, delivery_id, endpoint_id=endpoint_id, site_id=user.site_id, now=datetime.now(UTC)):
            raise NotFound()
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="webhook.retry",
                           subject_type="webhook_endpoint", subject_id=endpoint_id,
                           details={"delivery": delivery_id})


async def _own_endpoint(request: web.Request, user: StaffUser, endpoint_id: int) -> None:
    """Another site's endpoint (or none) is a 404 page, not a message on this site's page."""
    async with request.app[POOL].acquire() as conn:
        if await webhooks.get(conn, endpoint_id, site_id=user.site_id) is None:
            raise NotFound()


async def _timezone(request: web.Request, user: StaffUser) -> str:
    async with request.app[POOL].acquire() as conn:
        return (await sites.site_by_id(conn, user.site_id)).timezone


async def _render_list(request: web.Request, user: StaffUser, *, new: tuple[Endpoint, str] | None = None,
                       status: int = 200) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        endpoints = await webhooks.list_for_site(conn, user.site_id)
    return ui.render(request, "admin_webhooks.html", {
        "endpoints": endpoints, "new": new, "event_labels": EVENT_LABELS, "event_types": list(EventType),
        "url_max": webhooks.URL_MAX, "description_max": webhooks.DESCRIPTION_MAX,
        "tz": await _timezone(request, user)}, status=status)


async def _render_log(request: web.Request, user: StaffUser, endpoint_id: int, *, new_secret: str | None = None,
                      status: int = 200) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        endpoint = await webhooks.get(conn, endpoint_id, site_id=user.site_id)
        if endpoint is None:
            raise NotFound()
        log = await webhook_deliveries.log_for_endpoint(conn, endpoint_id, site_id=user.site_id)
    return ui.render(request, "admin_webhook_log.html", {
        "endpoint": endpoint, "log": log, "new_secret": new_secret, "event_labels": EVENT_LABELS,
        "delivery_labels": DELIVERY_LABELS, "tz": await _timezone(request, user)}, status=status)


@routes.get("/staff/admin/webhooks", name="staff-admin-webhooks")
@ui.pages
async def webhook_list(request: web.Request) -> web.Response:
    """The office's webhook endpoints and the form to add one."""
    user = await ui.page_user(request, Role.admin)
    return await _render_list(request, user)


@routes.post("/staff/admin/webhooks", name="staff-admin-webhook-create")
@ui.pages
async def webhook_create(request: web.Request) -> web.Response:
    """Add an endpoint and show its secret this once (not redirected: the secret is not shown again)."""
    user = await auth.require_staff(request, Role.admin)
    lang = ui.language(request, user)
    try:
        url, description, types = parse_form(await request.post())
        created = await create_endpoint(request.app[POOL], user=user, url=url, description=description,
                                        types=types)
    except ValidationFailed as e:
        return ui.see_other(ui.url(request, "staff-admin-webhooks"), flash=("error", ui.error_text(lang, e)))
    return await _render_list(request, user, new=created, status=201)


@routes.get(r"/staff/admin/webhooks/{endpoint_id:\d{1,18}}", name="staff-admin-webhook-log")
@ui.pages
async def webhook_log(request: web.Request) -> web.Response:
    """One endpoint with its last deliveries."""
    user = await ui.page_user(request, Role.admin)
    return await _render_log(request, user, ui.int_param(request.match_info["endpoint_id"], "endpoint_id"))


@routes.post(r"/staff/admin/webhooks/{endpoint_id:\d{1,18}}/rotate", name="staff-admin-webhook-rotate")
@ui.pages
async def webhook_rotate(request: web.Request) -> web.Response:
    """Give the endpoint a new secret and show it this once."""
    user = await auth.require_staff(request, Role.admin)
    endpoint_id = ui.int_param(request.match_info["endpoint_id"], "endpoint_id")
    secret = await rotate_secret(request.app[POOL], user=user, endpoint_id=endpoint_id)
    return await _render_log(request, user, endpoint_id, new_secret=secret)


@routes.post(r"/staff/admin/webhooks/{endpoint_id:\d{1,18}}/deactivate", name="staff-admin-webhook-deactivate")
@ui.pages
async def webhook_deactivate(request: web.Request) -> web.Response:
    """Stop sending to an endpoint."""
    user = await auth.require_staff(request, Role.admin)
    endpoint_id = ui.int_param(request.match_info["endpoint_id"], "endpoint_id")
    await _own_endpoint(request, user, endpoint_id)
    return await ui.perform(request, user, ui.url(request, "staff-admin-webhooks"),
                            lambda: deactivate_endpoint(request.app[POOL], user=user, endpoint_id=endpoint_id),
                            success=N_("The endpoint receives no more events."))


@routes.post(r"/staff/admin/webhooks/{endpoint_id:\d{1,18}}/deliveries/{delivery_id:msg_[0-9a-f]{32}}/retry",
             name="staff-admin-webhook-retry")
@ui.pages
async def webhook_retry(request: web.Request) -> web.Response:
    """Send a failed delivery once more."""
    user = await auth.require_staff(request, Role.admin)
    endpoint_id = ui.int_param(request.match_info["endpoint_id"], "endpoint_id")
    delivery_id = request.match_info["delivery_id"][:_DELIVERY_ID_MAX]
    await _own_endpoint(request, user, endpoint_id)
    back = ui.url(request, "staff-admin-webhook-log", endpoint_id=endpoint_id)
    return await ui.perform(request, user, back,
                            lambda: retry_delivery(request.app[POOL], user=user, endpoint_id=endpoint_id,
                                                   delivery_id=delivery_id),
                            success=N_("The delivery is sent again within a few seconds."))
