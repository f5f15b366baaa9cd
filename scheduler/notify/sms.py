"""SMS providers behind one small Protocol: a console/file fake (the default) and Twilio."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import twilio.rest.api  # noqa: F401  # Client.api imports it on first use: ~0.1 s inside the first send
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from scheduler.notify.segments import count_segments
from scheduler.redact import mask_link_tokens

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER: Final = "I-Twilio-Idempotency-Token"

# The one table of Twilio error codes (https://www.twilio.com/docs/api/errors) and what they mean: 2xxxx come
# back from the send API and are final for a message (every other 4xx except 429 is final as well; the table
# only supplies readable reasons); 300xx arrive later in delivery status callbacks. The 300xx texts are shown
# to staff and translated in the staff catalogues (staff.po), so they are written for staff.
TWILIO_ERRORS: Final[dict[str, str]] = {
    "20003": "authentication failed (account SID or auth token)",
    "20404": "resource not found (wrong account SID?)",
    "21211": "the number is not a valid phone number",
    "21408": "sending to this country or region is not enabled",
    "21602": "the message body is empty",
    "21606": "the sender number cannot send SMS",
    "21608": "trial account: the number is not verified",
    "21610": "the recipient has unsubscribed (replied STOP)",
    "21612": "the number cannot be reached from this sender",
    "21614": "the number is not a mobile number",
    "21617": "the message body is too long",
    "30003": "The phone was switched off or out of reach.",
    "30004": "The client or the carrier blocked the message.",
    "30005": "The number is unknown or no longer in use.",
    "30006": "A landline or an unreachable carrier: please call instead.",
    "30007": "The carrier filtered the message as spam.",
    "30008": "The carrier reported an unknown delivery error.",
}
# Carrier-side delivery errors, reported in status callbacks after Twilio accepted the message.
DELIVERY_CODES: Final = frozenset(code for code in TWILIO_ERRORS if code.startswith("300"))
RECIPIENT_CODES: Final = frozenset({"21211", "21610", "21612", "21614"})


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_id: str
    status: str
    segments: int


class SendError(Exception):
    """A provider did not accept a message."""


class TransientSendError(SendError):
    """The provider may accept the same message later; retry with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """The provider will never accept this message; retrying cannot help."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def about_recipient(self) -> bool:
        """True when the number itself cannot receive SMS (invalid, landline, unsubscribed)."""
        return self.code in RECIPIENT_CODES


class SmsSender(Protocol):
    async def send(
        self, *, to: str, body: str, status_callback: str | None, idempotency_key: str
    ) -> SendResult: ...

    async def close(self) -> None: ...


def _mask(number: str) -> str:
    return number[:3] + "…" + number[-3:] if len(number) > 6 else "…"


class ConsoleSms:
    """Development default: writes each message as one JSON line (or logs it) instead of sending."""

    name = "console"

    def __init__(self, path: Path | str | None = None) -> None:
        self._path = Path(path) if path is not None else None

    async def send(
        self, *, to: str, body: str, status_callback: str | None, idempotency_key: str
    ) -> SendResult:
        """Record the message that would be sent and return a fake provider id."""
        info = count_segments(body)
        provider_id = f"console-{uuid.uuid4()}"
        line = json.dumps(
            {
                "time": datetime.now(UTC).isoformat(),
                "provider_id": provider_id,
                "key": idempotency_key,
                "to": to,
                "body": mask_link_tokens(body),  # the file is read by people who must not act as the client
                "encoding": info.encoding,
                "segments": info.segments,
                "status_callback": status_callback,
            },
            ensure_ascii=False,
        )
        if self._path is None:
            log.info("sms (console provider, not sent): %s", line)
        else:
            await asyncio.to_thread(self._append, line)
        return SendResult(provider_id=provider_id, status="sent", segments=info.segments)

    def _append(self, line: str) -> None:
        assert self._path is not None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    async def close(self) -> None:
        """Nothing to release."""


@dataclass(slots=True)
class _Call:
    idempotency_key: str
    retry_after: str | None = None


# The SDK's create_async() takes no extra headers and its exceptions drop the response headers, so
# the HTTP client below reads and writes per-call state through this context variable (one asyncio
# task per send, so concurrent sends never see each other's state).
_CALL: ContextVar[_Call | None] = ContextVar("twilio_call", default=None)


class _TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's aiohttp session plus a deadline, the idempotency header and an optional base URL.

    It replaces the SDK's request() rather than wrapping it: the SDK builds an aiohttp FormData and a
    BasicAuth per call and formats its request log lines even when nobody logs them (with the import
    below, about a tenth of the dispatcher's CPU per message in bench/outbox_dispatch.py). The form is
    encoded as FormData does it (urlencode, doseq, UTF-8; the SDK has set the Content-Type), the auth
    header is built once, and the SDK's log lines are written only when its logger is enabled.
    """

    def __init__(self, *, base: tuple[str, str] | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base = base
        self._auth: tuple[tuple[str, str], str] | None = None

    def _authorization(self, auth: tuple[str, str]) -> str:
        # aiohttp 3.14 deprecates BasicAuth and the auth= argument that the SDK uses; a ready-made
        # header keeps working in aiohttp 4 and raises no DeprecationWarning.
        if self._auth is None or self._auth[0] != auth:
            self._auth = (auth, aiohttp.encode_basic_auth(*auth))
        return self._auth[1]

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if timeout is not None and timeout <= 0:
            raise ValueError(timeout)
        method = method.upper()
        if self._base is not None:
            # Every Twilio product has its own host (api., messaging., ...): keep the path, swap
            # only scheme and host so all of them reach the one local fake.
            parts = urlsplit(url)
            url = urlunsplit((*self._base, parts.path, parts.query, parts.fragment))
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = self._authorization(auth)
        call = _CALL.get()
        if call is not None and method == "POST":
            headers[IDEMPOTENCY_HEADER] = call.idempotency_key
        logged = self.logger.isEnabledFor(logging.INFO)
        if logged:
            self.log_request({"method": method, "url": url, "params": params, "headers": headers})
        body = urlencode(data, doseq=True).encode() if data else None
        # The SDK stores the client's timeout but never applies it (create_async() passes none),
        # so the whole deadline (connect + send + read) is enforced here.
        async with asyncio.timeout(timeout or self.timeout):
            async with self.session.request(method, url, params=params, data=body, headers=headers,
                                            allow_redirects=allow_redirects) as answer:
                text = await answer.text()
        if logged:
            self.log_response(answer.status, answer)
        if call is not None:
            call.retry_after = answer.headers.get("Retry-After")
        return Response(answer.status, text, answer.headers)


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _classify(status: int, code: int | None, detail: str, retry_after: str | None) -> SendError:
    code_s = str(code) if code else f"http-{status}"
    if status == 429 or code_s == "20429":
        return TransientSendError(
            f"twilio rate limit ({code_s}): {detail}", _retry_after_seconds(retry_after)
        )
    if status >= 500:
        return TransientSendError(
            f"twilio server error {status} ({code_s}): {detail}", _retry_after_seconds(retry_after)
        )
    reason = TWILIO_ERRORS.get(code_s, detail)
    return PermanentSendError(f"twilio {status} ({code_s}): {reason}", code_s)


class TwilioSms:
    """Sends through the real twilio SDK (async client); api_base points it at a local fake."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        *,
        messaging_service_sid: str | None = None,
        api_base: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("twilio needs account_sid and auth_token")
        if bool(from_number) == bool(messaging_service_sid):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._sid, self._token = account_sid, auth_token
        self._from = from_number or None
        self._service = messaging_service_sid or None
        self._base: tuple[str, str] | None = None
        if api_base:
            parts = urlsplit(api_base)
            if not parts.scheme or not parts.netloc or parts.path not in ("", "/"):
                raise ValueError(f"api_base must be scheme://host[:port], got {api_base!r}")
            self._base = (parts.scheme, parts.netloc)
        self._timeout = timeout
        self._http: _TwilioHttpClient | None = None
        self._client: Client | None = None

    def _get_client(self) -> Client:
        if self._client is None:
            # The SDK's aiohttp ClientSession binds to the running loop, so it is created on first
            # use rather than in __init__ (which may run before the loop exists).
            self._http = _TwilioHttpClient(base=self._base, timeout=self._timeout)
            self._client = Client(self._sid, self._token, http_client=self._http)
        return self._client

    async def send(
        self, *, to: str, body: str, status_callback: str | None, idempotency_key: str
    ) -> SendResult:
        """Hand one SMS to Twilio; raise TransientSendError or PermanentSendError if it is refused."""
        client = self._get_client()
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if self._from is not None:
            kwargs["from_"] = self._from
        else:
            kwargs["messaging_service_sid"] = self._service
        if status_callback:
            kwargs["status_callback"] = status_callback
        call = _Call(idempotency_key)
        token = _CALL.set(call)
        try:
            message = await client.messages.create_async(**kwargs)
        except TwilioRestException as e:
            raise _classify(e.status, e.code, e.msg, call.retry_after) from e
        except TwilioServiceException as e:
            raise _classify(e.status, e.code, e.detail or e.title, call.retry_after) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            # Twilio may still have accepted the message; the outbox accepts that rare duplicate.
            raise TransientSendError(f"twilio unreachable: {type(e).__name__}: {e}") from e
        finally:
            _CALL.reset(token)
        segments = int(message.num_segments) if message.num_segments else None
        result = SendResult(
            provider_id=str(message.sid),
            status=str(message.status or "queued"),
            segments=segments if segments is not None else count_segments(body).segments,
        )
        log.info(
            "sms accepted by twilio: %s to %s, %d segment(s)",
            result.provider_id,
            _mask(to),
            result.segments,
            extra={"idempotency_key": idempotency_key, "provider_id": result.provider_id},
        )
        return result

    async def close(self) -> None:
        """Close the SDK's aiohttp session (safe to call twice or before any send)."""
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None


SENDERS: Final[dict[str, Callable[..., SmsSender]]] = {"console": ConsoleSms, "twilio": TwilioSms}


def make_sender(kind: str, **settings: Any) -> SmsSender:
    """Build the provider named in config; settings go to its constructor unchanged."""
    try:
        factory = SENDERS[kind]
    except KeyError:
        raise ValueError(f"unknown SMS provider {kind!r}; known: {sorted(SENDERS)}") from None
    return factory(**settings)
