"""The translation catalogues: well-formed, placeholder-safe and complete for every marked text.

Message ids are English source texts marked with ``N_`` (see scheduler/i18n.py). Each language folder under
scheduler/locale may hold several .po files; the app merges them, so completeness is checked on the merge.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from scheduler import i18n

PACKAGE_DIR = Path(i18n.__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
STAFF_DIR = PACKAGE_DIR / "staff"
PO_FILES = sorted(i18n.LOCALE_DIR.rglob("*.po"))

# A printf-style conversion as Python's % operator reads it: %(name)s, %(n)d, %s, %%, ...
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")


def _placeholders(text: str) -> Counter[str]:
    return Counter(m.group(0) for m in _PLACEHOLDER.finditer(text) if m.group(0) != "%%")


def _texts(value: object) -> list[str]:
    """A message's id or string as a list (plural messages hold several)."""
    return [str(v) for v in value] if isinstance(value, (tuple, list)) else [str(value or "")]


def _read(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=None, abort_invalid=True)


def _extract_package() -> dict[str, set[Path]]:
    """Every N_ message id in the scheduler package, with the files it comes from."""
    found: dict[str, set[Path]] = defaultdict(set)
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for _lineno, message, _comments, _context in extract_from_file("python", str(path), keywords={"N_": None}):
            if isinstance(message, str) and message:
                found[message].add(path)
    return found


def _rel(path: Path) -> str:
    return path.relative_to(REPO_DIR).as_posix()


@pytest.fixture
def fresh_catalogues() -> Iterator[None]:
    i18n._catalogue.cache_clear()
    yield
    i18n._catalogue.cache_clear()


def test_every_language_has_its_own_messages_catalogue() -> None:
    for lang in i18n.LANGUAGES:
        path = i18n.LOCALE_DIR / i18n._catalogue_dir(lang) / "LC_MESSAGES" / "messages.po"
        assert path.is_file(), f"missing {_rel(path)}"
        catalog = _read(path)
        assert catalog.charset.lower() == "utf-8", _rel(path)
        assert catalog.plural_forms, _rel(path)


@pytest.mark.parametrize("path", PO_FILES, ids=[_rel(p) for p in PO_FILES])
def test_catalogue_parses_without_fuzzy_entries_and_keeps_placeholders(path: Path) -> None:
    catalog = _read(path)
    problems: list[str] = []
    for message in catalog:
        if not message.id:
            continue  # the header
        ids = _texts(message.id)
        strings = _texts(message.string)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        expected = _placeholders(ids[-1])
        names = {name: 1 for name in re.findall(r"%\(([^)]*)\)", ids[-1])}
        for string in strings:
            if not string:
                continue
            if _placeholders(string) != expected:
                problems.append(f"placeholders differ: {ids[0]!r} -> {string!r}")
            elif names:
                try:
                    string % names
                except (TypeError, ValueError, KeyError) as e:
                    problems.append(f"cannot be filled in ({e}): {ids[0]!r} -> {string!r}")
    assert not problems, f"{_rel(path)}:\n" + "\n".join(problems)


def test_every_marked_text_is_translated(fresh_catalogues: None) -> None:
    """Client texts need all client languages; texts used only under scheduler/staff/ need de and en."""
    missing: list[tuple[str, str, str]] = []
    for msgid, sources in sorted(_extract_package().items()):
        staff_only = all(STAFF_DIR in source.parents for source in sources)
        languages = i18n.STAFF_LANGUAGES if staff_only else i18n.LANGUAGES
        for lang in languages:
            if not i18n._catalogue(lang).get(msgid, "").strip():
                missing.append((lang, msgid, ", ".join(sorted(_rel(s) for s in sources))))
    if missing:
        by_source: dict[str, list[str]] = defaultdict(list)
        for lang, msgid, source in missing:
            by_source[source].append(f"  [{lang}] {msgid!r}")
        report = "\n".join(f"{source}:\n" + "\n".join(lines) for source, lines in sorted(by_source.items()))
        distinct = len({msgid for _, msgid, _ in missing})
        pytest.fail(f"{len(missing)} missing translations ({distinct} message ids):\n{report}", pytrace=False)


def test_english_catalogue_repeats_the_source_text(fresh_catalogues: None) -> None:
    path = i18n.LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po"
    differing = [m.id for m in _read(path) if m.id and m.string != m.id]
    assert not differing


def test_translate_returns_arabic(fresh_catalogues: None) -> None:
    text = i18n.translate("ar", "Please sign in.")
    assert text != "Please sign in."
    assert re.search(r"[\u0600-\u06FF]", text), text
    assert i18n.translate("ar-EG", "Please sign in.") == text


def test_leichte_sprache_uses_its_own_catalogue(fresh_catalogues: None) -> None:
    assert i18n.translate("de-simple", "Easy German") == "Leichte Sprache"
    assert i18n.native_name("de-simple") == "Leichte Sprache"


def test_fallback_order() -> None:
    assert i18n._fallbacks("de-simple") == ("de-simple", "de", "en")
    assert i18n._fallbacks("uk") == ("uk", "en")
    assert i18n._fallbacks("en") == ("en",)


def _write_po(path: Path, lang: str, entries: dict[str, str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    body = "".join(f'msgid "{k}"\nmsgstr "{v}"\n\n' for k, v in entries.items())
    (path / "test.po").write_text(
        f'msgid ""\nmsgstr ""\n"Language: {lang}\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n{body}',
        encoding="utf-8")


def test_leichte_sprache_falls_back_to_german_then_english(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalogues: None) -> None:
    _write_po(tmp_path / "de_simple" / "LC_MESSAGES", "de_simple", {"Simple": "Einfach"})
    _write_po(tmp_path / "de" / "LC_MESSAGES", "de", {"Simple": "Schlicht", "Only German": "Nur Deutsch",
                                                      "Placeholder %(n)s": "Platzhalter %(n)s"})
    _write_po(tmp_path / "en" / "LC_MESSAGES", "en", {"Only English": "Only English (en)"})
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    assert i18n.translate("de-simple", "Simple") == "Einfach"
    assert i18n.translate("de-simple", "Only German") == "Nur Deutsch"
    assert i18n.translate("de_simple", "Placeholder %(n)s", n=3) == "Platzhalter 3"
    assert i18n.translate("de-simple", "Only English") == "Only English (en)"
    assert i18n.translate("uk", "Only German") == "Only German"
    assert i18n.translate("de-simple", "Nowhere") == "Nowhere"
