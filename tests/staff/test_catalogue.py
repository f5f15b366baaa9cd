"""Every text of the staff pages has a German and an English catalogue entry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scheduler.i18n import _catalogue

STAFF = Path(__file__).resolve().parents[2] / "scheduler"
TEMPLATE_CALL = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
MARKED = re.compile(r"""\bN_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
PAGE_MODULES = ("ui", "pages", "inbox_pages", "request_pages", "callback_pages", "calendar_pages", "rules_pages",
                "rule_errors", "dashboard", "admin_pages", "explain")
CALL_OUTCOMES = ("reached", "no answer", "wrong number")  # translated as _(outcome|replace('_', ' '))


def staff_msgids() -> set[str]:
    found = set(CALL_OUTCOMES)
    for path in (STAFF / "templates" / "staff").glob("*.html"):
        found |= {a or b for a, b in TEMPLATE_CALL.findall(path.read_text(encoding="utf-8"))}
    for name in PAGE_MODULES:
        text = (STAFF / "staff" / f"{name}.py").read_text(encoding="utf-8")
        found |= {a or b for a, b in MARKED.findall(text)}
    return found


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_staff_text_is_in_the_catalogue(lang: str) -> None:
    ids = staff_msgids()
    assert len(ids) > 250
    missing = sorted(i for i in ids if i not in _catalogue(lang))
    assert not missing, missing
