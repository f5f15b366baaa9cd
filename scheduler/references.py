"""Reference codes (read aloud, typed at a kiosk) and link tokens (in SMS links).

A reference is 8 Crockford base-32 characters (40 random bits) shown as ``K7Q4-M2XD``: no I, L, O or U,
so it survives being read over the phone. A link token is 256 random bits. Neither can be enumerated;
lookups are rate limited as well.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})
_REFERENCE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{8}$")


def new_reference() -> str:
    """A fresh random reference code like K7Q4-M2XD."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_reference(text: str) -> str | None:
    """The canonical form of what a client typed, or None if it cannot be a reference."""
    compact = re.sub(r"[\s\-_.]", "", text.upper()).translate(_CONFUSABLE)
    if not _REFERENCE.match(compact):
        return None
    return f"{compact[:4]}-{compact[4:]}"


def new_link_token() -> str:
    """A long random token for links in SMS messages."""
    return secrets.token_urlsafe(32)
