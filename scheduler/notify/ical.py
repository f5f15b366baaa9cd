"""iCalendar (RFC 5545/5546) invites and caseworker feeds, built in one place."""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo

from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vDuration,
)

log = logging.getLogger(__name__)

PRODID: Final = "-//Jobcenter Termine//scheduler//DE"
FEED_REFRESH: Final = timedelta(minutes=15)
# The yearly rule written into VTIMEZONE must match the tz database for every year in this span
# (widened to cover the events); otherwise we fall back to explicit observances.
TZ_CHECK_YEARS: Final = (2020, 2040)
_WEEKDAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

Method = Literal["REQUEST", "CANCEL", "PUBLISH"]
Status = Literal["CONFIRMED", "CANCELLED"]

# RFC 5545 TEXT may not contain control characters other than HTAB; line breaks are kept as
# "\n" (escaped by icalendar), everything else is dropped so nothing can end a content line.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_EMAIL: Final = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_PHONE: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True, slots=True)
class InviteData:
    uid: str
    sequence: int
    start: datetime
    end: datetime
    tz: str
    summary: str
    location: str | None
    description: str | None
    organizer_name: str
    organizer_email: str
    attendee_phone_or_email: str | None = None
    url: str | None = None
    status: Status = "CONFIRMED"


def _text(value: str) -> str:
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def _param(value: str) -> str:
    # Parameter values cannot hold line breaks at all, so they become spaces.
    return " ".join(_text(value).split())


def _address(value: str) -> vCalAddress:
    value = value.strip()
    if _EMAIL.match(value):
        return vCalAddress(f"mailto:{value}")
    if _PHONE.match(value):
        return vCalAddress(f"tel:{value}")
    raise ValueError(f"not an e-mail address or E.164 number: {value!r}")


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def _event(data: InviteData, *, method: Method, stamp: datetime) -> Event:
    tz = ZoneInfo(data.tz)
    start = _aware(data.start, "start").astimezone(tz)
    end = _aware(data.end, "end").astimezone(tz)
    if end <= start:
        raise ValueError("end must be after start")
    if data.sequence < 0:
        raise ValueError("sequence must not be negative")
    organizer = _address(data.organizer_email)
    if data.organizer_name:
        organizer.params["CN"] = _param(data.organizer_name)
    event = Event()
    event.add("uid", _text(data.uid))
    event.add("sequence", data.sequence)
    event.add("dtstamp", _aware(stamp, "stamp").astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", _text(data.summary))
    if data.location:
        event.add("location", _text(data.location))
    if data.description:
        event.add("description", _text(data.description))
    if data.url:
        event.add("url", _text(data.url))
    event.add("organizer", organizer)
    # RFC 5546: a REQUEST names its attendees and a CANCEL names those removed; a PUBLISH has none.
    if method != "PUBLISH" and data.attendee_phone_or_email:
        attendee = _address(data.attendee_phone_or_email)
        attendee.params.update(
            {"CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION"}
        )
        # Replies are not processed: clients confirm by SMS or the link, not by iMIP.
        attendee.params["RSVP"] = "FALSE"
        event.add("attendee", attendee)
    event.add("status", "CANCELLED" if method == "CANCEL" else data.status)
    event.add("transp", "OPAQUE")
    return event


@dataclass(frozen=True, slots=True)
class _Rule:
    month: int
    weekday: int
    nth: int  # 1..5, or -1 for "last"
    at: time  # local wall time before the change (RFC 5545 onset)
    offset_from: timedelta
    offset_to: timedelta
    name: str
    dst: bool


def _transitions(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta, str, bool]]:
    """Offset changes in year: (local onset, offset before, offset after, name after, is DST)."""
    found = []
    day = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())

    def offset(ts: int) -> timedelta:
        return datetime.fromtimestamp(ts, zone).utcoffset() or timedelta()

    before = offset(day)
    while day < end:
        after = offset(day + 86400)
        if after != before:
            lo, hi = day, day + 86400
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == before else (lo, mid)
            local = datetime.fromtimestamp(hi, zone)
            onset = datetime.fromtimestamp(hi, UTC).replace(tzinfo=None) + before
            found.append((onset, before, after, local.tzname() or "", bool(local.dst())))
            before = after
        day += 86400
    return found


def _rule_candidates(t: tuple[datetime, timedelta, timedelta, str, bool]) -> set[_Rule]:
    onset, before, after, name, dst = t
    nths = {(onset.day - 1) // 7 + 1}
    if onset.day + 7 > calendar.monthrange(onset.year, onset.month)[1]:
        nths.add(-1)
    return {_Rule(onset.month, onset.weekday(), n, onset.time(), before, after, name, dst) for n in nths}


def _nth_weekday(year: int, rule: _Rule) -> date:
    days = [
        date(year, rule.month, d)
        for d in range(1, calendar.monthrange(year, rule.month)[1] + 1)
        if date(year, rule.month, d).weekday() == rule.weekday
    ]
    return days[-1] if rule.nth == -1 else days[rule.nth - 1]


@lru_cache(maxsize=32)
def _yearly_vtimezone(tz_name: str, first_year: int, last_year: int) -> bytes | None:
    """A VTIMEZONE with one RRULE per transition, or None if the zone has no stable yearly rule."""
    zone = ZoneInfo(tz_name)
    per_year = [_transitions(zone, y) for y in range(first_year, last_year + 1)]
    rules: list[_Rule] = []
    if len({len(ts) for ts in per_year}) == 1 and len(per_year[0]) <= 2:
        for i in range(len(per_year[0])):
            candidates = set.intersection(*(_rule_candidates(ts[i]) for ts in per_year))
            if candidates:
                rules.append(min(candidates, key=lambda r: (r.nth, r.month)))
    if len(rules) != len(per_year[0]):
        log.warning("no yearly rule for %s; writing explicit VTIMEZONE observances", tz_name)
        return None
    vtz = Timezone()
    vtz.add("tzid", tz_name)
    if not rules:
        local = datetime(first_year, 1, 1, tzinfo=zone)
        std = TimezoneStandard()
        std.add("dtstart", datetime(1970, 1, 1))
        std.add("tzoffsetfrom", local.utcoffset())
        std.add("tzoffsetto", local.utcoffset())
        std.add("tzname", local.tzname())
        vtz.add_component(std)
        return bytes(vtz.to_ical())
    for rule in rules:
        part = TimezoneDaylight() if rule.dst else TimezoneStandard()
        part.add("dtstart", datetime.combine(_nth_weekday(1970, rule), rule.at))
        byday = f"{rule.nth}{_WEEKDAYS[rule.weekday]}"
        part.add("rrule", {"freq": "yearly", "bymonth": rule.month, "byday": byday})
        part.add("tzoffsetfrom", rule.offset_from)
        part.add("tzoffsetto", rule.offset_to)
        part.add("tzname", rule.name)
        vtz.add_component(part)
    return bytes(vtz.to_ical())


def _calendar(method: Method, data: Sequence[InviteData], events: Sequence[Event]) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    if not events:
        return cal
    first_year = min(TZ_CHECK_YEARS[0], *(d.start.year - 1 for d in data))
    last_year = max(TZ_CHECK_YEARS[1], *(d.end.year + 1 for d in data))
    # Outlook-style VTIMEZONE (DTSTART in 1970 + yearly RRULE): identical in every invite, so a
    # consumer that keeps the first definition per TZID (vobject does) is never misled, and
    # consumers that ignore RDATE lists (dateutil does) read it correctly.
    for tz_name in sorted({d.tz for d in data}):
        vtz = _yearly_vtimezone(tz_name, first_year, last_year)
        if vtz is not None:
            cal.add_component(Timezone.from_ical(vtz))
    for event in events:
        cal.add_component(event)
    cal.add_missing_timezones(first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1))
    return cal


def invite(data: InviteData, *, method: Method, stamp: datetime) -> bytes:
    """Build one invite; the same UID for the appointment's whole life, SEQUENCE from the caller."""
    return bytes(_calendar(method, [data], [_event(data, method=method, stamp=stamp)]).to_ical())


def feed(events: Sequence[InviteData], *, name: str, stamp: datetime) -> bytes:
    """Build a subscription feed (METHOD:PUBLISH) with one VEVENT per appointment."""
    cal = _calendar("PUBLISH", events, [_event(e, method="PUBLISH", stamp=stamp) for e in events])
    cal.add("name", _text(name))
    cal.add("x-wr-calname", _text(name))
    cal.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(FEED_REFRESH))  # Outlook reads this, not REFRESH-INTERVAL
    return bytes(cal.to_ical())
