"""Concerns (Anliegen) as clients choose them: code, label in their language, pictogram name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from scheduler.i18n import translate


@dataclass(frozen=True, slots=True)
class Concern:
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


async def for_channel(conn: asyncpg.Connection, *, site_id: int, channel: str) -> list[Concern]:
    """The active concerns a channel may offer at a site, in the site's order."""
    rows = await conn.fetch(
        """
        SELECT code, labels, icon, urgent FROM concerns
        WHERE site_id = $1 AND active AND $2 = ANY(channels)
        ORDER BY sort_order, id
        """,
        site_id, channel,
    )
    return [Concern(r["code"], dict(r["labels"]), r["icon"], r["urgent"]) for r in rows]
