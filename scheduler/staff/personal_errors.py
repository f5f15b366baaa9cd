"""Problems of a caseworker's own rules (scheduler.policy.personal.PersonalError) as sentences in the staff
member's language, shown at the form field they belong to."""

from __future__ import annotations

from typing import Final

from scheduler.i18n import N_, translate
from scheduler.policy.personal import PersonalError
from scheduler.staff import ui

_TEXTS: Final[dict[str, str]] = {
    "not-a-number": N_("Please enter a whole number from %(low)s to %(high)s."),
    "out-of-range": N_("Allowed is %(low)s to %(high)s; given was %(got)s."),
    "bad-concern": N_("This concern is not known."),
    "bad-shape": N_("This entry could not be read; please fill in the form again."),
    "bad-mode": N_("Choose only in person, by phone or video."),
    "too-many": N_("At most %(limit)s entries are allowed."),
    "bad-time": N_("Please enter a time like 08:00."),
    "end-before-start": N_("The end must be after the start."),
    "too-long": N_("At most %(limit)s characters are allowed."),
    "unknown-field": N_("There is no such setting."),
    "above-team-cap": N_("Your team allows at most %(team)s a day; a personal cap can only be lower."),
    "below-team-lead-time": N_("Your team gives %(team)s workdays of notice; you can ask for more, not less."),
    "beyond-team-within": N_("Your team offers appointments within %(team)s workdays; more notice than that "
                             "is not possible."),
    "concern-not-taken": N_("Your team does not take this concern, so you cannot take it either."),
    "mode-not-allowed": N_("Your team allows only %(allowed)s for this concern; not %(got)s."),
    "no-concern": N_("Take at least one concern."),
}
_UNKNOWN: Final = N_("This value is not valid.")


def _modes(lang: str, codes: str) -> str:
    return ", ".join(translate(lang, ui.MODE_LABELS.get(c.strip(), c.strip())) for c in codes.split(",") if c.strip())


def describe(error: PersonalError, lang: str) -> str:
    """The problem as one sentence (the field is where the page shows it)."""
    params = dict(error.params)
    for name in ("allowed", "got"):
        if error.code == "mode-not-allowed" and name in params:
            params[name] = _modes(lang, params[name])
    text = _TEXTS.get(error.code, _UNKNOWN)
    return translate(lang, text, **params)


def by_field(errors: tuple[PersonalError, ...], lang: str) -> dict[str, str]:
    """Each field's problems as one text, keyed by the field name the form uses."""
    out: dict[str, str] = {}
    for e in errors:
        sentence = describe(e, lang)
        out[e.field] = f"{out[e.field]} {sentence}" if e.field in out else sentence
    return out
