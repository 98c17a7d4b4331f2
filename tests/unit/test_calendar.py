"""Unit tests for the working-time calendar used for SLA deadlines.

Hand-checked cases pin the semantics (half-open office hours, earliest deadline,
clock-time-preserving working days); a day-by-day reference implementation and a seeded
random sweep check exactness and the add/between inverse relation everywhere else.
"""

from __future__ import annotations

import random
import tomllib
import zoneinfo
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import holidays
import pytest

from agents.domain import calendar as calendar_module
from agents.domain.calendar import (
    Calendar,
    CalendarConfigError,
    RoundTheClock,
    WorkingCalendar,
)

WIB = zoneinfo.ZoneInfo("Asia/Jakarta")
HOUR = 3600.0
DAY_HOURS = 8.5 * HOUR
OFFICE = {day: ["07:30", "16:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
REPO = Path(__file__).resolve().parents[2]


def wib(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: float = 0) -> float:
    whole = int(second)
    micro = round((second - whole) * 1_000_000)
    return datetime(year, month, day, hour, minute, whole, micro, tzinfo=WIB).timestamp()


def local(t: float) -> datetime:
    return datetime.fromtimestamp(t, WIB)


def make(extra: list[str] | None = None, **overrides: object) -> WorkingCalendar:
    cfg: dict[str, object] = {
        "timezone": "Asia/Jakarta",
        "working_hours": OFFICE,
        "holiday_country": "ID",
        "extra_holidays": extra or [],
    }
    cfg.update(overrides)
    return WorkingCalendar.from_config(cfg)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return make()


class Reference:
    """Day-by-day working time straight from zoneinfo and ``holidays``: slow but obviously right."""

    def __init__(self, tz: zoneinfo.ZoneInfo, hours: dict[int, tuple[int, int]], closed: set[date]) -> None:
        self.tz = tz
        self.hours = hours
        self.closed = closed

    def interval(self, day: date) -> tuple[float, float] | None:
        if day.weekday() not in self.hours or day in self.closed:
            return None
        base = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        open_s, close_s = self.hours[day.weekday()]
        return (base + timedelta(seconds=open_s)).timestamp(), (base + timedelta(seconds=close_s)).timestamp()

    def between(self, a: float, b: float) -> float:
        total = 0.0
        day = datetime.fromtimestamp(a, self.tz).date()
        last = datetime.fromtimestamp(b, self.tz).date()
        while day <= last:
            span = self.interval(day)
            if span is not None:
                total += max(0.0, min(b, span[1]) - max(a, span[0]))
            day += timedelta(days=1)
        return total

    def add(self, start: float, seconds: float) -> float:
        if seconds == 0:
            return start
        day = datetime.fromtimestamp(start, self.tz).date()
        remaining = seconds
        while True:
            span = self.interval(day)
            if span is not None and span[1] > start:
                begin = max(start, span[0])
                if remaining <= span[1] - begin:
                    return begin + remaining
                remaining -= span[1] - begin
            day += timedelta(days=1)


def id_closed_days(years: range, extra: tuple[date, ...] = ()) -> set[date]:
    found = holidays.country_holidays("ID", years=list(years), categories=("public", "government"))
    return set(found) | set(extra)


@pytest.fixture(scope="module")
def reference() -> Reference:
    office = {d: (7 * 3600 + 1800, 16 * 3600) for d in range(5)}
    return Reference(WIB, office, id_closed_days(range(2024, 2031)))


# --- the holiday data the hand-checked cases rely on ----------------------------------


def test_package_lists_the_id_holidays_used_below(cal: WorkingCalendar) -> None:
    closed_2026 = cal.holidays_in(2026)
    assert date(2026, 12, 25) in closed_2026  # Christmas
    assert date(2026, 12, 24) in closed_2026  # cuti bersama (government category)
    assert date(2026, 8, 17) in closed_2026  # Independence Day
    assert date(2026, 3, 20) in closed_2026  # Idul Fitri cuti bersama
    assert date(2027, 1, 1) in cal.holidays_in(2027)
    assert not cal.is_working_day(date(2026, 12, 24))
    assert not cal.is_working_day(date(2026, 7, 11))  # Saturday
    assert cal.is_working_day(date(2026, 7, 10))


# --- add ------------------------------------------------------------------------------


def test_friday_afternoon_plus_four_hours_is_monday_morning(cal: WorkingCalendar) -> None:
    assert cal.add(wib(2026, 7, 10, 15, 0), 4 * HOUR) == wib(2026, 7, 13, 10, 30)


def test_saturday_start_counts_from_monday_opening(cal: WorkingCalendar) -> None:
    assert cal.add(wib(2026, 7, 11, 9, 15), 4 * HOUR) == wib(2026, 7, 13, 11, 30)
    assert cal.add(wib(2026, 7, 12, 23, 59, 59), 1.0) == wib(2026, 7, 13, 7, 30, 1)


def test_before_opening_counts_from_opening(cal: WorkingCalendar) -> None:
    assert cal.add(wib(2026, 7, 14, 6, 0), 2 * HOUR) == wib(2026, 7, 14, 9, 30)


def test_start_exactly_at_opening_is_working_time(cal: WorkingCalendar) -> None:
    opening = wib(2026, 7, 14, 7, 30)
    assert cal.is_working(opening)
    assert cal.add(opening, DAY_HOURS) == wib(2026, 7, 14, 16, 0)
    assert cal.add(opening, 1.0) == opening + 1.0


def test_start_exactly_at_closing_is_not_working_time(cal: WorkingCalendar) -> None:
    closing = wib(2026, 7, 14, 16, 0)
    assert not cal.is_working(closing)
    assert cal.is_working(closing - 1e-3)
    assert cal.add(closing, 1.0) == wib(2026, 7, 15, 7, 30, 1)


def test_budget_that_uses_up_the_day_ends_at_closing_not_next_opening(cal: WorkingCalendar) -> None:
    assert cal.add(wib(2026, 7, 14, 12, 0), 4 * HOUR) == wib(2026, 7, 14, 16, 0)
    assert cal.add(wib(2026, 7, 14, 12, 0), 4 * HOUR + 0.5) == wib(2026, 7, 15, 7, 30, 0.5)


def test_zero_duration_returns_the_start_even_outside_hours(cal: WorkingCalendar) -> None:
    saturday = wib(2026, 7, 11, 10, 0)
    assert cal.add(saturday, 0) == saturday
    assert cal.add(saturday, 0.0) == saturday
    assert cal.add(saturday, 1e-3) == pytest.approx(wib(2026, 7, 13, 7, 30) + 1e-3, abs=1e-6)


def test_fractional_duration(cal: WorkingCalendar) -> None:
    start = wib(2026, 7, 14, 15, 59, 59.25)
    assert cal.add(start, 1.5) == pytest.approx(wib(2026, 7, 15, 7, 30, 0.75), abs=1e-6)


def test_holidays_and_year_end(cal: WorkingCalendar) -> None:
    # Wed 23 Dec 2026 14:00 has 2 h left; 24 (cuti bersama), 25 (Christmas) and the weekend are closed.
    assert cal.add(wib(2026, 12, 23, 14, 0), 4 * HOUR) == wib(2026, 12, 28, 9, 30)
    # Thu 31 Dec 15:00 has 1 h left; 1 Jan 2027 (Fri) is New Year; Mon 4 Jan is open.
    assert cal.add(wib(2026, 12, 31, 15, 0), 2 * HOUR) == wib(2027, 1, 4, 8, 30)
    # Mon 4 Jan has 8.5 h; Tue 5 Jan 2027 is Isra' Mi'raj.
    assert cal.add(wib(2026, 12, 31, 15, 0), HOUR + DAY_HOURS + HOUR) == wib(2027, 1, 6, 8, 30)


def test_multi_week_duration(cal: WorkingCalendar) -> None:
    # July 2026 has no holidays: 20 working days from Mon 6 Jul 07:30 end on Fri 31 Jul 16:00.
    assert cal.add(wib(2026, 7, 6, 7, 30), 20 * DAY_HOURS) == wib(2026, 7, 31, 16, 0)
    assert cal.add(wib(2026, 7, 6, 7, 30), 20 * DAY_HOURS + 1) == wib(2026, 8, 3, 7, 30, 1)


def test_long_duration_crosses_several_years(cal: WorkingCalendar, reference: Reference) -> None:
    start = wib(2026, 11, 2, 10, 0)
    budget = 600 * DAY_HOURS + 1234.5
    end = cal.add(start, budget)
    assert end == pytest.approx(reference.add(start, budget), abs=1e-6)
    assert local(end).year == 2029
    assert cal.between(start, end) == pytest.approx(budget, abs=1e-6)


def test_extra_holidays_are_honoured() -> None:
    plain = make()
    closed = make(extra=["2026-07-10"])
    thursday = wib(2026, 7, 9, 15, 0)
    assert plain.add(thursday, 2 * HOUR) == wib(2026, 7, 10, 8, 30)
    assert closed.add(thursday, 2 * HOUR) == wib(2026, 7, 13, 8, 30)
    assert not closed.is_working(wib(2026, 7, 10, 10, 0))
    assert closed.add_days(thursday, 1) == wib(2026, 7, 13, 15, 0)
    assert date(2026, 7, 10) in closed.holidays_in(2026)


def test_toml_dates_are_accepted_as_extra_holidays() -> None:
    closed = make(extra=[date(2026, 7, 10)])  # type: ignore[list-item]
    assert not closed.is_working_day(date(2026, 7, 10))


def test_without_national_holidays_christmas_is_a_working_day() -> None:
    bare = make(holiday_country=None)
    assert bare.is_working(wib(2026, 12, 25, 10, 0))
    assert bare.add(wib(2026, 12, 23, 14, 0), 4 * HOUR) == wib(2026, 12, 24, 9, 30)


def test_negative_or_invalid_durations_are_rejected(cal: WorkingCalendar) -> None:
    for bad in (-1.0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            cal.add(wib(2026, 7, 14, 10, 0), bad)
    with pytest.raises(ValueError):
        cal.add_days(wib(2026, 7, 14, 10, 0), -1)
    with pytest.raises(ValueError):
        cal.add_days(wib(2026, 7, 14, 10, 0), 1.5)  # type: ignore[arg-type]


# --- add_days --------------------------------------------------------------------------


def test_add_days_keeps_the_clock_time(cal: WorkingCalendar) -> None:
    assert cal.add_days(wib(2026, 7, 7, 10, 15), 3) == wib(2026, 7, 10, 10, 15)


def test_add_days_skips_the_weekend(cal: WorkingCalendar) -> None:
    assert cal.add_days(wib(2026, 7, 9, 10, 0), 3) == wib(2026, 7, 14, 10, 0)


def test_add_days_skips_a_holiday(cal: WorkingCalendar) -> None:
    # Mon 17 Aug 2026 is Independence Day.
    assert cal.add_days(wib(2026, 8, 14, 10, 0), 1) == wib(2026, 8, 18, 10, 0)


def test_add_days_across_year_end_and_cuti_bersama(cal: WorkingCalendar) -> None:
    # 24 (cuti bersama) and 25 Dec are closed; 1 Jan and 5 Jan 2027 too.
    assert cal.add_days(wib(2026, 12, 23, 10, 0), 2) == wib(2026, 12, 29, 10, 0)
    assert cal.add_days(wib(2026, 12, 30, 10, 0), 3) == wib(2027, 1, 6, 10, 0)


def test_add_days_from_outside_hours_starts_at_next_opening(cal: WorkingCalendar) -> None:
    assert cal.add_days(wib(2026, 7, 11, 10, 0), 3) == wib(2026, 7, 16, 7, 30)  # Saturday
    assert cal.add_days(wib(2026, 7, 14, 16, 0), 1) == wib(2026, 7, 16, 7, 30)  # at closing
    assert cal.add_days(wib(2026, 7, 14, 6, 0), 1) == wib(2026, 7, 15, 7, 30)  # before opening
    assert cal.add_days(wib(2026, 7, 14, 7, 30), 1) == wib(2026, 7, 15, 7, 30)  # at opening


def test_add_days_zero_only_normalises(cal: WorkingCalendar) -> None:
    inside = wib(2026, 7, 14, 11, 0)
    assert cal.add_days(inside, 0) == inside
    assert cal.add_days(wib(2026, 7, 11, 11, 0), 0) == wib(2026, 7, 13, 7, 30)


def test_add_days_clamps_to_a_shorter_day() -> None:
    hours = dict(OFFICE, fri=["07:30", "11:00"])
    short_friday = make(working_hours=hours)
    assert short_friday.add_days(wib(2026, 7, 9, 14, 0), 1) == wib(2026, 7, 10, 11, 0)
    assert short_friday.add_days(wib(2026, 7, 9, 10, 0), 1) == wib(2026, 7, 10, 10, 0)
    assert short_friday.add_days(wib(2026, 7, 10, 10, 0), 1) == wib(2026, 7, 13, 10, 0)


def test_add_days_many_days_spans_years(cal: WorkingCalendar) -> None:
    start = wib(2026, 6, 3, 9, 0)
    end = cal.add_days(start, 1000)
    assert local(end).time() == local(start).time()
    days = 0
    day = date(2026, 6, 4)
    while day <= local(end).date():
        days += cal.is_working_day(day)
        day += timedelta(days=1)
    assert days == 1000


# --- between and is_working -------------------------------------------------------------


def test_between_over_a_week_is_five_working_days(cal: WorkingCalendar) -> None:
    assert cal.between(wib(2026, 7, 6), wib(2026, 7, 13)) == 5 * DAY_HOURS
    assert cal.between(wib(2026, 7, 8, 12, 34), wib(2026, 7, 15, 12, 34)) == 5 * DAY_HOURS


def test_between_is_zero_for_empty_or_reversed_ranges(cal: WorkingCalendar) -> None:
    t = wib(2026, 7, 14, 10, 0)
    assert cal.between(t, t) == 0
    assert cal.between(t, t - 100) == 0
    assert cal.between(wib(2026, 7, 11, 8), wib(2026, 7, 12, 20)) == 0  # weekend


def test_between_partial_days_and_holidays(cal: WorkingCalendar) -> None:
    assert cal.between(wib(2026, 7, 14, 15, 0), wib(2026, 7, 15, 8, 0)) == HOUR + 0.5 * HOUR
    assert cal.between(wib(2026, 12, 23, 0), wib(2026, 12, 29, 0)) == 2 * DAY_HOURS
    assert cal.between(wib(2026, 12, 31, 12, 0), wib(2027, 1, 4, 7, 45)) == 4 * HOUR + 0.25 * HOUR


def test_is_working(cal: WorkingCalendar) -> None:
    assert cal.is_working(wib(2026, 7, 14, 10, 0))
    assert not cal.is_working(wib(2026, 7, 14, 7, 29, 59.999))
    assert not cal.is_working(wib(2026, 7, 11, 10, 0))  # Saturday
    assert not cal.is_working(wib(2026, 12, 25, 10, 0))  # Christmas
    assert not cal.is_working(wib(2027, 1, 1, 10, 0))  # New Year


# --- datetime inputs ----------------------------------------------------------------------


def test_aware_datetimes_in_give_aware_datetimes_out(cal: WorkingCalendar) -> None:
    friday = datetime(2026, 7, 10, 15, 0, tzinfo=WIB)
    deadline = cal.add(friday, timedelta(hours=4))
    assert deadline == datetime(2026, 7, 13, 10, 30, tzinfo=WIB)
    assert deadline.utcoffset() == timedelta(hours=7)
    assert cal.add_days(friday, 1) == datetime(2026, 7, 13, 15, 0, tzinfo=WIB)
    as_utc = friday.astimezone(timezone.utc)
    assert cal.add(as_utc, 4 * HOUR) == deadline
    assert cal.between(as_utc, deadline) == 4 * HOUR
    assert cal.is_working(as_utc)


def test_naive_datetimes_are_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        cal.add(datetime(2026, 7, 10, 15, 0), 60)


# --- lazily loaded years --------------------------------------------------------------------


def test_years_load_lazily_in_both_directions(reference: Reference) -> None:
    lazy = make()
    probes = [wib(2028, 3, 1, 9), wib(2026, 12, 30, 15, 30), wib(2030, 6, 3, 12), wib(2024, 2, 5, 8)]
    for start in probes:
        for budget in (4 * HOUR, 3 * DAY_HOURS, 40 * DAY_HOURS):
            assert lazy.add(start, budget) == pytest.approx(reference.add(start, budget), abs=1e-6)
    assert lazy.between(probes[3], probes[2]) == pytest.approx(reference.between(probes[3], probes[2]), abs=1e-6)


# --- property-style sweep -----------------------------------------------------------------


def _random_cases(rng: random.Random, n: int) -> list[tuple[float, float]]:
    lo = wib(2025, 12, 1)
    hi = wib(2027, 2, 1)
    cases = []
    for _ in range(n):
        start = rng.uniform(lo, hi)
        if rng.random() < 0.3:
            snapped = local(start).replace(minute=30 if rng.random() < 0.5 else 0, second=0, microsecond=0)
            start = snapped.replace(hour=rng.choice([7, 16])).timestamp()
        kind = rng.random()
        if kind < 0.1:
            seconds = 0.0
        elif kind < 0.3:
            seconds = rng.choice([4 * HOUR, DAY_HOURS, 3 * DAY_HOURS, 0.5 * HOUR])
        elif kind < 0.6:
            seconds = rng.uniform(0, 2 * DAY_HOURS)
        else:
            seconds = rng.uniform(0, 30 * DAY_HOURS)
        cases.append((start, seconds))
    return cases


def test_add_and_between_are_inverse(cal: WorkingCalendar) -> None:
    rng = random.Random(20260101)
    for start, seconds in _random_cases(rng, 5000):
        end = cal.add(start, seconds)
        assert end >= start
        assert abs(cal.between(start, end) - seconds) <= 1e-6, (local(start), seconds)
        if seconds > 0:
            # Earliest instant: the deadline is never pushed past closing into the night.
            assert cal.between(end - 1e-3, end) > 0, (local(start), seconds)


def test_add_is_monotonic_in_duration(cal: WorkingCalendar) -> None:
    rng = random.Random(7)
    for start, _ in _random_cases(rng, 500):
        budgets = sorted([0.0, *(rng.uniform(0, 10 * DAY_HOURS) for _ in range(20))])
        ends = [cal.add(start, s) for s in budgets]
        for i in range(1, len(budgets)):
            assert ends[i] >= ends[i - 1]
            if budgets[i] - budgets[i - 1] > 1e-3:
                assert ends[i] > ends[i - 1]


def test_matches_day_by_day_reference(cal: WorkingCalendar, reference: Reference) -> None:
    rng = random.Random(42)
    for start, seconds in _random_cases(rng, 1500):
        assert cal.add(start, seconds) == pytest.approx(reference.add(start, seconds), abs=1e-6)
        b = start + rng.uniform(0, 40 * 86400)
        assert cal.between(start, b) == pytest.approx(reference.between(start, b), abs=1e-6)
        assert cal.is_working(start) == (reference.between(start, start + 1e-3) > 0)


def test_add_days_matches_walking_working_days(cal: WorkingCalendar) -> None:
    rng = random.Random(99)
    for start, _ in _random_cases(rng, 500):
        days = rng.randrange(0, 15)
        end = cal.add_days(start, days)
        if cal.is_working(start):
            assert local(end).time() == local(start).time()
            first = local(start).date()
        else:
            first = local(cal.add(start, 1e-3) - 1e-3).date()
            assert local(end).time() == datetime.strptime("07:30", "%H:%M").time()
        walked = 0
        day = first
        while walked < days:
            day += timedelta(days=1)
            walked += cal.is_working_day(day)
        assert local(end).date() == day


# --- other time zones ----------------------------------------------------------------------


def test_dst_zone_keeps_office_hours_in_local_time() -> None:
    ny = WorkingCalendar("America/New_York", {d: (9 * 3600, 17 * 3600) for d in range(5)}, None, [])
    tz = zoneinfo.ZoneInfo("America/New_York")
    week_with_dst_change = datetime(2026, 3, 6, 12, tzinfo=tz).timestamp(), datetime(2026, 3, 13, 12, tzinfo=tz).timestamp()
    assert ny.between(*week_with_dst_change) == 5 * 8 * HOUR
    friday = datetime(2026, 3, 6, 16, 0, tzinfo=tz)
    assert ny.add(friday, timedelta(hours=2)) == datetime(2026, 3, 9, 10, 0, tzinfo=tz)
    assert ny.add_days(friday, 1) == datetime(2026, 3, 9, 16, 0, tzinfo=tz)


def test_falls_back_to_fixed_wib_without_tz_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(key: str) -> zoneinfo.ZoneInfo:
        raise zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(calendar_module.zoneinfo, "ZoneInfo", missing)
    monkeypatch.setattr(calendar_module.zoneinfo, "available_timezones", lambda: set())
    fixed = make()
    assert fixed.timezone.utcoffset(None) == timedelta(hours=7)
    assert fixed.add(wib(2026, 7, 10, 15, 0), 4 * HOUR) == wib(2026, 7, 13, 10, 30)
    with pytest.raises(CalendarConfigError, match="no IANA time zone database"):
        make(timezone="Europe/Berlin")


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"working_hours": dict(OFFICE, mon=["7:3x", "16:00"])}, r"calendar\.working_hours\.mon: '7:3x' is not HH:MM"),
        ({"working_hours": dict(OFFICE, tue=["07:30", "25:00"])}, r"calendar\.working_hours\.tue: '25:00' is not a valid HH:MM"),
        ({"working_hours": dict(OFFICE, wed=["16:00", "07:30"])}, r"calendar\.working_hours\.wed: end '07:30' is not after start '16:00'"),
        ({"working_hours": dict(OFFICE, thu=["08:00", "08:00"])}, r"calendar\.working_hours\.thu: end '08:00' is not after start"),
        ({"working_hours": dict(OFFICE, fr=["07:30", "16:00"])}, r"calendar\.working_hours\.fr: unknown weekday name"),
        ({"working_hours": dict(OFFICE, fri="07:30-16:00")}, r"calendar\.working_hours\.fri: expected \[\"HH:MM\", \"HH:MM\"\]"),
        ({"working_hours": {}}, r"calendar\.working_hours: no working day configured"),
        ({"working_hours": ["07:30", "16:00"]}, r"calendar\.working_hours: expected a table"),
        ({"extra_holidays": ["2026-12-24", "2026-13-01"]}, r"calendar\.extra_holidays\[1\]: '2026-13-01' is not a valid YYYY-MM-DD date"),
        ({"extra_holidays": ["24/12/2026"]}, r"calendar\.extra_holidays\[0\]: '24/12/2026' is not a valid YYYY-MM-DD"),
        ({"extra_holidays": "2026-12-24"}, r"calendar\.extra_holidays: expected a list"),
        ({"timezone": "Asia/Jakart"}, r"calendar\.timezone: unknown time zone 'Asia/Jakart'"),
        ({"timezone": 7}, r"calendar\.timezone: expected an IANA zone name"),
        ({"holiday_country": "XX"}, r"calendar\.holiday_country: 'XX' is not a country supported"),
        ({"holiday_contry": "ID"}, r"calendar\.holiday_contry: unknown key"),
    ],
)
def test_config_errors_name_the_bad_key(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(CalendarConfigError, match=message):
        make(**overrides)


def test_missing_required_keys() -> None:
    with pytest.raises(CalendarConfigError, match=r"calendar\.timezone: missing required key"):
        WorkingCalendar.from_config({"working_hours": OFFICE})
    with pytest.raises(CalendarConfigError, match=r"calendar\.working_hours: missing required key"):
        WorkingCalendar.from_config({"timezone": "Asia/Jakarta"})


def test_config_error_is_a_value_error() -> None:
    assert issubclass(CalendarConfigError, ValueError)


def test_constructor_validates_seconds_of_day() -> None:
    with pytest.raises(CalendarConfigError, match=r"calendar\.working_hours\.mon"):
        WorkingCalendar("Asia/Jakarta", {0: (16 * 3600, 7 * 3600)}, None, [])
    with pytest.raises(CalendarConfigError, match=r"weekday must be an int"):
        WorkingCalendar("Asia/Jakarta", {7: (0, 3600)}, None, [])


def test_optional_keys_and_24_00_closing() -> None:
    all_day = WorkingCalendar.from_config({"timezone": "Asia/Jakarta", "working_hours": {"Sat": ["00:00", "24:00"]}})
    assert all_day.between(wib(2026, 7, 10), wib(2026, 7, 13)) == 86400
    assert all_day.add(wib(2026, 7, 11, 23, 0), 2 * HOUR) == wib(2026, 7, 18, 1, 0)


def test_shipped_sla_config_parses() -> None:
    path = REPO / "deploy" / "config" / "klaten" / "sla.toml"
    if not path.exists():
        pytest.skip("deployment config not present")
    table = tomllib.loads(path.read_text(encoding="utf-8"))["calendar"]
    shipped = WorkingCalendar.from_config(table)
    assert shipped.add(wib(2026, 7, 10, 15, 0), 4 * HOUR) == wib(2026, 7, 13, 10, 30)


# --- round the clock ------------------------------------------------------------------------


def test_round_the_clock_is_plain_arithmetic() -> None:
    clock = RoundTheClock()
    saturday = wib(2026, 7, 11, 23, 0)
    assert clock.add(saturday, 4 * HOUR) == saturday + 4 * HOUR
    assert clock.add(saturday, 0) == saturday
    assert clock.add_days(saturday, 3) == saturday + 3 * 86400
    assert clock.between(saturday, saturday + 5.5) == 5.5
    assert clock.between(saturday + 5, saturday) == 0
    assert clock.is_working(saturday)
    as_dt = clock.add(datetime(2026, 7, 11, 23, 0, tzinfo=WIB), timedelta(hours=4))
    assert as_dt == datetime(2026, 7, 12, 3, 0, tzinfo=WIB)
    with pytest.raises(ValueError):
        clock.add(saturday, -1)


def test_both_calendars_satisfy_the_protocol(cal: WorkingCalendar) -> None:
    assert isinstance(cal, Calendar)
    assert isinstance(RoundTheClock(), Calendar)
