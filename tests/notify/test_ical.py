"""Invites and feeds: golden files, vobject validation, DST, SEQUENCE and text injection.

Regenerate the golden files after an intended change with UPDATE_GOLDEN=1 and review the diff.
"""

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vobject

from scheduler.notify.ical import InviteData, feed, invite

GOLDEN = Path(__file__).parent / "golden"
BERLIN = ZoneInfo("Europe/Berlin")
STAMP = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)


def make(**overrides: Any) -> InviteData:
    base = InviteData(
        uid="appointment-42@termine.jobcenter-musterstadt.example",
        sequence=0,
        start=datetime(2026, 11, 17, 10, 0, tzinfo=BERLIN),
        end=datetime(2026, 11, 17, 10, 30, tzinfo=BERLIN),
        tz="Europe/Berlin",
        summary="Termin im Jobcenter: Beratung zur Weiterbildung",
        location="Jobcenter Musterstadt, Hauptstraße 1, Raum 2.14",
        description="Bitte bringen Sie Ihren Ausweis mit.\nAbsagen: Antwort NEIN per SMS.",
        organizer_name="Jobcenter Musterstadt, Team 3",
        organizer_email="team3@jobcenter-musterstadt.example",
        attendee_phone_or_email="+4915112345678",
        url="https://termine.jobcenter-musterstadt.example/t/4Zq9xY2mB7",
    )
    return dataclasses.replace(base, **overrides)


def parse(data: bytes) -> Any:
    return vobject.readOne(data.decode("utf-8"), validate=True)


def check_golden(name: str, produced: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_bytes(produced)
    assert produced == path.read_bytes()


def test_request_matches_golden() -> None:
    check_golden("invite_request.ics", invite(make(), method="REQUEST", stamp=STAMP))


def test_cancel_matches_golden() -> None:
    check_golden("invite_cancel.ics", invite(make(sequence=2), method="CANCEL", stamp=STAMP))


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL", "PUBLISH"])
def test_every_invite_validates_and_keeps_the_instant(method: Any) -> None:
    data = make()
    raw = invite(data, method=method, stamp=STAMP)
    assert b"\r\nDTSTART;TZID=Europe/Berlin:20261117T100000\r\n" in raw
    cal = parse(raw)
    assert cal.method.value == method
    assert cal.prodid.value == "-//Jobcenter Termine//scheduler//DE"
    ev = cal.vevent
    assert ev.uid.value == data.uid
    assert ev.dtstart.value.astimezone(UTC) == data.start.astimezone(UTC)
    assert ev.dtend.value.astimezone(UTC) == data.end.astimezone(UTC)
    assert ev.dtstamp.value == STAMP
    assert ev.organizer.value == "mailto:team3@jobcenter-musterstadt.example"
    assert ev.organizer.params["CN"] == ["Jobcenter Musterstadt, Team 3"]
    assert cal.vtimezone.tzid.value == "Europe/Berlin"


def test_request_names_the_attendee_and_publish_does_not() -> None:
    request = parse(invite(make(), method="REQUEST", stamp=STAMP)).vevent
    assert [a.value for a in request.contents["attendee"]] == ["tel:+4915112345678"]
    email = parse(invite(make(attendee_phone_or_email="kunde@example.org"), method="REQUEST", stamp=STAMP))
    assert email.vevent.attendee.value == "mailto:kunde@example.org"
    assert "attendee" not in parse(invite(make(), method="PUBLISH", stamp=STAMP)).vevent.contents
    assert (
        "attendee"
        not in parse(
            invite(make(attendee_phone_or_email=None), method="REQUEST", stamp=STAMP)
        ).vevent.contents
    )


def test_start_in_another_zone_is_written_in_the_site_zone() -> None:
    data = make(start=datetime(2026, 11, 17, 9, 0, tzinfo=UTC), end=datetime(2026, 11, 17, 9, 30, tzinfo=UTC))
    raw = invite(data, method="REQUEST", stamp=STAMP)
    assert b"DTSTART;TZID=Europe/Berlin:20261117T100000" in raw
    assert parse(raw).vevent.dtstart.value.astimezone(UTC) == data.start


def test_sequence_grows_and_uid_stays() -> None:
    first = parse(invite(make(sequence=0), method="REQUEST", stamp=STAMP)).vevent
    moved = make(
        sequence=1,
        start=datetime(2026, 11, 18, 14, 0, tzinfo=BERLIN),
        end=datetime(2026, 11, 18, 14, 30, tzinfo=BERLIN),
    )
    second = parse(invite(moved, method="REQUEST", stamp=STAMP)).vevent
    cancel = parse(invite(make(sequence=2), method="CANCEL", stamp=STAMP)).vevent
    sequences = [int(ev.sequence.value) for ev in (first, second, cancel)]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
    assert first.uid.value == second.uid.value == cancel.uid.value


def test_cancel_is_cancelled_with_the_same_uid() -> None:
    raw = invite(make(sequence=3), method="CANCEL", stamp=STAMP)
    cal = parse(raw)
    assert cal.method.value == "CANCEL"
    assert cal.vevent.status.value == "CANCELLED"
    assert cal.vevent.uid.value == make().uid
    assert b"\r\nSTATUS:CANCELLED\r\n" in raw
    assert parse(invite(make(), method="REQUEST", stamp=STAMP)).vevent.status.value == "CONFIRMED"


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        # first day of summer time: 10:00 CEST
        (datetime(2027, 3, 28, 10, 0), datetime(2027, 3, 28, 8, 0, tzinfo=UTC)),
        # first day of winter time: 10:00 CET
        (datetime(2026, 10, 25, 10, 0), datetime(2026, 10, 25, 9, 0, tzinfo=UTC)),
    ],
)
def test_dst_change_days(local: datetime, utc: datetime) -> None:
    start = local.replace(tzinfo=BERLIN)
    data = make(start=start, end=start.replace(minute=30))
    cal = parse(invite(data, method="REQUEST", stamp=STAMP))
    assert cal.vevent.dtstart.value.astimezone(UTC) == utc


def test_vtimezone_is_the_same_in_every_invite() -> None:
    # Consumers may keep the first VTIMEZONE they see per TZID (vobject does), so it must not
    # depend on the appointment's date.
    def vtimezone(start: datetime) -> bytes:
        raw = invite(make(start=start, end=start.replace(hour=11)), method="REQUEST", stamp=STAMP)
        return raw[raw.index(b"BEGIN:VTIMEZONE") : raw.index(b"END:VTIMEZONE")]

    first = vtimezone(datetime(2026, 1, 5, 10, tzinfo=BERLIN))
    assert first == vtimezone(datetime(2031, 7, 1, 10, tzinfo=BERLIN))
    assert b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in first
    assert b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in first


@pytest.mark.parametrize("year", [2026, 2027, 2030, 2035])
def test_every_month_keeps_its_offset(year: int) -> None:
    for month in range(1, 13):
        for day in (1, 24, 28):
            start = datetime(year, month, day, 10, tzinfo=BERLIN)
            raw = invite(make(start=start, end=start.replace(hour=11)), method="REQUEST", stamp=STAMP)
            assert parse(raw).vevent.dtstart.value.astimezone(UTC) == start.astimezone(UTC)


@pytest.mark.parametrize(
    ("tz", "rule"),
    [("America/New_York", b"BYDAY=2SU;BYMONTH=3"), ("Asia/Kolkata", b"TZOFFSETTO:+0530")],
)
def test_other_zones_get_their_own_rule(tz: str, rule: bytes) -> None:
    start = datetime(2026, 7, 1, 10, tzinfo=ZoneInfo(tz))
    raw = invite(make(tz=tz, start=start, end=start.replace(hour=11)), method="PUBLISH", stamp=STAMP)
    assert rule in raw
    assert parse(raw).vevent.dtstart.value.astimezone(UTC) == start.astimezone(UTC)


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\x0b", "\x00"])
def test_line_breaks_in_text_cannot_inject_properties(breaker: str) -> None:
    evil = f"x{breaker}ATTENDEE:mailto:evil@example.org{breaker}END:VEVENT"
    data = make(
        summary=evil, location=evil, description=evil, organizer_name=evil, attendee_phone_or_email=None
    )
    raw = invite(data, method="REQUEST", stamp=STAMP)
    lines = raw.decode().split("\r\n")
    assert not any(line.startswith("ATTENDEE") for line in lines)
    assert lines.count("END:VEVENT") == 1
    ev = parse(raw).vevent
    assert "attendee" not in ev.contents
    assert "ATTENDEE:mailto:evil@example.org" in ev.summary.value
    assert ev.summary.value.startswith("x")
    assert "ATTENDEE" in ev.location.value and "ATTENDEE" in ev.description.value
    assert ev.organizer.value == "mailto:team3@jobcenter-musterstadt.example"


@pytest.mark.parametrize(
    "overrides",
    [
        {"organizer_email": "a@b.de\r\nATTENDEE:mailto:evil@x.de"},
        {"attendee_phone_or_email": "+49151\r\nATTENDEE:mailto:evil@x.de"},
        {"attendee_phone_or_email": "0151 1234567"},
        {"url": "https://x.example/\r\nATTENDEE:mailto:evil@x.de"},
        {"start": datetime(2026, 11, 17, 10, 0)},
        {"end": datetime(2026, 11, 17, 9, 0, tzinfo=BERLIN)},
        {"sequence": -1},
    ],
)
def test_bad_input_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        invite(make(**overrides), method="REQUEST", stamp=STAMP)


def test_naive_stamp_is_refused() -> None:
    with pytest.raises(ValueError):
        invite(make(), method="REQUEST", stamp=datetime(2026, 11, 2, 9, 15))


def test_feed_with_three_events_validates() -> None:
    events = [
        make(uid="appointment-1@x.example", sequence=0),
        make(
            uid="appointment-2@x.example",
            sequence=4,
            start=datetime(2027, 3, 28, 10, 0, tzinfo=BERLIN),
            end=datetime(2027, 3, 28, 11, 0, tzinfo=BERLIN),
            summary="Rückruf: Frau Ø",
        ),
        make(
            uid="appointment-3@x.example",
            sequence=1,
            status="CANCELLED",
            location=None,
            description=None,
            url=None,
        ),
    ]
    raw = feed(events, name="Termine – Team 3 (Frau Beispiel)", stamp=STAMP)
    cal = parse(raw)
    assert cal.method.value == "PUBLISH"
    assert cal.contents["x-wr-calname"][0].value == "Termine – Team 3 (Frau Beispiel)"
    assert len(cal.contents["vtimezone"]) == 1
    vevents = cal.contents["vevent"]
    assert [ev.uid.value for ev in vevents] == [e.uid for e in events]
    assert [ev.status.value for ev in vevents] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert all("attendee" not in ev.contents for ev in vevents)
    for ev, data in zip(vevents, events, strict=True):
        assert ev.dtstart.value.astimezone(UTC) == data.start.astimezone(UTC)
        assert int(ev.sequence.value) == data.sequence
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT15M" in raw


def test_empty_feed_is_a_calendar() -> None:
    raw = feed([], name="Leer", stamp=STAMP)
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n") and raw.endswith(b"END:VCALENDAR\r\n")
    assert b"VEVENT" not in raw
