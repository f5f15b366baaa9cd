"""Problems of a rule set (scheduler.policy.rules.RuleError) as sentences in the staff member's language.

A RuleError carries a stable ``code`` and ``params`` (see rules.py); its ``message`` is English only. Here
each code has its own catalogue text, and the place is named the way the editor shows it: the rule
("Rule “under-25”, field “then.duration”") or the section ("The defaults (defaults), field “duration”"). A
sentence is the place, a colon and what is wrong, e.g. in German:
„Regel „under-25“, Feld „then.duration“: erlaubt ist 5m bis 4h, angegeben war „9h“.“
Values stay as written in the YAML (field names, modes, "9h"); only the words around them are translated.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import Final

from scheduler.i18n import N_, normalise, translate
from scheduler.policy.rules import RuleError

# Subjects: where the problem is.
_RULE_FIELD: Final = N_("Rule “%(rule)s”, field “%(field)s”")
_RULE: Final = N_("Rule “%(rule)s”")
_RULE_NO_FIELD: Final = N_("Rule no. %(n)s, field “%(field)s”")
_RULE_NO: Final = N_("Rule no. %(n)s")
_SECTION_FIELD: Final = N_("%(section)s, field “%(field)s”")
SECTIONS: Final = {
    "rules": N_("The rule list (rules)"),
    "defaults": N_("The defaults (defaults)"),
    "ordering": N_("The ordering (ordering)"),
    "caps": N_("The caps (caps)"),
    "callbacks": N_("The callback settings (callbacks)"),
}
_RULE_SET: Final = N_("The rule set")

# What is wrong, per code; %(allowed)s and %(got)s are already formatted for the language. (One string per
# N_ call, each within the line length: longer explanations are a second sentence.)
_NOT_A_MAPPING = N_("must be fields of the form “name: value”, given was %(got)s.")
_NOT_A_LIST = N_("must be a list (or a single value), given was %(got)s.")
_BAD_TYPE = N_("must be %(expected)s (allowed: %(allowed)s), given was %(got)s.")
_UNKNOWN_FIELD = N_("there is no such field; allowed fields are %(allowed)s.")
_MISSING = N_("this field is required but missing.")
_EMPTY = N_("this field must not be empty.")
_DUPLICATE_ID = N_("the id “%(id)s” is already used by rule no. %(first)s; every rule needs its own id.")
_BAD_ID = N_("allowed are 1 to 64 letters, digits, “-”, “_” or “.”, first a letter or digit; given was %(got)s.")
_RESERVED_ID = N_("The id “defaults” is reserved.")
_BAD_DURATION = N_("allowed is a duration like 20m, 2h or 1h30m from %(allowed)s, given was %(got)s.")
_BAD_WORKDAYS = N_("allowed are workdays written like “1 workday” or “10 workdays”, %(allowed)s; given was %(got)s.")
_OUT_OF_RANGE = N_("allowed is %(allowed)s, given was %(got)s.")
_BAD_MODE = N_("allowed are only the modes %(allowed)s, given was %(got)s.")
_BAD_VALUE = N_("allowed is one of %(allowed)s, given was %(got)s.")
_BAD_ROUTE = N_("allowed is {team: CODE}, {caseworker: ID} or {caseworker: assigned}; given was %(got)s.")
_ROUTE_PARTS = N_("CODE consists of lowercase letters, digits, “-” or “_”; ID is a positive number.")
_WITHIN = N_("“within” (%(within)s) must not be shorter than “lead_time” (%(lead_time)s) with defaults applied.")
_AUTO_CONFIRM = N_("must be false, because only a rule can switch on automatic confirmation; given was %(got)s.")
_WALK_IN = N_("must be false, because only a rule can allow same-day walk-in tickets; given was %(got)s.")
_TOO_LONG = N_("is too long: at most %(limit)s characters are allowed, given were %(size)s.")
_TOO_MANY = N_("has too many entries: at most %(limit)s are allowed, given were %(size)s.")
_BAD_FOLLOW_UP = N_("allowed is none, task or {invite: N workdays}; given was %(got)s.")
_BAD_CODE = N_("allowed are codes of 2 to 40 lowercase letters, digits or “_”; given was %(got)s.")
_UNKNOWN_GROUP = N_("the office has no customer group %(got)s; its groups are %(allowed)s.")
_FOLLOW_UP_PARTS = N_("N is the lead time of the new invitation, from %(low)s to %(high)s workdays.")
DETAILS: Final[dict[str, tuple[str, ...]]] = {
    "not-a-mapping": (_NOT_A_MAPPING,),
    "not-a-list": (_NOT_A_LIST,),
    "bad-type": (_BAD_TYPE,),
    "unknown-field": (_UNKNOWN_FIELD,),
    "missing": (_MISSING,),
    "empty": (_EMPTY,),
    "duplicate-id": (_DUPLICATE_ID,),
    "bad-id": (_BAD_ID, _RESERVED_ID),
    "bad-duration": (_BAD_DURATION,),
    "bad-workdays": (_BAD_WORKDAYS,),
    "out-of-range": (_OUT_OF_RANGE,),
    "bad-mode": (_BAD_MODE,),
    "bad-value": (_BAD_VALUE,),
    "bad-route": (_BAD_ROUTE, _ROUTE_PARTS),
    "within-before-lead-time": (_WITHIN,),
    "auto-confirm-in-defaults": (_AUTO_CONFIRM,),
    "walk-in-in-defaults": (_WALK_IN,),
    "too-long": (_TOO_LONG,),
    "too-many": (_TOO_MANY,),
    "bad-follow-up": (_BAD_FOLLOW_UP, _FOLLOW_UP_PARTS),
    "bad-code": (_BAD_CODE,),
    "unknown-group": (_UNKNOWN_GROUP,),
}
_YAML_AT: Final = N_("The rule set is not valid YAML: line %(line)s, column %(column)s (%(problem)s).")
_YAML: Final = N_("The rule set is not valid YAML (%(problem)s).")

# Descriptions rules.py puts into "got", "expected" and "allowed" instead of a value.
WORDS: Final = {
    "a mapping": N_("a group of fields"),
    "a list": N_("a list"),
    "nothing": N_("nothing"),
    "a whole number": N_("a whole number"),
    "true or false": N_("true or false"),
    "a list of names": N_("a list of names"),
    "non-empty text values": N_("non-empty texts"),
}
_RANGE: Final = N_("%(low)s to %(high)s")
_WORKDAY_RANGE: Final = N_("%(low)s to %(high)s workdays")
_ONE_WORKDAY: Final = N_("1 workday")
_WORKDAYS: Final = N_("%(n)s workdays")

_QUOTES: Final = {"de": ("„", "“")}
_ENGLISH_QUOTES: Final = ("“", "”")
_RULE_INDEX: Final = re.compile(r"^rules\[(\d+)\]")
_RANGE_TEXT: Final = re.compile(r"^(?P<low>[^.\s]+)\.\.(?P<high>[^.\s]+)(?P<workdays> workdays)?$")
# One shown value: a Python repr of a text, a {k: v} route, or anything up to the next comma.
_TOKEN: Final = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\{[^}]*\}|[^,]+""")


def describe(error: RuleError, lang: str) -> str:
    """One sentence in `lang` naming where the problem is and what is allowed; error.message if unknown."""
    try:
        return _Describer(normalise(lang)).sentence(error)
    except (KeyError, ValueError, TypeError):
        return error.message


class _Describer:
    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.open, self.close = _QUOTES.get(lang, _ENGLISH_QUOTES)

    def _(self, msgid: str, **params: object) -> str:
        return translate(self.lang, msgid, **params)

    def quote(self, text: str) -> str:
        return f"{self.open}{text}{self.close}"

    def sentence(self, error: RuleError) -> str:
        p = error.params
        if error.code == "yaml-syntax":
            if p.get("line", "0") in ("", "0"):
                return self._(_YAML, problem=p.get("problem", ""))
            return self._(_YAML_AT, line=p["line"], column=p.get("column", "?"), problem=p.get("problem", ""))
        details = DETAILS.get(error.code)
        if details is None:
            return error.message
        params = self.detail_params(error)
        return f"{self.subject(error)}: " + " ".join(self._(msgid, **params) for msgid in details)

    def subject(self, error: RuleError) -> str:
        p = error.params
        field = p.get("field", "")
        index = _RULE_INDEX.match(error.path)
        if "rule" in p:
            rule = p["rule"]
            whole_rule = not field or field == error.path  # the rule entry itself, e.g. not a mapping
            numbered = rule.startswith("#") or error.code == "duplicate-id"
            if numbered and index is not None:
                n = int(index.group(1)) + 1
                return self._(_RULE_NO, n=n) if whole_rule else self._(_RULE_NO_FIELD, n=n, field=field)
            return self._(_RULE, rule=rule) if whole_rule else self._(_RULE_FIELD, rule=rule, field=field)
        section, _, rest = field.partition(".")
        if section in SECTIONS:
            label = self._(SECTIONS[section])
            return self._(_SECTION_FIELD, section=label, field=rest) if rest else label
        label = self._(_RULE_SET)
        return self._(_SECTION_FIELD, section=label, field=field) if field else label

    def detail_params(self, error: RuleError) -> dict[str, str]:
        p = error.params
        shown: dict[str, Callable[[str], str]] = {
            "got": self.values, "allowed": self.allowed, "expected": self.word, "id": str,
            "first": self.rule_number, "within": self.workdays, "lead_time": self.workdays,
            "limit": str, "size": str, "low": str, "high": str,
        }
        return {name: show(p[name]) for name, show in shown.items() if name in p}

    def word(self, text: str) -> str:
        return self._(WORDS[text]) if text in WORDS else text

    def rule_number(self, path: str) -> str:
        index = _RULE_INDEX.match(path)
        return str(int(index.group(1)) + 1) if index else path

    def workdays(self, text: str) -> str:
        n = int(text)
        return self._(_ONE_WORKDAY) if n == 1 else self._(_WORKDAYS, n=n)

    def allowed(self, text: str) -> str:
        """'5m..4h' -> 5m to 4h; '1..30 workdays' -> 1 to 30 workdays; 'a, b' -> “a”, “b”."""
        found = _RANGE_TEXT.match(text)
        if found is not None:
            msgid = _WORKDAY_RANGE if found["workdays"] else _RANGE
            return self._(msgid, low=found["low"], high=found["high"])
        if text in WORDS:
            return self.word(text)
        return ", ".join(self.quote(item.strip()) for item in text.split(","))

    def values(self, text: str) -> str:
        """What was given: each value in quotes (as typed), descriptions like 'a list' translated."""
        if text in WORDS:
            return self.word(text)
        tokens = [t.strip() for t in _TOKEN.findall(text)]
        if ", ".join(tokens) != text:
            return self.quote(text)
        return ", ".join(self.value(t) for t in tokens)

    def value(self, token: str) -> str:
        if token in WORDS:
            return self.word(token)
        if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
            try:
                token = str(ast.literal_eval(token))
            except (ValueError, SyntaxError):
                token = token[1:-1]
        return self.quote(token)

