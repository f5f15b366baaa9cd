"""Demo data only: draws the rows of a demo history (see demo_history, which loads the site's facts and writes them).

Pure: a seeded random generator, the site's working-day calendar, its caseworkers' hours, teams and concerns in;
clients, requests, appointments, callbacks, call attempts and audit rows out. Requests arrive by channel with a
weekday and hour pattern and are played through to their end (declined, expired, withdrawn, or booked and held,
missed, moved or cancelled by the office and booked again); nothing lies in the future, every appointment is on a
working day within its caseworker's hours, and no caseworker has two at once.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from scheduler.policy.workdays import WorkCalendar

K = TypeVar("K")

REQUESTS_PER_DAY: Final = 22  # on an average weekday, before the weekday's load
CALLBACKS_PER_DAY: Final = 7
WEEKDAY_LOAD: Final = (1.35, 1.1, 0.85, 1.0, 0.7)  # Monday is the busiest day, Friday the quietest
HOUR_LOAD: Final = {8: 3.0, 9: 4.0, 10: 3.0, 11: 2.5, 12: 1.5, 13: 1.5, 14: 1.5, 15: 1.0, 16: 0.5}
CONCERN_LOAD: Final = {"benefits_application": 15, "change_notice": 15, "documents": 12, "no_money": 8, "eviction": 3,
                       "integration_advice": 12, "job_offer": 10, "eservice_help": 10, "education_participation": 5,
                       "general": 10}
PLACEMENT_CONCERNS: Final = frozenset({"integration_advice", "job_offer"})
LANGUAGES: Final = {"de": 55, "de-simple": 5, "uk": 10, "ar": 10, "tr": 8, "ru": 5, "fa": 4, "en": 3}
FIRST: Final = ("Anna", "Mehmet", "Olena", "Ahmad", "Sabine", "Jonas", "Fatma", "Dmytro", "Layla", "Thomas", "Reza",
                "Julia", "Ali", "Svetlana", "Kevin", "Ayşe", "Hassan", "Marta", "Lukas", "Nadia")
LAST: Final = ("Schmidt", "Yıldız", "Kovalenko", "Haddad", "Müller", "Karimi", "Wagner", "Petrenko", "Nasser",
               "Becker", "Öztürk", "Hoffmann", "Rahimi", "Ivanova", "Klein", "Şahin", "Wolf", "Popescu")
DECLINES: Final = {"not_responsible": "Zuständig ist die Familienkasse.", "duplicate": "Doppelte Anfrage.",
                   "resolved": "Am Telefon geklärt.", "other": "Unterlagen liegen bereits vor."}


@dataclass(frozen=True, slots=True)
class Ref:
    """An id known only after the bulk insert: the request, appointment or callback with this key."""

    kind: str
    key: str


@dataclass(slots=True)
class Plan:
    """The rows of a history, keyed by server_key (requests, callbacks) and calendar UID (appointments)."""

    clients: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    appointments: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    audit: list[tuple[str, Ref | None, str, str, dict[str, Any], datetime]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the planner needs of the site: bookable staff by team, their hours, teams and concerns."""

    calendar: WorkCalendar
    staff: dict[int, list[int]]                 # team id -> bookable staff ids
    leads: set[int]
    hours: dict[int, dict[int, list[Any]]]      # staff id -> weekday -> (start minute, end minute, room, modes)
    team_ids: dict[str, int]                    # entrance, u25, placement -> team id (another team if missing)
    concerns: dict[str, dict[str, Any]]         # active concerns by code: id, default_minutes, urgent, modes
    closed: set[date]


def _pick(rng: random.Random, weights: Mapping[K, float]) -> K:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class Planner:
    """Draws one history: requests day by day, each played through to its end."""

    def __init__(self, facts: Facts, *, rng: random.Random, now: datetime, weeks: int) -> None:
        self.rng, self.cal, self.now, self.tz = rng, facts.calendar, now, ZoneInfo(facts.calendar.tz)
        today = self.cal.local_date(now)
        self.days = [d for d in (today - timedelta(days=n) for n in range(7 * weeks, 0, -1))
                     if self.cal.is_workday(d) and d not in facts.closed]
        self.staff, self.leads, self.hours = facts.staff, facts.leads, facts.hours
        self.team_ids, self.concerns = facts.team_ids, facts.concerns
        self.load = {c: w for c, w in CONCERN_LOAD.items() if c in self.concerns} or dict.fromkeys(self.concerns, 1)
        self.busy: dict[tuple[int, date], list[tuple[int, int]]] = defaultdict(list)
        self.plan = Plan()
        self.phones: list[tuple[str, str]] = []  # the pool of clients: phone, language

    def at(self, day: date, minute: int) -> datetime:
        return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.tz)

    def audit(self, kind: str, ref: Ref | None, actor: str, action: str, at: datetime, **details: Any) -> None:
        self.plan.audit.append((kind, ref, actor, action, details, at))

    def clients(self, count: int) -> None:
        for i in range(count):
            phone = f"+4915290{i:06d}"
            language = _pick(self.rng, LANGUAGES)
            number = f"{self.rng.randint(100, 999)}D{self.rng.randint(0, 999_999):06d}" \
                if self.rng.random() < 0.6 else None
            self.plan.clients.append({"phone": phone, "name": f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)}",
                                      "language": language, "number": number})
            self.phones.append((phone, language))

    def created(self, day: date, channel: str) -> datetime:
        last = 12 if channel == "kiosk" and day.weekday() not in (1, 3) else 15 if channel == "phone" else 16
        hours = {h: w for h, w in HOUR_LOAD.items() if h <= last}
        return self.at(day, 60 * int(_pick(self.rng, hours)) + self.rng.randrange(60))

    def slot(self, team: str, day: date, earliest: datetime, minutes: int,
             modes: list[str]) -> tuple[int, datetime, datetime, str, str | None] | None:
        """A free time of a caseworker of the team on that day (team leads only when their people are full)."""
        people = self.rng.sample(self.staff[self.team_ids[team]], k=len(self.staff[self.team_ids[team]]))
        for staff_id in sorted(people, key=lambda s: s in self.leads):
            for starts, ends, room, block_modes in self.hours[staff_id].get(day.weekday(), []):
                usable = [m for m in modes if m in block_modes]
                taken = self.busy[(staff_id, day)]
                free = [t for t in range(starts, ends - minutes + 1, 15) if self.at(day, t) >= earliest
                        and all(b <= t or a >= t + minutes for a, b in taken)]
                if usable and free:
                    t = self.rng.choice(free)
                    taken.append((t, t + minutes))
                    mode = "in_person" if "in_person" in usable and self.rng.random() < 0.7 else self.rng.choice(usable)
                    return staff_id, self.at(day, t), self.at(day, t + minutes), mode, room
        return None

    def book(self, team: str, day: date, earliest: datetime, concern: str, modes: list[str], *,
             latest: date) -> tuple[int, datetime, datetime, str, str | None] | None:
        """The first free slot from `day` on up to `latest`, else back towards the earliest day."""
        minutes = int(self.concerns[concern]["default_minutes"])
        first = self.cal.local_date(earliest)
        later = [d for d in self.days if day <= d <= latest]
        earlier = [d for d in reversed(self.days) if first <= d < day]
        for d in later + earlier:
            found = self.slot(team, d, earliest, minutes, modes)
            if found:
                return found
        return None

    def request(self, n: int, day: date, trend: float) -> None:
        rng, cal = self.rng, self.cal
        channel = _pick(rng, {"web": 30 + 10 * trend, "kiosk": 25, "phone": 22 - 5 * trend, "staff": 23 - 5 * trend})
        concern = _pick(rng, self.load)
        team = "placement" if concern in PLACEMENT_CONCERNS else "u25" if rng.random() < 0.2 else "entrance"
        urgent = bool(self.concerns[concern]["urgent"])
        created = self.created(day, channel)
        phone, language = rng.choice(self.phones)
        modes = list(self.concerns[concern]["modes"])
        key = f"demo-history-r{n}"
        ref = Ref("request", key)
        deadline = cal.add_workdays(created, 1 if urgent else 3) + timedelta(hours=12)
        creator = rng.choice(self.staff[self.team_ids[team]]) if channel == "staff" else None
        row: dict[str, Any] = {
            "key": key, "phone": phone, "concern": concern, "channel": channel, "language": language,
            "modes": ",".join(modes), "team": self.team_ids[team], "staff": None, "deadline": deadline,
            "flagged": None, "reason": None, "category": None, "created_by": creator,
            "invitation": "voluntary" if channel == "staff" else None, "created": created, "closed": None}
        self.plan.requests.append(row)
        self.audit("request", ref, f"staff:{creator}" if creator else f"client:{channel}", "request.received",
                   created, channel=channel, concern=concern)
        fate = rng.random()
        expires = cal.add_workdays(deadline, 1) + timedelta(hours=7)
        if fate < 0.04:
            row.update(status="declined", category=_pick(rng, {"not_responsible": 4, "duplicate": 3, "resolved": 2,
                                                                "other": 1}),
                       closed=min(created + timedelta(hours=rng.uniform(1, 30)), self.now - timedelta(hours=1)))
            row["reason"] = DECLINES[row["category"]]
            self.audit("request", ref, f"staff:{rng.choice(self.staff[row['team']])}", "request.declined",
                       row["closed"], reason=row["reason"], category=row["category"])
            return
        if fate < 0.065 and expires < self.now:
            row.update(status="expired", closed=expires, flagged=deadline + timedelta(minutes=15))
            self.audit("request", ref, "system", "request.expired", expires, reason="deadline")
            return
        lead = rng.choice((0, 1)) if urgent else rng.randint(5, 10) if channel == "staff" \
            else int(rng.triangular(1, 10, 3))
        booked_at = created + timedelta(minutes=rng.uniform(10, 40) if urgent else rng.uniform(30, 1200))
        target = cal.local_date(cal.add_workdays(created, lead))
        found = self.book(team, target, booked_at + timedelta(minutes=30), concern, modes, latest=self.days[-1]) \
            if fate >= 0.085 else None
        if found is None:  # withdrawn by the client (or no past time was free for it)
            row.update(status="withdrawn", closed=min(created + timedelta(hours=rng.uniform(2, 48)),
                                                      self.now - timedelta(hours=1)))
            self.audit("request", ref, f"client:{channel}", "request.withdrawn", row["closed"])
            return
        if booked_at > deadline:
            row["flagged"] = deadline + timedelta(minutes=15)
        self.appointment(row, ref, team, found, booked_at, rebooked=False)

    def appointment(self, row: dict[str, Any], ref: Ref, team: str, slot: tuple[int, datetime, datetime, str, Any],
                    booked_at: datetime, *, rebooked: bool) -> None:
        rng = self.rng
        staff_id, start, end, mode, room = slot
        booked_at = min(booked_at, start - timedelta(minutes=20))
        uid = f"{secrets.token_hex(12)}@termine.jobcenter"
        aref = Ref("appointment", uid)
        actor = f"staff:{staff_id}"
        appt: dict[str, Any] = {
            "key": row["key"], "uid": uid, "staff": staff_id, "starts": start, "ends": end, "mode": mode, "room": room,
            "status": "completed", "arrived": None, "sequence": 0, "cancel": None, "created_by": actor,
            "created": booked_at, "outcome": None, "reason": None, "reason_date": None, "outcome_at": None}
        self.plan.appointments.append(appt)
        row["staff"] = staff_id
        shown = start + timedelta(days=rng.choice((-2, -1, 1, 2)))
        self.audit("appointment", aref, actor, "appointment.book", booked_at, request_id=ref,
                   staff_id=staff_id, start=shown.isoformat() if not rebooked else start.isoformat(), mode=mode)
        self.audit("request", ref, actor, "request.scheduled", booked_at)
        if not rebooked and rng.random() < 0.08 and start - booked_at > timedelta(hours=4):  # staff moved it
            appt["sequence"] = 1
            self.audit("appointment", aref, actor, "appointment.move",
                       booked_at + (start - booked_at) * rng.uniform(0.2, 0.8), staff_id=staff_id,
                       start=start.isoformat(), mode=mode)
        fate = rng.random()
        if not rebooked and fate < 0.03:  # the client cancelled before the day
            at = booked_at + (start - booked_at) * rng.uniform(0.3, 0.9)
            appt.update(status="cancelled", cancel="client", sequence=appt["sequence"] + 1)
            row.update(status="withdrawn", closed=at)
            self.audit("appointment", aref, f"client:{row['channel']}", "appointment.cancel", at, reason="client")
            self.audit("request", ref, f"client:{row['channel']}", "request.withdrawn", at)
            return
        outcome_at = end + timedelta(minutes=rng.uniform(2, 180))
        if not rebooked and fate < 0.06:  # the office could not hold it: a new time for the same request
            day = self.cal.local_date(start)
            later = self.cal.local_date(self.cal.add_workdays(start, rng.randint(1, 5)))
            again = self.book(team, later, start + timedelta(hours=20), row["concern"], [mode], latest=self.days[-1]) \
                if later <= self.days[-1] and day < self.days[-1] else None
            if again is not None and again[1] > outcome_at:
                outcome_at = start + timedelta(minutes=rng.uniform(0, 10))
                appt.update(status="cancelled", cancel="office", sequence=appt["sequence"] + 1,
                            outcome="cancelled_by_office", outcome_at=outcome_at)
                self.audit("appointment", aref, actor, "appointment.outcome", outcome_at,
                           outcome="cancelled_by_office", reason=None, reason_date=None)
                self.audit("request", ref, actor, "request.received", outcome_at, appointment_id=aref)
                self.appointment(row, ref, team, again, outcome_at + timedelta(minutes=5), rebooked=True)
                return
        if fate < 0.195:
            reason = _pick(rng, {"ill": 6, "appointment_clash": 2.5, "other": 1.5}) if rng.random() < 0.35 else None
            reason_date = self.cal.local_date(start) - timedelta(days=rng.choice((0, 0, 1))) if reason else None
            appt.update(status="no_show", outcome="no_show", reason=reason, reason_date=reason_date,
                        outcome_at=outcome_at)
            row.update(status="no_show", closed=outcome_at)
        else:
            appt.update(status="completed", outcome="held", outcome_at=outcome_at,
                        arrived=start - timedelta(minutes=rng.uniform(2, 15))
                        if mode == "in_person" and rng.random() < 0.7 else None)
            row.update(status="done", closed=outcome_at)
        self.audit("appointment", aref, actor, "appointment.outcome", outcome_at, outcome=appt["outcome"],
                   reason=appt["reason"], reason_date=appt["reason_date"].isoformat() if appt["reason_date"] else None)
        self.audit("request", ref, actor, f"request.{row['status']}", outcome_at, appointment_id=aref)

    def callback(self, n: int, day: date) -> None:
        rng = self.rng
        channel = _pick(rng, {"kiosk": 40, "phone": 35, "web": 25})
        concern = _pick(rng, self.load)
        team = "placement" if concern in PLACEMENT_CONCERNS else "entrance"
        created = self.created(day, channel)
        phone, language = rng.choice(self.phones)
        key = f"demo-history-c{n}"
        ref = Ref("callback", key)
        staff_id = rng.choice(self.staff[self.team_ids[team]])
        row: dict[str, Any] = {
            "key": key, "phone": phone, "concern": concern, "channel": channel, "language": language,
            "team": self.team_ids[team], "staff": staff_id, "attempts": 0,
            "deadline": self.cal.add_workdays(created, 2) + timedelta(hours=12), "created": created}
        self.plan.callbacks.append(row)
        self.audit("callback", ref, f"client:{channel}", "callback.received", created, channel=channel,
                   concern=concern)
        if rng.random() < 0.03:
            row.update(status="cancelled", closed=min(created + timedelta(hours=3), self.now - timedelta(hours=1)))
            self.audit("callback", ref, f"client:{channel}", "callback.cancelled", row["closed"])
            return
        at = created
        for attempt in range(1, 4):
            last, at = at, at + timedelta(minutes=rng.uniform(20, 180))
            if at.astimezone(self.tz).hour >= 16:  # the next working morning
                at = self.at(self.cal.local_date(self.cal.add_workdays(at, 1)), 8 * 60 + rng.randrange(300))
            if at >= self.now:
                at = last + (self.now - last) / 2
            roll = rng.random()
            outcome = "reached" if roll < 0.45 else "wrong_number" if roll < 0.47 else "no_answer"
            status = "reached" if outcome == "reached" else "unreachable" \
                if outcome == "wrong_number" or attempt == 3 else "open"
            self.plan.attempts.append({"key": key, "staff": staff_id, "outcome": outcome, "at": at})
            self.audit("callback", ref, f"staff:{staff_id}", f"callback.{outcome}", at, attempt=attempt,
                       status=status)
            row.update(attempts=attempt, status=status, closed=at)
            if status != "open":
                return

    def run(self) -> Plan:
        self.clients(max(60, 25 * len(self.days) // 5))
        n = 0
        for i, day in enumerate(self.days):
            load = WEEKDAY_LOAD[day.weekday()] * self.rng.uniform(0.85, 1.15)
            for _ in range(round(REQUESTS_PER_DAY * load)):
                n += 1
                self.request(n, day, trend=i / max(1, len(self.days) - 1))
            for _ in range(round(CALLBACKS_PER_DAY * load)):
                n += 1
                self.callback(n, day)
        return self.plan
