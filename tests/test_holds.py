"""A process's slot searches see the times its other transactions have just proposed, until the database does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler.holds import Holds
from scheduler.policy.rules import Mode
from scheduler.policy.slots import CaseworkerAvailability, Slot

NINE = datetime(2030, 3, 4, 8, 0, tzinfo=UTC)
DAY = (NINE - timedelta(hours=2), NINE + timedelta(hours=10))
TEAM = [CaseworkerAvailability(caseworker_id=1, hours=()), CaseworkerAvailability(caseworker_id=2, hours=())]


def _slot(caseworker: int, minutes: int = 0) -> Slot:
    start = NINE + timedelta(minutes=minutes)
    return Slot(caseworker, start, start + timedelta(minutes=30), Mode.in_person, "1.01")


def _busy(holds: Holds) -> dict[int, tuple[tuple[datetime, datetime], ...]]:
    with holds.search() as search:
        return {cw.caseworker_id: cw.busy for cw in search.with_holds(TEAM, *DAY)}


def test_an_open_transactions_slots_are_held_for_every_search() -> None:
    holds = Holds()
    with holds.transaction() as scope:
        scope.hold([_slot(1), _slot(1, 60)])
        assert _busy(holds) == {1: ((NINE, NINE + timedelta(minutes=30)),
                                    (NINE + timedelta(hours=1), NINE + timedelta(minutes=90))), 2: ()}
    assert _busy(holds) == {1: (), 2: ()}  # committed before this search read: the database shows them


def test_a_search_that_read_before_the_commit_still_sees_the_holds() -> None:
    holds = Holds()
    with holds.search() as early:  # its read was sent while the transaction was still open
        with holds.transaction() as scope:
            scope.hold([_slot(2)])
        assert [cw.busy for cw in early.with_holds(TEAM, *DAY)] == [(), ((NINE, NINE + timedelta(minutes=30)),)]
        assert _busy(holds)[2] == ()
    assert holds._holds == []  # nobody can miss it any more


def test_a_failed_transaction_holds_nothing() -> None:
    holds = Holds()
    with holds.search(), pytest.raises(RuntimeError):
        with holds.transaction() as scope:
            scope.hold([_slot(1)])
            raise RuntimeError("rolled back")
    assert _busy(holds) == {1: (), 2: ()}


def test_holds_outside_the_searched_window_are_left_out() -> None:
    holds = Holds()
    with holds.transaction() as scope:
        scope.hold([_slot(1, 24 * 60)])
        assert _busy(holds) == {1: (), 2: ()}


def test_a_failed_transaction_drops_only_its_own_hold_of_a_time() -> None:
    holds = Holds()
    with holds.search() as search:
        with holds.transaction() as kept:
            kept.hold([_slot(1)])
            with pytest.raises(RuntimeError), holds.transaction() as failed:
                failed.hold([_slot(1)])
                raise RuntimeError("rolled back")
            assert len(holds._holds) == 1
        assert [cw.busy for cw in search.with_holds(TEAM, *DAY)][0] == ((NINE, NINE + timedelta(minutes=30)),)
