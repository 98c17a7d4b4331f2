"""Unit tests for agents/domain/sla.py with the bundled configuration's SLA policies.

Dates are in November 2026 (Monday 2 November .. Friday 6 November, Monday 9 November), a
stretch without Indonesian national holidays; office hours are 07:30-16:00 WIB, Monday-Friday.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agents.domain.sla import (
    STAGE_FIRST_RESPONSE,
    SlaPolicies,
    breach_event,
    is_due,
    open_clock,
    record_response,
)
from schemas.events import BREACH_EVENT_TYPE_PREFIX, format_time, stable_id

WIB = ZoneInfo("Asia/Jakarta")
HOUR = 3600.0
SOURCE = "urn:tanggap:klaten:timing"


def wib(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=WIB).timestamp()




@pytest.fixture(scope="module")
def sla(config) -> SlaPolicies:
    return config.sla


def opened_event(*, priority: str, opened_at: float, opd: str = "dpupr", complaint_id: str = "cmp-test",
                 category: str = "jalan", kind: str = "pengaduan") -> dict:
    return {
        "type": "opened",
        "complaint_id": complaint_id,
        "occurred_at": format_time(opened_at, WIB),
        "kind": kind,
        "category": category,
        "priority": priority,
        "opd": opd,
        "kecamatan": "Wedi",
        "desa": None,
        "mentions": 1,
        "platforms": ["twitter"],
        "first_post": {"key": "twitter:1001", "platform": "twitter", "post_id": "1001",
                       "url": "https://x.example/warga/status/1001"},
    }


def clock_for(sla: SlaPolicies, priority: str, opened_at: float, opd: str = "dpupr") -> dict:
    clock = open_clock(opened_event(priority=priority, opened_at=opened_at, opd=opd), sla)
    assert clock is not None
    return clock


def local(t: float) -> datetime:
    return datetime.fromtimestamp(t, WIB)


# --- policy selection -------------------------------------------------------------------------


@pytest.mark.parametrize("priority", ["darurat", "tinggi", "normal", "rendah"])
def test_policy_is_selected_by_priority(sla, priority):
    policy = sla.select({"priority": priority, "kind": "pengaduan", "opd": "dpupr", "category": "jalan"})
    assert policy is not None and policy.id == priority


def test_no_policy_for_a_complaint_without_priority(sla):
    assert sla.select({"priority": None}) is None


def test_policy_missing_when_key_matches_anything(sla):
    darurat = sla.select({"priority": "darurat"})
    assert darurat is not None and darurat.matches({"priority": "darurat", "opd": "anything", "kind": "x"})


def test_first_matching_policy_applies(sla):
    ids = [p.id for p in sla.policies]
    assert ids[:4] == ["darurat", "tinggi", "normal", "rendah"]


# --- deadlines --------------------------------------------------------------------------------


def test_darurat_is_one_hour_round_the_clock(sla):
    # Saturday night: no office hours, the hour still runs.
    clock = clock_for(sla, "darurat", wib(7, 23, 30))
    assert local(clock["deadline"]) == datetime(2026, 11, 8, 0, 30, tzinfo=WIB)
    assert clock["working_clock"] is False


def test_tinggi_is_four_working_hours_over_a_weekend(sla):
    # Friday 15:00: one working hour left on Friday, three more from Monday 07:30.
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    assert local(clock["deadline"]) == datetime(2026, 11, 9, 10, 30, tzinfo=WIB)
    assert clock["working_clock"] is True


def test_tinggi_inside_one_working_day(sla):
    assert local(clock_for(sla, "tinggi", wib(3, 8, 0))["deadline"]) == datetime(2026, 11, 3, 12, 0, tzinfo=WIB)


def test_tinggi_opened_at_night_starts_at_the_next_opening(sla):
    assert local(clock_for(sla, "tinggi", wib(3, 22, 0))["deadline"]) == datetime(2026, 11, 4, 11, 30, tzinfo=WIB)


def test_normal_is_twenty_four_hours_round_the_clock(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    assert clock["deadline"] - clock["opened_at"] == 24 * HOUR
    assert clock["working_clock"] is False


def test_rendah_is_three_working_days_same_clock_time(sla):
    assert local(clock_for(sla, "rendah", wib(2, 10, 0))["deadline"]) == datetime(2026, 11, 5, 10, 0, tzinfo=WIB)


def test_rendah_skips_the_weekend(sla):
    assert local(clock_for(sla, "rendah", wib(6, 15, 0))["deadline"]) == datetime(2026, 11, 11, 15, 0, tzinfo=WIB)


def test_round_the_clock_opd_uses_elapsed_time_for_working_hour_budgets(sla):
    assert "bpbd" in sla.round_the_clock_opds
    clock = clock_for(sla, "tinggi", wib(6, 15, 0), opd="bpbd")
    assert local(clock["deadline"]) == datetime(2026, 11, 6, 19, 0, tzinfo=WIB)
    assert clock["working_clock"] is False


def test_round_the_clock_opd_counts_working_days_as_calendar_days(sla):
    clock = clock_for(sla, "rendah", wib(6, 15, 0), opd="bpbd")
    assert local(clock["deadline"]) == datetime(2026, 11, 9, 15, 0, tzinfo=WIB)


def test_calendar_for_picks_round_the_clock_for_24x7_budgets_and_opds(sla):
    darurat = sla.select({"priority": "darurat"}).first_response
    tinggi = sla.select({"priority": "tinggi"}).first_response
    assert sla.calendar_for(darurat, "dpupr") is sla.round_the_clock
    assert sla.calendar_for(tinggi, "bpbd") is sla.round_the_clock
    assert sla.calendar_for(tinggi, "dpupr") is sla.working
    assert sla.calendar_for(tinggi, None) is sla.working


# --- open_clock -------------------------------------------------------------------------------


def test_open_clock_fields(sla):
    opened_at = wib(6, 15, 0)
    clock = open_clock(opened_event(priority="tinggi", opened_at=opened_at, complaint_id="cmp-abc"), sla)
    assert clock == {
        "complaint_id": "cmp-abc",
        "policy": "tinggi",
        "stage": STAGE_FIRST_RESPONSE,
        "working_clock": True,
        "opened_at": opened_at,
        "deadline": wib(9, 10, 30),
        "opd": "dpupr",
        "category": "jalan",
        "priority": "tinggi",
        "kecamatan": "Wedi",
        "platform": "twitter",
        "url": "https://x.example/warga/status/1001",
        "mentions": 1,
        "responded_at": None,
        "responded_by": None,
        "breached": False,
    }


def test_open_clock_reads_the_opened_time_with_its_offset(sla):
    event = opened_event(priority="normal", opened_at=wib(6, 15, 0))
    event["occurred_at"] = "2026-11-06T08:00:00+00:00"  # the same instant in UTC
    assert open_clock(event, sla)["opened_at"] == wib(6, 15, 0)


def test_open_clock_without_first_post_or_mentions(sla):
    event = opened_event(priority="normal", opened_at=wib(6, 15, 0))
    event["first_post"] = None
    event["mentions"] = None
    clock = open_clock(event, sla)
    assert (clock["platform"], clock["url"], clock["mentions"]) == (None, None, 1)


def test_no_clock_when_no_policy_applies(sla):
    assert open_clock(opened_event(priority=None, opened_at=wib(6, 15, 0)), sla) is None


# --- responses --------------------------------------------------------------------------------


def test_response_before_the_deadline_is_met(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    response = record_response(clock, wib(9, 8, 30), "dpupr", sla)
    assert response is not None
    assert response.outcome == "met"
    assert response.late is False
    assert clock["responded_at"] == wib(9, 8, 30)
    assert clock["responded_by"] == "dpupr"


def test_response_exactly_at_the_deadline_is_met(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    assert record_response(clock, clock["deadline"], "dpupr", sla).outcome == "met"


def test_response_after_the_deadline_is_answered_late(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    response = record_response(clock, wib(9, 10, 31), "dpupr", sla)
    assert response.outcome == "answered_late"
    assert response.late is True


def test_lateness_is_decided_by_event_time_not_processing_time(sla):
    # The response reaches the pipeline long after the deadline, but was posted in time.
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    assert is_due(clock, now=wib(6, 18, 0))
    assert record_response(clock, wib(6, 15, 45), "bpbd", sla).outcome == "met"


def test_only_the_first_response_counts(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    assert record_response(clock, wib(6, 16, 0), "dpupr", sla) is not None
    assert record_response(clock, wib(8, 16, 0), "diskominfo", sla) is None
    assert clock["responded_at"] == wib(6, 16, 0)
    assert clock["responded_by"] == "dpupr"


def test_working_latency_counts_only_office_hours(sla):
    # Friday 15:00 -> Monday 08:30: 1 h on Friday + 1 h on Monday of working time.
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    response = record_response(clock, wib(9, 8, 30), "dpupr", sla)
    assert response.working_seconds == 2 * HOUR
    assert response.wall_seconds == wib(9, 8, 30) - wib(6, 15, 0)


def test_round_the_clock_latency_is_wall_time(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    response = record_response(clock, wib(9, 8, 30), "dpupr", sla)
    assert response.working_seconds == response.wall_seconds == wib(9, 8, 30) - wib(6, 15, 0)


def test_response_timestamped_before_opening_has_zero_latency(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    response = record_response(clock, wib(6, 14, 0), "dpupr", sla)
    assert (response.outcome, response.wall_seconds, response.working_seconds) == ("met", 0.0, 0.0)


# --- due clocks -------------------------------------------------------------------------------


def test_clock_is_due_only_after_the_deadline(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    assert not is_due(clock, clock["deadline"] - 1)
    assert not is_due(clock, clock["deadline"])
    assert is_due(clock, clock["deadline"] + 1)


def test_responded_clock_is_never_due(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    record_response(clock, wib(6, 17, 0), "bpbd", sla)
    assert not is_due(clock, wib(7, 0, 0))


def test_breached_clock_is_not_due_again(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    clock["breached"] = True
    assert not is_due(clock, wib(7, 0, 0))


# --- breach events ----------------------------------------------------------------------------


def test_breach_event_is_a_cloudevent(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    emitted = wib(9, 11, 0)
    event = breach_event(clock, emitted_at=emitted, overdue_until=emitted, policies=sla, source=SOURCE, tz=WIB)
    assert event["specversion"] == "1.0"
    assert event["type"] == BREACH_EVENT_TYPE_PREFIX + "breached" == "id.tanggap.sla.breached"
    assert event["source"] == SOURCE
    assert event["subject"] == "cmp-test"
    assert event["datacontenttype"] == "application/json"
    assert event["time"] == "2026-11-09T04:00:00+00:00"
    assert event["id"] == stable_id("brc", "cmp-test", STAGE_FIRST_RESPONSE, "breached")
    data = event["data"]
    assert data["complaint_id"] == "cmp-test"
    assert data["stage"] == STAGE_FIRST_RESPONSE
    assert data["level"] == "breached"
    assert data["policy"] == "tinggi"
    assert (data["opd"], data["kecamatan"], data["category"], data["priority"], data["platform"]) == (
        "dpupr", "Wedi", "jalan", "tinggi", "twitter")
    assert data["opened"] == "2026-11-06T15:00:00+07:00"
    assert data["deadline"] == "2026-11-09T10:30:00+07:00"
    assert data["emitted"] == "2026-11-09T11:00:00+07:00"
    assert data["overdue_wall_seconds"] == 1800.0
    assert data["overdue_working_seconds"] == 1800.0
    assert data["responded_at"] is None
    assert data["mentions"] == 1
    assert data["post_urls"] == ["https://x.example/warga/status/1001"]


def test_breach_event_id_does_not_depend_on_emission_time(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    first = breach_event(clock, emitted_at=wib(7, 15, 1), overdue_until=wib(7, 15, 1), policies=sla, source=SOURCE, tz=WIB)
    again = breach_event(clock, emitted_at=wib(7, 18, 0), overdue_until=wib(7, 18, 0), policies=sla, source=SOURCE, tz=WIB)
    assert first["id"] == again["id"]
    assert first["time"] != again["time"]


def test_breach_event_id_differs_by_level_and_complaint(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    other = open_clock(opened_event(priority="normal", opened_at=wib(6, 15, 0), complaint_id="cmp-other"), sla)
    at = wib(7, 16, 0)
    ids = {
        breach_event(c, emitted_at=at, overdue_until=at, policies=sla, source=SOURCE, tz=WIB, level=level)["id"]
        for c in (clock, other)
        for level in ("breached", "answered_late")
    }
    assert len(ids) == 4


def test_breach_overdue_working_time_skips_nights(sla):
    # Deadline Monday 10:30; still unanswered Tuesday 08:30 = 5.5 h + 1 h working, 22 h wall.
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    event = breach_event(clock, emitted_at=wib(10, 8, 30), overdue_until=wib(10, 8, 30),
                         policies=sla, source=SOURCE, tz=WIB)
    assert event["data"]["overdue_wall_seconds"] == 22 * HOUR
    assert event["data"]["overdue_working_seconds"] == 6.5 * HOUR


def test_answered_late_breach_reports_the_response_time(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    record_response(clock, wib(6, 16, 30), "bpbd", sla)
    event = breach_event(clock, emitted_at=wib(6, 16, 31), overdue_until=clock["responded_at"],
                         policies=sla, source=SOURCE, tz=WIB, level="answered_late")
    assert event["type"] == "id.tanggap.sla.answered_late"
    assert event["data"]["responded_at"] == "2026-11-06T16:30:00+07:00"
    assert event["data"]["overdue_wall_seconds"] == 0.5 * HOUR
    assert event["data"]["overdue_working_seconds"] == 0.5 * HOUR


def test_breach_before_the_deadline_has_no_negative_overdue(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    event = breach_event(clock, emitted_at=wib(6, 16, 0), overdue_until=wib(6, 16, 0), policies=sla, source=SOURCE, tz=WIB)
    assert event["data"]["overdue_wall_seconds"] == 0.0
    assert event["data"]["overdue_working_seconds"] == 0.0
