"""Link and feed tokens kept out of text that leaves the service: logs and the console SMS file."""

from __future__ import annotations

import logging
import re

# A client's link (/r/<token>, /api/public/<token>), a staff calendar feed (/staff/feed/<token>.ics) or a call
# display (/display/<token>)
# is a bearer credential: whoever reads it can see and change the appointment. A staff password link
# (/staff/password/<token>) sets a staff member's password.
LINK_TOKEN = re.compile(r"(/(?:r|api/public|staff/feed|staff/password|display)/)[A-Za-z0-9_-]{16,}")
MASK = "…"


def mask_link_tokens(text: str) -> str:
    """The text with the token part of every client link and feed address replaced by an ellipsis."""
    return LINK_TOKEN.sub(lambda m: m.group(1) + MASK, text)


class LinkTokenFilter(logging.Filter):
    """Masks link tokens in every log record's message and string fields, whoever logs them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        message = record.getMessage()
        masked = mask_link_tokens(message)
        if masked != message:
            record.msg, record.args = masked, None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "message") and LINK_TOKEN.search(value):
                setattr(record, key, mask_link_tokens(value))
        return True
