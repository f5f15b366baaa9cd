"""Inbox page: requests and callbacks in policy order, filters, pin and move up/down."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from scheduler import approvals, followups, inbox, sites, today
from scheduler import concerns as concerns_
from scheduler import teams as teams_
from scheduler.errors import ValidationFailed
from scheduler.i18n import N_
from scheduler.keys import POOL
from scheduler.permissions import Role, StaffUser, check_may_list_team
from scheduler.policy.rules import Channel, Kind
from scheduler.staff import auth, explain, today_pages, ui

routes = web.RouteTableDef()

FILTER_FIELDS = ("view", "team", "concern", "channel")
CHANNELS = tuple(Channel)


@dataclass(frozen=True, slots=True)
class RankMoves:
    """Rank values the forms of one inbox row post; None where the move is not possible."""

    up: float | None
    down: float | None
    top: float | None


def virtual_ranks(items: Sequence[inbox.InboxItem]) -> list[float]:
    """A rank for every item that reproduces the current order: pins keep theirs, the rest follow them."""
    pinned = [i.manual_rank for i in items if i.manual_rank is not None]
    after = max(pinned, default=0.0)
    ranks: list[float] = []
    unpinned = 0
    for item in items:
        if item.manual_rank is not None:
            ranks.append(item.manual_rank)
        else:
            unpinned += 1
            ranks.append(after + unpinned)
    return ranks


def rank_moves(ranks: Sequence[float], index: int) -> RankMoves:
    """The manual_rank between the neighbours above (move up), below (move down), or before the first (top)."""
    up = down = top = None
    if index > 0:
        above = ranks[index - 2] if index >= 2 else ranks[index - 1] - 1
        up = (above + ranks[index - 1]) / 2
        top = ranks[0] - 1
    if index < len(ranks) - 1:
        below = ranks[index + 2] if index + 2 < len(ranks) else ranks[index + 1] + 1
        down = (ranks[index + 1] + below) / 2
    return RankMoves(up, down, top)


def inbox_filter(user: StaffUser, query: Mapping[str, str], teams: Mapping[int, str]) -> tuple[inbox.InboxFilter, str]:
    """The inbox filter from the query: "mine" (default for caseworkers) or a team / the whole site."""
    default_view = "mine" if user.role is Role.caseworker else "team"
    view = query.get("view") or default_view
    if view not in ("mine", "team"):
        view = default_view
    team_id = ui.optional_int(query.get("team"), "team")
    if team_id is not None and team_id not in teams:
        team_id = None
    if view == "team" and team_id is None and user.role is not Role.admin:
        team_id = user.team_id
        if team_id is None:  # without a team there is no team list to show, only one's own items
            view = "mine"
    if view == "team":
        check_may_list_team(user, team_id)
    concern = query.get("concern") or None
    channel = query.get("channel") if query.get("channel") in CHANNELS else None
    staff_id = user.id if view == "mine" else None
    return inbox.InboxFilter(site_id=user.site_id, staff_id=staff_id, team_id=None if staff_id else team_id,
                             concern=concern, channel=channel), view


async def _choices(conn: asyncpg.Connection, site_id: int) -> tuple[dict[int, str], list[asyncpg.Record]]:
    return await teams_.names(conn, site_id), await concerns_.list_for_site(conn, site_id)


@routes.get("/staff/inbox", name="staff-inbox")
@ui.pages
async def inbox_page(request: web.Request) -> web.Response:
    """The caseworker's (or team's) inbox, in the order the policy and manual pins give."""
    user = await ui.page_user(request)
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn:
        site = await sites.site_by_id(conn, user.site_id)
        teams, concerns = await _choices(conn, user.site_id)
        filt, view = inbox_filter(user, request.query, teams)
        requests_, callbacks_ = await inbox.load(conn, filt, team_of_staff=user.team_id, now=now)
        names = await explain.site_names(conn, user.site_id)
        explained = await explain.explanations(conn, requests=[i.id for i in requests_],
                                               callbacks=[i.id for i in callbacks_])
        team_view = filt.staff_id is None and filt.team_id is not None
        tasks = await followups.list_open_tasks(
            conn, site_id=user.site_id, staff_id=user.id, team_id=filt.team_id if team_view else user.team_id,
            whole_team=team_view)
        unmarked = await inbox.outcomes_missing(conn, user, now=now)
        lobby_scope, lobby_view = today.scope_for(user, "mine" if view == "mine" else "team")
        start, end = approvals.day_bounds(site, site.calendar().local_date(now))
        arrivals = [r for r in await today.day(conn, lobby_scope, start=start, end=end) if today.waiting_in_lobby(r)]
    lang = ui.language(request, user)
    queues = []
    for kind, items in (("request", requests_), ("callback", callbacks_)):
        ranks = virtual_ranks(items)
        queues.append((kind, [(item, rank_moves(ranks, i)) for i, item in enumerate(items)]))
    filters = {name: request.query.get(name, "") for name in FILTER_FIELDS} | {"view": view}
    return ui.render(request, "inbox.html", {
        "tz": site.timezone, "queues": queues, "filters": filters, "teams": teams,
        "concerns": [(c["code"], ui.concern_label(c["labels"], lang)) for c in concerns], "channels": CHANNELS,
        "labels": ui.labels(lang), "concern_label": lambda lbl: ui.concern_label(lbl, lang),
        "selected_team": filt.team_id, "whys": explain.whys(lang, names, explained), "tasks": tasks,
        "outcomes_missing": unmarked, "arrivals": arrivals, "arrivals_view": lobby_view,
        "arrivals_poll_seconds": today_pages.POLL_SECONDS,
    })


@routes.post("/staff/followups/{followup_id:\\d+}/done", name="staff-followup-done")
@ui.pages
async def followup_done(request: web.Request) -> web.Response:
    """Mark a follow-up task (after a no-show or an unreachable callback) done; back to the inbox or the
    request page it was marked on."""
    user = await auth.require_staff(request)
    followup_id = ui.int_param(request.match_info["followup_id"], "followup_id")
    form = await request.post()
    back = ui.safe_next(ui.text(form, "back", 500), ui.url(request, "staff-inbox", {}))
    return await ui.perform(
        request, user, back,
        lambda: followups.complete(request.app[POOL], followup_id=followup_id, user=user, now=datetime.now(UTC)),
        success=N_("The to-do is done."))


def _rank_value(raw: str) -> float | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise web.HTTPBadRequest(text="rank must be a number") from None
    if not math.isfinite(value):
        raise web.HTTPBadRequest(text="rank must be finite")
    return value


async def reorder(pool: asyncpg.Pool, *, user: StaffUser, kind: Kind, item_id: int, rank: float | None,
                  query: Mapping[str, str]) -> None:
    """Pin an item at `rank`; the unpinned items that stay above it are pinned where they are, so only it moves."""
    async with pool.acquire() as conn:
        teams, _ = await _choices(conn, user.site_id)
        filt, _view = inbox_filter(user, query, teams)
        requests_, callbacks_ = await inbox.load(conn, filt, team_of_staff=user.team_id, now=datetime.now(UTC))
    items = requests_ if kind is Kind.appointment else callbacks_
    if item_id not in {i.id for i in items}:
        raise ValidationFailed(N_("This item is no longer in this inbox. Please reload."))
    if rank is not None:
        for item, virtual in zip(items, virtual_ranks(items), strict=True):
            if item.id != item_id and item.manual_rank is None and virtual < rank:
                await approvals.set_rank(pool, kind=kind, item_id=item.id, rank=virtual, user=user)
    await approvals.set_rank(pool, kind=kind, item_id=item_id, rank=rank, user=user)


@routes.post("/staff/inbox/rank", name="staff-inbox-rank")
@ui.pages
async def rank(request: web.Request) -> web.Response:
    """Move an inbox item up or down, pin it to the top, or unpin it (form posts the new rank)."""
    user = await auth.require_staff(request)
    form = await request.post()
    query = {name: ui.text(form, name, 100) for name in FILTER_FIELDS}
    back = ui.url(request, "staff-inbox", query)
    kind = Kind.appointment if ui.text(form, "kind") == "request" else Kind.callback
    item_id = ui.int_param(form.get("item_id"), "item_id")
    value = _rank_value(ui.text(form, "rank", 40))
    return await ui.perform(
        request, user, back,
        lambda: reorder(request.app[POOL], user=user, kind=kind, item_id=item_id, rank=value, query=query),
        success=N_("The order was changed.") if value is not None else N_("The pin was removed."))


def filter_fields(filters: Mapping[str, Any]) -> dict[str, Any]:
    """The hidden fields that keep the inbox filter across a reorder form."""
    return {k: v for k, v in filters.items() if k in FILTER_FIELDS}
