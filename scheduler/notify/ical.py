"""iCalendar (RFC 5545/5546) invites and caseworker feeds, built in one place."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vDuration

PRODID: Final = "-//Jobcenter Termine//scheduler//DE"
FEED_REFRESH: Final = timedelta(minutes=15)
TZ_FIRST_DATE: Final = date(2020, 1, 1)
TZ_LAST_DATE: Final = date(2040, 1, 1)

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


def _calendar(method: Method, events: Sequence[Event]) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    for event in events:
        cal.add_component(event)
    if events:
        # Every invite carries the same VTIMEZONE, whatever its dates: some consumers (vobject,
        # for one) keep the first definition they see per TZID, so one that covered only the
        # year of an earlier invite would shift later appointments by an hour. RDATE lists keep
        # twenty years of transitions at about 1 KB.
        first = min([TZ_FIRST_DATE, *(e.start.date() for e in events)])
        last = max([TZ_LAST_DATE, *(date(e.end.year + 2, 1, 1) for e in events)])
        cal.add_missing_timezones(first_date=first, last_date=last)
    return cal


def invite(data: InviteData, *, method: Method, stamp: datetime) -> bytes:
    """Build one invite; the same UID for the appointment's whole life, SEQUENCE from the caller."""
    return _calendar(method, [_event(data, method=method, stamp=stamp)]).to_ical()


def feed(events: Sequence[InviteData], *, name: str, stamp: datetime) -> bytes:
    """Build a subscription feed (METHOD:PUBLISH) with one VEVENT per appointment."""
    cal = _calendar("PUBLISH", [_event(e, method="PUBLISH", stamp=stamp) for e in events])
    cal.add("name", _text(name))
    cal.add("x-wr-calname", _text(name))
    cal.add("refresh-interval", FEED_REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(FEED_REFRESH))  # Outlook reads this, not REFRESH-INTERVAL
    return cal.to_ical()
