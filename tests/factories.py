"""Factory functions for tests: defaults for everything, keyword overrides."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from asyncpg.types import Range


@dataclass(frozen=True)
class SiteFacts:
    """Ids of the demo site's reference data, by code or username."""

    site_id: int
    teams: dict[str, int]
    staff: dict[str, int]
    concerns: dict[str, int]
    clients: dict[str, int]


async def load_site_facts(conn: asyncpg.Connection, code: str = "musterstadt") -> SiteFacts:
    site_id = await conn.fetchval("SELECT id FROM sites WHERE code = $1", code)
    teams = {r["code"]: r["id"] for r in await conn.fetch("SELECT code, id FROM teams WHERE site_id = $1", site_id)}
    staff = {r["username"]: r["id"] for r in await conn.fetch("SELECT username, id FROM staff WHERE site_id = $1", site_id)}
    concerns = {r["code"]: r["id"] for r in await conn.fetch("SELECT code, id FROM concerns WHERE site_id = $1", site_id)}
    clients = {r["phone"]: r["id"] for r in await conn.fetch("SELECT phone, id FROM clients WHERE site_id = $1", site_id)}
    return SiteFacts(site_id, teams, staff, concerns, clients)


async def create_client(conn: asyncpg.Connection, site: SiteFacts, *, phone: str | None = None,
                        language: str = "de", sms_consent: bool = True, name: str | None = None) -> int:
    phone = phone or f"+49151{secrets.randbelow(10**8):08d}"
    client_id: int = await conn.fetchval(
        "INSERT INTO clients (site_id, phone, language, sms_consent, name) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        site.site_id, phone, language, sms_consent, name,
    )
    return client_id


async def create_request(conn: asyncpg.Connection, site: SiteFacts, *, client_id: int | None = None,
                         concern: str = "general", channel: str = "web", status: str = "received",
                         staff: str | None = None, team: str | None = None, priority: int = 10,
                         created_at: datetime | None = None, sms_consent: bool = True) -> int:
    client_id = client_id or await create_client(conn, site)
    request_id: int = await conn.fetchval(
        """
        INSERT INTO requests (site_id, client_id, concern_id, channel, status, reference, link_token,
                              staff_id, team_id, priority, created_at, sms_consent)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()), $12) RETURNING id
        """,
        site.site_id, client_id, site.concerns[concern], channel, status,
        secrets.token_hex(5).upper(), secrets.token_urlsafe(24),
        site.staff.get(staff or ""), site.teams.get(team or ""), priority, created_at, sms_consent,
    )
    return request_id


async def create_appointment(conn: asyncpg.Connection, site: SiteFacts, *, staff: str = "cw.meyer",
                             start: datetime, minutes: int = 30, status: str = "confirmed",
                             request_id: int | None = None, mode: str = "in_person") -> int:
    request_id = request_id or await create_request(conn, site, status="scheduled", staff=staff)
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", request_id)
    appointment_id: int = await conn.fetchval(
        """
        INSERT INTO appointments (site_id, request_id, client_id, staff_id, during, mode, status, ical_uid, created_by)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'test') RETURNING id
        """,
        site.site_id, request_id, client_id, site.staff[staff],
        Range(start, start + timedelta(minutes=minutes)), mode, status, f"{secrets.token_hex(8)}@test",
    )
    return appointment_id
