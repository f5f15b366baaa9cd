"""Staff pages of group sessions: the list with seats taken and free, creating a session, one session's
participants with attendance (held / no-show, the words of appointment outcomes), cancelling it (participants
get an SMS), and inviting a list of clients into it (reviewed line by line before any seat is taken).

Who: every staff member of the site sees the list (no client data in it); a session's participants are shown to
its hosts, its team and the site's admins (group_sessions.check_may_run), and every opening is audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from aiohttp import web

from scheduler import audit, batch_lists, group_session_invites, group_session_seats, group_sessions, sites, teams
from scheduler.errors import ValidationFailed
from scheduler.group_session_seats import Attendance
from scheduler.group_sessions import NewSession
from scheduler.i18n import N_, translate
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import StaffUser
from scheduler.staff import auth, ui
from scheduler.staff.batch_invite_pages import FORM_PROBLEMS, PROBLEMS

routes = web.RouteTableDef()

SESSION: Final = r"/staff/group-sessions/{session_id:\d{1,18}}"
LIST_PAST_DAYS: Final = 14
LINE_STATES: Final = {"seat": N_("Gets a seat"), "already": N_("Has a seat already"),
                      "no_seat": N_("No seat: beyond the free seats"), "bad": N_("Not invited")}
SENT_STATES: Final = {"seat": N_("Seat booked, SMS queued"), "already": N_("Has a seat already"),
                      "no_seat": N_("No seat: the session is full"), "bad": N_("Not invited")}


def _form_number(form: object, name: str, low: int, high: int, message: str) -> int:
    raw = ui.text(form, name, 10)  # type: ignore[arg-type]
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationFailed(fields={name: message})
    return int(raw)


def _start(raw_day: str, raw_time: str, tz: str) -> datetime:
    try:
        day, at = date.fromisoformat(raw_day), time.fromisoformat(raw_time)
    except ValueError:
        raise ValidationFailed(fields={"start": N_("Please enter a date and a time.")}) from None
    return datetime.combine(day, at, tzinfo=ZoneInfo(tz))


async def _list_context(request: web.Request, user: StaffUser) -> dict[str, object]:
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        found = await group_sessions.list_for_staff(conn, user.site_id, since=now - timedelta(days=LIST_PAST_DAYS))
        team_names = await teams.names(conn, user.site_id)
        people = [p for p in await teams.list_staff(conn, user.site_id) if p["active"]]
        hosts = await group_sessions.host_names(conn, found, user.site_id)
    return {"tz": site.timezone, "sessions": found, "team_names": team_names, "people": people, "hosts": hosts,
            "now": now, "default_team": user.team_id}


@routes.get("/staff/group-sessions", name="staff-group-sessions")
@ui.pages
async def list_page(request: web.Request) -> web.Response:
    """Sessions from two weeks back on, with seats taken and free; the form to create one."""
    user = await ui.page_user(request)
    return ui.render(request, "group_sessions.html", {**await _list_context(request, user), "errors": {},
                                                      "values": {}, "chosen_hosts": ()})


@routes.post("/staff/group-sessions", name="staff-group-session-create")
@ui.pages
async def create(request: web.Request) -> web.Response:
    """Create a session (team lead or caseworker for their team, admin for any): to its page, or the form again
    with the messages next to the fields (422)."""
    user = await auth.require_staff(request)
    form = await request.post()
    values = {k: ui.text(form, k, 200) for k in ("team_id", "topic", "room", "day", "time", "minutes", "seats")}
    lang = ui.language(request, user)
    hosts: tuple[int, ...] = ()
    try:
        async with request.app[POOL].acquire() as conn:
            site = await sites.site_by_id(conn, user.site_id)
        hosts = tuple(ui.int_param(h, "hosts") for h in form.getall("hosts", [])[:group_sessions.HOSTS_MAX + 1])
        new = NewSession(
            team_id=_form_number(form, "team_id", 1, 2**62, N_("Choose a team of your office.")),
            topic=values["topic"], room=values["room"], start=_start(values["day"], values["time"], site.timezone),
            minutes=_form_number(form, "minutes", *group_sessions.MINUTES,
                                 N_("A session lasts between 15 and 480 minutes.")),
            seats=_form_number(form, "seats", *group_sessions.SEATS, N_("A session has between 1 and 200 seats.")),
            hosts=hosts)
        session = await group_sessions.create(request.app[POOL], user=user, new=new, now=datetime.now(UTC))
    except ValidationFailed as e:
        context = await _list_context(request, user)
        errors = {k: translate(lang, v) for k, v in e.fields.items()}
        return ui.render(request, "group_sessions.html", {**context, "errors": errors, "values": values,
                                                          "chosen_hosts": hosts},
                         status=422)
    return ui.see_other(ui.url(request, "staff-group-session", session_id=session.id),
                        flash=("ok", translate(lang, N_("The session is created."))))


async def _session_context(request: web.Request, user: StaffUser, session_id: int) -> dict[str, object]:
    """A session with its participants; opening it is recorded as a view of their data."""
    async with request.app[POOL].acquire() as conn:
        session = await group_sessions.get_for_site(conn, session_id, user.site_id)
        group_sessions.check_may_run(user, session)
        site = await sites.site_by_id(conn, user.site_id)
        people = await group_session_seats.participants(conn, session.id)
        hosts = await group_sessions.host_names(conn, [session], user.site_id)
        team_names = await teams.names(conn, user.site_id)
        async with conn.transaction():
            await audit.record_list_view(conn, site_id=user.site_id, actor=user.actor, kind="group_session_seat",
                                         clients_by_item={p.seat_id: p.client_id for p in people})
    now = datetime.now(UTC)
    return {"tz": site.timezone, "session": session, "people": people, "hosts": hosts, "team_names": team_names,
            "begun": session.start <= now, "labels": ui.labels(ui.language(request, user))}


@routes.get(SESSION, name="staff-group-session")
@ui.pages
async def session_page(request: web.Request) -> web.Response:
    """One session: its facts, participants with attendance, cancelling, inviting a list."""
    user = await ui.page_user(request)
    session_id = ui.int_param(request.match_info["session_id"], "session_id")
    return ui.render(request, "group_session.html", await _session_context(request, user, session_id))


@routes.post(SESSION + "/cancel", name="staff-group-session-cancel")
@ui.pages
async def cancel(request: web.Request) -> web.Response:
    """Cancel the session; each participant who may get SMS is told."""
    user = await auth.require_staff(request)
    session_id = ui.int_param(request.match_info["session_id"], "session_id")
    back = ui.url(request, "staff-group-session", session_id=session_id)
    return await ui.perform(request, user, back, lambda: group_session_seats.cancel_session(
        request.app[POOL], user=user, session_id=session_id, now=datetime.now(UTC)),
        success=N_("The session is cancelled. The participants are told by SMS."))


@routes.post(r"/staff/group-sessions/seats/{seat_id:\d{1,18}}/attendance", name="staff-group-seat-attendance")
@ui.pages
async def attendance(request: web.Request) -> web.Response:
    """Mark one participant held or no-show (once, after the session has begun)."""
    user = await auth.require_staff(request)
    seat_id = ui.int_param(request.match_info["seat_id"], "seat_id")
    form = await request.post()
    try:
        outcome = Attendance(ui.text(form, "outcome", 20))
    except ValueError:
        raise web.HTTPBadRequest(text="outcome must be held or no_show") from None
    async with request.app[POOL].acquire() as conn:
        seat = await group_session_seats.get(conn, seat_id)
    back = ui.url(request, "staff-group-session", session_id=seat.session_id)
    return await ui.perform(request, user, back, lambda: group_session_seats.record_attendance(
        request.app[POOL], user=user, seat_id=seat_id, outcome=outcome, now=datetime.now(UTC)),
        success=N_("Attendance is recorded."))


@routes.post(SESSION + "/invite", name="staff-group-session-invite")
@ui.pages
async def invite(request: web.Request) -> web.Response:
    """A pasted list: first the review (who gets a seat, who lies beyond the free seats), then with confirm=yes
    the seats are booked and the result shown line by line."""
    user = await auth.require_staff(request)
    session_id = ui.int_param(request.match_info["session_id"], "session_id")
    back = ui.url(request, "staff-group-session", session_id=session_id)
    lang = ui.language(request, user)
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        return ui.see_other(back, flash=("error", translate(lang, FORM_PROBLEMS["too_large"])))
    pasted = ui.text(form, "pasted", batch_lists.MAX_BYTES + 1)
    try:
        rows = batch_lists.parse_list(pasted, countries=request.app[CONFIG].sms.allowed_countries)
    except ValidationFailed as e:
        return ui.see_other(back, flash=("error", " ".join(translate(lang, FORM_PROBLEMS.get(v, v))
                                                           for v in e.fields.values())))
    sending = ui.text(form, "confirm", 5) == "yes"
    context = await _session_context(request, user, session_id)
    session = context["session"]
    assert isinstance(session, group_sessions.Session)
    if sending:
        lines = await group_session_invites.send(request.app[POOL], user=user, session_id=session_id, rows=rows,
                                                 now=datetime.now(UTC))
        context = await _session_context(request, user, session_id)
    else:
        async with request.app[POOL].acquire() as conn:
            lines = await group_session_invites.review(conn, session, rows)
    return ui.render(request, "group_session_invite.html", {
        **context, "lines": lines, "sent": sending, "pasted": pasted,
        "states": SENT_STATES if sending else LINE_STATES,
        "problems": {k: translate(lang, v) for k, v in PROBLEMS.items()},
        "beyond": sum(1 for line in lines if line.state is group_session_invites.LineState.no_seat)})
