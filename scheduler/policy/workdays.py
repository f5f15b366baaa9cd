"""Workday arithmetic in a site's local time zone with German public holidays."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import holidays

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_HOUR: Final = 3_600_000_000
# The cumulative workday index covers these years; days outside them are counted one by one.
INDEX_YEARS: Final = (1900, 2200)
_HOURS_CACHED: Final = 500_000
_ADDED_CACHED: Final = 10_000


def epoch_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC of an aware datetime (exact, unlike timestamp())."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_epoch_us(us: int) -> datetime:
    """Inverse of epoch_us(), as an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


class WorkCalendar:
    """Mon-Fri minus public holidays (package `holidays`) minus the site's extra closed days."""

    __slots__ = ("tz", "holiday_region", "extra_closed", "zone", "_country", "_subdiv", "_by_year",
                 "_index_first", "_index", "_hours", "_added")

    def __init__(
        self,
        tz: str = "Europe/Berlin",
        holiday_region: str = "DE-NI",
        extra_closed: frozenset[date] = frozenset(),
    ) -> None:
        self.tz = tz
        self.holiday_region = holiday_region
        self.extra_closed = extra_closed
        self.zone = ZoneInfo(tz)
        country, _, subdiv = holiday_region.partition("-")
        self._country = country
        self._subdiv = subdiv or None
        self._by_year: dict[int, frozenset[date]] = {}
        # Cumulative workday index: _index[i + 1] - _index[i] is 1 if the day with ordinal _index_first + i + 1
        # is a workday, else 0. It covers whole years, contiguous, and grows on demand in both directions
        # without changing the values already in it (values before its first year are negative).
        self._index_first = 0
        self._index: list[int] = []
        # UTC hour (since the epoch) -> workday index of the local day it lies in; only hours that lie in
        # one local day at one UTC offset are kept (see workday_indexes_at).
        self._hours: dict[int, int] = {}
        # (local day, n) -> add_workdays() of any instant of that day: every intake asks the same few again.
        self._added: dict[tuple[date, int], datetime] = {}
        # Fail at construction, not at the first lookup, for an unknown country or region.
        holidays.country_holidays(self._country, subdiv=self._subdiv, years=())

    def __repr__(self) -> str:
        return f"WorkCalendar(tz={self.tz!r}, holiday_region={self.holiday_region!r})"

    def holidays_in(self, year: int) -> frozenset[date]:
        """Public holidays of one year (cached per calendar instance)."""
        found = self._by_year.get(year)
        if found is None:
            days = holidays.country_holidays(self._country, subdiv=self._subdiv, years=year)
            found = self._by_year[year] = frozenset(days.keys())
        return found

    def is_workday(self, d: date) -> bool:
        """Monday to Friday, not a public holiday and not an extra closed day."""
        return d.weekday() < 5 and d not in self.extra_closed and d not in self.holidays_in(d.year)

    def local_date(self, moment: datetime) -> date:
        """The site-local calendar date of an aware datetime."""
        return moment.astimezone(self.zone).date()

    def day_start(self, d: date) -> datetime:
        """00:00 local time of `d`, as an aware UTC datetime."""
        return datetime.combine(d, time(0), tzinfo=self.zone).astimezone(UTC)

    # ----------------------------------------------------------------------------- workday index

    def _count_years(self, first: int, last: int, start: int) -> list[int]:
        """Cumulative workday counts for every day of the years first..last, starting from `start`."""
        out: list[int] = []
        d = date(first, 1, 1)
        end = date(last, 12, 31)
        one = timedelta(days=1)
        count = start
        while True:
            if self.is_workday(d):
                count += 1
            out.append(count)
            if d == end:
                return out
            d += one

    def _cover(self, year: int) -> bool:
        """Extend the index to include `year`; False if the year is outside INDEX_YEARS."""
        if not INDEX_YEARS[0] <= year <= INDEX_YEARS[1]:
            return False
        if not self._index:
            self._index = self._count_years(year, year, 0)
            self._index_first = date(year, 1, 1).toordinal()
            return True
        lo = date.fromordinal(self._index_first).year
        hi = date.fromordinal(self._index_first + len(self._index) - 1).year
        if year > hi:
            self._index += self._count_years(hi + 1, year, self._index[-1])
        elif year < lo:
            # Days before the index count down from it, so that no index handed out ever changes.
            last_before = self._index[0] - self.is_workday(date(lo, 1, 1))  # the count on Dec 31 of lo - 1
            before = self._count_years(year, lo - 1, 0)
            shift = last_before - before[-1]
            self._index = [c + shift for c in before] + self._index
            self._index_first = date(year, 1, 1).toordinal()
        return True

    def workday_index(self, d: date) -> int | None:
        """A running count of workdays up to `d`, or None for a day outside INDEX_YEARS.

        Only differences mean something: the workdays in (a, b] are workday_index(b) - workday_index(a).
        The value of a day never changes for one calendar instance.
        """
        i = d.toordinal() - self._index_first
        if 0 <= i < len(self._index) or self._cover(d.year):
            return self._index[d.toordinal() - self._index_first]
        return None

    def workday_indexes_at(self, instants_us: Sequence[int]) -> list[int | None]:
        """workday_index() of the local date of each instant, given as microseconds since the epoch (UTC).

        Cached per UTC hour when the whole hour has one UTC offset and lies in one local day (checked at
        its first and last microsecond; no time zone changes its offset twice within an hour); the other
        hours (offset changes, half-hour offsets around midnight) convert each instant.
        """
        hours = self._hours
        out: list[int | None] = []
        for us in instants_us:
            found = hours.get(us // US_PER_HOUR)
            out.append(self._index_at(us) if found is None else found)
        return out

    def _index_at(self, us: int) -> int | None:
        hour = us // US_PER_HOUR
        first = from_epoch_us(hour * US_PER_HOUR).astimezone(self.zone)
        last = from_epoch_us((hour + 1) * US_PER_HOUR - 1).astimezone(self.zone)
        if first.utcoffset() == last.utcoffset() and first.date() == last.date():
            found = self.workday_index(first.date())
            if found is not None:
                if len(self._hours) >= _HOURS_CACHED:
                    self._hours.clear()
                self._hours[hour] = found
            return found
        return self.workday_index(self.local_date(from_epoch_us(us)))

    # ---------------------------------------------------------------------------------- arithmetic

    def add_workdays(self, start: datetime, n: int) -> datetime:
        """Start (00:00 local, in UTC) of the n-th workday after start's local day; n=0 is that day."""
        if n < 0:
            raise ValueError("n must be >= 0")
        d = self.local_date(start)
        found = self._added.get((d, n))
        if found is None:
            if len(self._added) >= _ADDED_CACHED:
                self._added.clear()
            found = self._added[(d, n)] = self._add_workdays(d, n)
        return found

    def _add_workdays(self, d: date, n: int) -> datetime:
        if n == 0:
            return self.day_start(d)
        base = self.workday_index(d)
        if base is not None:
            target = base + n
            year = date.fromordinal(self._index_first + len(self._index) - 1).year
            while self._index[-1] < target and self._cover(year + 1):
                year += 1
            if self._index[-1] >= target:
                # The first day whose count reaches the target is the n-th workday after d.
                i = bisect_left(self._index, target, lo=d.toordinal() - self._index_first)
                return self.day_start(date.fromordinal(self._index_first + i))
        for _ in range(n):
            d += timedelta(days=1)
            while not self.is_workday(d):
                d += timedelta(days=1)
        return self.day_start(d)

    def workdays_between(self, a: datetime, b: datetime) -> int:
        """Workdays among the local dates in (a's day, b's day]; negative if b is before a."""
        da, db = self.local_date(a), self.local_date(b)
        ia, ib = self.workday_index(da), self.workday_index(db)
        if ia is not None and ib is not None:
            return ib - ia
        if db < da:
            return -self._count_between(db, da)
        return self._count_between(da, db)

    def _count_between(self, da: date, db: date) -> int:
        # Whole weeks contribute five weekdays each; only their holidays need checking.
        span = (db - da).days
        weeks, rest = divmod(span, 7)
        count = 0
        for i in range(1, rest + 1):
            if self.is_workday(da + timedelta(days=i)):
                count += 1
        first_full = da + timedelta(days=rest + 1)
        count += weeks * 5
        for year in range(first_full.year, db.year + 1):
            for h in self.holidays_in(year) | self.extra_closed:
                if first_full <= h <= db and h.weekday() < 5 and h.year == year:
                    count -= 1
        return count
