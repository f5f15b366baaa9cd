"""Two sites in one database: the second demo office and one object of every kind the routes address.

`second_site(pool)` loads Jobcenter Nordstadt (the `seed-demo --sites 2` office) beside the snapshot's first
site; `every_kind(pool, code)` then fills a site with one object of each kind a route parameter names, with
markers (a client name, phone and reference) that must never show up in another site's pages.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import asyncpg

from scheduler import (
    closures,
    customer_groups,
    displays,
    group_session_seats,
    group_sessions,
    intake,
    rooms,
    teams,
    walk_ins,
    webhooks,
)
from scheduler.policy.rules import Kind
from scheduler.seed_sites import load_second_site, seed_second_site
from scheduler.staff import auth
from tests.factories import SiteFacts, create_appointment, load_site_facts

SECOND_SITE = "nordstadt"
MARKER_NAME = "Zacharias Grenzgänger"  # seeded into the other site only: no page of this site may show it
MARKER_PHONE = "+4915299887766"


@dataclass
class SiteObjects:
    """One object of every kind of a site, by the route parameter that addresses it."""

    site_id: int
    facts: SiteFacts
    ids: dict[str, int] = field(default_factory=dict)        # kind -> id (request, appointment, callback, ...)
    tokens: dict[str, str] = field(default_factory=dict)     # kind -> token (request link, display, seat, feed)
    markers: tuple[str, ...] = ()                            # strings that identify the site's client data


async def second_site(pool: asyncpg.Pool) -> SiteFacts:
    """The second demo office (Jobcenter Nordstadt), loaded through the real seed."""
    await seed_second_site(pool)
    async with pool.acquire() as conn:
        return await load_site_facts(conn, SECOND_SITE)


def second_site_password(username: str) -> str:
    """The demo password of a second-site account (the first site's scheme: one per role)."""
    demo = load_second_site()
    role = next(p["role"] for p in demo["staff"] if p["username"] == username)
    password: str = demo["passwords"][role]
    return password


async def every_kind(pool: asyncpg.Pool, code: str, *, caseworker: str, admin: str, marker_name: str = MARKER_NAME,
                     marker_phone: str = MARKER_PHONE) -> SiteObjects:
    """Fill a site with one object of every kind (requests, appointment, callback, ticket, session, seat, ...)."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        facts = await load_site_facts(conn, code)
    objects = SiteObjects(site_id=facts.site_id, facts=facts)
    concern = next(iter(facts.concerns))
    marked = await intake.submit(pool, intake.Intake(
        site=code, kind=Kind.appointment, channel="web", concern=concern, phone=marker_phone, language="de",
        sms_consent=True, modes=("in_person",), name=marker_name, note=f"Notiz zu {marker_name}"), now=now)
    callback = await intake.submit(pool, intake.Intake(
        site=code, kind=Kind.callback, channel="kiosk", concern=concern, phone=marker_phone, language="de",
        sms_consent=True), now=now)
    objects.ids |= {"request": marked.id, "callback": callback.id}
    objects.tokens |= {"request": marked.link_token, "reference": marked.reference,
                       "callback_reference": callback.reference}
    objects.markers = (marker_name, marker_phone, marked.reference)
    await _group_session(pool, facts, caseworker=caseworker, admin=admin, now=now)
    async with pool.acquire() as conn, conn.transaction():
        await _fill(conn, objects, now=now, caseworker=caseworker, admin=admin)
    return objects


async def _group_session(pool: asyncpg.Pool, facts: SiteFacts, *, caseworker: str, admin: str,
                         now: datetime) -> None:
    """An information session of the site, through the real command, unless the seed made one."""
    async with pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM group_sessions WHERE site_id = $1 LIMIT 1", facts.site_id):
            return
        account = await teams.account_by_username(conn, admin)
        team_id = await conn.fetchval("SELECT team_id FROM staff WHERE id = $1", facts.staff[caseworker])
    assert account is not None
    await group_sessions.create(pool, user=account.user, now=now, new=group_sessions.NewSession(
        team_id=team_id, topic="Infoabend Bewerbung", room="R.10", start=now + timedelta(days=8), minutes=60,
        seats=10, hosts=(facts.staff[caseworker],)))


async def _fill(conn: asyncpg.Connection, objects: SiteObjects, *, now: datetime, caseworker: str,
                admin: str) -> None:
    facts, site_id, ids = objects.facts, objects.site_id, objects.ids
    staff_id, admin_id = facts.staff[caseworker], facts.staff[admin]
    client_id = await conn.fetchval("SELECT client_id FROM requests WHERE id = $1", ids["request"])
    start = datetime.combine(now.date() + timedelta(days=1), time(9), tzinfo=UTC)
    ids["appointment"] = await create_appointment(conn, facts, staff=caseworker, start=start)
    ids["appointment_request"] = await conn.fetchval("SELECT request_id FROM appointments WHERE id = $1",
                                                     ids["appointment"])
    ids["client"] = client_id
    ids["proposal"] = await conn.fetchval("SELECT min(id) FROM proposals WHERE request_id = $1", ids["request"])
    objects.tokens["start"] = (start + timedelta(days=1, hours=1)).isoformat()
    ids["ticket"] = (await walk_ins.insert(conn, site_id=site_id, callback_id=ids["callback"], day=now.date(),
                                           now=now)).id
    ids["closure"] = (await closures.create(conn, site_id=site_id, day=now.date() + timedelta(days=40),
                                            reason="Betriebsausflug", actor="test", today=now.date())).id
    ids["room"] = await rooms.save(conn, site_id=site_id, room_id=None, name=f"R.{secrets.token_hex(2)}",
                                   step_free=True, hearing_loop=False, staff_id=admin_id)
    ids["customer_group"] = await customer_groups.add(conn, site_id=site_id, code=f"g{secrets.token_hex(3)}",
                                                      labels={"de": "Gruppe", "en": "Group"}, staff_id=admin_id)
    display_token = displays.new_token()
    ids["display"] = await displays.register(conn, site_id=site_id, name="Wartebereich", location="EG",
                                             token=display_token, issued_by=admin_id)
    ids["kiosk"] = await conn.fetchval("SELECT min(id) FROM kiosk_devices WHERE site_id = $1", site_id)
    ids["absence"] = await teams.add_absence(conn, site_id=site_id, staff_id=staff_id, start=start + timedelta(days=60),
                                             end=start + timedelta(days=61), reason="Urlaub")
    ids["hours"] = await conn.fetchval("SELECT min(id) FROM working_hours WHERE staff_id = $1", staff_id)
    ids["staff"] = staff_id
    ids["concern"] = next(iter(facts.concerns.values()))
    ids["policy"] = await conn.fetchval("SELECT min(id) FROM policies WHERE site_id = $1", site_id)
    ids["template"] = await conn.fetchval("SELECT min(id) FROM notice_templates WHERE site_id = $1", site_id)
    ids["followup"] = await conn.fetchval(
        "INSERT INTO followups (site_id, cause, appointment_id, request_id, client_id, staff_id, action, rule_id, "
        "status, created_by) VALUES ($1, 'no_show', $2, $3, $4, $5, 'task', 'defaults', 'open', 'test') RETURNING id",
        site_id, ids["appointment"], ids["appointment_request"], client_id, staff_id)
    ids["letter_batch"] = await conn.fetchval(
        "INSERT INTO letter_batches (site_id, letters, printed_by, printed_at) VALUES ($1, 1, $2, $3) RETURNING id",
        site_id, admin_id, now)
    ids["letter"] = await conn.fetchval(
        "INSERT INTO letters (site_id, request_id, client_id, reason, status, batch_id, address_printed, queued_at, "
        "printed_at) VALUES ($1, $2, $3, 'no_mobile', 'printed', $4, $5, $6, $6) RETURNING id",
        site_id, ids["request"], client_id, ids["letter_batch"], f"{objects.markers[0]}, Grenzweg 1", now)
    ids["invitation_batch"] = await conn.fetchval(
        "INSERT INTO invitation_batches (site_id, concern_id, invitation, window_from, window_to, created_by) "
        "VALUES ($1, $2, 'voluntary', $3::date, $3::date + 10, $4) RETURNING id", site_id, ids["concern"],
        now.date() + timedelta(days=3), staff_id)
    await conn.execute(
        "INSERT INTO invitation_batch_rows (batch_id, line, site_id, status, phone, name, problem) "
        "VALUES ($1, 1, $2, 'bad', $3, $4, 'test')", ids["invitation_batch"], site_id, *objects.markers[1::-1])
    session = await conn.fetchval("SELECT min(id) FROM group_sessions WHERE site_id = $1", site_id)
    if session is None:
        raise AssertionError("the site needs a group session (the demo seed creates one)")
    ids["group_session"] = session
    endpoint, _secret = await webhooks.create(conn, site_id=site_id, url="https://cms.nordstadt.example/hooks",
                                              description="Fallakte", event_types=(webhooks.EventType.request_received,),
                                              created_by=admin_id)
    ids["webhook_endpoint"] = endpoint.id
    objects.tokens["webhook_delivery"] = f"msg_{secrets.token_hex(16)}"
    await conn.execute(
        "INSERT INTO webhook_deliveries (id, site_id, endpoint_id, event_type, event_key, payload, status) "
        "VALUES ($1, $2, $3, 'request.received', $4, '{}', 'failed')",
        objects.tokens["webhook_delivery"], site_id, endpoint.id, f"request:{ids['request']}")
    account = await teams.account_by_username(conn, caseworker)
    assert account is not None
    signed = await auth.open_session(conn, account.user, now=now, max_hours=10, details={"method": "test"})
    objects.tokens["session_handle"] = auth.token_hash(signed.token)[:auth.SESSION_HANDLE_CHARS]
    # The first line of the site's rule set (a comment naming the site): another site's rule pages never show it.
    source = await conn.fetchval("SELECT source_yaml FROM policies WHERE id = $1", ids["policy"])
    objects.markers = (*objects.markers, source.splitlines()[0])
    feed = await conn.fetchval("SELECT feed_token FROM staff WHERE id = $1", staff_id)
    # A password-reset link's token is the staff member's own credential; an unknown one stands in for it.
    objects.tokens |= {"display": display_token, "feed": feed, "reset": secrets.token_urlsafe(32)}


async def book_seat(pool: asyncpg.Pool, objects: SiteObjects) -> None:
    """A client's seat in the site's group session (its own transaction, as the web booking has)."""
    booked = await group_session_seats.book_on_web(
        pool, session_id=objects.ids["group_session"], site_id=objects.site_id, phone=objects.markers[1], language="de",
        sms_consent=True, now=datetime.now(UTC))
    objects.ids["seat"] = booked.seat.id
    objects.tokens["seat"] = booked.seat.link_token or ""


