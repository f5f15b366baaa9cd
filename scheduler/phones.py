"""Phone numbers: parsed and normalised to E.164 with phonenumbers."""

from __future__ import annotations

from collections.abc import Collection

import phonenumbers
from phonenumbers import PhoneNumberType

from scheduler.errors import ValidationFailed
from scheduler.i18n import N_

MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
CALLABLE_TYPES = MOBILE_TYPES | {PhoneNumberType.FIXED_LINE, PhoneNumberType.VOIP,
                                 PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.UAN}


def normalise(raw: str, *, region: str = "DE", landline_ok: bool = False, field: str = "phone",
              countries: Collection[str] | None = None) -> str:
    """E.164 form of a number a client typed; mobile only unless landline_ok (callbacks); from one of
    `countries` (ISO codes) when given."""
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
    if countries is not None and phonenumbers.region_code_for_number(number) not in countries:
        # SMS pumping: premium and far-away numbers cost the office money; only the countries it serves.
        raise ValidationFailed(fields={field: N_(
            "Phone numbers from this country cannot be used here. Please enter another number.")})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_allowed(e164: str, countries: Collection[str]) -> bool:
    """Whether a stored E.164 number belongs to one of these countries (ISO codes)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) in countries
    except phonenumbers.NumberParseException:
        return False


def masked(recipient: str) -> str:
    """A phone number (or e-mail address) shortened for logs: the first three and last two characters."""
    return recipient[:3] + "…" + recipient[-2:] if len(recipient) > 6 else "…"
