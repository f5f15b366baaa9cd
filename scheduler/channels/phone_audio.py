"""Recorded phone prompts: audio files an office provides per language, played with <Play> instead of <Say>.

Twilio has voices for most client languages but not for Farsi; and an office may prefer its own recordings.
The files live in `phone.prompts_dir` as `<lang>/<key>.wav` (or `.mp3`); this service serves them read-only at
/phone-prompts/<lang>/<file> (or Twilio fetches them from `phone.prompts_url`). docs/phone-prompts.md explains the
keys; `python -m scheduler.channels.phone_audio --lang fa --missing` lists what an office still has to record.

A prompt's key is derived from its English message id, so it is stable while the text stays the same and changes
(asking for a new recording) when the text changes: the first words of the id without its placeholders, and
six hex digits of its SHA-256, e.g. `welcome-to-the-jobcenter-5c1b0e`. Parameters:
- `key` and `concern` (a menu's key, the concern's code) are part of the recording: `<key>.<concern>.<digit>`;
- `number`, `room` (and a plain spelled text, the reference code) follow the recording character by character
  (`number-0`…`number-9`, `letter-a`…`letter-z`);
- `at` (an appointment's local time) follows as `number-<day>`, `month-<1..12>`, `number-<hour>`, `number-<minute>`;
- `label`, `address` and `when` are spoken inside the recording (the concern's name, the office's address).
A text plays from recordings only when every file it needs exists; otherwise it is spoken as before.
A language without a voice (Farsi) is offered in the language menu only when all its files exist.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from scheduler.config import Config

ROUTE: Final = "/phone-prompts"
EXTENSIONS: Final = (".wav", ".mp3")
MAX_BYTES: Final = 5 * 1024 * 1024  # a prompt is a sentence; bigger files are not served
VARIANT_PARAMS: Final = ("concern", "key")
SPELLED_PARAMS: Final = ("number", "room")
DATE_PARAM: Final = "at"
LETTERS: Final = "abcdefghijklmnopqrstuvwxyz"  # references use 22 of them; room names may use any
_LANG: Final = re.compile(r"^[a-z]{2}(-simple)?$")
_FILE: Final = re.compile(r"^[a-z0-9_.-]{1,120}\.(wav|mp3)$")
_PLACEHOLDER: Final = re.compile(r"%\((\w+)\)s")


class Prompt(str):
    """A translated text that remembers its message id and parameters, so a recording can stand in for it."""

    msgid: str
    params: Mapping[str, object]

    def __new__(cls, text: str, msgid: str, params: Mapping[str, object]) -> Prompt:
        made = super().__new__(cls, text)
        made.msgid, made.params = msgid, dict(params)
        return made


def prompt_key(msgid: str) -> str:
    """The stable file key of a message id (see the module docstring)."""
    words = re.findall(r"[a-z0-9]+", _PLACEHOLDER.sub(" ", msgid).lower())[:5]
    return "-".join([*words, hashlib.sha256(msgid.encode()).hexdigest()[:6]])


def file_key(prompt: Prompt) -> str:
    """The key of a prompt's recording, with its menu variant (concern code, key)."""
    return "".join([prompt_key(prompt.msgid), *(f".{prompt.params[p]}" for p in VARIANT_PARAMS if p in prompt.params)])


def char_keys(spelled: str) -> list[str]:
    """Recordings that read a code or number character by character (anything else is a pause in the text)."""
    return [f"number-{c}" if c.isdigit() else f"letter-{c}" for c in spelled.lower() if c.isascii() and c.isalnum()]


def date_keys(at: datetime) -> list[str]:
    """Recordings that read a local date and time: day, month, hour and (unless on the hour) minute."""
    keys = [f"number-{at.day}", f"month-{at.month}", f"number-{at.hour}"]
    return keys + ([f"number-{at.minute}"] if at.minute else [])


def needed(text: str) -> list[str]:
    """Every recording a text needs, in the order they play."""
    if not isinstance(text, Prompt):
        return char_keys(text)
    keys = [file_key(text)]
    for name in SPELLED_PARAMS:
        if name in text.params:
            keys += char_keys(str(text.params[name]))
    at = text.params.get(DATE_PARAM)
    return keys + (date_keys(at) if isinstance(at, datetime) else [])


# --- the prompts of the IVR (every N_ text of channels/phone*.py) ---

@functools.cache
def prompts() -> dict[str, str]:
    """Every IVR message id by its key, read from the phone modules the way the catalogue check reads them."""
    from babel.messages.extract import extract_from_file

    found: dict[str, str] = {}
    for path in sorted(Path(__file__).parent.glob("phone*.py")):
        for _line, message, _comments, _context in extract_from_file("python", str(path), keywords={"N_": None}):
            if isinstance(message, str) and message:
                found[prompt_key(message)] = message
    return found


def required(menu_line: str, concern_lines: Iterable[str] = ()) -> list[str]:
    """The recordings a language must have before the menu offers it: every fixed prompt, its own line in the
    language menu, the concern menu's lines, and the characters, numbers and months that codes and times need."""
    fixed = [key for key, msgid in prompts().items() if not set(_PLACEHOLDER.findall(msgid)) & set(VARIANT_PARAMS)]
    return [*fixed, menu_line, *concern_lines, *(f"number-{n}" for n in range(60)),
            *(f"letter-{c}" for c in LETTERS), *(f"month-{m}" for m in range(1, 13))]


# --- the files an office provides ---

@dataclass
class _Listing:
    stamp: int
    files: dict[str, str]  # key -> file name


class PromptAudio:
    """The recordings in a directory, looked up per language; the listing is read again when a folder changes."""

    def __init__(self, directory: Path, base_url: str) -> None:
        self.directory = directory
        self.base_url = base_url.rstrip("/")
        self._listings: dict[str, _Listing] = {}

    def files(self, lang: str) -> dict[str, str]:
        """Recorded keys of a language and their file names."""
        if not _LANG.match(lang):
            return {}
        folder = self.directory / lang
        try:
            stamp = os.stat(folder).st_mtime_ns
        except OSError:
            return {}
        listing = self._listings.get(lang)
        if listing is None or listing.stamp != stamp:
            listing = _Listing(stamp, self._scan(folder))
            self._listings[lang] = listing
        return listing.files

    @staticmethod
    def _scan(folder: Path) -> dict[str, str]:
        found: dict[str, str] = {}
        for path in sorted(folder.iterdir()):
            if _FILE.match(path.name) and path.is_file() and path.stat().st_size <= MAX_BYTES:
                found.setdefault(path.name.rsplit(".", 1)[0], path.name)
        return found

    def urls(self, lang: str, text: str) -> list[str] | None:
        """The recordings that say this text, or None when one of them is missing (then it is spoken)."""
        files = self.files(lang)
        keys = needed(text) if files else []
        if not keys or any(key not in files for key in keys):
            return None
        return [f"{self.base_url}/{lang}/{files[key]}" for key in keys]

    def complete(self, lang: str, keys: Iterable[str]) -> bool:
        """Whether every one of these recordings exists for the language."""
        files = self.files(lang)
        return bool(files) and all(key in files for key in keys)


# --- the app's side: which recordings this request may use, and the read-only file route ---

_CURRENT: ContextVar[PromptAudio | None] = ContextVar("prompt_audio", default=None)
AUDIO: Final = web.AppKey("prompt_audio", PromptAudio)


def recordings(lang: str, text: str) -> list[str] | None:
    """For phone._say: the URLs to <Play> instead of saying the text, or None."""
    audio = _CURRENT.get()
    return audio.urls(lang, text) if audio is not None else None


def active() -> bool:
    """Whether this request may use recordings (the app has a prompts directory)."""
    return _CURRENT.get() is not None


def complete(lang: str, *, menu_line: str, concern_lines: Iterable[str] = ()) -> bool:
    """Whether all recordings a language without a voice needs exist (then the language menu offers it)."""
    audio = _CURRENT.get()
    return audio is not None and audio.complete(lang, required(menu_line, concern_lines))


def setup(app: web.Application, config: Config) -> None:
    """Use the office's recordings in this app's IVR (nothing without a directory); serve them unless hosted."""
    prompts_dir, prompts_url = config.phone.prompts_dir, config.phone.prompts_url
    if not prompts_dir:
        return
    base = prompts_url or f"{config.server.public_base_url.rstrip('/')}{ROUTE}"
    audio = PromptAudio(Path(prompts_dir), base)
    app[AUDIO] = audio

    @web.middleware
    async def use_recordings(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path.startswith("/webhooks/twilio/voice"):
            _CURRENT.set(audio)  # this request's task only
        return await handler(request)

    app.middlewares.append(use_recordings)
    if not prompts_url:
        app.router.add_get(ROUTE + "/{lang}/{name}", serve, name="phone-prompt")


async def serve(request: web.Request) -> web.StreamResponse:
    """One recording, read-only; only files the listing knows (no paths, no other extensions)."""
    audio = request.app[AUDIO]
    lang, name = request.match_info["lang"], request.match_info["name"]
    if not _FILE.match(name) or name not in audio.files(lang).values():
        raise web.HTTPNotFound()
    response = web.FileResponse(audio.directory / lang / name)
    response.content_type = "audio/mpeg" if name.endswith(".mp3") else "audio/wav"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# --- for the office: which files to record ---

def _rows(lang: str) -> list[tuple[str, str]]:
    from scheduler.i18n import translate

    rows = [(key, translate(lang, msgid)) for key, msgid in sorted(prompts().items())]
    rows += [(f"number-{n}", str(n)) for n in range(60)]
    rows += [(f"letter-{c}", c.upper()) for c in LETTERS]
    return rows + [(f"month-{m}", datetime(2000, m, 1).strftime("%B")) for m in range(1, 13)]


def main(argv: list[str] | None = None) -> int:
    """List the prompt keys with the text to record (in a language), optionally only those still missing."""
    parser = argparse.ArgumentParser(prog="python -m scheduler.channels.phone_audio", description=main.__doc__)
    parser.add_argument("--lang", default="de")
    parser.add_argument("--dir", help="the prompts directory, to list what is missing")
    parser.add_argument("--missing", action="store_true")
    args = parser.parse_args(argv)
    have: dict[str, Any] = PromptAudio(Path(args.dir), "").files(args.lang) if args.dir else {}
    for key, text in _rows(args.lang):
        if not (args.missing and key in have):
            sys.stdout.write(f"{key}\t{text}\n")
    sys.stdout.write("# plus <key>.<digit> for the language menu line and <key>.<concern>.<digit> per concern\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
