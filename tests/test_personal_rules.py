"""A caseworker's own rules in effect, with real proposals: blocked times, buffer, personal cap, preferred
modes, notice and the concerns they take; saving refuses widening; the preview stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from scheduler import personal_rules, planning, sites
from scheduler import proposals as proposals_
from scheduler import requests as requests_
from scheduler.policy import store
from scheduler.policy.personal import BlockedTime, PersonalInvalid, PersonalSettings
from scheduler.policy.rules import Mode
from tests.factories import SiteFacts, create_appointment, create_request

NOW = datetime.now(UTC)
MEYER_CLIENT = "+4915123456704"  # assigned to cw.meyer in the demo data
MORNINGS = tuple(BlockedTime(d, time(8), time(12), "Post") for d in range(5))


async def _set(pool: asyncpg.Pool, site: SiteFacts, username: str, settings: PersonalSettings) -> None:
    await personal_rules.save(pool, site_id=site.site_id, staff_id=site.staff[username], settings=settings,
                              activate=True)


async def _proposals(conn: asyncpg.Connection, site: SiteFacts, *, concern: str = "job_offer",
                     client: str | None = MEYER_CLIENT) -> tuple[requests_.Request, list[proposals_.Proposal]]:
    request_id = await create_request(conn, site, client_id=site.clients[client] if client else None,
                                      concern=concern)
    async with conn.transaction():
        await planning.plan_and_propose(conn, request_id, route=None, now=NOW, reminder_offsets=(), actor="test")
    found = await proposals_.list_for_request(conn, request_id)
    # Held proposals count as busy for the next search: forget them, so each search sees the same calendar.
    await conn.execute("DELETE FROM proposals WHERE request_id = $1", request_id)
    return await requests_.get(conn, request_id), found


def _local(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("Europe/Berlin"))  # the demo site's zone


async def test_blocked_mornings_leave_only_afternoon_proposals(conn: asyncpg.Connection, pool: asyncpg.Pool,
                                                               site: SiteFacts) -> None:
    _, before = await _proposals(conn, site)
    assert any(_local(p.start).hour < 12 for p in before)
    await _set(pool, site, "cw.meyer", PersonalSettings(blocked=MORNINGS))
    _, after = await _proposals(conn, site)
    assert after and all(_local(p.start).hour >= 13 for p in after)
    assert {p.staff_id for p in after} == {site.staff["cw.meyer"]}


async def test_the_buffer_keeps_free_minutes_after_a_booking(conn: asyncpg.Connection, pool: asyncpg.Pool,
                                                             site: SiteFacts) -> None:
    _, before = await _proposals(conn, site)
    first = before[0]
    await create_appointment(conn, site, staff="cw.meyer", start=first.start, minutes=30)
    _, unbuffered = await _proposals(conn, site)
    same_day = [p for p in unbuffered if _local(p.start).date() == _local(first.start).date()]
    assert same_day and same_day[0].start == first.start + timedelta(minutes=30)  # right after the booking
    await _set(pool, site, "cw.meyer", PersonalSettings(buffer_minutes=45))
    _, buffered = await _proposals(conn, site)
    booked = (first.start, first.start + timedelta(minutes=30))
    for p in buffered:
        assert p.end + timedelta(minutes=45) <= booked[0] or p.start >= booked[1] + timedelta(minutes=45)
    assert any(p.start == booked[1] + timedelta(minutes=45) for p in buffered)


async def test_a_personal_cap_closes_a_day_earlier_than_the_teams(conn: asyncpg.Connection, pool: asyncpg.Pool,
                                                                  site: SiteFacts) -> None:
    _, before = await _proposals(conn, site)
    day = _local(before[0].start).date()
    await create_appointment(conn, site, staff="cw.meyer", start=before[0].start, minutes=30)
    _, team_cap = await _proposals(conn, site)
    assert any(_local(p.start).date() == day for p in team_cap)  # 1 of 8 booked: the day is open
    await _set(pool, site, "cw.meyer", PersonalSettings(appointments_cap=1))
    _, own_cap = await _proposals(conn, site)
    assert own_cap and all(_local(p.start).date() != day for p in own_cap)


async def test_preferred_modes_narrow_the_decision_of_a_request_routed_to_me(
        conn: asyncpg.Connection, pool: asyncpg.Pool, site: SiteFacts) -> None:
    request, before = await _proposals(conn, site)
    assert request.decision is not None and request.decision.modes[0] is Mode.in_person
    await _set(pool, site, "cw.meyer", PersonalSettings(modes=(("job_offer", (Mode.phone,)),)))
    request, after = await _proposals(conn, site)
    assert request.decision is not None and request.decision.modes == (Mode.phone,)
    line = next(e for e in request.decision.explanation if e.field == "modes")
    assert line.rule_id == f"caseworker-{site.staff['cw.meyer']}:personal"
    assert after and {p.mode for p in after} == {"phone"}
    # Another concern keeps the team's modes.
    other, _ = await _proposals(conn, site, concern="general")
    assert other.decision is not None and Mode.in_person in other.decision.modes


async def test_more_notice_moves_the_first_proposal(conn: asyncpg.Connection, pool: asyncpg.Pool,
                                                    site: SiteFacts) -> None:
    await _set(pool, site, "cw.meyer", PersonalSettings(lead_time=5))
    request, after = await _proposals(conn, site)
    calendar = (await sites.site_by_id(conn, site.site_id)).calendar()
    assert after and all(p.start >= calendar.add_workdays(NOW, 5) for p in after)
    assert request.decision is not None and request.decision.earliest_start >= calendar.add_workdays(NOW, 5)


async def test_a_concern_i_do_not_take_goes_to_my_colleagues(conn: asyncpg.Connection, pool: asyncpg.Pool,
                                                            site: SiteFacts) -> None:
    # A client without an assigned caseworker: the request goes to the entrance team, shared out by free time.
    others = ("lead.entrance", "cw.kowalenko", "cw.haddad")
    for username in others:
        await _set(pool, site, username, PersonalSettings(concerns=("no_money",)))
    request, after = await _proposals(conn, site, concern="general", client=None)
    assert request.team_id == site.teams["entrance"] and request.staff_id is None
    assert after and {p.staff_id for p in after} == {site.staff["cw.yilmaz"]}
    # Nobody of the team takes it: it is not left without a caseworker.
    await _set(pool, site, "cw.yilmaz", PersonalSettings(concerns=("no_money",)))
    _, nobody = await _proposals(conn, site, concern="general", client=None)
    assert nobody


@pytest.mark.parametrize(("settings", "field", "code"), [
    (PersonalSettings(appointments_cap=9), "appointments_cap", "above-team-cap"),
    (PersonalSettings(callbacks_cap=16), "callbacks_cap", "above-team-cap"),
    (PersonalSettings(lead_time=0), "lead_time", "below-team-lead-time"),
    (PersonalSettings(modes=(("documents", (Mode.phone,)),)), "modes.documents", "mode-not-allowed"),
    (PersonalSettings(concerns=("no_money", "general")), "take.no_money", "concern-not-taken"),
])
async def test_saving_refuses_to_widen_the_team(conn: asyncpg.Connection, pool: asyncpg.Pool, site: SiteFacts,
                                                settings: PersonalSettings, field: str, code: str) -> None:
    with pytest.raises(PersonalInvalid) as refused:
        await _set(pool, site, "cw.meyer", settings)
    assert [(e.field, e.code) for e in refused.value.errors] == [(field, code)]
    assert not await personal_rules.versions(conn, site_id=site.site_id, staff_id=site.staff["cw.meyer"])


async def test_my_settings_never_replace_the_teams_defaults(conn: asyncpg.Connection, pool: asyncpg.Pool,
                                                            site: SiteFacts) -> None:
    await _set(pool, site, "cw.meyer", PersonalSettings(buffer_minutes=5))
    request, _ = await _proposals(conn, site, concern="no_money")
    assert request.decision is not None and request.decision.priority == 90  # the site's rule still decides
    active = await store.active(conn, site.site_id)
    merged, _ = store.layered(("caseworker-1", active.caseworkers[site.staff["cw.meyer"]]), ("site", active.site))
    assert merged.caps == active.site.ruleset.caps and merged.defaults == active.site.ruleset.defaults  # type: ignore[union-attr]


async def test_the_preview_compares_and_stores_nothing(conn: asyncpg.Connection, pool: asyncpg.Pool,
                                                       site: SiteFacts) -> None:
    request, _ = await _proposals(conn, site)
    await conn.execute("UPDATE requests SET staff_id = $2 WHERE id = $1", request.id, site.staff["cw.meyer"])
    rows = await personal_rules.preview(pool, site_id=site.site_id, staff_id=site.staff["cw.meyer"],
                                        settings=PersonalSettings(modes=(("job_offer", (Mode.video,)),)), now=NOW)
    row = next(r for r in rows if r.request_id == request.id)
    assert row.changed and row.after_modes == (Mode.video,) and Mode.in_person in row.before_modes
    assert not await personal_rules.versions(conn, site_id=site.site_id, staff_id=site.staff["cw.meyer"])
