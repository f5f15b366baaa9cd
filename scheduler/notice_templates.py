"""Notice templates of invitations (tables notice_templates, notice_template_versions, invitation_notices).

A template is mandatory (Rechtsfolgenbelehrung, § 59 SGB II with § 309 SGB III) or voluntary. Every save is a
new version; versions are never edited (a trigger refuses it), so an invitation names exactly the text it was
sent with. The German text is binding; texts in the client's languages are help and are shown marked so.
Placeholders: {date}, {time}, {place}, {caseworker}, {concern}, {bring}.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg
from babel.dates import format_date, format_time

from scheduler import appointments, audit, concerns, invitation_evidence, sites
from scheduler import proposals as proposals_
from scheduler.errors import ValidationFailed
from scheduler.i18n import LANGUAGES, N_, babel_locale, normalise, translate


class NoticeKind(StrEnum):
    mandatory = "mandatory"
    voluntary = "voluntary"


PLACEHOLDERS: Final = ("date", "time", "place", "caseworker", "concern", "bring")
TRANSLATION_LANGUAGES: Final = tuple(lang for lang in LANGUAGES if lang != "de")
NAME_LIMIT: Final = 120
TEXT_LIMIT: Final = 6000
BRING_LIMIT: Final = 500

# Shown above a translated notice, in the client's language (the German words follow it on the page).
HELP_MARK: Final = N_("Translation – for information only; the German text is binding.")
GERMAN_HEADING: Final = N_("Binding text (German)")
TITLES: Final = {"mandatory": N_("Important: your invitation and its legal consequences"),
                 "voluntary": N_("Your invitation")}
_NOT_CHOSEN_DATE: Final = N_("on the day you choose from the offered times")
_NOT_CHOSEN_TIME: Final = N_("at the time you choose")
_PLACE_BY_MODE: Final = {"phone": N_("By phone"), "video": N_("By video call")}
_NOTHING: Final = "—"


class Problem(StrEnum):
    """Why a template text cannot be saved; the staff pages say it in the staff member's language."""
    empty = "empty"
    too_long = "too_long"
    unknown_placeholder = "unknown_placeholder"
    broken_braces = "broken_braces"


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    kind: str                 # 'mandatory' | 'voluntary'
    german: str               # binding
    translated: str | None    # help in the client's language, when the template has it
    language: str
    template_id: int
    version: int


@dataclass(frozen=True, slots=True)
class Template:
    id: int
    site_id: int
    name: str
    kind: NoticeKind
    active: bool
    version: int
    german: str
    translations: Mapping[str, str]
    created_at: datetime
    created_by: int | None


def check_text(text: str, *, required: bool) -> tuple[Problem, str] | None:
    """What is wrong with a template text (and the offending placeholder), or None."""
    if not text.strip():
        return (Problem.empty, "") if required else None
    if len(text) > TEXT_LIMIT:
        return Problem.too_long, ""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return Problem.broken_braces, ""
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            return Problem.unknown_placeholder, name[:40]
        if spec or conversion:
            return Problem.broken_braces, name
    return None


def problems(*, german: str, translations: Mapping[str, str]) -> dict[str, tuple[Problem, str]]:
    """Every field's problem: 'german', or 'text_<language>' for a translation."""
    found: dict[str, tuple[Problem, str]] = {}
    if (problem := check_text(german, required=True)) is not None:
        found["german"] = problem
    for lang, text in translations.items():
        if (problem := check_text(text, required=False)) is not None:
            found[f"text_{lang}"] = problem
    return found


_SELECT: Final = """
SELECT t.id, t.site_id, t.name, t.kind, t.active, v.version, v.german, v.translations, v.created_at, v.created_by
FROM notice_templates t
JOIN notice_template_versions v ON v.template_id = t.id
"""


def _template(row: Mapping[str, Any]) -> Template:
    return Template(**{**row, "kind": NoticeKind(row["kind"]), "translations": dict(row["translations"])})


async def list_for_site(conn: asyncpg.Connection, site_id: int, *, active_only: bool = False) -> list[Template]:
    """The site's templates, each in its newest version, by name."""
    rows = await conn.fetch(
        _SELECT + """
        WHERE t.site_id = $1 AND ($2 = false OR t.active)
          AND v.version = (SELECT max(version) FROM notice_template_versions WHERE template_id = t.id)
        ORDER BY t.kind, t.name
        """, site_id, active_only)
    return [_template(r) for r in rows]


async def get(conn: asyncpg.Connection, template_id: int, *, version: int | None = None) -> Template | None:
    """One template in the given version, or its newest."""
    row = await conn.fetchrow(
        _SELECT + """
        WHERE t.id = $1 AND v.version = coalesce($2, (SELECT max(version) FROM notice_template_versions
                                                      WHERE template_id = t.id))
        """, template_id, version)
    return _template(row) if row else None


async def versions(conn: asyncpg.Connection, template_id: int) -> list[Template]:
    """Every version of a template, newest first."""
    rows = await conn.fetch(_SELECT + " WHERE t.id = $1 ORDER BY v.version DESC", template_id)
    return [_template(r) for r in rows]


async def save(conn: asyncpg.Connection, *, site_id: int, template_id: int | None, name: str, kind: str,
               german: str, translations: Mapping[str, str], staff_id: int | None, actor: str) -> Template:
    """Store a new template, or a new version of one of this site's templates; old versions stay as they were.

    ValidationFailed (with Problem codes as field messages) when a text has an unknown placeholder or is empty.
    """
    texts = {lang: text for lang, text in translations.items() if lang in TRANSLATION_LANGUAGES and text.strip()}
    fields = {field: problem.value for field, (problem, _name) in problems(german=german, translations=texts).items()}
    if not name.strip() or len(name) > NAME_LIMIT:
        fields["name"] = Problem.empty.value if not name.strip() else Problem.too_long.value
    if kind not in NoticeKind.__members__:
        fields["kind"] = Problem.empty.value
    if fields:
        raise ValidationFailed(fields=fields)
    if template_id is None:
        template_id = await conn.fetchval(
            "INSERT INTO notice_templates (site_id, name, kind) VALUES ($1, $2, $3) "
            "ON CONFLICT (site_id, name) DO NOTHING RETURNING id", site_id, name.strip(), kind)
        if template_id is None:
            raise ValidationFailed(fields={"name": "taken"})
    else:
        updated = await conn.fetchval(
            "UPDATE notice_templates SET name = $3, kind = $4 WHERE id = $1 AND site_id = $2 RETURNING id",
            template_id, site_id, name.strip(), kind)
        if updated is None:
            raise ValidationFailed(fields={"template": "unknown"})
    version: int = await conn.fetchval(
        """
        INSERT INTO notice_template_versions (template_id, version, site_id, german, translations, created_by)
        SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5 FROM notice_template_versions WHERE template_id = $1
        RETURNING version
        """, template_id, site_id, german, texts, staff_id)
    await audit.record(conn, site_id=site_id, actor=actor, action="notice_template.saved",
                       subject_type="notice_template", subject_id=template_id, details={"version": version})
    saved = await get(conn, template_id, version=version)
    assert saved is not None
    return saved


async def set_active(conn: asyncpg.Connection, *, site_id: int, template_id: int, active: bool, actor: str) -> bool:
    """Offer a template for new invitations or not (its versions stay); False when it is not this site's."""
    changed = await conn.fetchval("UPDATE notice_templates SET active = $3 WHERE id = $1 AND site_id = $2 "
                                  "RETURNING id", template_id, site_id, active)
    if changed is not None:
        await audit.record(conn, site_id=site_id, actor=actor, action="notice_template.active",
                           subject_type="notice_template", subject_id=template_id, details={"active": active})
    return changed is not None


async def attach(conn: asyncpg.Connection, *, request_id: int, site_id: int, template: Template,
                 bring: str) -> bool:
    """Store which template version an invitation uses; False when it has one already (a retried invitation
    keeps the first)."""
    stored = await conn.fetchval(
        "INSERT INTO invitation_notices (request_id, site_id, template_id, version, bring) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
        request_id, site_id, template.id, template.version, bring[:BRING_LIMIT])
    return stored is not None


@dataclass(frozen=True, slots=True)
class Chosen:
    """The notice a new invitation is made with: a template version and what the client should bring."""

    template: Template
    bring: str


async def attach_new(conn: asyncpg.Connection, *, request_id: int, site_id: int, chosen: Chosen, staff_id: int,
                     now: datetime) -> None:
    """Attach the notice to a new invitation, with its `created` evidence and audit row, in the transaction
    that stores the invitation: an invitation never exists without the notice it was made with."""
    template = chosen.template
    if not await attach(conn, request_id=request_id, site_id=site_id, template=template, bring=chosen.bring):
        return
    await invitation_evidence.record(
        conn, request_id=request_id, kind=invitation_evidence.EvidenceKind.created, at=now, staff_id=staff_id,
        channel="staff", detail={"template": template.name, "version": str(template.version),
                                 "kind": template.kind.value})
    await audit.record(conn, site_id=site_id, actor=f"staff:{staff_id}", action="invitation.notice",
                       subject_type="request", subject_id=request_id,
                       details={"template_id": template.id, "version": template.version})


async def anonymise(conn: asyncpg.Connection, request_ids: list[int]) -> None:
    """Clear what the caseworker wrote for {bring} (retention and erasure); the version used stays."""
    if request_ids:
        await conn.execute("UPDATE invitation_notices SET bring = '' WHERE request_id = ANY($1::bigint[])",
                           request_ids)


def fill(text: str, values: Mapping[str, str]) -> str:
    """A template text with its placeholders filled (texts were checked when saved)."""
    return text.format_map({name: values.get(name, _NOTHING) for name in PLACEHOLDERS})


def _values(lang: str, *, tz: str, start: datetime | None, mode: str | None, room: str | None,
            site: sites.Site, caseworker: str, concern: str, bring: str) -> dict[str, str]:
    loc = babel_locale(lang)
    if start is not None:
        local = start.astimezone(ZoneInfo(tz))
        day, time = str(format_date(local, format="full", locale=loc)), str(format_time(local, "short", locale=loc))
    else:
        day, time = translate(lang, _NOT_CHOSEN_DATE), translate(lang, _NOT_CHOSEN_TIME)
    if mode in _PLACE_BY_MODE:
        place = translate(lang, _PLACE_BY_MODE[mode])
    else:
        where = translate(lang, "Room %(room)s", room=room) if room else ""
        place = ", ".join(p for p in (site.name, site.address, where) if p)
    return {"date": day, "time": time, "place": place, "caseworker": caseworker or _NOTHING, "concern": concern,
            "bring": bring.strip() or _NOTHING}


async def notice_for_request(conn: asyncpg.Connection, request_id: int) -> RenderedNotice | None:
    """The notice of an invitation with its placeholders filled, in German and (as help) the client's language.

    Date, time, place and caseworker come from the booked appointment, else from a single proposal (a fixed
    time); with a choice of times still open they say the client chooses. None when the request has no notice.
    """
    row = await conn.fetchrow(
        """
        SELECT n.template_id, n.version, n.bring, r.language, r.site_id, r.concern_id, r.staff_id,
               s.display_name AS request_staff
        FROM invitation_notices n JOIN requests r ON r.id = n.request_id
        LEFT JOIN staff s ON s.id = r.staff_id
        WHERE n.request_id = $1
        """, request_id)
    if row is None:
        return None
    template = await get(conn, row["template_id"], version=row["version"])
    assert template is not None  # the foreign key keeps the version
    site = await sites.site_by_id(conn, row["site_id"])
    labels = await concerns.labels_of(conn, row["concern_id"]) or {}
    appointment = await appointments.latest_for_request(conn, request_id)
    start = mode = room = None
    caseworker = row["request_staff"] or ""
    if appointment is not None and appointment.status is appointments.AppointmentStatus.confirmed:
        start, mode, room, caseworker = appointment.start, appointment.mode, appointment.room, appointment.staff_name
    else:
        offered = await proposals_.list_for_request(conn, request_id)
        if len(offered) == 1:
            start, mode, room = offered[0].start, offered[0].mode.value, offered[0].room
    lang = normalise(row["language"])

    def values(for_lang: str) -> dict[str, str]:
        return _values(for_lang, tz=site.timezone, start=start, mode=mode, room=room, site=site,
                       caseworker=caseworker, concern=concerns.label(labels, for_lang), bring=row["bring"])

    text = template.translations.get(lang) if lang != "de" else None
    return RenderedNotice(kind=template.kind.value, german=fill(template.german, values("de")),
                          translated=fill(text, values(lang)) if text else None, language=lang,
                          template_id=template.id, version=template.version)


async def kind_for_request(conn: asyncpg.Connection, request_id: int) -> str | None:
    """'mandatory' or 'voluntary' for a request sent with a notice, else None (one indexed read)."""
    kind: str | None = await conn.fetchval(
        "SELECT t.kind FROM invitation_notices n JOIN notice_templates t ON t.id = n.template_id "
        "WHERE n.request_id = $1", request_id)
    return kind


def as_text(notice: RenderedNotice) -> str:
    """The notice as plain text (a calendar entry's description): German, then the marked translation."""
    if not notice.translated:
        return notice.german
    return f"{notice.german}\n\n{translate(notice.language, HELP_MARK)}\n\n{notice.translated}"
