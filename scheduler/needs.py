"""A client's needs for an appointment: interpreter (with its language), sign language, step-free access,
hearing loop, more time.

Every channel hands what the client chose to `parse`; `requests.insert` stores the result with the request
(migration 0029), and `describe` gives the labels staff pages, the status page and the invite show. The values
are those of `policy.rules.Need`, so rules can route on them and the slot search can pick rooms by them
(`policy.rooms`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from scheduler.i18n import N_, babel_locale, translate
from scheduler.policy.rules import Need

ORDER: Final[tuple[Need, ...]] = tuple(Need)

LABELS: Final[Mapping[str, str]] = {
    Need.interpreter: N_("Interpreter"),
    Need.sign_language: N_("Sign language interpreter"),
    Need.step_free: N_("Step-free access (no stairs)"),
    Need.hearing_loop: N_("Hearing loop"),
    Need.more_time: N_("More time for the appointment"),
}
# A symbol before each label on staff pages (hidden from screen readers, which read the label).
ICONS: Final[Mapping[str, str]] = {
    Need.interpreter: "文", Need.sign_language: "🤟", Need.step_free: "♿", Need.hearing_loop: "👂",
    Need.more_time: "⏱",
}
# The languages an interpreter can be asked for (ISO 639-1, named in the reader's language by Babel):
# the languages Jobcenters most often book interpreters for.
INTERPRETER_LANGUAGES: Final[tuple[str, ...]] = (
    "ar", "fa", "ps", "ku", "ti", "so", "uk", "ru", "tr", "ro", "bg", "pl", "sq", "sr", "vi", "zh", "en", "fr",
    "es", "it")
LIMIT: Final = len(ORDER)


@dataclass(frozen=True, slots=True)
class Noted:
    """One need as a page shows it."""

    code: str
    icon: str
    text: str


def parse(raw_needs: object, raw_language: object, errors: dict[str, str]) -> tuple[tuple[str, ...], str | None]:
    """The needs a client chose (in canonical order) and the interpreter's language; problems go to `errors`.

    A language without the interpreter need is dropped (a form's select keeps its value when the box is
    unticked); the interpreter need without a language is allowed (the phone cannot ask which one).
    """
    if raw_needs in (None, ""):
        raw_needs = []
    if not isinstance(raw_needs, list) or len(raw_needs) > 2 * LIMIT or \
            not all(isinstance(n, str) and n in LABELS for n in raw_needs):
        errors["needs"] = N_("Please choose what you need from the list.")
        return (), None
    chosen = tuple(n.value for n in ORDER if n.value in raw_needs)
    language = raw_language if raw_language not in (None, "") else None
    if language is not None and (not isinstance(language, str) or language not in INTERPRETER_LANGUAGES):
        errors["interpreter_language"] = N_("Please choose a language for the interpreter from the list.")
        return chosen, None
    return chosen, language if Need.interpreter in chosen else None


def interpreter_language_for(ui_language: str) -> str | None:
    """The interpreter language a caller probably needs: the language they chose for the call (none for German)."""
    base = ui_language.split("-")[0]
    return base if base in INTERPRETER_LANGUAGES else None


def language_name(code: str, lang: str) -> str:
    """An interpreter language's name in the reader's language."""
    return str(babel_locale(lang).languages.get(code, code))


def language_choices(lang: str) -> list[tuple[str, str]]:
    """(code, name) of every interpreter language, sorted by name in the reader's language."""
    return sorted(((code, language_name(code, lang)) for code in INTERPRETER_LANGUAGES), key=lambda c: c[1])


def describe(needs: Collection[str], interpreter_language: str | None, lang: str) -> list[Noted]:
    """The needs of a request as labels in `lang`, in canonical order."""
    out: list[Noted] = []
    for need in ORDER:
        if need.value not in needs:
            continue
        text = translate(lang, LABELS[need])
        if need is Need.interpreter and interpreter_language:
            text = translate(lang, N_("Interpreter: %(language)s"),
                             language=language_name(interpreter_language, lang))
        out.append(Noted(need.value, ICONS[need], text))
    return out


def summary(needs: Collection[str], interpreter_language: str | None, lang: str) -> str:
    """The needs in one line (for an invite's description or a list cell); empty without needs."""
    return ", ".join(n.text for n in describe(needs, interpreter_language, lang))
