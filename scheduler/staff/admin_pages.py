"""Admin pages: staff (active flag), teams, concerns, working hours and absences, kiosk device tokens."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from scheduler import appointments, audit, concerns, kiosks, sites, teams
from scheduler.errors import NotFound, ValidationFailed
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import Role, StaffUser
from scheduler.staff import auth, ui

routes = web.RouteTableDef()
PERSON = r"/staff/admin/staff/{staff_id:\d{1,18}}"
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday"))
MODES = ("in_person", "phone", "video")


async def _admin(request: web.Request) -> tuple[StaffUser, Any]:
    user = await auth.require_staff(request, Role.admin)
    return user, await request.post()


async def _own_staff(conn: asyncpg.Connection, user: StaffUser, staff_id: int) -> asyncpg.Record:
    row = await teams.get_staff(conn, staff_id)
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
        people = await teams.list_staff(conn, user.site_id)
    return ui.render(request, "admin_staff.html", {"people": people,
                                                   "labels": ui.labels(ui.language(request, user))})


async def set_active(pool: asyncpg.Pool, *, user: StaffUser, staff_id: int, active: bool) -> None:
    """Allow or stop a staff member's sign-in; stopping also ends their open sessions."""
    if staff_id == user.id and not active:
        raise ValidationFailed(N_("You cannot deactivate yourself."))
    async with pool.acquire() as conn, conn.transaction():
        await _own_staff(conn, user, staff_id)
        await teams.set_active(conn, staff_id, active=active)
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


SSO_MODES = {"off": None, "username": "username", "subject": "subject"}
SUBJECT_NEEDED = N_("Please enter the subject (sub) of the single sign-on identity, at most 255 characters.")


async def set_sso(pool: asyncpg.Pool, *, user: StaffUser, staff_id: int, mode: str, sub: str, issuer: str) -> None:
    """Mark an account for single sign-on (it can then no longer use a password), or unmark it."""
    if staff_id == user.id:
        raise ValidationFailed(N_("You cannot change how you sign in yourself."))
    if mode not in SSO_MODES:
        raise ValidationFailed(fields={"mode": N_("Please choose how this account signs in.")})
    if mode == "subject" and not (0 < len(sub) <= 255 and sub.isprintable() and issuer):
        raise ValidationFailed(fields={"subject": SUBJECT_NEEDED})
    subject = f"{issuer}|{sub}" if mode == "subject" else None
    try:
        async with pool.acquire() as conn, conn.transaction():
            await _own_staff(conn, user, staff_id)
            await teams.set_sso(conn, staff_id, mode=SSO_MODES[mode], subject=subject)
            await audit.record(conn, site_id=user.site_id, actor=user.actor, action="staff.sso",
                               subject_type="staff", subject_id=staff_id, details={"mode": mode, "subject": subject})
    except asyncpg.UniqueViolationError:
        raise ValidationFailed(fields={"subject": N_("This identity is already linked to another account.")}) from None


@routes.post(PERSON + "/sso", name="staff-admin-staff-sso")
@ui.pages
async def staff_sso(request: web.Request) -> web.Response:
    """Mark or unmark an account for single sign-on."""
    user, form = await _admin(request)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    return await ui.perform(request, user, ui.url(request, "staff-admin-person", staff_id=staff_id),
                            lambda: set_sso(request.app[POOL], user=user, staff_id=staff_id,
                                            mode=ui.text(form, "mode", 20), sub=ui.text(form, "subject", 300).strip(),
                                            issuer=request.app[CONFIG].oidc.issuer), success=N_("Saved."))


# ---- working hours and absences --------------------------------------------------------------------

@routes.get(PERSON, name="staff-admin-person")
@ui.pages
async def person(request: web.Request) -> web.Response:
    """A caseworker's working hours and absences."""
    user = await ui.page_user(request, Role.admin)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    async with request.app[POOL].acquire() as conn:
        who = await _own_staff(conn, user, staff_id)
        site = await sites.site_by_id(conn, user.site_id)
        hours = await teams.list_hours(conn, staff_id)
        absences = await teams.list_recent_absences(conn, staff_id)
    return ui.render(request, "admin_person.html", {
        "who": who, "hours": hours, "absences": absences, "weekdays": WEEKDAYS, "modes": MODES, "tz": site.timezone,
        "labels": ui.labels(ui.language(request, user)), "sso_enabled": request.app[CONFIG].oidc.enabled,
        "sso_sub": who["oidc_subject"].rpartition("|")[2] if who["oidc_subject"] else "",
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
            await teams.add_hours(conn, site_id=user.site_id, staff_id=staff_id, weekday=weekday, starts=starts,
                                  ends=ends, room=room, modes=modes)
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


_DELETERS = {"working_hours": teams.delete_hours, "absences": teams.delete_absence}


async def _delete_row(pool: asyncpg.Pool, *, user: StaffUser, table: str, row_id: int, staff_id: int) -> None:
    delete = _DELETERS[table]
    async with pool.acquire() as conn, conn.transaction():
        if not await delete(conn, site_id=user.site_id, staff_id=staff_id, row_id=row_id):
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
                      reason: str) -> tuple[int, int]:
    """Record an absence over whole local days (first to last, inclusive); its id and how many booked
    appointments it hits (those go to the bulk-move review)."""
    async with pool.acquire() as conn, conn.transaction():
        await _own_staff(conn, user, staff_id)
        site = await sites.site_by_id(conn, user.site_id)
        try:
            start_day, end_day = (datetime.strptime(first, "%Y-%m-%d").date(),
                                  datetime.strptime(last or first, "%Y-%m-%d").date())
        except ValueError:
            raise ValidationFailed(fields={"first": N_("Please enter a date like 2026-12-01.")}) from None
        if end_day < start_day:
            raise ValidationFailed(fields={"last": N_("The last day must not be before the first.")})
        start = site.calendar().day_start(start_day)
        end = site.calendar().day_start(end_day + timedelta(days=1))
        absence_id = await teams.add_absence(conn, site_id=user.site_id, staff_id=staff_id, start=start, end=end,
                                             reason=reason[:200])
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="absence.add", subject_type="staff",
                           subject_id=staff_id, details={"from": first, "to": last or first})
        hit = await appointments.list_confirmed_overlapping(conn, site_id=user.site_id, staff_id=staff_id,
                                                            start=start, end=end, after=datetime.now(UTC))
        return absence_id, len(hit)


@routes.post(PERSON + "/absences", name="staff-admin-absence-add")
@ui.pages
async def absence_add(request: web.Request) -> web.Response:
    """Add an absence."""
    user, form = await _admin(request)
    staff_id = ui.int_param(request.match_info["staff_id"], "staff_id")
    return await ui.perform(request, user, ui.url(request, "staff-admin-person", staff_id=staff_id),
                            lambda: add_absence(request.app[POOL], user=user, staff_id=staff_id,
                                                first=ui.text(form, "first", 10), last=ui.text(form, "last", 10),
                                                reason=ui.text(form, "reason", 200)), success=N_("Saved."),
                            to=lambda added: ui.url(request, "staff-moves-review", source="absence",
                                                    source_id=added[0]) if added[1] else
                            ui.url(request, "staff-admin-person", staff_id=staff_id))


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
        team_rows = await teams.list_with_members(conn, user.site_id)
        concern_rows = await concerns.list_for_admin(conn, user.site_id)
    lang = ui.language(request, user)
    return ui.render(request, "admin_organisation.html", {
        "teams": team_rows, "concerns": concern_rows, "labels": ui.labels(lang),
        "concern_label": lambda lbl: ui.concern_label(lbl, lang),
    })


async def add_team(pool: asyncpg.Pool, *, user: StaffUser, code: str, name: str) -> None:
    """Create a team."""
    if not re.fullmatch(r"[a-z0-9_-]{1,40}", code) or not name.strip():
        raise ValidationFailed(N_("A team needs a short code (lower-case letters, digits, - or _) and a name."))
    try:
        async with pool.acquire() as conn, conn.transaction():
            team_id = await teams.create(conn, site_id=user.site_id, code=code, name=name.strip())
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
        if not await concerns.set_active(conn, concern_id, site_id=user.site_id, active=active):
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

@routes.get("/staff/admin/kiosks", name="staff-admin-kiosks")
@ui.pages
async def kiosk_list(request: web.Request) -> web.Response:
    """Kiosk devices of the office."""
    user = await ui.page_user(request, Role.admin)
    async with request.app[POOL].acquire() as conn:
        devices = await kiosks.list_for_site(conn, user.site_id)
        site = await sites.site_by_id(conn, user.site_id)
    return ui.render(request, "admin_kiosks.html",
                     {"devices": devices, "new_token": None, "tz": site.timezone})  # no token to show  # nosec B105


async def issue_kiosk_token(pool: asyncpg.Pool, *, user: StaffUser, name: str, location: str) -> tuple[int, str]:
    """Register a kiosk device; returns its token, which is stored only as a SHA-256 and shown once."""
    if not name.strip():
        raise ValidationFailed(fields={"name": N_("Please give the device a name.")})
    token = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        device_id = await kiosks.register(conn, site_id=user.site_id, name=name.strip(), location=location.strip(),
                                          token=token, issued_by=user.id)
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
        devices = await kiosks.list_for_site(conn, user.site_id)
        site = await sites.site_by_id(conn, user.site_id)
    return ui.render(request, "admin_kiosks.html", {"devices": devices, "new_token": token, "new_id": device_id,
                                                    "tz": site.timezone}, status=201)


async def revoke_kiosk(pool: asyncpg.Pool, *, user: StaffUser, device_id: int) -> None:
    """Revoke a kiosk device's token; the kiosk is refused from its next request on."""
    async with pool.acquire() as conn, conn.transaction():
        if not await kiosks.revoke(conn, device_id, site_id=user.site_id, now=datetime.now(UTC)):
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
