"""Twilio webhooks: delivery status callbacks and inbound SMS. Signature-checked, idempotent, fast."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final

from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from scheduler import outbox, ratelimit, replies, sites
from scheduler.channels.site_choice import request_site
from scheduler.channels.twilio_signature import verified_form
from scheduler.keys import CONFIG, POOL, SITE_EXPLICIT
from scheduler.notify.sms import TWILIO_ERRORS
from scheduler.outbox import OutboxStatus

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

# Twilio MessageStatus -> our status. queued/accepted/sending/scheduled are not news: the row is
# already `sent` once Twilio accepted it.
TWILIO_STATUS: Final[dict[str, OutboxStatus]] = {
    "sent": OutboxStatus.sent,
    "delivered": OutboxStatus.delivered,
    "undelivered": OutboxStatus.undelivered,
    "failed": OutboxStatus.failed,
}

@routes.post("/webhooks/twilio/status", name="twilio-status")
async def status_callback(request: web.Request) -> web.Response:
    """Record a delivery status; replays and late, out-of-order callbacks change nothing."""
    form = await verified_form(request)
    sid = form.get("MessageSid", "")
    status = TWILIO_STATUS.get(form.get("MessageStatus", ""))
    if sid and status is not None:
        code = form.get("ErrorCode") or None
        error = f"{code}: {TWILIO_ERRORS.get(code, 'delivery failed')}" if code else None
        async with request.app[POOL].acquire() as conn:
            changed = await outbox.record_delivery(conn, provider_id=sid, status=status, error_code=code, error=error)
        log.info("twilio status callback", extra={"provider_id": sid, "status": status.value, "applied": changed})
    return web.Response(status=204)


@routes.post("/webhooks/twilio/sms", name="twilio-sms")
async def inbound_sms(request: web.Request) -> web.Response:
    """A client's reply: act on it and answer in their language (TwiML)."""
    form = await verified_form(request)
    config = request.app[CONFIG]
    sid, from_phone = form.get("MessageSid", ""), form.get("From", "")
    response = MessagingResponse()
    if sid and from_phone:
        site = await request_site(request)  # the office of the called number (`To`), else the default
        outcome = await replies.handle(
            request.app[POOL], provider_id=sid, from_phone=from_phone, to_phone=form.get("To", ""),
            body=form.get("Body", ""), now=datetime.now(UTC), default_site=site.code,
            called_site=site.id if request.get(SITE_EXPLICIT) else None,
            reminder_offsets=config.reminder_offsets, countries=sites.countries(site, config.sms.allowed_countries),
            limit_phone=request.app[ratelimit.LIMITER].phone_limit(site.id),
            public_base_url=config.server.public_base_url)
        if outcome is not None and outcome.reply:
            response.message(outcome.reply)
    return web.Response(text=str(response), content_type="application/xml")
