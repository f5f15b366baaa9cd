"""What a new staff password must be: 12 to 256 characters and hard to guess (zxcvbn score 3 or more).

zxcvbn estimates how many guesses a password needs, knowing common passwords, words, names, keyboard patterns,
dates and the person's own name and username (passed as user inputs). One check for the one-time link page and
the own-account page; its refusals name the reason at the `password` field.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Final

from zxcvbn import zxcvbn

from scheduler.errors import ValidationFailed
from scheduler.i18n import N_

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256
MIN_SCORE: Final = 3  # zxcvbn: 3 = "safely unguessable", about 10^8 guesses or more
# zxcvbn gets slow on long input (about a second at 256 characters) and refuses more than 72 by default; a
# password whose first 72 characters are hard to guess is hard to guess.
_RATED_CHARS: Final = 72
# zxcvbn keeps the user inputs in a module-level dictionary while it rates: one rating at a time.
_ZXCVBN_LOCK: Final = threading.Lock()

TOO_SHORT: Final = N_("The password is too short: please use at least 12 characters.")
TOO_LONG: Final = N_("The password is too long: please use at most 256 characters.")
TOO_COMMON: Final = N_("This password is too common: it is on the lists of passwords that are tried first.")
TOO_PERSONAL: Final = N_("This password is too easy to guess: it contains your name, your username or the "
                         "office's name.")
TOO_EASY: Final = N_("This password is too easy to guess (words, names, dates or patterns). Please choose a "
                     "longer one, for example several unrelated words.")
DIFFERENT: Final = N_("The two passwords differ. Please type the new password twice.")
MISSING: Final = N_("Please enter the new password.")


def refusal(password: str, *, user_inputs: Iterable[str]) -> str | None:
    """Why a password may not be used (a message id), or None when it may."""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_LENGTH:
        return TOO_LONG
    inputs = [part for text in user_inputs for part in {text, *text.replace(".", " ").split()} if part]
    squeezed = "".join(ch for ch in password.lower() if ch.isalnum())
    if any(len(whole) >= 4 and whole in squeezed
           for whole in ("".join(ch for ch in text.lower() if ch.isalnum()) for text in user_inputs)):
        return TOO_PERSONAL  # the whole name or username, which zxcvbn rates word by word
    with _ZXCVBN_LOCK:
        rating = zxcvbn(password[:_RATED_CHARS], user_inputs=inputs)
    if rating["score"] >= MIN_SCORE:
        return None
    dictionaries = {m.get("dictionary_name") for m in rating["sequence"] if m.get("pattern") == "dictionary"}
    if "user_inputs" in dictionaries:
        return TOO_PERSONAL
    if "passwords" in dictionaries:
        return TOO_COMMON
    return TOO_EASY


def check_new_password(password: str, repeated: str, *, user_inputs: Iterable[str]) -> None:
    """Refuse a new password that is missing, typed differently twice, too short, too long or too easy to guess,
    as ValidationFailed naming the field (`password` or `password_repeat`)."""
    if not password:
        raise ValidationFailed(fields={"password": MISSING})
    reason = refusal(password, user_inputs=user_inputs)
    if reason is not None:
        raise ValidationFailed(fields={"password": reason})
    if repeated != password:
        raise ValidationFailed(fields={"password_repeat": DIFFERENT})
