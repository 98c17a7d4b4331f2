"""Working-time calendars for SLA deadlines.

A complaint's first-response deadline is measured either in the regency government's
working time (office hours in local time, minus weekends, national holidays, cuti bersama
and regional closures) or round the clock.  The stream processor works in float epoch
seconds and computes a deadline for every complaint, so the hot path must be exact and
cost only a few microseconds.

Design: a :class:`WorkingCalendar` keeps, for a contiguous range of local calendar
years, the working intervals of every working day as integer epoch seconds together with
the prefix sum of working seconds before each interval.  Working time elapsed up to an
instant is then one ``bisect`` away, and ``add`` is the inverse of that function (a second
``bisect``), so ``add`` and ``between`` are consistent by construction and independent of
how many nights, weekends or holidays lie in between.  The range grows lazily, a year at
a time, in either direction, whenever an instant (or a deadline) falls outside it.  Each
snapshot of the tables is immutable, so readers in other threads never see a half-built
range.

Working intervals are half-open: with office hours 07:30-16:00, 07:30:00 is working time
and 16:00:00 is not.
"""

from __future__ import annotations

import math
import re
import threading
import zoneinfo
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, NamedTuple, Protocol, overload, runtime_checkable

__all__ = [
    "Calendar",
    "CalendarConfigError",
    "RoundTheClock",
    "WorkingCalendar",
    "WEEKDAY_NAMES",
]

SECONDS_PER_DAY = 86_400

WEEKDAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Holiday categories of the ``holidays`` package that close government offices:
#: public holidays and, where the country defines it, the government category (for
#: Indonesia: cuti bersama, the collective leave days around major holidays).
HOLIDAY_CATEGORIES: tuple[str, ...] = ("public", "government")

#: Indonesian zones have had a fixed UTC offset and no DST for decades, so when the IANA
#: database is unavailable (no system zoneinfo and no ``tzdata`` wheel) a fixed offset is
#: exact for every date a complaint can carry.
_FIXED_OFFSET_FALLBACK: dict[str, tuple[int, str]] = {
    "Asia/Jakarta": (7, "WIB"),
    "Asia/Pontianak": (7, "WIB"),
    "Asia/Makassar": (8, "WITA"),
    "Asia/Jayapura": (9, "WIT"),
}

_MIN_YEAR = 2
_MAX_YEAR = 9_997

_HHMM = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

_CONFIG_KEYS = ("timezone", "working_hours", "holiday_country", "extra_holidays")
#: Keys that live in the same ``[calendar]`` TOML table but belong to other components
#: (``opd_clock`` selects which OPDs run round the clock); accepted and ignored here so
#: the whole table can be passed in.
_FOREIGN_KEYS = ("opd_clock",)


class CalendarConfigError(ValueError):
    """The calendar configuration is invalid; the message names the offending key."""


@runtime_checkable
class Calendar(Protocol):
    """What SLA code needs from a clock: deadlines and elapsed time in that clock's time.

    All instants are epoch seconds.  Implementations also accept aware datetimes.
    """

    def add(self, start: float, seconds: float) -> float:
        """Return the instant at which ``seconds`` of this clock's time have elapsed after ``start``."""
        ...

    def add_days(self, start: float, days: int) -> float:
        """Return the same clock time ``days`` working days later."""
        ...

    def between(self, a: float, b: float) -> float:
        """Return this clock's seconds in ``[a, b)``, or 0 when ``b <= a``."""
        ...

    def is_working(self, t: float) -> bool:
        """Return whether ``t`` lies in this clock's time."""
        ...


def _check_seconds(seconds: float | timedelta) -> float:
    """Normalise a duration; negative and NaN durations would silently break monotonicity."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    if not seconds >= 0 or seconds == math.inf:
        raise ValueError(f"duration must be a finite number of seconds >= 0, got {seconds!r}")
    return seconds


def _check_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"days must be an int >= 0, got {days!r}")
    return days


def _epoch_of(dt: datetime) -> float:
    """Epoch seconds of an aware datetime; naive datetimes are ambiguous and rejected."""
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(f"naive datetime {dt.isoformat()} has no time zone; pass an aware datetime")
    return dt.timestamp()


def _as_epoch(t: float | datetime) -> float:
    return _epoch_of(t) if isinstance(t, datetime) else t


def load_timezone(name: str) -> tzinfo:
    """Resolve an IANA zone name, degrading to a fixed offset for Indonesian zones.

    Raises :class:`CalendarConfigError` when the zone is unknown or the time zone
    database is missing for a zone that has no safe fixed-offset equivalent.
    """
    if not isinstance(name, str) or not name:
        raise CalendarConfigError(f"calendar.timezone: expected an IANA zone name such as 'Asia/Jakarta', got {name!r}")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        fallback = _FIXED_OFFSET_FALLBACK.get(name)
        if fallback is not None:
            hours, abbreviation = fallback
            return timezone(timedelta(hours=hours), abbreviation)
        if not zoneinfo.available_timezones():
            raise CalendarConfigError(
                f"calendar.timezone: cannot resolve {name!r}: no IANA time zone database found "
                "(install the 'tzdata' package or the system tzdata)"
            ) from exc
        raise CalendarConfigError(f"calendar.timezone: unknown time zone {name!r}") from exc


class _Tables(NamedTuple):
    """An immutable snapshot of the working intervals of local years ``[lo_year, hi_year]``.

    ``starts[k]``/``ends[k]`` bound the k-th working interval (integer epoch seconds),
    ``before[k]`` is the working time in the range before interval k and ``through[k]``
    the working time up to its end.  ``opens[k]`` is the interval's opening time as a
    local second of the day, needed to keep "the same clock time" on days whose hours
    differ.  ``lo``/``hi`` bound the covered instants as ``[lo, hi)``.
    """

    starts: list[int]
    ends: list[int]
    before: list[int]
    through: list[int]
    opens: list[int]
    lo: float
    hi: float
    lo_year: int
    hi_year: int


_EMPTY = _Tables([], [], [], [], [], math.inf, -math.inf, 0, -1)


class WorkingCalendar:
    """Office hours per weekday in one time zone, minus national and extra holidays."""

    def __init__(
        self,
        timezone: str,
        working_hours: Mapping[int, tuple[int, int]],
        holidays_country: str | None,
        extra_holidays: Iterable[date] = (),
    ) -> None:
        """Build a calendar.

        ``working_hours`` maps a weekday (0 = Monday) to ``(open, close)`` in local
        seconds of the day, ``0 <= open < close <= 86400``; weekdays not listed are not
        working days.  ``holidays_country`` is an ISO country code understood by the
        ``holidays`` package (None for none).  Nothing is computed until first use.
        """
        self._tz = load_timezone(timezone)
        self._tz_name = timezone
        self._hours = self._check_hours(working_hours)
        self._country, self._categories = self._check_country(holidays_country)
        extra = set()
        for i, d in enumerate(extra_holidays):
            if isinstance(d, datetime) or not isinstance(d, date):
                raise CalendarConfigError(f"calendar.extra_holidays[{i}]: expected a date, got {d!r}")
            extra.add(d)
        self._extra = frozenset(extra)
        # Rough size of a year's working time and working days; only decides how many
        # years one forward extension adds (extending simply repeats if it was too few).
        self._year_seconds = max(1, 50 * sum(close - open_ for open_, close in self._hours.values()))
        self._year_days = max(1, 50 * len(self._hours))
        self._holiday_years: dict[int, frozenset[date]] = {}
        self._year_intervals: dict[int, list[tuple[int, int, int]]] = {}
        self._tables: _Tables = _EMPTY
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> WorkingCalendar:
        """Build a calendar from the parsed ``[calendar]`` TOML table, validating every key.

        ``timezone`` and ``working_hours`` are required; ``holiday_country`` (default: no
        national holidays) and ``extra_holidays`` (default: none) are optional.  Dates may
        be ``"YYYY-MM-DD"`` strings or TOML dates.
        """
        if not isinstance(cfg, Mapping):
            raise CalendarConfigError(f"calendar: expected a table, got {type(cfg).__name__}")
        for key in cfg:
            if key not in _CONFIG_KEYS and key not in _FOREIGN_KEYS:
                raise CalendarConfigError(
                    f"calendar.{key}: unknown key (expected one of {', '.join(_CONFIG_KEYS)})"
                )
        for key in ("timezone", "working_hours"):
            if key not in cfg:
                raise CalendarConfigError(f"calendar.{key}: missing required key")

        tz_name = cfg["timezone"]
        load_timezone(tz_name)

        raw_hours = cfg["working_hours"]
        if not isinstance(raw_hours, Mapping):
            raise CalendarConfigError(
                f"calendar.working_hours: expected a table such as {{ mon = [\"07:30\", \"16:00\"] }}, got {raw_hours!r}"
            )
        hours: dict[int, tuple[int, int]] = {}
        for name, span in raw_hours.items():
            where = f"calendar.working_hours.{name}"
            key = name.lower() if isinstance(name, str) else None
            if key not in WEEKDAY_NAMES:
                raise CalendarConfigError(f"{where}: unknown weekday name (expected one of {', '.join(WEEKDAY_NAMES)})")
            weekday = WEEKDAY_NAMES.index(key)
            if weekday in hours:
                raise CalendarConfigError(f"{where}: weekday given more than once")
            if not isinstance(span, (list, tuple)) or len(span) != 2:
                raise CalendarConfigError(f'{where}: expected ["HH:MM", "HH:MM"], got {span!r}')
            open_s = _parse_hhmm(span[0], where)
            close_s = _parse_hhmm(span[1], where)
            if close_s <= open_s:
                raise CalendarConfigError(f"{where}: end {span[1]!r} is not after start {span[0]!r}")
            hours[weekday] = (open_s, close_s)
        if not hours:
            raise CalendarConfigError("calendar.working_hours: no working day configured")

        country = cfg.get("holiday_country")
        if country == "":
            country = None
        if country is not None and not isinstance(country, str):
            raise CalendarConfigError(f"calendar.holiday_country: expected an ISO country code such as 'ID', got {country!r}")

        raw_extra = cfg.get("extra_holidays", [])
        if not isinstance(raw_extra, (list, tuple)):
            raise CalendarConfigError(f'calendar.extra_holidays: expected a list of "YYYY-MM-DD" dates, got {raw_extra!r}')
        extra = [_parse_date(v, f"calendar.extra_holidays[{i}]") for i, v in enumerate(raw_extra)]

        return cls(tz_name, hours, country, extra)

    @staticmethod
    def _check_hours(working_hours: Mapping[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
        hours: dict[int, tuple[int, int]] = {}
        for weekday, span in working_hours.items():
            name = WEEKDAY_NAMES[weekday] if isinstance(weekday, int) and 0 <= weekday < 7 else repr(weekday)
            where = f"calendar.working_hours.{name}"
            if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday < 7:
                raise CalendarConfigError(f"{where}: weekday must be an int 0 (Monday) .. 6 (Sunday)")
            try:
                open_s, close_s = span
            except (TypeError, ValueError):
                raise CalendarConfigError(f"{where}: expected (open_second, close_second), got {span!r}") from None
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (open_s, close_s)):
                raise CalendarConfigError(f"{where}: seconds of the day must be ints, got {span!r}")
            if not 0 <= open_s < close_s <= SECONDS_PER_DAY:
                raise CalendarConfigError(f"{where}: need 0 <= start < end <= 86400 seconds of the day, got {span!r}")
            hours[weekday] = (open_s, close_s)
        if not hours:
            raise CalendarConfigError("calendar.working_hours: no working day configured")
        return hours

    @staticmethod
    def _check_country(country: str | None) -> tuple[str | None, tuple[str, ...]]:
        """Validate the country and pick which of :data:`HOLIDAY_CATEGORIES` it defines."""
        if country is None:
            return None, ()
        import holidays

        try:
            supported = holidays.country_holidays(country, years=[]).supported_categories
        except NotImplementedError:
            raise CalendarConfigError(
                f"calendar.holiday_country: {country!r} is not a country supported by the 'holidays' package"
            ) from None
        return country, tuple(c for c in HOLIDAY_CATEGORIES if c in supported)

    @property
    def timezone(self) -> tzinfo:
        """The calendar's local time zone."""
        return self._tz

    @property
    def working_hours(self) -> dict[int, tuple[int, int]]:
        """Weekday (0 = Monday) to ``(open, close)`` local seconds of the day."""
        return dict(self._hours)

    def holidays_in(self, year: int) -> frozenset[date]:
        """All non-working dates of ``year`` besides the weekly rest days (national and extra holidays)."""
        return frozenset(d for d in self._holidays_near(year) if d.year == year)

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` has office hours at all."""
        return day.weekday() in self._hours and day not in self._holidays_near(day.year)

    def to_local(self, t: float) -> datetime:
        """The instant ``t`` as an aware datetime in the calendar's time zone."""
        return datetime.fromtimestamp(t, self._tz)

    @overload
    def add(self, start: float, seconds: float | timedelta) -> float: ...
    @overload
    def add(self, start: datetime, seconds: float | timedelta) -> datetime: ...

    def add(self, start: float | datetime, seconds: float | timedelta) -> float | datetime:
        """Return the earliest instant at which ``seconds`` of working time have elapsed after ``start``.

        "Earliest" makes a budget that exactly uses up a day's hours end at closing time
        (16:00) rather than at the next opening, and makes ``add(start, 0) == start``.
        """
        if isinstance(start, datetime):
            return datetime.fromtimestamp(self.add(_epoch_of(start), seconds), self._tz)
        if seconds.__class__ is not float or not 0.0 < seconds < math.inf:
            seconds = _check_seconds(seconds)
            if seconds == 0:
                self._covering(start)
                return float(start)
        while True:
            tables = self._tables
            if not tables.lo <= start < tables.hi:
                tables = self._covering(start)
            starts, ends, before, through = tables.starts, tables.ends, tables.before, tables.through
            k = bisect_right(starts, start) - 1
            if k < 0:
                target = seconds
            elif start < ends[k]:
                target = before[k] + (start - starts[k]) + seconds
            else:
                target = through[k] + seconds
            j = bisect_left(through, target)
            if j < len(through):
                result = starts[j] + (target - before[j])
                return float(result) if result > start else float(start)
            deficit = target - (through[-1] if through else 0)
            self._extend_forward(tables, math.ceil(deficit / self._year_seconds))

    @overload
    def add_days(self, start: float, days: int) -> float: ...
    @overload
    def add_days(self, start: datetime, days: int) -> datetime: ...

    def add_days(self, start: float | datetime, days: int) -> float | datetime:
        """Return the same local clock time ``days`` working days later.

        A start outside working hours first moves to the next opening time.  If the
        target day's hours do not include that clock time, the result is clamped to that
        day's opening or closing time, so the deadline never lands outside the office
        hours of the day it is due.  ``days == 0`` therefore only normalises the start.
        """
        if isinstance(start, datetime):
            return datetime.fromtimestamp(self.add_days(_epoch_of(start), days), self._tz)
        if days.__class__ is not int or days < 0:
            days = _check_days(days)
        while True:
            tables = self._tables
            if not tables.lo <= start < tables.hi:
                tables = self._covering(start)
            starts, ends = tables.starts, tables.ends
            k = bisect_right(starts, start) - 1
            inside = k >= 0 and start < ends[k]
            j = k + days if inside else k + 1 + days
            if j < len(starts):
                if not inside:
                    return float(starts[j])
                opens = tables.opens
                result = starts[j] + (opens[k] + (start - starts[k]) - opens[j])
                if result < starts[j]:
                    return float(starts[j])
                if result > ends[j]:
                    return float(ends[j])
                return float(result)
            self._extend_forward(tables, math.ceil((j - len(starts) + 1) / self._year_days))

    def between(self, a: float | datetime, b: float | datetime) -> float:
        """Working seconds in ``[a, b)``; 0 when ``b <= a``."""
        if a.__class__ is not float or b.__class__ is not float:
            a = _as_epoch(a)
            b = _as_epoch(b)
        if not b > a:
            return 0.0
        tables = self._tables
        if not (tables.lo <= a and b < tables.hi):
            self._covering(a)
            tables = self._covering(b)
        return float(self._elapsed(tables, b) - self._elapsed(tables, a))

    def is_working(self, t: float | datetime) -> bool:
        """Whether ``t`` falls inside office hours on a working day."""
        t = _as_epoch(t)
        tables = self._tables
        if not tables.lo <= t < tables.hi:
            tables = self._covering(t)
        k = bisect_right(tables.starts, t) - 1
        return k >= 0 and t < tables.ends[k]

    @staticmethod
    def _elapsed(tables: _Tables, t: float) -> float:
        """Working seconds from the start of the covered range to ``t`` (``t`` must be covered)."""
        k = bisect_right(tables.starts, t) - 1
        if k < 0:
            return 0
        if t < tables.ends[k]:
            return tables.before[k] + (t - tables.starts[k])
        return tables.through[k]

    def _covering(self, t: float) -> _Tables:
        """Return tables whose range includes ``t``, growing the range to ``t``'s local year if needed."""
        tables = self._tables
        if tables.lo <= t < tables.hi:
            return tables
        try:
            year = datetime.fromtimestamp(t, self._tz).year
        except (OverflowError, OSError, ValueError, TypeError) as exc:
            raise ValueError(f"instant {t!r} is not a representable epoch time") from exc
        with self._lock:
            tables = self._tables
            if tables.lo <= t < tables.hi:
                return tables
            if tables is _EMPTY:
                return self._rebuild(year, year)
            return self._rebuild(min(year, tables.lo_year), max(year, tables.hi_year))

    def _extend_forward(self, seen: _Tables, years: int) -> None:
        """Grow the range past ``seen`` by ``years`` (at least one); a no-op if another caller already grew it."""
        years = max(1, years)
        with self._lock:
            tables = self._tables
            if tables.hi_year > seen.hi_year:
                return
            self._rebuild(tables.lo_year, tables.hi_year + years)

    def _rebuild(self, lo_year: int, hi_year: int) -> _Tables:
        """Recompute the flat tables for ``[lo_year, hi_year]`` from the per-year interval cache."""
        if lo_year < _MIN_YEAR or hi_year > _MAX_YEAR:
            raise ValueError(f"working-time calendar only covers years {_MIN_YEAR}..{_MAX_YEAR}, needed {lo_year}..{hi_year}")
        starts: list[int] = []
        ends: list[int] = []
        before: list[int] = []
        through: list[int] = []
        opens: list[int] = []
        total = 0
        for year in range(lo_year, hi_year + 1):
            for start, end, open_s in self._intervals_of(year):
                starts.append(start)
                ends.append(end)
                opens.append(open_s)
                before.append(total)
                total += end - start
                through.append(total)
        tables = _Tables(
            starts,
            ends,
            before,
            through,
            opens,
            self._local_epoch(date(lo_year, 1, 1), 0),
            self._local_epoch(date(hi_year + 1, 1, 1), 0),
            lo_year,
            hi_year,
        )
        self._tables = tables
        return tables

    def _intervals_of(self, year: int) -> list[tuple[int, int, int]]:
        cached = self._year_intervals.get(year)
        if cached is not None:
            return cached
        closed = self._holidays_near(year)
        intervals: list[tuple[int, int, int]] = []
        day = date(year, 1, 1)
        one_day = timedelta(days=1)
        while day.year == year:
            span = self._hours.get(day.weekday())
            if span is not None and day not in closed:
                intervals.append((self._local_epoch(day, span[0]), self._local_epoch(day, span[1]), span[0]))
            day += one_day
        self._year_intervals[year] = intervals
        return intervals

    def _holidays_near(self, year: int) -> frozenset[date]:
        """Holidays generated for ``year`` and its neighbours, since observed days can spill across a year end."""
        return self._holidays_of(year - 1) | self._holidays_of(year) | self._holidays_of(year + 1)

    def _holidays_of(self, year: int) -> frozenset[date]:
        cached = self._holiday_years.get(year)
        if cached is not None:
            return cached
        dates = {d for d in self._extra if d.year == year}
        if self._country is not None:
            import holidays

            dates.update(holidays.country_holidays(self._country, years=year, categories=self._categories).keys())
        result = frozenset(dates)
        self._holiday_years[year] = result
        return result

    def _local_epoch(self, day: date, second_of_day: int) -> int:
        """Epoch seconds of a local wall-clock time; 86400 means the next midnight."""
        if second_of_day >= SECONDS_PER_DAY:
            day += timedelta(days=second_of_day // SECONDS_PER_DAY)
            second_of_day %= SECONDS_PER_DAY
        hour, rest = divmod(second_of_day, 3600)
        minute, second = divmod(rest, 60)
        return int(datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=self._tz).timestamp())

    def __repr__(self) -> str:
        hours = ", ".join(
            f"{WEEKDAY_NAMES[d]}={_format_hhmm(o)}-{_format_hhmm(c)}" for d, (o, c) in sorted(self._hours.items())
        )
        return (
            f"WorkingCalendar(timezone={self._tz_name!r}, {hours}, holidays_country={self._country!r}, "
            f"extra_holidays={len(self._extra)})"
        )


class RoundTheClock:
    """All time is working time: for OPDs on 24x7 duty (e.g. BPBD) and 24x7 budgets."""

    @overload
    def add(self, start: float, seconds: float | timedelta) -> float: ...
    @overload
    def add(self, start: datetime, seconds: float | timedelta) -> datetime: ...

    def add(self, start: float | datetime, seconds: float | timedelta) -> float | datetime:
        """``start + seconds`` in elapsed (not wall-clock) time."""
        if start.__class__ is float and seconds.__class__ is float and 0.0 <= seconds < math.inf:
            return start + seconds
        seconds = _check_seconds(seconds)
        if isinstance(start, datetime):
            return datetime.fromtimestamp(_epoch_of(start) + seconds, start.tzinfo)
        return float(start + seconds)

    @overload
    def add_days(self, start: float, days: int) -> float: ...
    @overload
    def add_days(self, start: datetime, days: int) -> datetime: ...

    def add_days(self, start: float | datetime, days: int) -> float | datetime:
        """``start + days * 86400`` elapsed seconds: every day is a working day."""
        return self.add(start, _check_days(days) * SECONDS_PER_DAY)

    def between(self, a: float | datetime, b: float | datetime) -> float:
        """``b - a`` clamped at 0."""
        return float(max(0.0, _as_epoch(b) - _as_epoch(a)))

    def is_working(self, t: float | datetime) -> bool:
        """Always true."""
        return True

    def __repr__(self) -> str:
        return "RoundTheClock()"


def _parse_hhmm(value: object, where: str) -> int:
    """Parse ``H:MM``/``HH:MM`` (``24:00`` allowed as a closing time) into seconds of the day."""
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise CalendarConfigError(f"{where}: {value!r} is not HH:MM")
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
        raise CalendarConfigError(f"{where}: {value!r} is not a valid HH:MM time of day")
    return hour * 3600 + minute * 60


def _format_hhmm(second_of_day: int) -> str:
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    return f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")


def _parse_date(value: object, where: str) -> date:
    """Accept ``"YYYY-MM-DD"`` strings and TOML dates (but not datetimes)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarConfigError(f"{where}: {value!r} is not a valid YYYY-MM-DD date")
