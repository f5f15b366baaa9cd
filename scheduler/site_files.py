"""Site files: `python -m scheduler site apply FILE` sets up offices from YAML (format in docs/operations.md).

A file holds one or more sites with their settings (`site_settings.SiteSettings`), teams and concerns. Applying
is idempotent: what already is as the file says is not written, and a second run reports "unchanged". The
whole file is applied in one transaction: any problem (named by file, line and field) changes nothing.
A field the file leaves out keeps the site's current value (a new site: the default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg
import yaml

from scheduler import audit, concerns, site_settings, teams
from scheduler.errors import ValidationFailed
from scheduler.i18n import translate

ACTOR: Final = "cli:site-apply"
FILE_LIMIT: Final = 1_000_000  # bytes; a file for hundreds of offices stays far below
SETTING_KEYS: Final = frozenset(f.name for f in site_settings.SiteSettings.__dataclass_fields__.values())
SITE_KEYS: Final = SETTING_KEYS | {"teams", "concerns"}
TEAM_KEYS: Final = frozenset({"code", "name"})
CONCERN_KEYS: Final = frozenset({"code", "labels", "descriptions", "minutes", "urgent"})
TEAM_CODE_RE: Final = re.compile(r"[a-z0-9_-]{1,40}")  # the CHECK of migration 0001


class SiteFileInvalid(Exception):
    """The file cannot be applied; `problems` name each place ("FILE:LINE: sites[0].hosts: ...")."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class _Reader:
    """Collects problems with their place in the file."""

    path: Path
    root: yaml.Node | None
    problems: list[str] = field(default_factory=list)

    def problem(self, where: Sequence[str | int], message: str) -> None:
        name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
        self.problems.append(f"{self.path}:{self._line(where)}: {name}: {message}")

    def _line(self, where: Sequence[str | int]) -> int:
        node, line = self.root, 1
        for part in where:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                node = None
            if node is None:
                break
            line = node.start_mark.line + 1
        return line


def load(path: Path) -> tuple[list[dict[str, Any]], _Reader]:
    """The file's sites (mappings as written) and a reader that names places in it; SiteFileInvalid if unreadable."""
    try:
        raw = path.read_bytes()
        if len(raw) > FILE_LIMIT:
            raise SiteFileInvalid([f"{path}: larger than {FILE_LIMIT} bytes"])
        text = raw.decode("utf-8")
        root, data = yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise SiteFileInvalid([f"{path}: cannot be read: {e}"]) from None
    reader = _Reader(path, root)
    sites = data.get("sites") if isinstance(data, dict) else None
    if not isinstance(sites, list) or not sites or not all(isinstance(s, dict) for s in sites):
        reader.problem(["sites"], "expected a list of sites (mappings with code, name, ...)")
        raise SiteFileInvalid(reader.problems)
    return sites, reader


@dataclass(frozen=True, slots=True)
class _Planned:
    site_id: int | None
    settings: site_settings.SiteSettings
    teams: list[tuple[str, str]]
    concerns: list[dict[str, Any]]


async def apply(conn: asyncpg.Connection, path: Path) -> list[str]:
    """Apply a site file in one transaction; the report's lines ("site x: unchanged", ...). SiteFileInvalid
    lists every problem found and leaves the database as it was."""
    entries, reader = load(path)
    async with conn.transaction():
        planned = [await _plan(conn, reader, i, entry) for i, entry in enumerate(entries)]
        codes = [p.settings.code for p in planned if p is not None]
        for i, code in enumerate(codes):
            if code in codes[:i]:
                reader.problem(["sites", i, "code"], f"site {code} appears twice")
        if reader.problems:
            raise SiteFileInvalid(reader.problems)
        report: list[str] = []
        for i, plan in enumerate(planned):
            assert plan is not None
            try:
                report += await _write(conn, plan)
            except ValidationFailed as e:
                for name, message in e.fields.items():
                    reader.problem(["sites", i, name], translate("en", message, **e.params))
        if reader.problems:
            raise SiteFileInvalid(reader.problems)  # leaving the block rolls every site of the file back
    return report


async def _plan(conn: asyncpg.Connection, reader: _Reader, i: int, entry: Mapping[str, Any]) -> _Planned | None:
    where: list[str | int] = ["sites", i]
    for key in sorted(set(entry) - SITE_KEYS):
        reader.problem([*where, key], "unknown field")
    site_id = await site_settings.site_id_by_code(conn, str(entry.get("code") or ""))
    current = await site_settings.read(conn, site_id) if site_id is not None else None
    given = {k: v for k, v in entry.items() if k in SETTING_KEYS}
    try:
        settings = site_settings.parse({**(site_settings.as_form(current) if current else {}), **given})
    except ValidationFailed as e:
        for name, message in e.fields.items():
            reader.problem([*where, name], translate("en", message, **e.params))
        return None
    team_list = _teams(reader, where, entry.get("teams") or [])
    concern_list = _concerns(reader, where, entry.get("concerns") or [], settings.languages)
    return _Planned(site_id, settings, team_list, concern_list)


def _teams(reader: _Reader, where: list[str | int], items: object) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not isinstance(items, list):
        reader.problem([*where, "teams"], "expected a list of teams ({code, name})")
        return found
    for j, team in enumerate(items):
        at = [*where, "teams", j]
        if not isinstance(team, dict) or set(team) - TEAM_KEYS:
            reader.problem(at, "expected {code, name}")
            continue
        code, name = str(team.get("code") or ""), " ".join(str(team.get("name") or "").split())
        if not TEAM_CODE_RE.fullmatch(code) or code in {c for c, _ in found}:
            reader.problem([*at, "code"], "a team code is 1 to 40 lowercase letters, digits, - or _, once per site")
        elif not 0 < len(name) <= 100:
            reader.problem([*at, "name"], "a team name is 1 to 100 characters")
        else:
            found.append((code, name))
    return found


def _concerns(reader: _Reader, where: list[str | int], items: object,
              languages: Sequence[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if not isinstance(items, list):
        reader.problem([*where, "concerns"], "expected a list of concerns")
        return found
    for j, item in enumerate(items):
        concern = _concern(reader, [*where, "concerns", j], item, languages)
        if concern is not None and concern["code"] in {c["code"] for c in found}:
            reader.problem([*where, "concerns", j, "code"], "appears twice")
        elif concern is not None:
            found.append(concern)
    return found


def _concern(reader: _Reader, at: list[str | int], item: object, languages: Sequence[str]) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        reader.problem(at, "expected {code, labels, descriptions, minutes, urgent}")
        return None
    for key in sorted(set(item) - CONCERN_KEYS):
        reader.problem([*at, key], "unknown field")
    code = str(item.get("code") or "")
    if not concerns.CODE_RE.fullmatch(code):
        reader.problem([*at, "code"], translate("en", concerns.BAD_CODE))
    labels, descriptions = item.get("labels") or {}, item.get("descriptions") or {}
    if not isinstance(labels, dict) or not isinstance(descriptions, dict):
        reader.problem(at, "labels and descriptions are mappings from language to text")
        return None
    for kind, texts in (("labels", labels), ("descriptions", descriptions)):
        for lang in sorted(set(texts) - set(languages)):
            reader.problem([*at, kind, lang], "not one of the site's languages")
    minutes, urgent = item.get("minutes", 30), item.get("urgent", False)
    _check_minutes_and_urgent(reader, at, minutes, urgent)
    try:
        labels, descriptions = concerns.clean_texts(labels, descriptions, languages)
    except ValidationFailed as e:
        for name, message in e.fields.items():
            kind, _, lang = name.partition("_")
            reader.problem([*at, f"{kind}s", lang], translate("en", message))
        return None
    return {"code": code, "labels": labels, "descriptions": descriptions, "minutes": minutes, "urgent": urgent}


def _check_minutes_and_urgent(reader: _Reader, at: list[str | int], minutes: object, urgent: object) -> None:
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 5 <= minutes <= 240:
        reader.problem([*at, "minutes"], "minutes are a whole number from 5 to 240")
    if not isinstance(urgent, bool):
        reader.problem([*at, "urgent"], "urgent is true or false")


async def _write(conn: asyncpg.Connection, plan: _Planned) -> list[str]:
    code = plan.settings.code
    if plan.site_id is None:
        site_id = await site_settings.create_site(conn, plan.settings, actor=ACTOR)
        lines = [f"site {code}: added"]
    else:
        site_id = plan.site_id
        changed = await site_settings.update_site(conn, site_id, plan.settings, actor=ACTOR)
        lines = [f"site {code}: " + (f"changed ({', '.join(changed)})" if changed else "unchanged")]
    outcomes: dict[str, str] = {}
    for team_code, name in plan.teams:
        outcomes[f"team {team_code}"] = await teams.apply_team(conn, site_id=site_id, code=team_code, name=name)
    for item in plan.concerns:
        outcomes[f"concern {item['code']}"] = await concerns.apply(conn, site_id=site_id, **item)
    lines += [f"  {what}: {outcome}" for what, outcome in outcomes.items()]
    touched = {what: outcome for what, outcome in outcomes.items() if outcome != "unchanged"}
    if touched:
        await audit.record(conn, site_id=site_id, actor=ACTOR, action="site.apply", subject_type="site",
                           subject_id=site_id, details=touched)
    return lines
