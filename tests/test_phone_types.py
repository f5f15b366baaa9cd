"""phones.normalise() classifies with one pass of phonenumbers and accepts and rejects as a separate validity check would."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, REGION_CODE_FOR_NON_GEO_ENTITY

from scheduler import phones
from scheduler.errors import ValidationFailed


def test_every_region_of_a_calling_code_has_that_code() -> None:
    # is_valid_number() differs from number_type() != UNKNOWN only for a region whose metadata has another code.
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            if region != REGION_CODE_FOR_NON_GEO_ENTITY:
                metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
                assert metadata is not None and metadata.country_code == code, region


def checked_twice(raw: str, landline_ok: bool) -> str:
    """The normalisation with a separate validity check before the type check."""
    text = raw.strip()
    if not text:
        raise ValidationFailed(fields={"phone": "empty"})
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, "DE")
    except phonenumbers.NumberParseException:
        raise ValidationFailed(fields={"phone": "unusable"}) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(fields={"phone": "unusable"})
    kind = phonenumbers.number_type(number)
    if kind not in (phones.CALLABLE_TYPES if landline_ok else phones.MOBILE_TYPES):
        raise ValidationFailed(fields={"phone": "landline" if kind in phones.CALLABLE_TYPES else "unusable"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def outcome(fn, raw: str, landline_ok: bool) -> str:  # type: ignore[no-untyped-def]
    try:
        return fn(raw, landline_ok)
    except ValidationFailed as e:
        return "error: " + e.fields["phone"]


MESSAGES = {
    "empty": "Please enter your phone number.",
    "unusable": "This is not a phone number we can use.",
    "landline": "Please enter a mobile number, so that we can send you an SMS.",
}

prefixes = st.sampled_from(["", "0", "00", "+", "+49", "0049", "+49 1", "+1", "+44", "+800", "+882", "+979", "+7", "+39 06"])


@settings(max_examples=2000, deadline=None)
@given(prefixes, st.text("0123456789", max_size=13), st.booleans())
@example("+49 1523 4567890", "", False)
@example("030 1234567", "", False)
@example("+800 1234 5678", "", True)
@example("+1 201 555 0123", "", False)
def test_same_verdicts_as_a_separate_validity_check(prefix: str, digits: str, landline_ok: bool) -> None:
    raw = prefix + digits
    expected = outcome(checked_twice, raw, landline_ok)
    if expected.startswith("error: "):
        expected = "error: " + MESSAGES[expected.removeprefix("error: ")]
    assert outcome(lambda r, ok: phones.normalise(r, landline_ok=ok), raw, landline_ok) == expected


@pytest.mark.parametrize("raw", ["+49 1523 4567890", "0152 34567890"])
def test_a_german_mobile_number(raw: str) -> None:
    assert phones.normalise(raw) == "+4915234567890"
