"""Concerns (Anliegen): as clients choose them (code, label in their language, pictogram name), and the
SQL of the `concerns` table."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import asyncpg

from scheduler.errors import ValidationFailed
from scheduler.i18n import N_, normalise, translate

CODE_RE: Final = re.compile(r"[a-z0-9_]{2,40}")  # the CHECK of migration 0001
LABEL_LIMIT: Final = 80
DESCRIPTION_LIMIT: Final = 200
BAD_CODE: Final = N_("Please enter a code of 2 to 40 lowercase letters, digits or “_”.")
BAD_LABEL: Final = N_("Please enter a label of at most 80 characters; the German label is required.")
BAD_DESCRIPTION: Final = N_("Please enter a description of at most 200 characters.")


@dataclass(frozen=True, slots=True)
class ConcernChoice:
    code: str
    labels: Mapping[str, str]
    icon: str
    urgent: bool
    descriptions: Mapping[str, str] = field(default_factory=dict)


def label(labels: Mapping[str, str], lang: str) -> str:
    """The concern's label in lang: the site's own text, else the catalogue's translation of the English one."""
    if labels.get(lang):
        return labels[lang]
    if labels.get("en"):
        return translate(lang, labels["en"])
    return labels["de"]


def description(descriptions: Mapping[str, str], lang: str) -> str:
    """The concern's short description in lang, else in its fallback languages (Leichte Sprache: German, then
    English; others: English), else German; "" when the site wrote none."""
    lang = normalise(lang)
    for candidate in (lang, *(("de",) if lang == "de-simple" else ()), "en", "de"):
        if descriptions.get(candidate):
            return descriptions[candidate]
    return ""


def clean_texts(labels: Mapping[str, str], descriptions: Mapping[str, str],
                languages: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and descriptions in the site's languages, trimmed (empty ones left out); ValidationFailed names
    each wrong one (`label_<lang>`, `description_<lang>`). The German label is required."""
    problems: dict[str, str] = {}
    kept: tuple[dict[str, str], dict[str, str]] = ({}, {})
    for lang in languages:
        for source, kind, limit, message, found in ((labels, "label", LABEL_LIMIT, BAD_LABEL, kept[0]),
                                                   (descriptions, "description", DESCRIPTION_LIMIT,
                                                    BAD_DESCRIPTION, kept[1])):
            text = " ".join(str(source.get(lang) or "").split())
            if len(text) > limit or (kind == "label" and lang == "de" and not text):
                problems[f"{kind}_{lang}"] = message
            elif text:
                found[lang] = text
    if problems:
        raise ValidationFailed(fields=problems)
    return kept


async def add(conn: asyncpg.Connection, *, site_id: int, code: str, labels: Mapping[str, str],
              descriptions: Mapping[str, str] | None = None, minutes: int = 30, urgent: bool = False) -> int | None:
    """Store a new concern (checked texts); None when the site has one with this code already."""
    concern_id: int | None = await conn.fetchval(
        "INSERT INTO concerns (site_id, code, labels, descriptions, default_minutes, urgent) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (site_id, code) DO NOTHING RETURNING id",
        site_id, code, dict(labels), dict(descriptions or {}), minutes, urgent)
    return concern_id


async def texts_of(conn: asyncpg.Connection, concern_id: int, *, site_id: int) -> asyncpg.Record | None:
    """A concern's code, labels and descriptions, if it is the site's."""
    return await conn.fetchrow("SELECT id, code, labels, descriptions FROM concerns WHERE id = $1 AND site_id = $2",
                               concern_id, site_id)


async def set_texts(conn: asyncpg.Connection, concern_id: int, *, site_id: int, labels: Mapping[str, str],
                    descriptions: Mapping[str, str]) -> bool:
    """Replace a concern's labels and descriptions (checked texts); False when the site has no such concern."""
    found = await conn.fetchval("UPDATE concerns SET labels = $3, descriptions = $4 WHERE id = $1 AND site_id = $2 "
                                "RETURNING id", concern_id, site_id, dict(labels), dict(descriptions))
    return found is not None


async def apply(conn: asyncpg.Connection, *, site_id: int, code: str, labels: Mapping[str, str],
                descriptions: Mapping[str, str], minutes: int, urgent: bool) -> str:
    """Make a concern as a site file describes it: "added", "changed" or "unchanged" (no write at all)."""
    added = await conn.fetchval(
        """
        INSERT INTO concerns AS c (site_id, code, labels, descriptions, default_minutes, urgent)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (site_id, code) DO UPDATE SET labels = EXCLUDED.labels, descriptions = EXCLUDED.descriptions,
            default_minutes = EXCLUDED.default_minutes, urgent = EXCLUDED.urgent
        WHERE (c.labels, c.descriptions, c.default_minutes, c.urgent)
              IS DISTINCT FROM (EXCLUDED.labels, EXCLUDED.descriptions, EXCLUDED.default_minutes, EXCLUDED.urgent)
        RETURNING xmax = 0
        """, site_id, code, dict(labels), dict(descriptions), minutes, urgent)
    return "unchanged" if added is None else "added" if added else "changed"


async def for_channel(conn: asyncpg.Connection, *, site_id: int, channel: str) -> list[ConcernChoice]:
    """The active concerns a channel may offer at a site, in the site's order."""
    rows = await conn.fetch(
        """
        SELECT code, labels, icon, urgent, descriptions FROM concerns
        WHERE site_id = $1 AND active AND $2 = ANY(channels)
        ORDER BY sort_order, id
        """,
        site_id, channel,
    )
    return [ConcernChoice(r["code"], dict(r["labels"]), r["icon"], r["urgent"], dict(r["descriptions"])) for r in rows]


async def is_urgent(conn: asyncpg.Connection, concern_id: int) -> bool:
    """Whether a concern is marked urgent."""
    return bool(await conn.fetchval("SELECT urgent FROM concerns WHERE id = $1", concern_id))


async def code_of(conn: asyncpg.Connection, concern_id: int) -> str:
    """A concern's code."""
    code: str = await conn.fetchval("SELECT code FROM concerns WHERE id = $1", concern_id)
    return code


async def labels_of(conn: asyncpg.Connection, concern_id: int) -> Mapping[str, str] | None:
    """A concern's labels by language."""
    labels: Mapping[str, str] | None = await conn.fetchval("SELECT labels FROM concerns WHERE id = $1", concern_id)
    return labels


async def list_for_site(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    """Every concern of a site, active or not, in the site's order (code and labels only)."""
    return list(await conn.fetch("SELECT code, labels FROM concerns WHERE site_id = $1 ORDER BY sort_order, id",
                                 site_id))


async def list_for_admin(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    """Every concern of a site with its settings, in the site's order."""
    return list(await conn.fetch(
        "SELECT id, code, labels, descriptions, default_minutes, urgent, active, channels FROM concerns "
        "WHERE site_id = $1 "
        "ORDER BY sort_order, id", site_id))


async def set_active(conn: asyncpg.Connection, concern_id: int, *, site_id: int, active: bool) -> bool:
    """Offer a concern again or stop offering it; False when the site has no such concern."""
    found = await conn.fetchval("UPDATE concerns SET active = $3 WHERE id = $1 AND site_id = $2 RETURNING id",
                                concern_id, site_id, active)
    return found is not None
