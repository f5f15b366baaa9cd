"""The one X-Twilio-Signature check, for the voice steps and the messaging webhooks alike."""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.request_validator import RequestValidator

from scheduler import sites
from scheduler.keys import CONFIG, POOL, SITE_ID

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
    if not token or not signature or not await _valid(request, RequestValidator(token), form, signature):
        log.warning("twilio webhook with a bad signature", extra={"path": request.path})
        raise web.HTTPForbidden(text="invalid signature")
    return form


async def _valid(request: web.Request, validator: RequestValidator, form: dict[str, str], signature: str) -> bool:
    """Twilio signs the URL it was configured to call. Our own voice redirects and the status callbacks name the
    deployment's `server.public_base_url`, so that comes first; an operator may also have entered the office's own
    public URL (sites.public_url) in the Twilio console for the number, so that of the called number's office (the
    site channels/site_choice.py chose by `To`) is accepted as well."""
    config = request.app[CONFIG]
    if validator.validate(signed_url(config.server.public_base_url, request), form, signature):
        return True
    site_id = request.get(SITE_ID)
    if site_id is None:
        return False
    async with request.app[POOL].acquire() as conn:
        try:
            own = sites.public_url(await sites.site_by_id(conn, site_id), config.server.public_base_url)
        except LookupError:
            return False
    return own != config.server.public_base_url.rstrip("/") and validator.validate(
        signed_url(own, request), form, signature)
