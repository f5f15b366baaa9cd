"""E-mails: an outbox row of the e-mail channel becomes the message handed to SMTP.

`email.invite` is the calendar invite (iMIP, messages.render_invite); `email.address_confirm` asks an address
typed on the web form or at the kiosk to confirm itself. That one carries no appointment data, no concern, no
reference and no name: whoever typed the address may not be its owner. `email.escalation_summary` is the
team lead's daily summary (escalation_summary.py): counts and a link to the escalation page.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Final

import asyncpg

from scheduler import email_addresses, escalation_summary, requests
from scheduler.i18n import N_, translate
from scheduler.notify import messages
from scheduler.notify.email import invite_message, plain_message
from scheduler.outbox import Message
from scheduler.sites import Site

CONFIRM_SUBJECT: Final = N_("Please confirm your e-mail address")
CONFIRM_TEXT: Final = N_(
    "Hello,\n\nthis e-mail address was given to the Jobcenter for messages about appointments. If that was you, "
    "please open this link and confirm the address:\n\n%(link)s\n\nThe link is valid for %(days)s days. If it was "
    "not you, please ignore this e-mail: without a confirmation we will not write to this address again.\n\n"
    "Your Jobcenter")


def confirm_link(site: Site, token: str, code: str) -> str:
    """The confirmation link of a request's address."""
    return f"{messages.manage_link(site, token)}/email/{code}"


async def render(conn: asyncpg.Connection, *, site: Site, message: Message, sender: str,
                 now: datetime) -> EmailMessage | None:
    """The mail for an outbox row, or None when it is out of date (appointment gone, address confirmed,
    expired or erased)."""
    if message.kind == email_addresses.CONFIRM_KIND:
        return await _confirmation(conn, site=site, message=message, sender=sender, now=now)
    if message.kind == escalation_summary.SUMMARY_KIND:  # a staff mail: counts and a link, no client data
        subject, text = escalation_summary.mail_text(message.language, message.payload)
        return plain_message(sender=sender, to=message.recipient, subject=subject, text=text)
    invite = await messages.render_invite(conn, site=site, payload=message.payload, language=message.language,
                                          organizer_email=sender, attendee=message.recipient)
    if invite is None:
        return None
    return invite_message(sender=sender, to=message.recipient, subject=invite.subject, text=invite.text,
                          ics=invite.ics, method=invite.method)


async def _confirmation(conn: asyncpg.Connection, *, site: Site, message: Message, sender: str,
                        now: datetime) -> EmailMessage | None:
    token, code = message.payload.get("token"), message.payload.get("code")
    if not token or not code or message.request_id is None:
        return None
    request = await requests.find_by_token(conn, str(token))
    if request is None or request.id != message.request_id or \
            not await email_addresses.still_open(conn, message.request_id, now):
        return None
    lang = message.language
    text = translate(lang, CONFIRM_TEXT, link=confirm_link(site, str(token), str(code)),
                     days=email_addresses.CONFIRM_DAYS)
    return plain_message(sender=sender, to=message.recipient, subject=translate(lang, CONFIRM_SUBJECT), text=text)
