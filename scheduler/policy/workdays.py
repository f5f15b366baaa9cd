"""Workday arithmetic in a site's local time zone with German public holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays


class WorkCalendar:
    """Mon-Fri minus public holidays (package `holidays`) minus the site's extra closed days."""

    __slots__ = ("tz", "holiday_region", "extra_closed", "zone", "_country", "_subdiv", "_by_year", "_between")

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
        # An inbox asks for the same few hundred (received day, today) pairs over and over.
        self._between: dict[tuple[date, date], int] = {}
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

    def add_workdays(self, start: datetime, n: int) -> datetime:
        """Start (00:00 local, in UTC) of the n-th workday after start's local day; n=0 is that day."""
        if n < 0:
            raise ValueError("n must be >= 0")
        d = self.local_date(start)
        for _ in range(n):
            d += timedelta(days=1)
            while not self.is_workday(d):
                d += timedelta(days=1)
        return self.day_start(d)

    def workdays_between(self, a: datetime, b: datetime) -> int:
        """Workdays among the local dates in (a's day, b's day]; negative if b is before a."""
        da, db = self.local_date(a), self.local_date(b)
        if db < da:
            return -self.workdays_between(b, a)
        known = self._between.get((da, db))
        if known is not None:
            return known
        if len(self._between) > 50_000:
            self._between.clear()
        count = self._between[(da, db)] = self._count_between(da, db)
        return count

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
