"""Times this process has just proposed, until every slot search that could miss them has seen them.

A slot search reads the times held by other requests' proposals from the database. Intakes that run at the
same moment cannot see each other's proposals before they commit, so without this a burst of clients at one
office (the kiosks at opening time) would all be offered the same earliest times, and the proposals table
would fill with overlapping holds that every later search has to read. Each intake therefore registers the
slots it proposes here as soon as it has chosen them, and every search in the process treats them as held
until its own database snapshot shows them.

Visibility is tracked with a counter, not a clock: a search notes the counter before it sends its read, an
intake notes it once its commit has returned. A search ignores a hold only if the hold's commit had returned
before the search's read was sent (then the read sees the row); holds that nobody can miss any more are
dropped. Other processes still do not see these holds: there the booking constraint decides, as before.

The app owns one `Holds` (keys.HOLDS) and hands it to `intake.submit`. Holds are keyed by caseworker (staff.id,
unique across sites) and only added to the searched site's caseworkers, so one office's holds never touch another's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from scheduler.policy.slots import CaseworkerAvailability, Slot


@dataclass(slots=True)
class _Hold:
    number: int  # unique within its Holds: two holds of the same time are two holds
    caseworker_id: int
    start: datetime
    end: datetime
    committed_at: int | None = None  # the counter when its transaction's commit returned


class Holds:
    """The process's recent proposals (see the module docstring)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._numbers = itertools.count(1)
        self._holds: list[_Hold] = []
        self._reading: set[int] = set()  # the counter values at which the running searches read (each unique)

    @contextmanager
    def transaction(self) -> Iterator[Scope]:
        """Wrap a transaction that proposes: its holds count until it has committed and every search that
        read before that has finished; they are dropped at once if it fails."""
        scope = Scope(self)
        try:
            yield scope
        except BaseException:
            failed = {h.number for h in scope.holds}
            self._holds = [h for h in self._holds if h.number not in failed]
            raise
        else:
            tick = next(self._counter)
            for hold in scope.holds:
                hold.committed_at = tick
        finally:
            self._prune()

    @contextmanager
    def search(self) -> Iterator[Search]:
        """Wrap a slot search: enter it just before reading held times from the database."""
        search = Search(self, next(self._counter))
        self._reading.add(search.read_at)
        try:
            yield search
        finally:
            self._reading.discard(search.read_at)
            self._prune()

    def _prune(self) -> None:
        oldest = min(self._reading, default=None)
        self._holds = [h for h in self._holds
                       if h.committed_at is None or (oldest is not None and h.committed_at > oldest)]


class Scope:
    """The holds of one transaction."""

    def __init__(self, holds: Holds) -> None:
        self.owner = holds
        self.holds: list[_Hold] = []

    def hold(self, slots: Iterable[Slot]) -> None:
        """Hold these slots for every search of the process until they are visible in the database."""
        new = [_Hold(next(self.owner._numbers), s.caseworker_id, s.start, s.end) for s in slots]
        self.holds.extend(new)
        self.owner._holds.extend(new)


class Search:
    """One slot search, and the holds its database read may not show."""

    def __init__(self, holds: Holds, read_at: int) -> None:
        self._owner = holds
        self.read_at = read_at

    def with_holds(self, available: Sequence[CaseworkerAvailability], start: datetime,
                   end: datetime) -> list[CaseworkerAvailability]:
        """The caseworkers' availability with this process's unseen holds between start and end added as busy."""
        unseen: dict[int, list[tuple[datetime, datetime]]] = {}
        for h in self._owner._holds:
            if (h.committed_at is None or h.committed_at > self.read_at) and h.start < end and start < h.end:
                unseen.setdefault(h.caseworker_id, []).append((h.start, h.end))
        if not unseen:
            return list(available)
        return [replace(cw, busy=(*cw.busy, *unseen[cw.caseworker_id])) if cw.caseworker_id in unseen else cw
                for cw in available]

