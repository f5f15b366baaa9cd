"""E-mail invites (iMIP, RFC 6047) through SMTP with aiosmtplib, for sites that allow e-mail."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from scheduler.notify.sms import PermanentSendError, SendResult, TransientSendError

log = logging.getLogger(__name__)


def plain_message(*, sender: str, to: str, subject: str, text: str) -> EmailMessage:
    """A plain-text mail."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(text)
    return msg


def invite_message(*, sender: str, to: str, subject: str, text: str, ics: bytes, method: str) -> EmailMessage:
    """A mail with a plain-text part and the iTIP invite as text/calendar; method=... (RFC 6047)."""
    msg = plain_message(sender=sender, to=to, subject=subject, text=text)
    msg.add_alternative(ics, maintype="text", subtype="calendar", params={"method": method, "charset": "UTF-8"},
                        cte="base64")
    return msg


class SmtpEmail:
    """Sends one message per SMTP connection (invites are few; nothing to pool)."""

    name = "smtp"

    def __init__(self, *, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> SendResult:
        """Hand a message to the SMTP server; 4xx and connection problems are transient, 5xx permanent."""
        try:
            await aiosmtplib.send(message, hostname=self.host, port=self.port, timeout=self.timeout)
        except aiosmtplib.SMTPRecipientsRefused as e:
            raise PermanentSendError("smtp: recipient refused", code="smtp-recipient") from e
        except aiosmtplib.SMTPResponseException as e:
            if 400 <= e.code < 500:
                raise TransientSendError(f"smtp {e.code}: {e.message}") from e
            raise PermanentSendError(f"smtp {e.code}: {e.message}", code=f"smtp-{e.code}") from e
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            raise TransientSendError(f"smtp unreachable: {type(e).__name__}") from e
        log.info("invite mail accepted", extra={"idempotency_key": idempotency_key})
        return SendResult(provider_id=str(message["Message-ID"]), status="sent", segments=0)

    async def close(self) -> None:
        """Nothing to release."""
