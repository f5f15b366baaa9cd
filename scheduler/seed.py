"""Demo data: one Jobcenter site with teams, caseworkers, concerns, clients, kiosks and rules."""

from __future__ import annotations

import hashlib
import logging
from datetime import date, time
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from argon2 import PasswordHasher

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent / "demo"


def kiosk_token_hash(token: str) -> str:
    """How kiosk device tokens are stored: only their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_demo() -> dict[str, Any]:
    """The demo site description from demo/site.yaml."""
    data: dict[str, Any] = yaml.safe_load((DEMO_DIR / "site.yaml").read_text(encoding="utf-8"))
    return data


async def seed_demo(pool: asyncpg.Pool, demo: dict[str, Any] | None = None) -> bool:
    """Load the demo site (or another site described the same way) unless it exists; True when loaded."""
    demo = demo or load_demo()
    hasher = PasswordHasher()
    hashes = {role: hasher.hash(pw) for role, pw in demo["passwords"].items()}  # hash outside the transaction
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT 1 FROM sites WHERE code = $1", demo["site"]["code"]):
            return False
        site_id = await _insert_site(conn, demo["site"])
        teams = await _insert_teams(conn, site_id, demo["teams"])
        staff = await _insert_staff(conn, site_id, teams, demo["staff"], hashes, demo["working_hours"])
        admin = next(p["username"] for p in demo["staff"] if p["role"] == "admin")
        await _insert_concerns(conn, site_id, demo["concerns"])
        await _insert_clients(conn, site_id, staff, demo["clients"])
        await _insert_customer_groups(conn, site_id, staff[admin], demo.get("customer_groups", []))
        await _insert_kiosks(conn, site_id, staff[admin], demo["kiosks"])
        await _insert_site_policy(conn, site_id, staff[admin], demo.get("policy", "policy-site.yaml"))
        await insert_notice_templates(conn, site_id, staff[admin])
        await conn.execute(
            "INSERT INTO audit_events (site_id, actor, action, subject_type, subject_id) "
            "VALUES ($1, 'system', 'seed-demo', 'site', $1)", site_id,
        )
    await _submit_demo_requests(pool, demo)
    await create_demo_group_sessions(pool, demo)
    log.info("demo data loaded", extra={"site": demo["site"]["code"]})
    return True


async def _submit_demo_requests(pool: asyncpg.Pool, demo: dict[str, Any]) -> None:
    """A few requests and callbacks through the real intake, so that the inboxes have something in them."""
    from datetime import UTC, datetime

    from scheduler import intake
    from scheduler.policy.rules import Kind

    now = datetime.now(UTC)
    for item in demo.get("requests", []):
        await intake.submit(pool, intake.Intake(
            site=demo["site"]["code"], kind=Kind(item["kind"]), channel=item["channel"], concern=item["concern"],
            phone=item["phone"], language=item["language"], modes=tuple(item.get("modes", ())),
            windows=item.get("windows", {}), note=item.get("note", ""), sms_consent=True,
            server_key=f"demo-{item['phone']}-{item['concern']}"), now=now)


async def create_demo_group_sessions(pool: asyncpg.Pool, demo: dict[str, Any]) -> None:
    """Upcoming information sessions, created by the admin through the real command (issue 17)."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from scheduler import group_sessions, sites, teams

    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        site = await sites.site_by_code(conn, demo["site"]["code"])
        assert site is not None
        admin = await teams.account_by_username(conn, next(p["username"] for p in demo["staff"]
                                                            if p["role"] == "admin"))
        team_ids = {r["code"]: r["id"] for r in await teams.list_with_members(conn, site.id)}
        staff_ids = {r["username"]: r["id"] for r in await teams.list_staff(conn, site.id)}
    assert admin is not None
    zone = ZoneInfo(site.timezone)
    for item in demo.get("group_sessions", []):
        day = now.astimezone(zone).date() + timedelta(days=item["in_days"])
        start = datetime.combine(day, time.fromisoformat(item["at"]), tzinfo=zone)
        await group_sessions.create(pool, user=admin.user, now=now, new=group_sessions.NewSession(
            team_id=team_ids[item["team"]], topic=item["topic"], room=item["room"], start=start,
            minutes=item["minutes"], seats=item["seats"], hosts=tuple(staff_ids[h] for h in item["hosts"])))


async def _insert_site(conn: asyncpg.Connection, site: dict[str, Any]) -> int:
    site_id: int = await conn.fetchval(
        """
        INSERT INTO sites (code, name, timezone, address, holiday_region, languages, sms_sender,
                           opening_hours, retention_days)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id
        """,
        site["code"], site["name"], site["timezone"], site["address"], site["holiday_region"],
        site["languages"], site["sms_sender"], site["opening_hours"], site["retention_days"],
    )
    if site.get("video_url_template"):  # the demo's video appointments get Jitsi rooms
        from scheduler import sites, video_rooms
        await sites.set_video_url_template(conn, site_id, video_rooms.check_template(site["video_url_template"]))
    return site_id


async def _insert_teams(conn: asyncpg.Connection, site_id: int, teams: list[dict[str, str]]) -> dict[str, int]:
    ids = {}
    for team in teams:
        ids[team["code"]] = await conn.fetchval(
            "INSERT INTO teams (site_id, code, name) VALUES ($1, $2, $3) RETURNING id",
            site_id, team["code"], team["name"],
        )
    return ids


async def _insert_staff(conn: asyncpg.Connection, site_id: int, teams: dict[str, int],
                        people: list[dict[str, Any]], hashes: dict[str, str],
                        hours: list[dict[str, Any]]) -> dict[str, int]:
    ids = {}
    for person in people:
        staff_id = await conn.fetchval(
            """
            INSERT INTO staff (site_id, team_id, username, display_name, role, languages, password_hash, email)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
            """,
            site_id, teams[person["team"]], person["username"], person["name"], person["role"],
            person["languages"], hashes[person["role"]], f"{person['username']}@jobcenter.example",
        )
        ids[person["username"]] = staff_id
        if person["role"] == "admin":
            continue
        for block in hours:
            for weekday in block["weekdays"]:
                await conn.execute(
                    """
                    INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends, room, modes)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    site_id, staff_id, weekday, time.fromisoformat(block["from"]),
                    time.fromisoformat(block["to"]), person.get("room"), block["modes"],
                )
    return ids


async def _insert_concerns(conn: asyncpg.Connection, site_id: int, concerns: list[dict[str, Any]]) -> None:
    for order, concern in enumerate(concerns):
        await conn.execute(
            """
            INSERT INTO concerns (site_id, code, labels, default_minutes, modes, urgent, icon, sort_order)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            site_id, concern["code"], concern["labels"], concern["minutes"],
            concern.get("modes", ["in_person", "phone", "video"]), concern.get("urgent", False),
            concern["icon"], order * 10,
        )


async def _insert_clients(conn: asyncpg.Connection, site_id: int, staff: dict[str, int],
                          clients: list[dict[str, Any]]) -> None:
    for client in clients:
        birth = client.get("birth_date")
        await conn.execute(
            """
            INSERT INTO clients (site_id, phone, name, language, sms_consent, customer_number,
                                 assigned_staff_id, birth_date, language_verified)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true)
            """,
            site_id, client["phone"], client["name"], client["language"], client["sms_consent"],
            client.get("customer_number"), staff.get(client.get("assigned", "")),
            birth if isinstance(birth, date) or birth is None else date.fromisoformat(birth),
        )


async def _insert_customer_groups(conn: asyncpg.Connection, site_id: int, admin_id: int,
                                  groups: list[dict[str, Any]]) -> None:
    from scheduler import customer_groups

    members: dict[str, list[int]] = {}
    for group in groups:
        group_id = await customer_groups.add(conn, site_id=site_id, code=group["code"],
                                             labels={"de": group["de"], "en": group["en"]}, staff_id=admin_id)
        for phone in group.get("members", []):
            members.setdefault(phone, []).append(group_id)
    for phone, group_ids in members.items():
        client_id = await conn.fetchval("SELECT id FROM clients WHERE site_id = $1 AND phone = $2", site_id, phone)
        await customer_groups.set_for_client(conn, site_id=site_id, client_id=client_id, group_ids=group_ids,
                                             staff_id=admin_id)


async def _insert_kiosks(conn: asyncpg.Connection, site_id: int, admin_id: int,
                         kiosks: list[dict[str, str]]) -> None:
    for kiosk in kiosks:
        await conn.execute(
            "INSERT INTO kiosk_devices (site_id, name, location, token_hash, issued_by) VALUES ($1, $2, $3, $4, $5)",
            site_id, kiosk["name"], kiosk["location"], kiosk_token_hash(kiosk["token"]), admin_id,
        )


async def insert_notice_templates(conn: asyncpg.Connection, site_id: int, admin_id: int) -> None:
    """The demo's invitation notice templates (a mandatory one with translations, a voluntary one)."""
    from scheduler import notice_templates

    for item in yaml.safe_load((DEMO_DIR / "notice-templates.yaml").read_text(encoding="utf-8")):
        await notice_templates.save(conn, site_id=site_id, template_id=None, name=item["name"], kind=item["kind"],
                                    german=item["german"], translations=item.get("translations", {}),
                                    staff_id=admin_id, actor="system")


async def _insert_site_policy(conn: asyncpg.Connection, site_id: int, admin_id: int, file: str) -> None:
    source = (DEMO_DIR / file).read_text(encoding="utf-8")
    await conn.execute(
        """
        INSERT INTO policies (site_id, scope, version, status, rules, source_yaml, owner_id,
                              activated_at, activated_by)
        VALUES ($1, 'site', 1, 'active', $2, $3, $4, now(), $4)
        """,
        site_id, yaml.safe_load(source), source, admin_id,
    )
