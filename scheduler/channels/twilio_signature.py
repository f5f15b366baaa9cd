"""The one X-Twilio-Signature check, for the voice steps and the messaging webhooks alike."""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.request_validator import RequestValidator

from scheduler.keys import CONFIG

log = logging.getLogger(__name__)


def signed_url(public_base_url: str, request: web.Request) -> str:
    """The URL Twilio called and signed: our public URL (not the one behind the proxy), path and query as sent."""
    return public_base_url.rstrip("/") + request.raw_path


async def verified_form(request: web.Request) -> dict[str, str]:
    """The POSTed Twilio parameters, or 403 unless X-Twilio-Signature matches the public URL and the auth token."""
    config = request.app[CONFIG]
    token = config.sms.twilio.auth_token
    form = {k: str(v) for k, v in (await request.post()).items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    url = signed_url(config.server.public_base_url, request)
    if not token or not signature or not RequestValidator(token).validate(url, form, signature):
        log.warning("twilio webhook with a bad signature", extra={"path": request.path})
        raise web.HTTPForbidden(text="invalid signature")
    return form
