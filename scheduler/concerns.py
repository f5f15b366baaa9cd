"""Concerns (Anliegen): as clients choose them (code, label in their language, pictogram name), and the
SQL of the `concerns` table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from scheduler.i18n import translate


@dataclass(frozen=True, slots=True)
class ConcernChoice:
    code: str
    labels: Mapping[str, str]
    icon: str
    urgent: bool


def label(labels: Mapping[str, str], lang: str) -> str:
    """The concern's label in lang: the site's own text, else the catalogue's translation of the English one."""
    if labels.get(lang):
        return labels[lang]
    if labels.get("en"):
        return translate(lang, labels["en"])
    return labels["de"]


async def for_channel(conn: asyncpg.Connection, *, site_id: int, channel: str) -> list[ConcernChoice]:
    """The active concerns a channel may offer at a site, in the site's order."""
    rows = await conn.fetch(
        """
        SELECT code, labels, icon, urgent FROM concerns
        WHERE site_id = $1 AND active AND $2 = ANY(channels)
        ORDER BY sort_order, id
        """,
        site_id, channel,
    )
    return [ConcernChoice(r["code"], dict(r["labels"]), r["icon"], r["urgent"]) for r in rows]


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
        "SELECT id, code, labels, default_minutes, urgent, active, channels FROM concerns WHERE site_id = $1 "
        "ORDER BY sort_order, id", site_id))


async def set_active(conn: asyncpg.Connection, concern_id: int, *, site_id: int, active: bool) -> bool:
    """Offer a concern again or stop offering it; False when the site has no such concern."""
    found = await conn.fetchval("UPDATE concerns SET active = $3 WHERE id = $1 AND site_id = $2 RETURNING id",
                                concern_id, site_id, active)
    return found is not None
