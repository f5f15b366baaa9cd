"""The stored Decision: its JSON form round-trips and malformed documents are refused."""

from __future__ import annotations

import json

import pytest

from scheduler.policy.decision import Decision
from scheduler.policy.rules import Channel
from tests.policy.examples import facts, run


def test_decision_json_round_trip() -> None:
    d = run(facts(concern="no_money", channel=Channel.phone, age=20, assigned_caseworker_id=3))
    doc = json.loads(json.dumps(d.to_json()))
    assert Decision.from_json(doc) == d


def test_decision_from_json_rejects_garbage() -> None:
    doc = run(facts()).to_json()
    doc["priority"] = "high"
    with pytest.raises(ValueError):
        Decision.from_json(doc)


def test_decision_json_round_trip_with_a_fixed_caseworker() -> None:
    d = run(facts(concern="job_offer", assigned_caseworker_id=3))
    assert (d.route_team, d.route_caseworker_id) == (None, 3)
    assert Decision.from_json(json.loads(json.dumps(d.to_json()))) == d


@pytest.mark.parametrize("field", ["modes", "explanation"])
def test_decision_from_json_wants_lists(field: str) -> None:
    doc = run(facts()).to_json()
    doc[field] = "in_person"
    with pytest.raises(ValueError, match="must be lists"):
        Decision.from_json(doc)
