"""The pure parts of a caseworker's own rules: reading and checking the settings, what the team allows, and what
the settings do to a decision and to availability."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml

from scheduler.policy import store
from scheduler.policy.decision import Decision, ExplanationLine
from scheduler.policy.parse import parse_ruleset
from scheduler.policy.personal import BlockedTime, PersonalInvalid, PersonalSettings, parse_personal
from scheduler.policy.personal_effect import apply, narrow, shape
from scheduler.policy.personal_limits import team_limits, widening
from scheduler.policy.rules import Caps, Kind, Mode, RuleSet
from scheduler.policy.slots import CaseworkerAvailability, WorkingHours
from scheduler.policy.workdays import WorkCalendar

CALENDAR = WorkCalendar(tz="Europe/Berlin", holiday_region="DE-NI")
SITE = parse_ruleset(yaml.safe_load((Path(__file__).resolve().parents[2] / "scheduler" / "demo" /
                                     "policy-site.yaml").read_text(encoding="utf-8")))
CONCERNS = [("no_money", ("in_person", "phone")), ("documents", ("in_person",)), ("general", ()),
            ("eservice_help", ())]
MONDAY = datetime(2027, 3, 1, 7, tzinfo=UTC)  # 08:00 in Berlin


def make_decision(*, modes: tuple[Mode, ...] = (Mode.in_person, Mode.phone), earliest_start: datetime = MONDAY,
                  latest_start: datetime = MONDAY + timedelta(days=15),
                  explanation: tuple[ExplanationLine, ...] = ()) -> Decision:
    return Decision(kind=Kind.appointment, route_team=None, route_caseworker_id=7, priority=10,
                    duration=timedelta(minutes=30), earliest_start=earliest_start, latest_start=latest_start,
                    modes=modes, propose_count=3, auto_confirm=False, retry_after=timedelta(hours=2), max_attempts=3,
                    explanation=explanation)


def _errors(data: object) -> list[tuple[str, str]]:
    with pytest.raises(PersonalInvalid) as e:
        parse_personal(data)
    return [(x.field, x.code) for x in e.value.errors]


def test_settings_round_trip_through_their_stored_shape() -> None:
    settings = PersonalSettings(modes=(("general", (Mode.phone, Mode.video)),), buffer_minutes=10,
                                appointments_cap=5, callbacks_cap=None,
                                blocked=(BlockedTime(0, time(8), time(10), "Post"),), concerns=("general",),
                                lead_time=2)
    assert parse_personal(settings.to_dict()) == settings
    assert parse_personal({}) == PersonalSettings()


def test_every_problem_is_reported_at_its_field() -> None:
    assert _errors({"buffer_minutes": 500, "appointments_cap": "many", "lead_time": -1, "colour": "red",
                    "modes": {"general": ["carrier_pigeon"]},
                    "blocked": [{"weekday": 7, "from": "10:00", "to": "09:00"}, {"weekday": 1, "from": "8",
                                                                                "to": "25:00"}]}) == [
        ("colour", "unknown-field"), ("modes.general", "bad-mode"), ("buffer_minutes", "out-of-range"),
        ("appointments_cap", "not-a-number"), ("blocked[0].weekday", "out-of-range"),
        ("blocked[0].to", "end-before-start"), ("blocked[1].from", "bad-time"), ("blocked[1].to", "bad-time"),
        ("lead_time", "out-of-range")]
    assert _errors({"blocked": [{"weekday": 0, "from": "08:00", "to": "09:00"}] * 21}) == [("blocked", "too-many")]
    assert _errors({"blocked": [{"weekday": 0, "from": "08:00", "to": "09:00", "label": "x" * 81}]}) == [
        ("blocked[0].label", "too-long")]


def test_what_a_team_allows_comes_from_its_layered_rules() -> None:
    entrance = team_limits(SITE, team_code="entrance", concerns=CONCERNS, calendar=CALENDAR)
    assert entrance.concerns == ("no_money", "documents", "general", "eservice_help")
    assert entrance.modes["no_money"] == (Mode.in_person, Mode.phone)
    assert entrance.modes["documents"] == (Mode.in_person,)  # the concern's own modes narrow the rules'
    assert (entrance.appointments_cap, entrance.callbacks_cap, entrance.lead_time) == (8, 15, 1)
    placement = team_limits(SITE, team_code="placement", concerns=CONCERNS, calendar=CALENDAR)
    assert "no_money" not in placement.concerns  # routed to the entrance team by a rule on the concern alone
    team = parse_ruleset({"rules": [], "caps": {"appointments_per_caseworker_per_day": 6}})
    layered, _ = store.layered(("u25", _stored(team, store.Scope.team)), ("site", _stored(SITE, store.Scope.site)))
    assert team_limits(layered, team_code="u25", concerns=CONCERNS, calendar=CALENDAR).appointments_cap == 6


def _stored(ruleset: RuleSet, scope: store.Scope) -> store.StoredPolicy:
    return store.StoredPolicy(id=hash(scope) % 1000, site_id=1, scope=scope, team_id=None, staff_id=None, version=1,
                              status=store.PolicyStatus.active, ruleset=ruleset, source_yaml="", owner_id=None,
                              created_at=MONDAY, activated_at=MONDAY)


def test_a_caseworker_cannot_widen_the_team() -> None:
    limits = team_limits(SITE, team_code="placement", concerns=CONCERNS, calendar=CALENDAR)
    wide = PersonalSettings(appointments_cap=9, callbacks_cap=20, lead_time=0,
                            modes=(("documents", (Mode.video,)), ("no_money", (Mode.phone,))),
                            concerns=("general", "no_money"))
    assert [(e.field, e.code) for e in widening(wide, limits)] == [
        ("appointments_cap", "above-team-cap"), ("callbacks_cap", "above-team-cap"),
        ("lead_time", "below-team-lead-time"), ("modes.documents", "mode-not-allowed"),
        ("modes.no_money", "concern-not-taken"), ("take.no_money", "concern-not-taken")]
    assert [e.code for e in widening(PersonalSettings(lead_time=16), limits)] == ["beyond-team-within"]
    assert [e.code for e in widening(PersonalSettings(concerns=()), limits)] == ["no-concern"]
    narrow_ = PersonalSettings(appointments_cap=8, callbacks_cap=1, lead_time=3, concerns=("general",),
                               modes=(("general", (Mode.phone,)),))
    assert widening(narrow_, limits) == ()


def test_a_caseworker_layer_adds_rules_but_never_settings() -> None:
    mine = parse_ruleset({"rules": [], "caps": {"appointments_per_caseworker_per_day": 100},
                          "defaults": {"priority": 99}})
    merged, _ = store.layered(("caseworker-7", _stored(mine, store.Scope.caseworker)),
                              ("site", _stored(SITE, store.Scope.site)))
    assert merged.caps == SITE.caps and merged.defaults == SITE.defaults


def test_preferred_modes_and_notice_narrow_a_decision_routed_to_me() -> None:
    decision = make_decision(modes=(Mode.in_person, Mode.phone, Mode.video), earliest_start=MONDAY,
                             latest_start=MONDAY + timedelta(days=21),
                             explanation=(ExplanationLine("modes", "defaults", "in_person, phone, video"),
                                          ExplanationLine("lead_time", "defaults", "1 workday")))
    mine = PersonalSettings(modes=(("general", (Mode.video, Mode.phone)),), lead_time=3)
    narrowed = narrow(decision, mine, staff_id=7, concern="general", urgent=False, now=MONDAY, calendar=CALENDAR)
    assert narrowed.modes == (Mode.phone, Mode.video)
    assert narrowed.earliest_start == CALENDAR.add_workdays(MONDAY, 3)
    assert {(e.field, e.rule_id) for e in narrowed.explanation} == {("modes", "caseworker-7:personal"),
                                                                    ("lead_time", "caseworker-7:personal")}
    urgent = narrow(decision, mine, staff_id=7, concern="other", urgent=True, now=MONDAY, calendar=CALENDAR)
    assert urgent == decision  # another concern, and urgent requests keep the team's notice
    only_in_person = make_decision(modes=(Mode.in_person,))
    assert narrow(only_in_person, mine, staff_id=7, concern="general", urgent=False, now=MONDAY,
                  calendar=CALENDAR).modes == (Mode.in_person,)  # the client's wish wins over a preference


def test_blocked_times_buffer_and_cap_shape_availability() -> None:
    booked = (MONDAY + timedelta(hours=2), MONDAY + timedelta(hours=2, minutes=30))
    cw = CaseworkerAvailability(7, hours=(WorkingHours(0, time(8), time(12)),), busy=(booked,),
                                booked_per_day={MONDAY.date(): 1})
    mine = PersonalSettings(buffer_minutes=15, appointments_cap=3, blocked=(BlockedTime(0, time(8), time(10)),),
                            modes=(("general", (Mode.phone,)),))
    decision = make_decision(modes=(Mode.in_person, Mode.phone), earliest_start=MONDAY,
                             latest_start=MONDAY + timedelta(days=7))
    shaped = shape(cw, mine, decision=decision, concern="general", urgent=False, caps=Caps(8, 15), start=MONDAY,
                   end=MONDAY + timedelta(days=7), now=MONDAY, calendar=CALENDAR)
    assert shaped.busy == ((booked[0] - timedelta(minutes=15), booked[1] + timedelta(minutes=15)),)
    assert (MONDAY, MONDAY + timedelta(hours=2)) in shaped.absences  # Monday 08:00-10:00 Berlin
    assert shaped.booked_per_day[MONDAY.date()] == 1 + 5 and shaped.booked_per_day[MONDAY.date() + timedelta(1)] == 5
    assert shaped.hours[0].modes == frozenset({Mode.phone})


def test_a_concern_nobody_declines_keeps_everyone_and_decliners_drop_out() -> None:
    cws = [CaseworkerAvailability(i, hours=()) for i in (1, 2, 3)]
    personal = {2: PersonalSettings(concerns=("no_money",))}
    kwargs = dict(decision=make_decision(), urgent=False, caps=Caps(), start=MONDAY, end=MONDAY + timedelta(1),
                  now=MONDAY, calendar=CALENDAR)
    assert [c.caseworker_id for c in apply(cws, personal, concern="general", team_routed=True, **kwargs)] == [1, 3]
    assert [c.caseworker_id for c in apply(cws, personal, concern="no_money", team_routed=True, **kwargs)] == [1, 2, 3]
    assert [c.caseworker_id for c in apply(cws, personal, concern="general", team_routed=False, **kwargs)] == [1, 2, 3]
    everyone = {i: PersonalSettings(concerns=("no_money",)) for i in (1, 2, 3)}
    assert len(apply(cws, everyone, concern="general", team_routed=True, **kwargs)) == 3
