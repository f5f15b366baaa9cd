"""propose(): free slots that fit the decision, the working hours, the bookings and the client's wishes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.policy.decision import Decision
from scheduler.policy.rules import Caps, Kind, Mode
from scheduler.policy.slots import CaseworkerAvailability, ClientWindows, DayPart, Slot, WorkingHours, propose
from scheduler.policy.workdays import WorkCalendar
from tests.policy.examples import BERLIN, CAL, at, wall

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
