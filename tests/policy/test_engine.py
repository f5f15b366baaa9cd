from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.policy.engine import (
    CaseworkerAvailability,
    ClientWindows,
    DayPart,
    Decision,
    ExplanationLine,
    QueueItem,
    RequestFacts,
    Slot,
    WorkingHours,
    decide,
    order,
    propose,
    score,
)
from scheduler.policy.rules import Caps, Channel, Kind, Mode, Ordering, TieBreak, load_yaml
from scheduler.policy.workdays import WorkCalendar

BERLIN = ZoneInfo("Europe/Berlin")
CAL = WorkCalendar()


def at(y: int, m: int, d: int, h: int = 0, mi: int = 0, zone: ZoneInfo = BERLIN) -> datetime:
    """A local wall time (must exist) as an aware UTC datetime."""
    return datetime(y, m, d, h, mi, tzinfo=zone).astimezone(UTC)


def wall(dt: datetime, zone: ZoneInfo = BERLIN) -> str:
    return dt.astimezone(zone).strftime("%a %Y-%m-%d %H:%M%z")


RULES = load_yaml("""
rules:
  - id: no-money
    when: {concern: [no_money, eviction]}
    then: {priority: 90, route: {team: entrance}, duration: 20m, within: 1 workday, modes: [in_person, phone]}
  - id: young
    when: {age: {lt: 25}}
    then: {priority: 40, route: {team: u25}, duration: 45m, lead_time: 2 workdays, within: 10 workdays}
  - id: money-phone
    when: {concern: no_money, channel: phone}
    then: {priority: 99, lead_time: 0, propose: 5, modes: [phone]}
  - id: eservice-help
    when: {concern: eservice_help}
    then: {duration: 20m, modes: [video, phone, in_person], auto_confirm: true}
  - id: eservice-kiosk
    when: {concern: eservice_help, channel: kiosk}
    then: {auto_confirm: false}
  - id: own-caseworker
    when: {concern: job_offer}
    then: {route: {caseworker: assigned}}
  - id: fixed
    when: {concern: [job_offer, sanctions]}
    then: {route: {caseworker: 17}}
  - id: long-lead
    when: {concern: training, urgent: false}
    then: {lead_time: 5 workdays}
  - id: short-window
    when: {concern: training}
    then: {within: 3 workdays}
defaults: {priority: 10, duration: 30m, lead_time: 1 workday, within: 15 workdays,
           route: {caseworker: assigned}}
callbacks: {retry_after: 90m, max_attempts: 4}
""")

NOW = at(2026, 12, 23, 10)  # Wednesday before Christmas


def facts(**kw: object) -> RequestFacts:
    base = RequestFacts(
        kind=Kind.appointment,
        concern="general",
        channel=Channel.web,
        language="de",
        age=40,
        urgent=False,
        wished_modes=frozenset(),
        assigned_caseworker_id=None,
        received_at=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def run(f: RequestFacts, now: datetime = NOW, calendar: WorkCalendar = CAL) -> Decision:
    return decide(f, RULES, now=now, calendar=calendar, default_team="general")


def sources(d: Decision) -> dict[str, tuple[str, str]]:
    return {line.field: (line.rule_id, line.value) for line in d.explanation}


# ------------------------------------------------------------------------------------------ decide


def test_defaults_when_no_rule_matches() -> None:
    d = run(facts(concern="other", assigned_caseworker_id=5))
    assert (d.priority, d.duration, d.route_team, d.route_caseworker_id) == (
        10,
        timedelta(minutes=30),
        None,
        5,
    )
    assert d.modes == (Mode.in_person, Mode.phone, Mode.video)
    assert (d.propose_count, d.auto_confirm) == (3, False)
    assert (d.retry_after, d.max_attempts) == (timedelta(minutes=90), 4)
    assert d.explanation == (
        ExplanationLine("priority", "defaults", "10"),
        ExplanationLine("route", "defaults", "assigned caseworker 5"),
        ExplanationLine("duration", "defaults", "30m"),
        ExplanationLine("lead_time", "defaults", "1 workday"),
        ExplanationLine("within", "defaults", "15 workdays"),
        ExplanationLine("modes", "defaults", "in_person, phone, video"),
        ExplanationLine("propose", "defaults", "3"),
        ExplanationLine("auto_confirm", "defaults", "false"),
    )
    assert d.summary() == "defaults: priority 10, assigned caseworker 5"


def test_first_matching_rule_wins_per_field() -> None:
    # no-money, young and money-phone all match; each field comes from the first that sets it.
    d = run(facts(concern="no_money", channel=Channel.phone, age=20))
    assert sources(d) == {
        "priority": ("no-money", "90"),
        "route": ("no-money", "team entrance"),
        "duration": ("no-money", "20m"),
        "lead_time": ("young", "2 workdays"),
        "within": ("no-money", "2 workdays (raised to lead_time)"),
        "modes": ("no-money", "in_person, phone"),
        "propose": ("money-phone", "5"),
        "auto_confirm": ("defaults", "false"),
    }
    assert (d.priority, d.route_team, d.propose_count) == (90, "entrance", 5)
    assert d.summary() == "no-money: priority 90, team entrance"


def test_rule_order_matters_for_a_later_match() -> None:
    d = run(facts(concern="general", age=20))
    assert (d.priority, d.route_team, d.duration) == (40, "u25", timedelta(minutes=45))
    assert d.summary() == "young: priority 40, team u25"


@pytest.mark.parametrize(
    ("concern", "assigned", "team", "caseworker", "source", "text"),
    [
        ("job_offer", 42, None, 42, "own-caseworker", "assigned caseworker 42"),
        # no assigned caseworker: own-caseworker is skipped, the next rule's route applies
        ("job_offer", None, None, 17, "fixed", "caseworker 17"),
        ("sanctions", 42, None, 17, "fixed", "caseworker 17"),
        ("general", 42, None, 42, "defaults", "assigned caseworker 42"),
        # defaults say "assigned" too; without one, the site's default team
        ("general", None, "general", None, "defaults", "team general (no assigned caseworker)"),
        ("no_money", 42, "entrance", None, "no-money", "team entrance"),
    ],
)
def test_route(
    concern: str, assigned: int | None, team: str | None, caseworker: int | None, source: str, text: str
) -> None:
    d = run(facts(concern=concern, assigned_caseworker_id=assigned))
    assert (d.route_team, d.route_caseworker_id) == (team, caseworker)
    assert sources(d)["route"] == (source, text)


@pytest.mark.parametrize(
    ("concern", "channel", "auto", "source"),
    [
        ("eservice_help", Channel.web, True, "eservice-help"),
        ("eservice_help", Channel.kiosk, True, "eservice-help"),  # the first rule setting it wins
        ("general", Channel.web, False, "defaults"),
    ],
)
def test_auto_confirm_only_from_rules(concern: str, channel: Channel, auto: bool, source: str) -> None:
    d = run(facts(concern=concern, channel=channel))
    assert d.auto_confirm is auto
    assert sources(d)["auto_confirm"][0] == source


def test_auto_confirm_false_from_an_earlier_rule_wins() -> None:
    rs = load_yaml("""
rules:
  - {id: off, when: {channel: kiosk}, then: {auto_confirm: false}}
  - {id: on, when: {concern: eservice_help}, then: {auto_confirm: true}}
""")
    d = decide(
        facts(concern="eservice_help", channel=Channel.kiosk), rs, now=NOW, calendar=CAL, default_team="g"
    )
    assert d.auto_confirm is False
    assert sources(d)["auto_confirm"] == ("off", "false")


@pytest.mark.parametrize(
    ("wished", "modes"),
    [
        (frozenset(), (Mode.in_person, Mode.phone)),
        (frozenset({Mode.phone, Mode.video}), (Mode.phone,)),
        (frozenset({Mode.video}), (Mode.in_person, Mode.phone)),  # nothing left: the rule's modes
        (frozenset(Mode), (Mode.in_person, Mode.phone)),
    ],
)
def test_modes_intersect_with_client_wish(wished: frozenset[Mode], modes: tuple[Mode, ...]) -> None:
    assert run(facts(concern="no_money", wished_modes=wished)).modes == modes


@pytest.mark.parametrize(
    ("kw", "earliest", "latest"),
    [
        # Wed 23 Dec: lead 1 -> Thu 24 (a workday in NI); 25/26 holidays, 27 Sunday.
        ({"concern": "no_money"}, date(2026, 12, 24), date(2026, 12, 24)),
        ({"concern": "general"}, date(2026, 12, 24), date(2027, 1, 15)),
        ({"concern": "general", "age": 20}, date(2026, 12, 28), date(2027, 1, 8)),
        # 3 workdays: 24, 28, 29 -> raised to lead_time 5: 24, 28, 29, 30, 31
        ({"concern": "training"}, date(2026, 12, 31), date(2026, 12, 31)),
    ],
)
def test_window_in_workdays_across_holidays(kw: dict[str, object], earliest: date, latest: date) -> None:
    d = run(facts(**kw))
    assert d.earliest_start == at(earliest.year, earliest.month, earliest.day)
    assert d.latest_start == at(latest.year, latest.month, latest.day) + timedelta(days=1)
    assert d.earliest_start.tzinfo is UTC


def test_lead_time_zero_starts_now() -> None:
    d = run(facts(concern="no_money", channel=Channel.phone))
    assert d.earliest_start == NOW


def test_window_over_a_weekend_and_new_year() -> None:
    friday = at(2027, 1, 1, 9)  # New Year's Day (holiday), a Friday
    d = run(facts(concern="no_money"), now=friday)
    assert wall(d.earliest_start) == "Mon 2027-01-04 00:00+0100"
    assert wall(d.latest_start) == "Tue 2027-01-05 00:00+0100"


def test_extra_closed_days_count_as_holidays() -> None:
    cal = WorkCalendar(extra_closed=frozenset({date(2026, 12, 24), date(2026, 12, 31)}))
    d = run(facts(concern="no_money"), calendar=cal)
    assert wall(d.earliest_start) == "Mon 2026-12-28 00:00+0100"


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2026, 12, 23), True),
        (date(2026, 12, 24), True),  # Christmas Eve is not a public holiday in Lower Saxony
        (date(2026, 12, 25), False),
        (date(2026, 12, 26), False),
        (date(2026, 12, 27), False),
        (date(2026, 12, 31), True),
        (date(2027, 1, 1), False),
        (date(2026, 10, 31), False),  # Reformation Day (NI), a Saturday anyway
        (date(2027, 3, 26), False),  # Good Friday
        (date(2027, 3, 29), False),  # Easter Monday
    ],
)
def test_is_workday(day: date, workday: bool) -> None:
    assert CAL.is_workday(day) is workday


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (at(2026, 12, 23, 10), 0, "Wed 2026-12-23 00:00+0100"),
        (at(2026, 12, 23, 10), 1, "Thu 2026-12-24 00:00+0100"),
        (at(2026, 12, 23, 10), 2, "Mon 2026-12-28 00:00+0100"),
        (at(2026, 12, 30, 23, 30), 2, "Mon 2027-01-04 00:00+0100"),
        (at(2027, 3, 24, 10), 2, "Tue 2027-03-30 00:00+0200"),  # Good Friday, DST, Easter Monday
        (at(2026, 10, 23, 10), 1, "Mon 2026-10-26 00:00+0100"),  # over the autumn DST change
    ],
)
def test_add_workdays(start: datetime, n: int, expected: str) -> None:
    result = CAL.add_workdays(start, n)
    assert result.tzinfo is UTC
    assert wall(result) == expected
    assert CAL.workdays_between(start, result) == n


@pytest.mark.parametrize(
    ("a", "b", "n"),
    [
        (at(2026, 12, 23, 10), at(2026, 12, 23, 18), 0),
        (at(2026, 12, 23, 10), at(2026, 12, 28, 8), 2),
        (at(2026, 12, 18, 10), at(2027, 1, 8, 8), 13),
        (at(2027, 1, 8, 8), at(2026, 12, 18, 10), -13),
        (at(2026, 1, 1), at(2027, 1, 1), 254),
    ],
)
def test_workdays_between(a: datetime, b: datetime, n: int) -> None:
    assert CAL.workdays_between(a, b) == n


def test_decision_json_round_trip() -> None:
    d = run(facts(concern="no_money", channel=Channel.phone, age=20, assigned_caseworker_id=3))
    doc = json.loads(json.dumps(d.to_json()))
    assert Decision.from_json(doc) == d


def test_decision_from_json_rejects_garbage() -> None:
    doc = run(facts()).to_json()
    doc["priority"] = "high"
    with pytest.raises(ValueError):
        Decision.from_json(doc)


# ------------------------------------------------------------------------------------------- order

ORDERING = Ordering(aging_per_workday=5, tie_break=TieBreak.oldest_first)
TODAY = at(2027, 3, 10, 12)  # Wednesday


def ids(items: list[QueueItem], ordering: Ordering = ORDERING, now: datetime = TODAY) -> list[int]:
    return [i.id for i in order(items, ordering, now=now, calendar=CAL)]


def test_order_by_priority() -> None:
    items = [QueueItem(1, 10, TODAY, None), QueueItem(2, 90, TODAY, None), QueueItem(3, 40, TODAY, None)]
    assert ids(items) == [2, 3, 1]


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (at(2027, 3, 9, 9), [2, 1]),  # 1 workday: 10 + 5 < 20
        (at(2027, 3, 8, 9), [1, 2]),  # 2 workdays: 20 == 20, the older one first
        (at(2027, 3, 5, 9), [1, 2]),  # Friday -> Wednesday is 3 workdays: 25 > 20
    ],
)
def test_aging_overtakes_priority(received: datetime, expected: list[int]) -> None:
    items = [QueueItem(1, 10, received, None), QueueItem(2, 20, TODAY, None)]
    assert ids(items) == expected


def test_score() -> None:
    assert score(QueueItem(1, 10, at(2027, 3, 5, 9), None), ORDERING, now=TODAY, calendar=CAL) == 25
    assert score(QueueItem(1, 10, TODAY + timedelta(days=3), None), ORDERING, now=TODAY, calendar=CAL) == 10


@pytest.mark.parametrize(
    ("tie_break", "expected"), [(TieBreak.oldest_first, [2, 3, 1, 4]), (TieBreak.newest_first, [4, 1, 3, 2])]
)
def test_ties(tie_break: TieBreak, expected: list[int]) -> None:
    items = [
        QueueItem(1, 50, at(2027, 3, 10, 9), None),
        QueueItem(2, 50, at(2027, 3, 10, 8), None),
        QueueItem(3, 50, at(2027, 3, 10, 8, 30), None),
        QueueItem(4, 50, at(2027, 3, 10, 10), None),
    ]
    assert ids(items, Ordering(aging_per_workday=5, tie_break=tie_break)) == expected


def test_same_score_and_time_breaks_by_id() -> None:
    items = [QueueItem(9, 50, TODAY, None), QueueItem(3, 50, TODAY, None)]
    assert ids(items) == [3, 9]


def test_manual_ranks_win_and_keep_their_order() -> None:
    items = [
        QueueItem(1, 99, at(2027, 1, 4), None),
        QueueItem(2, 0, TODAY, 2.0),
        QueueItem(3, 50, TODAY, None),
        QueueItem(4, 0, TODAY, 0.5),
        QueueItem(5, 10, TODAY, 1.25),
    ]
    assert ids(items) == [4, 5, 2, 1, 3]


# ----------------------------------------------------------------------------------------- propose

WEEKDAYS = tuple(WorkingHours(w, time(8), time(12), "A1", frozenset(Mode)) for w in range(5))
CW1 = CaseworkerAvailability(1, WEEKDAYS)
CAPS = Caps(appointments_per_caseworker_per_day=8, callbacks_per_caseworker_per_day=15)


def decision(
    earliest: datetime,
    latest: datetime,
    *,
    duration: timedelta = timedelta(minutes=30),
    modes: tuple[Mode, ...] = (Mode.in_person, Mode.phone),
    count: int = 3,
    kind: Kind = Kind.appointment,
) -> Decision:
    return Decision(
        kind=kind,
        route_team="t",
        route_caseworker_id=None,
        priority=10,
        duration=duration,
        earliest_start=earliest,
        latest_start=latest,
        modes=modes,
        propose_count=count,
        auto_confirm=False,
        retry_after=timedelta(hours=2),
        max_attempts=3,
        explanation=(),
    )


def slots(
    d: Decision,
    availability: list[CaseworkerAvailability] | None = None,
    *,
    windows: ClientWindows | None = None,
    caps: Caps = CAPS,
    now: datetime | None = None,
    calendar: WorkCalendar = CAL,
    step: timedelta = timedelta(minutes=15),
) -> list[Slot]:
    return propose(
        d,
        [CW1] if availability is None else availability,
        client_windows=windows or ClientWindows(),
        caps=caps,
        now=now or d.earliest_start - timedelta(hours=12),
        calendar=calendar,
        step=step,
    )


def walls(result: list[Slot], zone: ZoneInfo = BERLIN) -> list[str]:
    return [wall(s.start, zone) for s in result]


# a quiet week: Mon 1 Feb - Fri 5 Feb 2027
MON, TUE, WED, THU, FRI = (at(2027, 2, d) for d in range(1, 6))
SAT = at(2027, 2, 6)


def test_propose_basic() -> None:
    result = slots(decision(TUE, SAT))
    assert walls(result) == [
        "Tue 2027-02-02 08:00+0100",
        "Wed 2027-02-03 08:00+0100",
        "Thu 2027-02-04 08:00+0100",
    ]
    first = result[0]
    assert first == Slot(1, at(2027, 2, 2, 8), at(2027, 2, 2, 8, 30), Mode.in_person, "A1")
    assert first.start.tzinfo is UTC and first.end.tzinfo is UTC


def test_propose_dst_spring_week() -> None:
    hours = tuple(WorkingHours(w, time(8), time(16), "A1", frozenset(Mode)) for w in range(5))
    # Thu 25 Mar 2027 .. Wed 31 Mar; Good Friday 26 and Easter Monday 29 are holidays; DST on Sun 28.
    d = decision(at(2027, 3, 24), at(2027, 4, 1), duration=timedelta(minutes=45), count=4)
    result = slots(d, [CaseworkerAvailability(1, hours)])
    assert walls(result) == [
        "Wed 2027-03-24 08:00+0100",
        "Thu 2027-03-25 08:00+0100",
        "Tue 2027-03-30 08:00+0200",
        "Wed 2027-03-31 08:00+0200",
    ]
    for s in result:
        assert s.end - s.start == timedelta(minutes=45)
        local = s.start.astimezone(BERLIN)
        assert (
            local.replace(tzinfo=None).replace(tzinfo=BERLIN).astimezone(UTC) == s.start
        )  # wall time exists


def test_propose_dst_autumn_week() -> None:
    d = decision(at(2026, 10, 22), at(2026, 10, 28), count=4)
    result = slots(d)
    assert walls(result) == [
        "Thu 2026-10-22 08:00+0200",
        "Fri 2026-10-23 08:00+0200",
        "Mon 2026-10-26 08:00+0100",
        "Tue 2026-10-27 08:00+0100",
    ]
    assert [s.start.hour for s in result] == [6, 6, 7, 7]  # UTC


def test_propose_skips_nonexistent_wall_times() -> None:
    # Israel springs forward on a Friday at 02:00, so a weekday block can straddle the gap.
    jerusalem = ZoneInfo("Asia/Jerusalem")
    cal = WorkCalendar(tz="Asia/Jerusalem", holiday_region="IL")  # Good Friday is a holiday in DE
    hours = (WorkingHours(4, time(0), time(5), "night", frozenset(Mode)),)
    d = decision(at(2027, 3, 26, zone=jerusalem), at(2027, 3, 27, zone=jerusalem), count=10)
    result = slots(
        d, [CaseworkerAvailability(1, hours)], calendar=cal, step=timedelta(minutes=30), caps=Caps(20, 20)
    )
    assert walls(result, jerusalem) == [
        "Fri 2027-03-26 00:00+0200",
        "Fri 2027-03-26 00:30+0200",
        "Fri 2027-03-26 01:00+0200",
        "Fri 2027-03-26 01:30+0200",  # ends 03:00 IDT: the clock jumped, only 30 real minutes passed
        "Fri 2027-03-26 03:00+0300",
        "Fri 2027-03-26 03:30+0300",
        "Fri 2027-03-26 04:00+0300",
        "Fri 2027-03-26 04:30+0300",
    ]
    assert all(s.end - s.start == timedelta(minutes=30) for s in result)


def test_propose_ambiguous_hour_uses_first_occurrence() -> None:
    # Cairo falls back at midnight Thursday -> 23:00 again: 23:00-23:59 happens twice.
    cairo = ZoneInfo("Africa/Cairo")
    cal = WorkCalendar(tz="Africa/Cairo", holiday_region="EG")
    hours = (WorkingHours(3, time(22), time(23, 45), None, frozenset(Mode)),)
    d = decision(at(2026, 10, 29, zone=cairo), at(2026, 10, 30, zone=cairo), count=10)
    result = slots(d, [CaseworkerAvailability(1, hours)], calendar=cal, caps=Caps(20, 20))
    assert walls(result, cairo) == [
        "Thu 2026-10-29 22:00+0300",
        "Thu 2026-10-29 22:30+0300",
        "Thu 2026-10-29 23:00+0300",
    ]


def test_propose_excludes_holidays() -> None:
    d = decision(at(2026, 12, 23), at(2027, 1, 1), count=4)
    assert walls(slots(d)) == [
        "Wed 2026-12-23 08:00+0100",
        "Thu 2026-12-24 08:00+0100",
        "Mon 2026-12-28 08:00+0100",
        "Tue 2026-12-29 08:00+0100",
    ]
    closed = WorkCalendar(extra_closed=frozenset({date(2026, 12, 24)}))
    assert walls(slots(d, calendar=closed))[1] == "Mon 2026-12-28 08:00+0100"


def test_propose_excludes_absences() -> None:
    cw = replace(CW1, absences=((TUE, WED + timedelta(hours=10)),))  # Tue + Wed until 10:00 local
    assert walls(slots(decision(TUE, SAT), [cw])) == [
        "Wed 2027-02-03 10:00+0100",
        "Thu 2027-02-04 08:00+0100",
        "Fri 2027-02-05 08:00+0100",
    ]


def test_propose_skips_busy_ranges_onto_the_grid() -> None:
    busy = (
        (at(2027, 2, 2, 8, 30), at(2027, 2, 2, 9, 10)),
        (at(2027, 2, 2, 8), at(2027, 2, 2, 8, 30)),
        (at(2027, 2, 3, 8, 10), at(2027, 2, 3, 8, 20)),
    )
    result = slots(decision(TUE, THU), [replace(CW1, busy=busy)])
    # two days, three slots: the first of each day, then a second one on the first day
    assert walls(result) == [
        "Tue 2027-02-02 09:15+0100",
        "Tue 2027-02-02 09:45+0100",
        "Wed 2027-02-03 08:30+0100",
    ]


@pytest.mark.parametrize(
    ("booked", "cap", "kind", "expected"),
    [
        ({date(2027, 2, 2): 8}, CAPS, Kind.appointment, ["Wed 08:00", "Wed 08:30", "Wed 09:00"]),
        ({date(2027, 2, 2): 8}, CAPS, Kind.callback, ["Tue 08:00", "Tue 08:30", "Wed 08:00"]),
        ({date(2027, 2, 2): 1}, Caps(2, 2), Kind.appointment, ["Tue 08:00", "Wed 08:00", "Wed 08:30"]),
        ({date(2027, 2, 2): 2, date(2027, 2, 3): 2}, Caps(2, 2), Kind.appointment, []),
    ],
)
def test_propose_respects_daily_caps(
    booked: dict[date, int], cap: Caps, kind: Kind, expected: list[str]
) -> None:
    result = slots(decision(TUE, THU, kind=kind, count=3), [replace(CW1, booked_per_day=booked)], caps=cap)
    assert [s.start.astimezone(BERLIN).strftime("%a %H:%M") for s in result] == expected


@pytest.mark.parametrize(
    ("windows", "expected"),
    [
        (ClientWindows(weekdays=frozenset({2})), ["Wed 10:00", "Wed 10:30", "Wed 11:00"]),
        (ClientWindows(parts=frozenset({DayPart.afternoon})), ["Tue 12:00", "Wed 12:00", "Thu 12:00"]),
        (
            ClientWindows(weekdays=frozenset({3}), parts=frozenset({DayPart.morning})),
            ["Thu 10:00", "Thu 10:30", "Thu 11:00"],
        ),
        (
            ClientWindows(date_from=date(2027, 2, 4), date_to=date(2027, 2, 5)),
            ["Thu 10:00", "Fri 10:00", "Thu 10:30"],
        ),
    ],
)
def test_propose_client_windows(windows: ClientWindows, expected: list[str]) -> None:
    hours = tuple(WorkingHours(w, time(10), time(15), "B2", frozenset(Mode)) for w in range(5))
    result = slots(decision(TUE, SAT), [CaseworkerAvailability(1, hours)], windows=windows)
    assert sorted(s.start.astimezone(BERLIN).strftime("%a %H:%M") for s in result) == sorted(expected)


def test_propose_spreads_over_days_then_fills() -> None:
    d = decision(TUE, THU, count=5)
    assert [s.start.astimezone(BERLIN).strftime("%a %H:%M") for s in slots(d)] == [
        "Tue 08:00",
        "Tue 08:30",
        "Tue 09:00",
        "Wed 08:00",
        "Wed 08:30",
    ]


def test_propose_prefers_lower_caseworker_id_on_ties_and_spreads_over_days() -> None:
    cw2 = CaseworkerAvailability(2, WEEKDAYS)
    late = CaseworkerAvailability(3, tuple(WorkingHours(w, time(7), time(9), None) for w in range(5)))
    result = slots(decision(TUE, THU, count=3), [cw2, CW1, late])
    assert [(s.caseworker_id, s.start.astimezone(BERLIN).strftime("%a %H:%M")) for s in result] == [
        (3, "Tue 07:00"),
        (3, "Tue 07:30"),
        (3, "Wed 07:00"),
    ]
    result = slots(decision(TUE, THU, count=3), [cw2, CW1])
    assert [(s.caseworker_id, s.start.astimezone(BERLIN).strftime("%a %H:%M")) for s in result] == [
        (1, "Tue 08:00"),
        (2, "Tue 08:00"),
        (1, "Wed 08:00"),
    ]


@pytest.mark.parametrize(
    ("now", "latest", "expected"),
    [
        (at(2027, 2, 2, 10, 7), SAT, ["Tue 10:15", "Wed 08:00", "Thu 08:00"]),
        (MON, at(2027, 2, 2, 9), ["Tue 08:00", "Tue 08:30"]),  # starts strictly before latest
        (at(2027, 2, 2, 11, 31), WED, []),
        (SAT, SAT, []),
    ],
)
def test_propose_earliest_latest(now: datetime, latest: datetime, expected: list[str]) -> None:
    result = slots(decision(TUE, latest, count=3), now=now)
    assert [s.start.astimezone(BERLIN).strftime("%a %H:%M") for s in result] == expected


@pytest.mark.parametrize(
    ("decision_modes", "hours_modes", "mode"),
    [
        ((Mode.video, Mode.phone), {Mode.phone, Mode.in_person}, Mode.phone),
        ((Mode.video, Mode.phone), {Mode.phone, Mode.video}, Mode.video),
        ((Mode.in_person,), {Mode.phone, Mode.video}, None),
    ],
)
def test_propose_mode(decision_modes: tuple[Mode, ...], hours_modes: set[Mode], mode: Mode | None) -> None:
    hours = tuple(WorkingHours(w, time(8), time(12), "A1", frozenset(hours_modes)) for w in range(5))
    result = slots(decision(TUE, SAT, modes=decision_modes), [CaseworkerAvailability(1, hours)])
    assert [s.mode for s in result] == ([] if mode is None else [mode] * 3)


def test_working_hours_are_validated() -> None:
    with pytest.raises(ValueError):
        WorkingHours(0, time(12), time(8))
    with pytest.raises(ValueError):
        WorkingHours(7, time(8), time(12))


def test_propose_over_four_busy_weeks_finds_the_afternoons() -> None:
    # How fast this is, is measured in bench/policy.py, not asserted here.
    hours = tuple(WorkingHours(w, time(8), time(16), None, frozenset(Mode)) for w in range(5))
    start = at(2027, 2, 1)
    busy = []
    for day in range(28):
        for k in range(3):  # three appointments a day in the first 20 days: mornings full
            t = start + timedelta(days=day, hours=7 + 2 * k)
            busy.append((t, t + timedelta(minutes=110)))
    busy = busy[:60]
    cw = CaseworkerAvailability(1, hours, busy=tuple(busy), booked_per_day={})
    d = decision(start, start + timedelta(days=28), count=10)
    result = propose(
        d,
        [cw],
        client_windows=ClientWindows(parts=frozenset({DayPart.afternoon})),
        caps=Caps(8, 15),
        now=start,
        calendar=CAL,
    )
    assert len(result) == 10
    assert all(not any(a < s.end and s.start < b for a, b in busy) for s in result)
