"""Phone IVR, the needs step of an appointment request: one optional key after the mode (phone_appointments.py).

One need per call (a keypad menu of five is already long); the interpreter's language is the language the
caller chose for the call. What else they need, staff can add when they call back or at the appointment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from scheduler import needs
from scheduler.i18n import N_
from scheduler.policy.rules import Need

NONE_KEY: Final = "9"
# Key -> the need it records (9: nothing).
KEYS: Final[Mapping[str, Need]] = {
    "1": Need.interpreter, "2": Need.sign_language, "3": Need.step_free, "4": Need.hearing_loop,
    "5": Need.more_time,
}
QUESTION = N_("Do you need anything for the appointment? For an interpreter, press 1. For sign language, "
              "press 2. For access without stairs, press 3. For a hearing loop, press 4. For more time, press 5. "
              "If you need nothing, press 9.")


def valid(key: str) -> bool:
    """Whether a key is an answer to the question (the empty key: not asked yet)."""
    return key in KEYS or key in ("", NONE_KEY)


def intake_fields(key: str, lang: str) -> dict[str, object]:
    """The intake fields for the answer: the need, and with an interpreter the call's language (none for German)."""
    need = KEYS.get(key)
    if need is None:
        return {}
    fields: dict[str, object] = {"needs": [need.value]}
    if need is Need.interpreter and (language := needs.interpreter_language_for(lang)):
        fields["interpreter_language"] = language
    return fields
