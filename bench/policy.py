"""decide() and propose() timings: one caseworker, 4 weeks, 60 existing appointments."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from scheduler.policy.decide import decide
from scheduler.policy.decision import RequestFacts
from scheduler.policy.parse import load_yaml
from scheduler.policy.rules import Channel, Kind, Mode
from scheduler.policy.slots import CaseworkerAvailability, ClientWindows, WorkingHours, propose
from scheduler.policy.workdays import WorkCalendar

DEMO_RULES = Path(__file__).resolve().parent.parent / "scheduler" / "demo" / "policy-site.yaml"


def _timed(fn, runs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"runs": runs, "median_ms": round(statistics.median(samples), 4),
            "p99_ms": round(samples[int(0.99 * (runs - 1))], 4)}


def measure(runs: int = 2000) -> dict[str, dict[str, float]]:
    """Median and p99 of decide() and propose() in milliseconds."""
    calendar = WorkCalendar()
    ruleset = load_yaml(DEMO_RULES.read_text())
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    facts = RequestFacts(kind=Kind.appointment, concern="integration_advice", channel=Channel.web, language="uk",
                         age=23, urgent=False, wished_modes=frozenset({Mode.in_person}), assigned_caseworker_id=None,
                         received_at=now)
    decision = decide(facts, ruleset, now=now, calendar=calendar, default_team="entrance")
    decision = decision.__class__(**{**{f: getattr(decision, f) for f in decision.__slots__},  # type: ignore[attr-defined]
                                     "earliest_start": now, "latest_start": now + timedelta(days=28)})
    hours = tuple(WorkingHours(d, clock(8), clock(12)) for d in range(5)) + \
        tuple(WorkingHours(d, clock(13), clock(16, 30)) for d in (1, 3))
    busy = []
    day = now
    while len(busy) < 60:
        day += timedelta(days=1)
        if day.weekday() < 5:
            for h in (8, 9, 10):
                start = day.replace(hour=h)
                busy.append((start, start + timedelta(minutes=30)))
    availability = [CaseworkerAvailability(1, hours, busy=tuple(busy[:60]))]
    return {
        "decide": _timed(lambda: decide(facts, ruleset, now=now, calendar=calendar, default_team="entrance"), runs),
        "propose_4_weeks_60_busy": _timed(lambda: propose(decision, availability, client_windows=ClientWindows(),
                                                          caps=ruleset.caps, now=now, calendar=calendar), runs),
    }
