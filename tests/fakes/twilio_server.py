"""A local Twilio-compatible server for the Messages API, status callbacks and inbound SMS.

It speaks Twilio's wire protocol (form-encoded requests, Basic auth, JSON Message resources,
Twilio error bodies, X-Twilio-Signature on webhooks), so the real twilio SDK can be pointed at it.
Standalone for benchmarks: ``python -m tests.fakes.twilio_server --port 8099``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import logging
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from scheduler.notify.segments import count_segments

log = logging.getLogger(__name__)

API_VERSION: Final = "2010-04-01"
DEFAULT_SID: Final = "AC" + "0" * 32
DEFAULT_TOKEN: Final = "fake-auth-token"
E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")

ERROR_MESSAGES: Final[dict[int, str]] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
}


@dataclass
class FakeMessage:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    num_segments: int
    date_created: datetime
    auth_user: str
    idempotency_token: str | None
    status: str = "queued"
    error_code: int | None = None
    date_updated: datetime = field(default_factory=lambda: datetime.now(UTC))

    def resource(self) -> dict[str, Any]:
        """The JSON body Twilio returns for this Message."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": format_datetime(self.date_created, usegmt=True),
            "date_sent": None,
            "date_updated": format_datetime(self.date_updated, usegmt=True),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "EUR",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass(frozen=True)
class WebhookResult:
    status: int
    text: str
    url: str
    params: dict[str, str]
    signature: str


@dataclass(frozen=True)
class _Planned:
    status: int
    code: int
    retry_after: float | None = None


def _error(status: int, code: int, message: str | None = None, **headers: str) -> web.Response:
    body = {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status, headers=headers)


class FakeTwilio:
    """One fake Twilio account: records messages and misbehaves on request."""

    def __init__(self, account_sid: str = DEFAULT_SID, auth_token: str = DEFAULT_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self.messages: list[FakeMessage] = []
        self.create_requests = 0
        self.rate_limit_every = 0  # > 0: every n-th message request gets 429 (benchmarks of a throttled account)
        self.base_url = ""
        # Controls may be set from another thread (standalone benchmark), handlers run in the loop.
        self._lock = threading.Lock()
        self._planned: deque[_Planned] = deque()
        self._stalls: deque[float] = deque()
        self._permanent: dict[str, int] = {}
        self._by_sid: dict[str, FakeMessage] = {}
        self._closing = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    # -- controls ---------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next n message requests with a server error."""
        with self._lock:
            self._planned.extend([_Planned(status, 20000 + status)] * n)

    def rate_limit_next(self, n: int = 1, retry_after: float = 1) -> None:
        """Answer the next n message requests with 429, Retry-After and code 20429."""
        with self._lock:
            self._planned.extend([_Planned(429, 20429, retry_after)] * n)

    def stall_next(self, n: int, seconds: float) -> None:
        """Hold the next n message requests for seconds before handling them normally."""
        with self._lock:
            self._stalls.extend([seconds] * n)

    def permanent_for(self, number: str, code: str | int) -> None:
        """Refuse every message to number with HTTP 400 and the given Twilio error code."""
        with self._lock:
            self._permanent[number] = int(code)

    def get(self, sid: str) -> FakeMessage:
        """The stored message with this sid."""
        return self._by_sid[sid]

    # -- webhooks Twilio sends ----------------------------------------------------------------

    async def _post_signed(self, url: str, params: dict[str, str]) -> WebhookResult:
        if self._session is None:
            raise RuntimeError("the fake is not running")
        signature = self.validator.compute_signature(url, params)
        headers = {
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
        }
        async with self._session.post(url, data=params, headers=headers) as resp:
            text = await resp.text()
        return WebhookResult(resp.status, text, url, params, signature)

    async def deliver(
        self, sid: str, status: str = "delivered", *, error_code: int | None = None
    ) -> WebhookResult:
        """Move a message to status and POST the signed status callback, as Twilio does."""
        message = self._by_sid[sid]
        if not message.status_callback:
            raise ValueError(f"message {sid} has no StatusCallback")
        message.status, message.error_code = status, error_code
        message.date_updated = datetime.now(UTC)
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_ or "",
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return await self._post_signed(message.status_callback, params)

    async def send_inbound(self, url: str, from_: str, to: str, body: str) -> WebhookResult:
        """POST a signed inbound-SMS webhook (what Twilio sends when a client replies)."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(max(1, count_segments(body).segments)),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }
        return await self._post_signed(url, params)

    # -- the API --------------------------------------------------------------------------

    def _auth_user(self, request: web.Request) -> str | None:
        # Decoded by hand: aiohttp 3.14 deprecates BasicAuth, and filterwarnings = error is on.
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        ok_user = secrets.compare_digest(user.encode(), self.account_sid.encode())
        ok_pass = secrets.compare_digest(password.encode(), self.auth_token.encode())
        account_ok = request.match_info["account_sid"] == self.account_sid
        return user if sep and ok_user and ok_pass and account_ok else None

    def _refuse(self, to: str, sender: str | None, body: str) -> web.Response | None:
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not E164.match(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if sender is None:
            return _error(400, 21603)
        if not body:
            return _error(400, 21602)
        if len(body) > 1600:
            return _error(400, 21617)
        with self._lock:
            code = self._permanent.get(to)
        return None if code is None else _error(400, code)

    async def _create_message(self, request: web.Request) -> web.Response:
        with self._lock:
            self.create_requests += 1
            stall = self._stalls.popleft() if self._stalls else None
        if stall is not None:
            # Hold the request for `stall` seconds, or until the fake shuts down.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), stall)
        user = self._auth_user(request)
        if user is None:
            return _error(401, 20003)
        with self._lock:
            planned = self._planned.popleft() if self._planned else None
            if planned is None and self.rate_limit_every and self.create_requests % self.rate_limit_every == 0:
                planned = _Planned(429, 20429, 1)
        if planned is not None:
            headers = {}
            if planned.retry_after is not None:
                headers["Retry-After"] = f"{planned.retry_after:g}"
            return _error(planned.status, planned.code, **headers)

        form = await request.post()
        to = str(form.get("To", ""))
        from_ = str(form.get("From", "")) or None
        service = str(form.get("MessagingServiceSid", "")) or None
        body = str(form.get("Body", ""))
        callback = str(form.get("StatusCallback", "")) or None
        refused = self._refuse(to, from_ or service, body)
        if refused is not None:
            return refused

        now = datetime.now(UTC).replace(microsecond=0)
        message = FakeMessage(
            sid="SM" + secrets.token_hex(16),
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=body,
            status_callback=callback,
            num_segments=count_segments(body).segments,
            date_created=now,
            date_updated=now,
            auth_user=user,
            idempotency_token=request.headers.get("I-Twilio-Idempotency-Token"),
            # Twilio answers "accepted" when a Messaging Service will pick the sender later.
            status="queued" if from_ else "accepted",
        )
        with self._lock:
            self.messages.append(message)
            self._by_sid[message.sid] = message
        return web.json_response(message.resource(), status=201)

    async def _fetch_message(self, request: web.Request) -> web.Response:
        if self._auth_user(request) is None:
            return _error(401, 20003)
        message = self._by_sid.get(request.match_info["sid"])
        if message is None:
            return _error(404, 20404)
        return web.json_response(message.resource())

    async def _lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        self._closing.clear()
        self._session = aiohttp.ClientSession()
        yield
        await self._session.close()
        self._session = None

    async def _release_stalls(self, app: web.Application) -> None:
        self._closing.set()

    def app(self) -> web.Application:
        """The aiohttp application serving this fake account."""
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages"
        app.router.add_post(base + ".json", self._create_message, name="twilio-messages-create")
        app.router.add_get(base + "/{sid}.json", self._fetch_message, name="twilio-message-fetch")
        app.cleanup_ctx.append(self._lifecycle)
        # on_shutdown runs before aiohttp waits for open requests, so stalled ones end quickly.
        app.on_shutdown.append(self._release_stalls)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port) and return the base URL."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving; stalled requests are released first."""
        if self._runner is not None:
            self._closing.set()
            await self._runner.cleanup()
            self._runner = None


@asynccontextmanager
async def running_fake_twilio(
    account_sid: str = DEFAULT_SID,
    auth_token: str = DEFAULT_TOKEN,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[FakeTwilio]:
    """Run a FakeTwilio on loopback for the duration of the block."""
    fake = FakeTwilio(account_sid, auth_token)
    await fake.start(host, port)
    try:
        yield fake
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the fake standalone (for benchmarks against the real SDK)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--sid", default=DEFAULT_SID)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--rate-limit-every", type=int, default=0, help="answer every n-th message with 429")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    fake = FakeTwilio(args.sid, args.token)
    fake.rate_limit_every = args.rate_limit_every
    log.info("fake Twilio for %s on http://%s:%d", args.sid, args.host, args.port)
    web.run_app(fake.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
