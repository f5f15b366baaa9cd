"""Staff JSON API: inbox, request details, caseworker actions, callbacks, invitations, rule sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from scheduler import appointments, approvals, audit, callbacks, inbox, invitations, moves, preview, sites, teams
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.errors import NotFound, ValidationFailed
from scheduler.http import int_field, json_object, path_id
from scheduler.i18n import N_
from scheduler.keys import CONFIG, POOL
from scheduler.permissions import Role, StaffUser, check_may_act, check_may_list_team, may_manage_team
from scheduler.policy import store
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Kind, RuleSetInvalid
from scheduler.staff.auth import require_staff

routes = web.RouteTableDef()
ID = r"{id:\d{1,18}}"
LEADS = (Role.team_lead, Role.admin)
API_PAGE, MAX_PAGE = 100, 500  # inbox items per list: the first page by default


def _now() -> datetime:
    return datetime.now(UTC)


def _proposal_json(p: proposals_.Proposal) -> dict[str, Any]:
    return {"id": p.id, "staff_id": p.staff_id, "start": p.start.isoformat(), "end": p.end.isoformat(),
            "mode": p.mode.value, "room": p.room, "source": p.source}


def appointment_json(a: appointments.Appointment) -> dict[str, Any]:
    """JSON form of an appointment for staff."""
    return {"id": a.id, "request_id": a.request_id, "staff_id": a.staff_id, "staff_name": a.staff_name,
            "start": a.start.isoformat(), "end": a.end.isoformat(), "mode": a.mode, "room": a.room,
            "status": a.status.value, "sequence": a.sequence,
            "arrived_at": a.arrived_at.isoformat() if a.arrived_at else None}


def _request_json(r: requests_.Request) -> dict[str, Any]:
    return {
        "id": r.id, "reference": r.reference, "status": r.status.value, "concern": r.concern_code,
        "channel": r.channel, "language": r.language, "modes": list(r.modes), "windows": r.windows, "note": r.note,
        "team_id": r.team_id, "staff_id": r.staff_id, "priority": r.priority, "manual_rank": r.manual_rank,
        "wants_other_time": r.wants_other_time, "invitation": r.invitation, "decline_reason": r.decline_reason,
        "deadline_at": r.deadline_at.isoformat() if r.deadline_at else None,
        "overdue": r.overdue_flagged_at is not None, "created_at": r.created_at.isoformat(),
        "why": r.decision.summary() if r.decision else "", "needs": list(r.needs),
        "interpreter_language": r.interpreter_language,
        "explanation": [{"field": e.field, "rule": e.rule_id, "value": e.value}
                        for e in (r.decision.explanation if r.decision else ())],
    }


def _callback_json(c: callbacks.Callback) -> dict[str, Any]:
    return {"id": c.id, "reference": c.reference, "status": c.status.value, "concern": c.concern_code,
            "phone": c.phone, "language": c.language, "attempts": c.attempts, "max_attempts": c.max_attempts,
            "next_attempt_at": c.next_attempt_at.isoformat() if c.next_attempt_at else None,
            "claimed_by": c.claimed_by, "team_id": c.team_id, "staff_id": c.staff_id,
            "converted_request_id": c.converted_request_id}


@routes.get("/api/staff/inbox", name="api-staff-inbox")
async def get_inbox(request: web.Request) -> web.Response:
    """My inbox (default), or my team's (?team=ID; admins any team's), in policy order; the first ?limit= items."""
    user = await require_staff(request)
    team = request.query.get("team")
    limit_text = request.query.get("limit", str(API_PAGE))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
        raise ValidationFailed(fields={"limit": N_("This value is not valid.")})
    if team and (not team.isdigit() or len(team) > 18):
        raise ValidationFailed(fields={"team": N_("This value is not valid.")})
    if team:
        check_may_list_team(user, int(team))
    filt = inbox.InboxFilter(
        site_id=user.site_id,
        staff_id=None if team else user.id,
        team_id=int(team) if team else None,
        concern=request.query.get("concern") or None, channel=request.query.get("channel") or None,
        limit=int(limit_text))
    async with request.app[POOL].acquire() as conn:
        found_requests, found_callbacks = await inbox.load(conn, filt, team_of_staff=user.team_id, now=_now())
    return web.json_response({"requests": [inbox.item_json(i) for i in found_requests],
                              "callbacks": [inbox.item_json(i) for i in found_callbacks]})


@routes.get(f"/api/staff/requests/{ID}", name="api-staff-request")
async def get_request(request: web.Request) -> web.Response:
    """One request with its explanation, proposals and appointment; the view is audited."""
    user = await require_staff(request)
    request_id = path_id(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        found = await requests_.get(conn, request_id)
        check_may_act(user, site_id=found.site_id, team_id=found.team_id, staff_id=found.staff_id)
        proposals = await proposals_.list_for_request(conn, request_id)
        appointment = await appointments.latest_for_request(conn, request_id)
        # The same row the request page writes: who looked at which client, through which request.
        await audit.record(conn, site_id=user.site_id, actor=user.actor, action="client.view",
                           subject_type="client", subject_id=found.client_id, details={"request_id": request_id})
    return web.json_response({**_request_json(found), "proposals": [_proposal_json(p) for p in proposals],
                              "appointment": appointment_json(appointment) if appointment else None})


@routes.post(f"/api/staff/requests/{ID}/approve", name="api-staff-approve")
async def approve(request: web.Request) -> web.Response:
    """Book one of the proposed slots."""
    user = await require_staff(request)
    body = await json_object(request)
    proposal_id = int_field(body, "proposal_id")
    assert proposal_id is not None
    appointment = await approvals.approve(request.app[POOL], request_id=path_id(request), proposal_id=proposal_id,
                                          user=user, now=_now(), reminder_offsets=request.app[CONFIG].reminder_offsets)
    return web.json_response(appointment_json(appointment), status=201)


@routes.get(f"/api/staff/requests/{ID}/slots", name="api-staff-slots")
async def slots(request: web.Request) -> web.Response:
    """Every free slot of a caseworker on a day (?date=YYYY-MM-DD&staff_id=ID), for picking another time."""
    user = await require_staff(request)
    request_id = path_id(request)
    staff_text = request.query.get("staff_id", str(user.id))
    if not staff_text.isdigit() or len(staff_text) > 18:
        raise ValidationFailed(fields={"staff_id": N_("This value is not valid.")})
    async with request.app[POOL].acquire() as conn:
        found = await requests_.get(conn, request_id)
        check_may_act(user, site_id=found.site_id, team_id=found.team_id, staff_id=found.staff_id)
        teams.check_bookable(await teams.bookable_staff(conn, user.site_id), int(staff_text))
        site = await sites.site_by_id(conn, user.site_id)
        day = approvals.parse_day(request.query.get("date"), site.calendar().local_date(_now()))
        duration = found.decision.duration if found.decision else None
        free = await approvals.free_slots(conn, site=site, staff_id=int(staff_text), day=day,
                                          duration=duration or timedelta(minutes=30), now=_now())
    return web.json_response({"date": day.isoformat(), "slots": [
        {"staff_id": s.caseworker_id, "start": s.start.isoformat(), "end": s.end.isoformat(), "room": s.room}
        for s in free]})


def _start_field(body: dict[str, Any]) -> datetime:
    """The body's `start`: an ISO time with its UTC offset, as UTC; a field error otherwise."""
    try:
        start = datetime.fromisoformat(str(body.get("start")))
        if start.tzinfo is None or not 1 < start.year < 9999:  # the calendar's last day has no next day
            raise ValueError
        return start.astimezone(UTC)
    except ValueError:
        raise ValidationFailed(fields={"start": N_("Please choose a time from the list.")}) from None


@routes.post(f"/api/staff/requests/{ID}/book", name="api-staff-book")
async def book(request: web.Request) -> web.Response:
    """Book a slot the caseworker picked ({staff_id, start, mode})."""
    user = await require_staff(request)
    body = await json_object(request)
    staff_id = int_field(body, "staff_id")
    start = _start_field(body)
    assert staff_id is not None
    appointment = await approvals.book_other(
        request.app[POOL], request_id=path_id(request), staff_id=staff_id, start=start,
        mode=str(body.get("mode", "in_person")), user=user, now=_now(),
        reminder_offsets=request.app[CONFIG].reminder_offsets)
    return web.json_response(appointment_json(appointment), status=201)


@routes.post(f"/api/staff/requests/{ID}/reassign", name="api-staff-reassign")
async def reassign(request: web.Request) -> web.Response:
    """Give the request to another team ({team_id}) or caseworker ({staff_id})."""
    user = await require_staff(request)
    body = await json_object(request)
    updated = await approvals.reassign(request.app[POOL], request_id=path_id(request),
                                       team_id=int_field(body, "team_id", required=False),
                                       staff_id=int_field(body, "staff_id", required=False), user=user, now=_now())
    return web.json_response(_request_json(updated))


@routes.post(f"/api/staff/requests/{ID}/decline", name="api-staff-decline")
async def decline(request: web.Request) -> web.Response:
    """Decline with a reason."""
    user = await require_staff(request)
    body = await json_object(request)
    reason = body.get("reason")
    updated = await approvals.decline(request.app[POOL], request_id=path_id(request),
                                      reason=reason if isinstance(reason, str) else "", user=user)
    return web.json_response(_request_json(updated))


@routes.post(f"/api/staff/appointments/{ID}/move", name="api-staff-appointment-move")
async def move(request: web.Request) -> web.Response:
    """Move a booked appointment to a free slot ({start, staff_id, mode}; mode defaults to the current one);
    a taken slot answers 409 with fresh proposals."""
    user = await require_staff(request)
    body = await json_object(request)
    staff_id, start, appointment_id = int_field(body, "staff_id"), _start_field(body), path_id(request)
    assert staff_id is not None
    mode = body.get("mode")
    if mode is None:
        async with request.app[POOL].acquire() as conn:
            mode = (await appointments.get(conn, appointment_id)).mode
    moved = await moves.move(request.app[POOL], target=moves.Target(appointment_id, staff_id, start, str(mode)),
                             user=user, now=_now(), reminder_offsets=request.app[CONFIG].reminder_offsets,
                             sms_offer_max=request.app[CONFIG].freed_slots.sms_offer_max)
    return web.json_response(appointment_json(moved))


@routes.post(f"/api/staff/requests/{ID}/withdraw", name="api-staff-withdraw")
async def withdraw(request: web.Request) -> web.Response:
    """Withdraw on the client's behalf."""
    user = await require_staff(request)
    updated = await approvals.withdraw(request.app[POOL], request_id=path_id(request), user=user, now=_now())
    return web.json_response(_request_json(updated))


async def _rank(request: web.Request, kind: Kind) -> web.Response:
    user = await require_staff(request)
    body = await json_object(request)
    rank = body.get("rank")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int | float) or abs(rank) > 1e12):
        raise ValidationFailed(fields={"rank": N_("This value is not valid.")})
    await approvals.set_rank(request.app[POOL], kind=kind, item_id=path_id(request),
                             rank=float(rank) if rank is not None else None, user=user)
    return web.json_response({"id": path_id(request), "rank": rank})


@routes.post(f"/api/staff/requests/{ID}/rank", name="api-staff-request-rank")
async def request_rank(request: web.Request) -> web.Response:
    """Pin a request at a manual position ({rank: number}) or unpin it ({rank: null})."""
    return await _rank(request, Kind.appointment)


@routes.post(f"/api/staff/callbacks/{ID}/rank", name="api-staff-callback-rank")
async def callback_rank(request: web.Request) -> web.Response:
    """Pin or unpin a callback."""
    return await _rank(request, Kind.callback)


@routes.post(f"/api/staff/callbacks/{ID}/claim", name="api-staff-callback-claim")
async def claim(request: web.Request) -> web.Response:
    """Take a callback to dial it."""
    user = await require_staff(request)
    cb = await approvals.claim_callback(request.app[POOL], callback_id=path_id(request), user=user, now=_now())
    return web.json_response(_callback_json(cb))


@routes.post(f"/api/staff/callbacks/{ID}/attempt", name="api-staff-callback-attempt")
async def attempt(request: web.Request) -> web.Response:
    """Record a call's outcome ({outcome: reached|no_answer|wrong_number, note})."""
    user = await require_staff(request)
    body = await json_object(request)
    try:
        outcome = callbacks.CallbackOutcome(str(body.get("outcome")))
    except ValueError:
        raise ValidationFailed(fields={"outcome": N_("Please choose how the call went.")}) from None
    note = body.get("note")
    cb = await approvals.record_attempt(request.app[POOL], callback_id=path_id(request), outcome=outcome,
                                        note=note if isinstance(note, str) else "", user=user, now=_now())
    return web.json_response(_callback_json(cb))


@routes.post(f"/api/staff/callbacks/{ID}/convert", name="api-staff-callback-convert")
async def convert(request: web.Request) -> web.Response:
    """Turn a callback into an appointment request for this caseworker."""
    user = await require_staff(request)
    created = await approvals.convert_callback(request.app[POOL], callback_id=path_id(request), user=user,
                                               now=_now(), reminder_offsets=request.app[CONFIG].reminder_offsets)
    return web.json_response(_request_json(created), status=201)


@routes.post("/api/staff/invitations", name="api-staff-invite")
async def invite(request: web.Request) -> web.Response:
    """Invite a client directly ({phone, concern, language, template_id, bring}; or, without a notice template,
    {invitation: voluntary|mandatory, notice_text})."""
    user = await require_staff(request)
    body = await json_object(request)
    notice, template, bring = body.get("notice_text"), body.get("template_id"), body.get("bring")
    phone, concern = str(body.get("phone") or ""), str(body.get("concern") or "")
    language, config = str(body.get("language") or "de"), request.app[CONFIG]
    if template is not None:  # issue 15: the notice comes from a template, whose version the invitation keeps
        if not isinstance(template, int) or isinstance(template, bool):
            raise ValidationFailed(fields={"template_id": invitations.CHOOSE_TEMPLATE})
        created = (await invitations.invite(
            request.app[POOL], user=user, phone=phone, concern=concern, language=language, template_id=template,
            bring=bring if isinstance(bring, str) else "", now=_now(), reminder_offsets=config.reminder_offsets,
            countries=config.sms.allowed_countries,
            needs={k: body[k] for k in ("needs", "interpreter_language") if k in body})).request
    else:
        created = await approvals.invite(
            request.app[POOL], user=user, phone=phone, concern=concern, language=language,
            invitation=str(body.get("invitation") or ""), notice_text=notice if isinstance(notice, str) else None,
            now=_now(), reminder_offsets=config.reminder_offsets, countries=config.sms.allowed_countries)
    check_may_act(user, site_id=created.site_id, team_id=created.team_id, staff_id=created.staff_id)
    async with request.app[POOL].acquire() as conn:
        proposals = await proposals_.list_for_request(conn, created.id)
    return web.json_response({**_request_json(created), "proposals": [_proposal_json(p) for p in proposals]},
                             status=201)


def _ruleset_from(body: dict[str, Any]) -> tuple[Any, str]:
    source = body.get("yaml")
    if not isinstance(source, str) or not source.strip():
        raise ValidationFailed(fields={"yaml": N_("Please enter the rules.")})
    try:
        return load_yaml(source), source
    except RuleSetInvalid as e:
        raise ValidationFailed(extra={"problems": [
            {"path": err.path, "code": err.code, "params": dict(err.params), "message": err.message}
            for err in e.errors]}, fields={"yaml": N_("The rules have problems; see the list.")}) from None


def _scope(user: StaffUser, body: dict[str, Any]) -> tuple[store.Scope, int | None]:
    """Team leads own their team's rules; admins may also edit the site's or any team's."""
    scope = store.Scope.team if body.get("scope", "team") == "team" else store.Scope.site
    if scope is store.Scope.site:
        if user.role is not Role.admin:
            raise ValidationFailed(fields={"scope": N_("Only an admin can change the office's rules.")})
        return scope, None
    team_id = int_field(body, "team_id", required=False) or user.team_id
    if not may_manage_team(user, team_id):
        raise ValidationFailed(fields={"team_id": N_("You can only change your own team's rules.")})
    return scope, team_id


@routes.post("/api/staff/policies/check", name="api-staff-policy-check")
async def policy_check(request: web.Request) -> web.Response:
    """Validate a rule set ({yaml}); every problem is listed."""
    await require_staff(request, *LEADS)
    ruleset, _ = _ruleset_from(await json_object(request))
    return web.json_response({"valid": True, "rules": ruleset.to_dict()})


@routes.post("/api/staff/policies/preview", name="api-staff-policy-preview")
async def policy_preview(request: web.Request) -> web.Response:
    """What a draft ({yaml, scope, team_id, last_n}) would change for recent requests; nothing is stored."""
    user = await require_staff(request, *LEADS)
    body = await json_object(request)
    ruleset, _ = _ruleset_from(body)
    scope, team_id = _scope(user, body)
    last_n = int_field(body, "last_n", required=False) or 50
    rows = await preview.preview(request.app[POOL], site_id=user.site_id, scope=scope, team_id=team_id,
                                 staff_id=None, ruleset=ruleset, owner_id=user.id, last_n=min(last_n, 200), now=_now())
    return web.json_response({"rows": [preview.row_json(r) for r in rows],
                              "changed": sum(1 for r in rows if r.changed)})


@routes.post("/api/staff/policies", name="api-staff-policy-save")
async def policy_save(request: web.Request) -> web.Response:
    """Store a validated rule set as a new draft version ({yaml, scope, team_id})."""
    user = await require_staff(request, *LEADS)
    body = await json_object(request)
    ruleset, source = _ruleset_from(body)
    scope, team_id = _scope(user, body)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        saved = await store.save_draft(conn, site_id=user.site_id, scope=scope, team_id=team_id,
                                       ruleset=ruleset, source_yaml=source, owner_id=user.id)
    return web.json_response(_policy_json(saved), status=201)


@routes.post(f"/api/staff/policies/{ID}/activate", name="api-staff-policy-activate")
async def policy_activate(request: web.Request) -> web.Response:
    """Make a version active (a newer draft, or an older one to roll back)."""
    user = await require_staff(request, *LEADS)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        target = await store.get(conn, path_id(request))
        if target.site_id != user.site_id or not may_manage_team(user, target.team_id):
            raise NotFound()
        activated = await store.activate(conn, target.id, actor_id=user.id)
    return web.json_response(_policy_json(activated))


@routes.get("/api/staff/policies", name="api-staff-policies")
async def policy_history(request: web.Request) -> web.Response:
    """Versions of my team's rule set (?scope=site for the office's), newest first."""
    user = await require_staff(request, *LEADS)
    scope = store.Scope.site if request.query.get("scope") == "site" else store.Scope.team
    async with request.app[POOL].acquire() as conn:
        versions = await store.history(conn, site_id=user.site_id, scope=scope,
                                       team_id=user.team_id if scope is store.Scope.team else None)
    return web.json_response({"versions": [_policy_json(p) for p in versions]})


def _policy_json(p: store.StoredPolicy) -> dict[str, Any]:
    return {"id": p.id, "scope": p.scope.value, "team_id": p.team_id, "version": p.version,
            "status": p.status.value, "owner_id": p.owner_id, "created_at": p.created_at.isoformat(),
            "activated_at": p.activated_at.isoformat() if p.activated_at else None, "rules": p.ruleset.to_dict()}
