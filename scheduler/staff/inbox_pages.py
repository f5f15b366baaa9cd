"""Inbox page: requests and callbacks in one list in policy order, filters (also by kind), pages, pin and move
up/down."""

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

FILTER_FIELDS = ("view", "team", "concern", "channel", "show", "page")
CHANNELS = tuple(Channel)
PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class RankMoves:
    """Rank values the forms of one inbox row post; None where the move is not possible."""

    up: float | None
    down: float | None
    top: float | None


def virtual_ranks(items: Sequence[inbox.InboxItem | inbox.QueueEntry]) -> list[float]:
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


def queue_params(query: Mapping[str, str]) -> tuple[inbox.Show, int]:
    """Which kinds to list (all, appointments, callbacks) and the page, from the query; unknown values: the
    defaults (a page beyond the last shows the last)."""
    try:
        show = inbox.Show(query.get("show") or inbox.Show.all)
    except ValueError:
        show = inbox.Show.all
    raw = query.get("page") or ""
    page = int(raw) if raw.isdigit() and len(raw) <= 6 else 1
    return show, page


def _window_ranks(entries: Sequence[inbox.QueueEntry], lo: int, hi: int) -> list[float]:
    """virtual_ranks(entries) at the first position and at lo..hi-1; the other positions hold 0.0, unread."""
    after = max((e.manual_rank for e in entries if e.manual_rank is not None), default=0.0)
    unpinned = sum(1 for e in entries[:lo] if e.manual_rank is None)
    ranks = [0.0] * len(entries)
    for i in range(lo, hi):
        rank = entries[i].manual_rank
        if rank is None:
            unpinned += 1
            rank = after + unpinned
        ranks[i] = rank
    if entries and lo > 0:
        ranks[0] = entries[0].manual_rank if entries[0].manual_rank is not None else after + 1
    return ranks


def queue_rows(queue: inbox.QueuePage) -> list[tuple[int, inbox.InboxItem, RankMoves]]:
    """Each item of the page with its position in the whole queue and the ranks its move buttons post, which
    place it between its neighbours in the whole queue (also across pages)."""
    entries = queue.entries
    # A large office's whole queue has thousands of entries; the page needs positions and ranks only for its own
    # items, their two neighbours each side and the first entry (the "to the top" rank), so only those are made.
    lo, hi = max(0, queue.offset - 2), min(len(entries), queue.offset + queue.per_page + 2)
    ranks = _window_ranks(entries, lo, hi)
    index = {(entries[i].kind, entries[i].id): i for i in range(lo, hi)}
    return [(index[(item.kind, item.id)] + 1, item, rank_moves(ranks, index[(item.kind, item.id)]))
            for item in queue.items if (item.kind, item.id) in index]


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
        show, page = queue_params(request.query)
        queue = await inbox.load_queue(conn, filt, team_of_staff=user.team_id, now=now, show=show, page=page,
                                       per_page=PER_PAGE)
        names = await explain.site_names(conn, user.site_id)
        explained = await explain.explanations(conn, requests=[i.id for i in queue.items if i.kind == "request"],
                                               callbacks=[i.id for i in queue.items if i.kind == "callback"])
        team_view = filt.staff_id is None and filt.team_id is not None
        tasks = await followups.list_open_tasks(
            conn, site_id=user.site_id, staff_id=user.id, team_id=filt.team_id if team_view else user.team_id,
            whole_team=team_view)
        unmarked = await inbox.outcomes_missing(conn, user, now=now)
        lobby_scope, lobby_view = today.scope_for(user, "mine" if view == "mine" else "team")
        start, end = approvals.day_bounds(site, site.calendar().local_date(now))
        arrivals = [r for r in await today.day(conn, lobby_scope, start=start, end=end) if today.waiting_in_lobby(r)]
    lang = ui.language(request, user)
    filters = {name: request.query.get(name, "") for name in FILTER_FIELDS} | \
        {"view": view, "show": show.value, "page": str(queue.page)}
    return ui.render(request, "inbox.html", {
        "tz": site.timezone, "queue": queue, "rows": queue_rows(queue), "filters": filters, "teams": teams,
        "shows": tuple(inbox.Show), "page_link": lambda n: ui.url(request, "staff-inbox", filters | {"page": n}),
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
        show, _page = queue_params(query)
        queue = await inbox.load_queue(conn, filt, team_of_staff=user.team_id, now=datetime.now(UTC), show=show,
                                       per_page=PER_PAGE)
    moved = "request" if kind is Kind.appointment else "callback"
    if (moved, item_id) not in {(e.kind, e.id) for e in queue.entries}:
        raise ValidationFailed(N_("This item is no longer in this inbox. Please reload."))
    if rank is not None:  # both kinds share one order, so the items kept above may be of either kind
        for entry, virtual in zip(queue.entries, virtual_ranks(queue.entries), strict=True):
            if (entry.kind, entry.id) != (moved, item_id) and entry.manual_rank is None and virtual < rank:
                await approvals.set_rank(pool, kind=Kind.appointment if entry.kind == "request" else Kind.callback,
                                         item_id=entry.id, rank=virtual, user=user)
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
