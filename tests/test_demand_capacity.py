"""Demand against capacity, the pure arithmetic: forecast, capacity per day and the queue, by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scheduler import demand_capacity as dc

MONDAY = date(2027, 3, 1)  # a Monday without public holidays around it


def weekdays(d: date) -> bool:
    return d.weekday() < 5


def test_history_window_is_the_twelve_full_weeks_before_this_week() -> None:
    assert dc.history_window(date(2027, 3, 3)) == (MONDAY - timedelta(weeks=12), MONDAY)


def test_horizon_starts_today_and_skips_weekends_and_holidays() -> None:
    holiday = MONDAY + timedelta(days=8)  # the Tuesday of week 2
    plan = dc.horizon(date(2027, 3, 3), lambda d: weekdays(d) and d != holiday, weeks=2)
    assert [m for m, _ in plan] == [MONDAY, MONDAY + timedelta(weeks=1)]
    assert plan[0][1] == (date(2027, 3, 3), date(2027, 3, 4), date(2027, 3, 5))  # Wednesday to Friday
    assert len(plan[1][1]) == 4 and holiday not in plan[1][1]


def test_forecast_is_the_mean_week_per_concern_and_channel() -> None:
    # 24 web and 6 phone requests for concern 1, 36 web for concern 2 in 12 weeks.
    found = dc.mean_per_week([(1, "web", 24), (1, "phone", 6), (2, "web", 36)])
    assert found == {(1, "web"): 2.0, (1, "phone"): 0.5, (2, "web"): 3.0}
    assert dc.week_demand(5.5, workdays=3, full_week_workdays=5) == pytest.approx(3.3)
    assert dc.week_demand(5.5, workdays=5, full_week_workdays=5) == 5.5
    assert dc.week_demand(5.5, workdays=0, full_week_workdays=0) == 0.0


def test_day_capacity_is_bounded_by_the_cap_less_bookings() -> None:
    day = dc.StaffDay(staff_id=1, team_id=1, day=MONDAY, slots=12,
                      slots_by_mode={"in_person": 12, "phone": 4, "video": 0}, booked=3)
    # cap 8, 3 booked: 5 more that day, whatever the hours would hold; by mode likewise.
    assert dc.day_capacity(day, cap=8) == (5, {"in_person": 5, "phone": 4, "video": 0})
    assert dc.day_capacity(day, cap=20) == (12, {"in_person": 12, "phone": 4, "video": 0})
    assert dc.day_capacity(day, cap=2) == (0, {"in_person": 0, "phone": 0, "video": 0})


def test_daily_capacity_sums_caseworkers_per_day() -> None:
    days = [dc.StaffDay(1, 1, MONDAY, 6, {"in_person": 6, "phone": 6, "video": 6}, 0),
            dc.StaffDay(2, 1, MONDAY, 10, {"in_person": 10, "phone": 0, "video": 0}, 4),
            dc.StaffDay(1, 1, MONDAY + timedelta(days=1), 3, {"in_person": 3, "phone": 3, "video": 0}, 0)]
    per_day = dc.daily_capacity(days, cap=8)
    assert per_day[MONDAY] == (10, {"in_person": 10, "phone": 6, "video": 6})  # 6 + min(10, 8 - 4)
    assert per_day[MONDAY + timedelta(days=1)][0] == 3


def test_queue_with_room_to_spare_waits_only_the_lead_time() -> None:
    # 10 a week (2 a day), 5 slots a day: the mid-week request (place 2 + 2 + 1 = 5) is served that day.
    waits = dc.queue_waits(0, [([2.0] * 5, [5.0] * 5)], lead_days=1)
    assert waits == [1.0]


def test_queue_over_capacity_grows_week_by_week() -> None:
    # 50 a week (10 a day), 5 slots a day. Week 1: place 25 is reached on day 5 (index 4): 2 days after day 3.
    # Week 2: place 50 + 25 = 75; served reaches 50 at the horizon's end, 25 more at 5 a day = 5 days past day 10
    # (index 9): index 14, 7 days after the mid-week day (index 7).
    week = ([10.0] * 5, [5.0] * 5)
    assert dc.queue_waits(0, [week, week], lead_days=1) == [2.0, 7.0]


def test_backlog_comes_first_and_no_capacity_is_not_in_sight() -> None:
    # 20 open today, nothing new, 4 a day: the (empty) mid-week place is 20, reached on day 5 (index 4).
    assert dc.queue_waits(20, [([0.0] * 5, [4.0] * 5)], lead_days=0) == [2.0]
    assert dc.queue_waits(3, [([1.0] * 5, [0.0] * 5)], lead_days=1) == [None]
    assert dc.queue_waits(0, [([], [])], lead_days=1) == [None]


def test_outlook_marks_weeks_over_capacity_and_later_than_within() -> None:
    staff_days = [dc.StaffDay(1, 1, MONDAY + timedelta(days=i), 16, {"in_person": 16, "phone": 16, "video": 0}, 0)
                  for i in range(14) if weekdays(MONDAY + timedelta(days=i))]
    # 12 weeks of 60 requests each: 60 a week against 5 x min(16, cap 8) = 40 slots a week.
    result = dc.outlook(today=MONDAY, is_workday=weekdays, counts=[(1, "web", 720)], staff_days=staff_days, cap=8,
                        backlog=0, within=3, lead_days=1, weeks=2)
    first, second = result.weeks
    assert (first.demand, first.capacity, first.over) == (60.0, 40, True)
    assert first.capacity_by_mode == {"in_person": 40, "phone": 40, "video": 0}
    # 12 a day, 8 served: week 1's mid place 24 + 6 = 30 is reached on day 4 (index 3): 1 day -> lead 1.
    assert first.days_to_appointment == 1.0 and not first.late
    # Week 2: place 60 + 30 = 90; 80 served by the end, 10 more at 8 a day: 2 days past index 9 -> 11 - 7 = 4.
    assert second.days_to_appointment == 4.0 and second.late
    assert result.per_week == {(1, "web"): 60.0}


def test_office_serves_its_teams_as_one_queue() -> None:
    def team(demand: float, capacity: int, backlog: int) -> dc.Outlook:
        week = dc.Week(monday=MONDAY, workdays=tuple(MONDAY + timedelta(days=i) for i in range(5)), demand=demand,
                       capacity=capacity, capacity_by_mode={"in_person": capacity, "phone": 0, "video": 0},
                       days_to_appointment=None, within=5, over=demand > capacity, late=False)
        return dc.Outlook(weeks=(week,), backlog=backlog, per_week={(1, "web"): demand})

    office = dc.combine([team(30, 10, 0), team(0, 40, 5)], within=5, lead_days=1)
    (week,) = office.weeks
    assert (week.demand, week.capacity, week.over, office.backlog) == (30, 50, False, 5)
    assert office.per_week == {(1, "web"): 30}
    # 6 a day + 5 open, 10 a day: mid place 5 + 12 + 3 = 20 is served by day 2 (index 1)... at day 3: 1 -> lead 1.
    assert week.days_to_appointment == 1.0
