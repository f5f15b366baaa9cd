"""Phone numbers: parsed and normalised to E.164 with phonenumbers."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

from scheduler.errors import ValidationFailed
from scheduler.i18n import N_

MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
CALLABLE_TYPES = MOBILE_TYPES | {PhoneNumberType.FIXED_LINE, PhoneNumberType.VOIP,
                                 PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.UAN}


def normalise(raw: str, *, region: str = "DE", landline_ok: bool = False, field: str = "phone") -> str:
    """E.164 form of a number a client typed; mobile only unless landline_ok (callbacks)."""
    text = (raw or "").strip()
    if not text:
        raise ValidationFailed(fields={field: N_("Please enter your phone number.")})
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(fields={field: N_("This is not a phone number we can use.")}) from None
    # number_type() is UNKNOWN exactly for the numbers is_valid_number() rejects (both match the same region
    # metadata), and UNKNOWN is not callable, so one matching pass validates and classifies.
    kind = phonenumbers.number_type(number)
    allowed = CALLABLE_TYPES if landline_ok else MOBILE_TYPES
    if kind not in allowed:
        if kind in CALLABLE_TYPES:
            raise ValidationFailed(fields={field: N_("Please enter a mobile number, so that we can send you an SMS.")})
        raise ValidationFailed(fields={field: N_("This is not a phone number we can use.")})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display(e164: str) -> str:
    """A number written for people (international format)."""
    return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def masked(e164: str) -> str:
    """A number with all but the last three digits hidden (for receipts and screens)."""
    return "•" * max(0, len(e164) - 3) + e164[-3:]
