"""Admin pages: staff (active flag), teams, concerns, working hours and absences, kiosk device tokens."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
from aiohttp import web
from asyncpg.types import Range

from scheduler import audit, availability
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_
from scheduler.keys import POOL
from scheduler.seed import kiosk_token_hash
from scheduler.staff import auth, ui
from scheduler.staff.auth import Role, StaffUser

routes = web.RouteTableDef()
PERSON = r"/staff/admin/staff/{staff_id:\d{1,18}}"
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday"))
MODES = ("in_person", "phone", "video")


async def _admin(request: web.Request) -> tuple[StaffUser, Any]:
    user = await auth.require_staff(request, Role.admin)
    return user, await request.post()


async def _own_staff(conn: asyncpg.Connection, user: StaffUser, staff_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT id, site_id, username, display_name, role, team_id, active FROM staff WHERE id = $1", staff_id)
    if row is None or row["site_id"] != user.site_id:
        raise NotFound()
    return row


# ---- staff ---------------------------------------------------------------------------------------

@routes.get("/staff/admin/staff", name="staff-admin-staff")
@ui.pages
async def staff_list(request: web.Request) -> web.Response:
    """Every staff member of the office with role, team and whether they may sign in."""
    user = await ui.page_user(request, Role.admin)
    async with request.app[POOL].acquire() as conn:
        people = await conn.fetch(
            """
            SELECT s.id, s.username, s.display_name, s.role, s.active, s.languages, t.name AS team_name
            FROM staff s LEFT JOIN teams t ON t.id = s.team_id WHERE s.site_id = $1 ORDER BY t.name, s.display_name
            """, user.site_id)
    return ui.render(request, "admin_staff.html", {"people": people,
                                                   "labels": ui.labels(ui.language(request, user))})


async def set_active(pool: asyncpg.Pool, *, user: StaffUser, staff_id: int, active: bool) -> None:
    """Allow or stop a staff member's sign-in; stopping also ends their open sessions."""
    if staff_id == user.id and not active:
        raise ValidationFailed(N_("You cannot deactivate yourself."))
    async with pool.acquire() as conn, conn.transaction():
        await _own_staff(conn, user, staff_id)
        await conn.execute("UPDATE staff SET active = $2 WHERE id = $1", staff_id, active)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="staff.active",
                           subject_type="staff", subject_id=staff_id, details={"active": active})
    if not active:
        await auth.revoke_all(pool, staff_id, actor=user.actor)


@routes.post(PERSON + "/active", name="staff-admin-staff-active")
@ui.pages
async def staff_active(request: web.Request) -> web.Response:
    """Activate or deactivate a staff member."""
    user, form = await _admin(request)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    active = ui.text(form, "active") == "true"
    return await ui.perform(request, user, ui.url(request, "staff-admin-staff"),
                            lambda: set_active(request.app[POOL], user=user, staff_id=staff_id, active=active),
                            success=N_("Saved."))


# ---- working hours and absences --------------------------------------------------------------------

@routes.get(PERSON, name="staff-admin-person")
@ui.pages
async def person(request: web.Request) -> web.Response:
    """A caseworker's working hours and absences."""
    user = await ui.page_user(request, Role.admin)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    async with request.app[POOL].acquire() as conn:
        who = await _own_staff(conn, user, staff_id)
        site = await availability.site_by_id(conn, user.site_id)
        hours = await conn.fetch(
            "SELECT id, weekday, starts, ends, room, modes FROM working_hours WHERE staff_id = $1 "
            "ORDER BY weekday, starts", staff_id)
        absences = await conn.fetch(
            "SELECT id, lower(during) AS starts, upper(during) AS ends, reason FROM absences "
            "WHERE staff_id = $1 AND upper(during) > now() - interval '30 days' ORDER BY lower(during)", staff_id)
    return ui.render(request, "admin_person.html", {
        "who": who, "hours": hours, "absences": absences, "weekdays": WEEKDAYS, "modes": MODES, "tz": site.timezone,
        "labels": ui.labels(ui.language(request, user)),
    })


def _time(raw: str, name: str) -> time:
    try:
        return time.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(fields={name: N_("Please enter a time like 08:30.")}) from None


async def add_hours(pool: asyncpg.Pool, *, user: StaffUser, staff_id: int, weekday: int, starts: time, ends: time,
                    room: str | None, modes: list[str]) -> None:
    """Add a block of working hours; overlapping blocks are refused by the database."""
    if not 0 <= weekday <= 6 or starts >= ends or not modes or not set(modes) <= set(MODES):
        raise ValidationFailed(N_("Please check weekday, times and ways of talking."))
    try:
        async with pool.acquire() as conn, conn.transaction():
            await _own_staff(conn, user, staff_id)
            await conn.execute(
                "INSERT INTO working_hours (site_id, staff_id, weekday, starts, ends, room, modes) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)", user.site_id, staff_id, weekday, starts, ends, room, modes)
            await audit.record(conn, site_id=user.site_id, actor=user.actor, action="working_hours.add",
                               subject_type="staff", subject_id=staff_id,
                               details={"weekday": weekday, "from": str(starts), "to": str(ends)})
    except asyncpg.ExclusionViolationError:
        raise ValidationFailed(N_("These hours overlap hours already entered for that day.")) from None


@routes.post(PERSON + "/hours", name="staff-admin-hours-add")
@ui.pages
async def hours_add(request: web.Request) -> web.Response:
    """Add working hours."""
    user, form = await _admin(request)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    back = ui.url(request, "staff-admin-person", staff_id=staff_id)

    async def run() -> None:
        weekday = ui.optional_int(ui.text(form, "weekday", 2) or None, "weekday")
        await add_hours(request.app[POOL], user=user, staff_id=staff_id, weekday=(weekday or 1) - 1,
                        starts=_time(ui.text(form, "starts", 8), "starts"),
                        ends=_time(ui.text(form, "ends", 8), "ends"),
                        room=ui.text(form, "room", 40).strip() or None,
                        modes=[m for m in form.getall("modes", []) if isinstance(m, str)])

    return await ui.perform(request, user, back, run, success=N_("Saved."))


async def _delete_row(pool: asyncpg.Pool, *, user: StaffUser, table: str, row_id: int, staff_id: int) -> None:
    assert table in ("working_hours", "absences")
    async with pool.acquire() as conn, conn.transaction():
        deleted = await conn.fetchval(
            f"DELETE FROM {table} WHERE id = $1 AND staff_id = $2 AND site_id = $3 RETURNING id",
            row_id, staff_id, user.site_id)
        if deleted is None:
            raise NotFound()
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action=f"{table}.delete",
                           subject_type="staff", subject_id=staff_id, details={"id": row_id})


@routes.post(PERSON + "/hours/{row_id:\\d{1,18}}/delete", name="staff-admin-hours-delete")
@ui.pages
async def hours_delete(request: web.Request) -> web.Response:
    """Remove a block of working hours."""
    user, _form = await _admin(request)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    row_id = ui.int_param(request.match_info["row_id"], "row_id")
    return await ui.perform(request, user, ui.url(request, "staff-admin-person", staff_id=staff_id),
                            lambda: _delete_row(request.app[POOL], user=user, table="working_hours", row_id=row_id,
                                                staff_id=staff_id), success=N_("Removed."))


async def add_absence(pool: asyncpg.Pool, *, user: StaffUser, staff_id: int, first: str, last: str,
                      reason: str) -> None:
    """Record an absence over whole local days (first to last, inclusive)."""
    async with pool.acquire() as conn, conn.transaction():
        await _own_staff(conn, user, staff_id)
        site = await availability.site_by_id(conn, user.site_id)
        try:
            start_day, end_day = (datetime.strptime(first, "%Y-%m-%d").date(),
                                  datetime.strptime(last or first, "%Y-%m-%d").date())
        except ValueError:
            raise ValidationFailed(fields={"first": N_("Please enter a date like 2026-12-01.")}) from None
        if end_day < start_day:
            raise ValidationFailed(fields={"last": N_("The last day must not be before the first.")})
        start = site.calendar().day_start(start_day)
        end = site.calendar().day_start(end_day + timedelta(days=1))
        await conn.execute("INSERT INTO absences (site_id, staff_id, during, reason) VALUES ($1, $2, $3, $4)",
                           user.site_id, staff_id, Range(start, end), reason)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="absence.add", subject_type="staff",
                           subject_id=staff_id, details={"from": first, "to": last or first})


@routes.post(PERSON + "/absences", name="staff-admin-absence-add")
@ui.pages
async def absence_add(request: web.Request) -> web.Response:
    """Add an absence."""
    user, form = await _admin(request)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    return await ui.perform(request, user, ui.url(request, "staff-admin-person", staff_id=staff_id),
                            lambda: add_absence(request.app[POOL], user=user, staff_id=staff_id,
                                                first=ui.text(form, "first", 10), last=ui.text(form, "last", 10),
                                                reason=ui.text(form, "reason", 200)), success=N_("Saved."))


@routes.post(PERSON + "/absences/{row_id:\\d{1,18}}/delete", name="staff-admin-absence-delete")
@ui.pages
async def absence_delete(request: web.Request) -> web.Response:
    """Remove an absence."""
    user, _form = await _admin(request)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    row_id = ui.int_param(request.match_info["row_id"], "row_id")
    return await ui.perform(request, user, ui.url(request, "staff-admin-person", staff_id=staff_id),
                            lambda: _delete_row(request.app[POOL], user=user, table="absences", row_id=row_id,
                                                staff_id=staff_id), success=N_("Removed."))


# ---- teams and concerns -------------------------------------------------------------------------------

@routes.get("/staff/admin/organisation", name="staff-admin-organisation")
@ui.pages
async def organisation(request: web.Request) -> web.Response:
    """Teams and concerns of the office."""
    user = await ui.page_user(request, Role.admin)
    async with request.app[POOL].acquire() as conn:
        teams = await conn.fetch(
            "SELECT t.id, t.code, t.name, count(s.id) AS members FROM teams t LEFT JOIN staff s ON s.team_id = t.id "
            "WHERE t.site_id = $1 GROUP BY t.id ORDER BY t.name", user.site_id)
        concerns = await conn.fetch(
            "SELECT id, code, labels, default_minutes, urgent, active, channels FROM concerns WHERE site_id = $1 "
            "ORDER BY sort_order, id", user.site_id)
    lang = ui.language(request, user)
    return ui.render(request, "admin_organisation.html", {
        "teams": teams, "concerns": concerns, "labels": ui.labels(lang),
        "concern_label": lambda lbl: ui.concern_label(lbl, lang),
    })


async def add_team(pool: asyncpg.Pool, *, user: StaffUser, code: str, name: str) -> None:
    """Create a team."""
    if not re.fullmatch(r"[a-z0-9_-]{1,40}", code) or not name.strip():
        raise ValidationFailed(N_("A team needs a short code (lower-case letters, digits, - or _) and a name."))
    try:
        async with pool.acquire() as conn, conn.transaction():
            team_id = await conn.fetchval("INSERT INTO teams (site_id, code, name) VALUES ($1, $2, $3) RETURNING id",
                                          user.site_id, code, name.strip())
            await audit.record(conn, site_id=user.site_id, actor=user.actor, action="team.add", subject_type="team",
                               subject_id=team_id, details={"code": code})
    except asyncpg.UniqueViolationError:
        raise ValidationFailed(N_("This code is already used.")) from None


@routes.post("/staff/admin/teams", name="staff-admin-team-add")
@ui.pages
async def team_add(request: web.Request) -> web.Response:
    """Add a team."""
    user, form = await _admin(request)
    return await ui.perform(request, user, ui.url(request, "staff-admin-organisation"),
                            lambda: add_team(request.app[POOL], user=user, code=ui.text(form, "code", 40).strip(),
                                             name=ui.text(form, "name", 100)), success=N_("Saved."))


async def set_concern_active(pool: asyncpg.Pool, *, user: StaffUser, concern_id: int, active: bool) -> None:
    """Offer a concern to clients again, or stop offering it."""
    async with pool.acquire() as conn, conn.transaction():
        found = await conn.fetchval("UPDATE concerns SET active = $3 WHERE id = $1 AND site_id = $2 RETURNING id",
                                    concern_id, user.site_id, active)
        if found is None:
            raise NotFound()
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="concern.active",
                           subject_type="concern", subject_id=concern_id, details={"active": active})


@routes.post(r"/staff/admin/concerns/{concern_id:\d{1,18}}/active", name="staff-admin-concern-active")
@ui.pages
async def concern_active(request: web.Request) -> web.Response:
    """Activate or deactivate a concern."""
    user, form = await _admin(request)
    concern_id = ui.int_param(request.match_info["concern_id"], "concern_id")
    return await ui.perform(request, user, ui.url(request, "staff-admin-organisation"),
                            lambda: set_concern_active(request.app[POOL], user=user, concern_id=concern_id,
                                                       active=ui.text(form, "active") == "true"), success=N_("Saved."))


# ---- kiosks -----------------------------------------------------------------------------------------------

async def _kiosks(conn: asyncpg.Connection, site_id: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        """
        SELECT k.id, k.name, k.location, k.issued_at, k.revoked_at, k.last_seen_at, s.display_name AS issued_by
        FROM kiosk_devices k LEFT JOIN staff s ON s.id = k.issued_by WHERE k.site_id = $1 ORDER BY k.id
        """, site_id))


@routes.get("/staff/admin/kiosks", name="staff-admin-kiosks")
@ui.pages
async def kiosks(request: web.Request) -> web.Response:
    """Kiosk devices of the office."""
    user = await ui.page_user(request, Role.admin)
    async with request.app[POOL].acquire() as conn:
        devices = await _kiosks(conn, user.site_id)
        site = await availability.site_by_id(conn, user.site_id)
    return ui.render(request, "admin_kiosks.html", {"devices": devices, "new_token": None, "tz": site.timezone})


async def issue_kiosk_token(pool: asyncpg.Pool, *, user: StaffUser, name: str, location: str) -> tuple[int, str]:
    """Register a kiosk device; returns its token, which is stored only as a SHA-256 and shown once."""
    if not name.strip():
        raise ValidationFailed(fields={"name": N_("Please give the device a name.")})
    token = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        device_id: int = await conn.fetchval(
            "INSERT INTO kiosk_devices (site_id, name, location, token_hash, issued_by) VALUES ($1, $2, $3, $4, $5) "
            "RETURNING id", user.site_id, name.strip(), location.strip(), kiosk_token_hash(token), user.id)
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="kiosk.issue", subject_type="kiosk",
                           subject_id=device_id, details={"name": name.strip()})
    return device_id, token


@routes.post("/staff/admin/kiosks", name="staff-admin-kiosk-issue")
@ui.pages
async def kiosk_issue(request: web.Request) -> web.Response:
    """Issue a device token and show it this once (it is never stored in clear, so it is not redirected)."""
    user, form = await _admin(request)
    lang = ui.language(request, user)
    try:
        device_id, token = await issue_kiosk_token(request.app[POOL], user=user, name=ui.text(form, "name", 100),
                                                   location=ui.text(form, "location", 100))
    except ValidationFailed as e:
        return ui.see_other(ui.url(request, "staff-admin-kiosks"), flash=("error", ui.error_text(lang, e)))
    async with request.app[POOL].acquire() as conn:
        devices = await _kiosks(conn, user.site_id)
        site = await availability.site_by_id(conn, user.site_id)
    return ui.render(request, "admin_kiosks.html", {"devices": devices, "new_token": token, "new_id": device_id,
                                                    "tz": site.timezone}, status=201)


async def revoke_kiosk(pool: asyncpg.Pool, *, user: StaffUser, device_id: int) -> None:
    """Revoke a kiosk device's token; the kiosk is refused from its next request on."""
    async with pool.acquire() as conn, conn.transaction():
        found = await conn.fetchval(
            "UPDATE kiosk_devices SET revoked_at = $3 WHERE id = $1 AND site_id = $2 AND revoked_at IS NULL "
            "RETURNING id", device_id, user.site_id, datetime.now(UTC))
        if found is None:
            raise NotFound()
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="kiosk.revoke", subject_type="kiosk",
                           subject_id=device_id)


@routes.post(r"/staff/admin/kiosks/{device_id:\d{1,18}}/revoke", name="staff-admin-kiosk-revoke")
@ui.pages
async def kiosk_revoke(request: web.Request) -> web.Response:
    """Revoke a kiosk device."""
    user, _form = await _admin(request)
    device_id = ui.int_param(request.match_info["device_id"], "device_id")
    return await ui.perform(request, user, ui.url(request, "staff-admin-kiosks"),
                            lambda: revoke_kiosk(request.app[POOL], user=user, device_id=device_id),
                            success=N_("The device can no longer be used."))
