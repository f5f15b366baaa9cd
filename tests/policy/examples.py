"""Shared examples for the policy tests: a Berlin calendar, local wall times, a rule set and request facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from scheduler.policy.decide import decide
from scheduler.policy.decision import Decision, RequestFacts
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Channel, Kind
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


# Whole-hour offsets with DST (Berlin), DST at midnight (Cairo), half-hour offsets (Kolkata, St. John's, with
# DST), a half-hour DST shift (Lord Howe), and a Friday/Saturday weekend region (the calendar still counts
# Mon-Fri, but the holidays differ).
CALENDAR_SETTINGS = [
    ("Europe/Berlin", "DE-NI"),
    ("Africa/Cairo", "EG"),
    ("Asia/Kolkata", "IN"),
    ("America/St_Johns", "CA-NL"),
    ("Australia/Lord_Howe", "AU-NSW"),
    ("Asia/Jerusalem", "IL"),
]
CALENDARS = {key: WorkCalendar(tz=key[0], holiday_region=key[1]) for key in CALENDAR_SETTINGS}


def counted(calendar: WorkCalendar, a: datetime, b: datetime) -> int:
    """Workdays in (a's local day, b's local day], day by day; negative if b's day is before a's."""
    da, db = calendar.local_date(a), calendar.local_date(b)
    lo, hi = min(da, db), max(da, db)
    n = sum(calendar.is_workday(lo + timedelta(days=i)) for i in range(1, (hi - lo).days + 1))
    return n if db >= da else -n


instants = st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC))
