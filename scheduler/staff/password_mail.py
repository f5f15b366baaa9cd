"""The mail that brings a staff member their one-time password link.

Sent directly through the deployment's SMTP sender, not through the outbox: the outbox would keep the link's
token in clear in its payload (it renders mails when it sends them), and the admin sees at once whether the
mail went out. The page shows the link in any case, so a failed mail loses nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Final

from scheduler.i18n import N_, STAFF_LANGUAGES, format_when, translate
from scheduler.notify.dispatch import Senders
from scheduler.notify.email import plain_message
from scheduler.notify.sms import SendError

log = logging.getLogger(__name__)

SUBJECT: Final = N_("Set your password for the appointment service")
BODY: Final = N_("Hello %(name)s,\n\nan administrator of %(office)s has issued a link for you to set your password "
                 "for the staff pages of the appointment service:\n\n%(link)s\n\nThe link works once and until "
                 "%(until)s. Your username is %(username)s.\n\nIf you did not expect this mail, please tell your "
                 "administrator.\n")


def language_of(languages: tuple[str, ...] | list[str]) -> str:
    """The staff language to write to a person in: their first one the staff pages speak, else German."""
    return next((lang for lang in languages if lang in STAFF_LANGUAGES), "de")


async def send_link(senders: Senders | None, *, to: str, name: str, username: str, office: str, link: str,
                    until: datetime, tz: str, languages: tuple[str, ...] | list[str], key: str) -> bool:
    """Mail the link; False when e-mail is switched off for the deployment or the server refused it."""
    if senders is None or senders.email is None:
        return False
    lang = language_of(languages)
    text = translate(lang, BODY, name=name, office=office, link=link, until=format_when(until, lang, tz),
                     username=username)
    message = plain_message(sender=senders.email.sender, to=to, subject=translate(lang, SUBJECT), text=text)
    try:
        await senders.email.send(message, idempotency_key=key)
    except SendError as e:
        log.warning("password link mail not sent", extra={"error": type(e).__name__})
        return False
    return True
