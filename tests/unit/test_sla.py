"""Unit tests for agents/domain/sla.py with the bundled configuration's SLA policies.

Dates are in November 2026 (Monday 2 November .. Friday 6 November, Monday 9 November), a
stretch without Indonesian national holidays; office hours are 07:30-16:00 WIB, Monday-Friday.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from agents.domain.sla import (
    STAGE_FIRST_RESPONSE,
    STAGE_RESOLUTION,
    SlaPolicies,
    is_due,
    open_clock,
    record_response,
    sla_event,
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
    assert local(clock.deadline) == datetime(2026, 11, 8, 0, 30, tzinfo=WIB)
    assert clock.stages["first_response"].working_clock is False


def test_tinggi_is_four_working_hours_over_a_weekend(sla):
    # Friday 15:00: one working hour left on Friday, three more from Monday 07:30.
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    assert local(clock.deadline) == datetime(2026, 11, 9, 10, 30, tzinfo=WIB)
    assert clock.stages["first_response"].working_clock is True


def test_tinggi_inside_one_working_day(sla):
    assert local(clock_for(sla, "tinggi", wib(3, 8, 0)).deadline) == datetime(2026, 11, 3, 12, 0, tzinfo=WIB)


def test_tinggi_opened_at_night_starts_at_the_next_opening(sla):
    assert local(clock_for(sla, "tinggi", wib(3, 22, 0)).deadline) == datetime(2026, 11, 4, 11, 30, tzinfo=WIB)


def test_normal_is_twenty_four_hours_round_the_clock(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    assert clock.deadline - clock.opened_at == 24 * HOUR
    assert clock.stages["first_response"].working_clock is False


def test_rendah_is_three_working_days_same_clock_time(sla):
    assert local(clock_for(sla, "rendah", wib(2, 10, 0)).deadline) == datetime(2026, 11, 5, 10, 0, tzinfo=WIB)


def test_rendah_skips_the_weekend(sla):
    assert local(clock_for(sla, "rendah", wib(6, 15, 0)).deadline) == datetime(2026, 11, 11, 15, 0, tzinfo=WIB)


def test_round_the_clock_opd_uses_elapsed_time_for_working_hour_budgets(sla):
    assert "bpbd" in sla.round_the_clock_opds
    clock = clock_for(sla, "tinggi", wib(6, 15, 0), opd="bpbd")
    assert local(clock.deadline) == datetime(2026, 11, 6, 19, 0, tzinfo=WIB)
    assert clock.stages["first_response"].working_clock is False


def test_round_the_clock_opd_counts_working_days_as_calendar_days(sla):
    clock = clock_for(sla, "rendah", wib(6, 15, 0), opd="bpbd")
    assert local(clock.deadline) == datetime(2026, 11, 9, 15, 0, tzinfo=WIB)


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
    first = {"working_clock": True, "budget": 4 * HOUR, "deadline": wib(9, 10, 30), "anchor": opened_at,
             "spent": 0.0, "stopped_at": None, "stopped_by": None, "emitted": []}
    resolution = {**first, "budget": 5 * 8.5 * HOUR, "deadline": wib(13, 15, 0), "emitted": []}
    assert clock.to_json() == {
        "complaint_id": "cmp-abc",
        "policy": "tinggi",
        "opened_at": opened_at,
        "opd": "dpupr",
        "category": "jalan",
        "priority": "tinggi",
        "kecamatan": "Wedi",
        "platform": "twitter",
        "url": "https://x.example/warga/status/1001",
        "author": None,
        "excerpt": None,
        "mentions": 1,
        "paused_at": None,
        "deadline": wib(9, 10, 30),
        "stages": {STAGE_FIRST_RESPONSE: first, STAGE_RESOLUTION: resolution},
    }


def test_open_clock_reads_the_opened_time_with_its_offset(sla):
    event = opened_event(priority="normal", opened_at=wib(6, 15, 0))
    event["occurred_at"] = "2026-11-06T08:00:00+00:00"  # the same instant in UTC
    assert open_clock(event, sla).opened_at == wib(6, 15, 0)


def test_open_clock_without_first_post_or_mentions(sla):
    event = opened_event(priority="normal", opened_at=wib(6, 15, 0))
    event["first_post"] = None
    event["mentions"] = None
    clock = open_clock(event, sla)
    assert (clock.platform, clock.url, clock.mentions) == (None, None, 1)


def test_no_clock_when_no_policy_applies(sla):
    assert open_clock(opened_event(priority=None, opened_at=wib(6, 15, 0)), sla) is None


# --- responses --------------------------------------------------------------------------------


def test_response_before_the_deadline_is_met(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    response = record_response(clock, wib(9, 8, 30), "dpupr", sla)
    assert response is not None
    assert response.outcome == "met"
    assert response.late is False
    assert clock.stages["first_response"].stopped_at == wib(9, 8, 30)
    assert clock.stages["first_response"].stopped_by == "dpupr"


def test_response_exactly_at_the_deadline_is_met(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    assert record_response(clock, clock.deadline, "dpupr", sla).outcome == "met"


def test_response_after_the_deadline_is_answered_late(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    response = record_response(clock, wib(9, 10, 31), "dpupr", sla)
    assert response.outcome == "answered_late"
    assert response.late is True


def test_lateness_is_decided_by_event_time_not_processing_time(sla):
    # The response reaches the pipeline long after the deadline, but was posted in time.
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    assert is_due(clock, wib(6, 18, 0), sla)
    assert record_response(clock, wib(6, 15, 45), "bpbd", sla).outcome == "met"


def test_only_the_first_response_counts(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    assert record_response(clock, wib(6, 16, 0), "dpupr", sla) is not None
    assert record_response(clock, wib(8, 16, 0), "diskominfo", sla) is None
    assert clock.stages["first_response"].stopped_at == wib(6, 16, 0)
    assert clock.stages["first_response"].stopped_by == "dpupr"


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


def test_clock_is_due_only_after_its_next_level(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    at_risk = wib(6, 15, 45)
    assert not is_due(clock, at_risk - 1, sla)
    assert not is_due(clock, at_risk, sla)
    assert is_due(clock, at_risk + 1, sla)


def test_responded_clock_is_never_due(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    record_response(clock, wib(6, 17, 0), "bpbd", sla)
    assert not is_due(clock, wib(7, 0, 0), sla)


def test_clock_with_every_level_emitted_is_not_due_again(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    clock.stages["first_response"].emitted += ["at_risk", "breached", "escalated_opd_head", "escalated_sekda"]
    assert not is_due(clock, wib(7, 0, 0), sla)


# --- breach events ----------------------------------------------------------------------------


def breach_event(clock, *, emitted_at, policies, source, tz, level="breached", stage=STAGE_FIRST_RESPONSE):
    """A level's event of a stage, due at the stage's deadline (as the timing agent emits it)."""
    return sla_event(clock, stage, level, emitted_at=emitted_at, due_at=clock.stages[stage].deadline,
                     policies=policies, source=source, tz=tz)


def test_breach_event_is_a_cloudevent(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    emitted = wib(9, 11, 0)
    event = breach_event(clock, emitted_at=emitted, policies=sla, source=SOURCE, tz=WIB)
    assert event["specversion"] == "1.0"
    assert event["type"] == BREACH_EVENT_TYPE_PREFIX + "breached" == "id.tanggap.sla.breached"
    assert event["source"] == SOURCE
    assert event["subject"] == "cmp-test"
    assert event["datacontenttype"] == "application/json"
    assert event["time"] == "2026-11-09T04:00:00+00:00"
    assert event["id"] == stable_id("brc", "cmp-test", STAGE_FIRST_RESPONSE, "breached")
    data = event["data"]
    assert data["lateness_seconds"] == 1800.0
    assert data["escalation_target"] is None
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
    first = breach_event(clock, emitted_at=wib(7, 15, 1), policies=sla, source=SOURCE, tz=WIB)
    again = breach_event(clock, emitted_at=wib(7, 18, 0), policies=sla, source=SOURCE, tz=WIB)
    assert first["id"] == again["id"]
    assert first["time"] != again["time"]


def test_breach_event_id_differs_by_level_and_complaint(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    other = open_clock(opened_event(priority="normal", opened_at=wib(6, 15, 0), complaint_id="cmp-other"), sla)
    at = wib(7, 16, 0)
    ids = {
        breach_event(c, emitted_at=at, policies=sla, source=SOURCE, tz=WIB, level=level)["id"]
        for c in (clock, other)
        for level in ("breached", "answered_late")
    }
    assert len(ids) == 4


def test_breach_overdue_working_time_skips_nights(sla):
    # Deadline Monday 10:30; still unanswered Tuesday 08:30 = 5.5 h + 1 h working, 22 h wall.
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    event = breach_event(clock, emitted_at=wib(10, 8, 30), policies=sla, source=SOURCE, tz=WIB)
    assert event["data"]["overdue_wall_seconds"] == 22 * HOUR
    assert event["data"]["overdue_working_seconds"] == 6.5 * HOUR


def test_answered_late_breach_reports_the_response_time(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    record_response(clock, wib(6, 16, 30), "bpbd", sla)
    event = breach_event(clock, emitted_at=wib(6, 16, 31), policies=sla, source=SOURCE, tz=WIB, level="answered_late")
    assert event["type"] == "id.tanggap.sla.answered_late"
    assert event["data"]["responded_at"] == "2026-11-06T16:30:00+07:00"
    assert event["data"]["overdue_wall_seconds"] == 0.5 * HOUR
    assert event["data"]["overdue_working_seconds"] == 0.5 * HOUR


def test_breach_before_the_deadline_has_no_negative_overdue(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    event = breach_event(clock, emitted_at=wib(6, 16, 0), policies=sla, source=SOURCE, tz=WIB)
    assert event["data"]["overdue_wall_seconds"] == 0.0
    assert event["data"]["overdue_working_seconds"] == 0.0


# --- levels: at risk, breached, escalations -----------------------------------------------------

from agents.domain.sla import (  # noqa: E402
    GAUGE_AT_RISK,
    GAUGE_OPEN,
    GAUGE_OVERDUE,
    DeadlineIndex,
    due_levels,
    gauge_state,
    index_entry,
    is_citizen_post,
    mark_emitted,
    next_due,
    pause,
    record_resolution,
    redact,
    resume,
    sla_event,
    sla_event_id,
)


def due_names(clock, now, sla):
    return [(stage, level.name) for stage, level, _ in due_levels(clock, now, sla)]


def test_levels_fall_due_at_their_share_of_the_budget_in_working_time(sla):
    # tinggi: 4 working hours from Friday 15:00. 75% = 3 h: Monday 09:30; 2x = 8 h: Monday 14:30;
    # 3x = 12 h: Tuesday 10:00 (8.5 h a day).
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    assert next_due(clock, sla) == wib(9, 9, 30)
    assert due_names(clock, wib(9, 9, 31), sla) == [(STAGE_FIRST_RESPONSE, "at_risk")]
    assert due_names(clock, wib(10, 10, 1), sla) == [
        (STAGE_FIRST_RESPONSE, "at_risk"), (STAGE_FIRST_RESPONSE, "breached"),
        (STAGE_FIRST_RESPONSE, "escalated_opd_head"), (STAGE_FIRST_RESPONSE, "escalated_sekda")]
    thresholds = [at for _, _, at in due_levels(clock, wib(10, 10, 1), sla)]
    assert thresholds == [wib(9, 9, 30), wib(9, 10, 30), wib(9, 14, 30), wib(10, 10, 0)]


def test_emitted_levels_are_not_due_again_and_next_due_moves_on(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    mark_emitted(clock, STAGE_FIRST_RESPONSE, "at_risk")
    assert next_due(clock, sla) == wib(9, 10, 30)
    assert due_names(clock, wib(9, 10, 31), sla) == [(STAGE_FIRST_RESPONSE, "breached")]


def test_resolution_stage_runs_five_working_days_and_is_absent_for_darurat(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    assert clock.stages[STAGE_RESOLUTION].deadline == wib(13, 15, 0)
    assert STAGE_RESOLUTION not in clock_for(sla, "darurat", wib(6, 15, 0)).stages


def test_a_first_response_does_not_stop_the_resolution_stage(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    record_response(clock, wib(6, 16, 0), "dpupr", sla)
    assert due_names(clock, wib(13, 15, 1), sla) == [(STAGE_RESOLUTION, "at_risk"), (STAGE_RESOLUTION, "breached")]


def test_resolved_stops_every_running_stage(sla):
    clock = clock_for(sla, "normal", wib(6, 15, 0))
    responses = record_resolution(clock, wib(9, 9, 0), "dpupr", sla)
    assert [(r.stage, r.outcome) for r in responses] == [(STAGE_FIRST_RESPONSE, "answered_late"),
                                                         (STAGE_RESOLUTION, "met")]
    assert responses[0].backfill_breach and not responses[1].backfill_breach
    assert next_due(clock, sla) is None
    assert record_resolution(clock, wib(9, 10, 0), "dpupr", sla) == []


def test_a_late_response_after_the_breach_was_emitted_does_not_backfill_it(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    mark_emitted(clock, STAGE_FIRST_RESPONSE, "breached")
    response = record_response(clock, wib(6, 17, 0), "bpbd", sla)
    assert response.outcome == "answered_late" and not response.backfill_breach


def test_escalation_targets_come_from_the_directory(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    at = wib(10, 12, 0)
    head = sla_event(clock, STAGE_FIRST_RESPONSE, "escalated_opd_head", emitted_at=at, due_at=wib(9, 14, 30),
                     policies=sla, source=SOURCE, tz=WIB)
    sekda = sla_event(clock, STAGE_FIRST_RESPONSE, "escalated_sekda", emitted_at=at, due_at=wib(10, 10, 0),
                      policies=sla, source=SOURCE, tz=WIB)
    assert head["data"]["escalation_target"] == "Kepala DPUPR"
    assert sekda["data"]["escalation_target"] == "Sekretaris Daerah Kabupaten Klaten"
    assert head["type"] == "id.tanggap.sla.escalated_opd_head"
    assert sekda["data"]["lateness_seconds"] == 2 * HOUR


def test_event_ids_are_a_hash_of_complaint_stage_and_level_only(sla):
    ids = {sla_event_id("cmp-a", stage, level) for stage in (STAGE_FIRST_RESPONSE, STAGE_RESOLUTION)
           for level in ("at_risk", "breached", "escalated_opd_head", "escalated_sekda", "met", "answered_late")}
    assert len(ids) == 12
    assert sla_event_id("cmp-a", "first_response", "breached") == stable_id("brc", "cmp-a", "first_response", "breached")


def test_met_event_carries_working_and_wall_latency(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    response = record_response(clock, wib(9, 8, 30), "dpupr", sla)
    event = sla_event(clock, STAGE_FIRST_RESPONSE, "met", emitted_at=wib(9, 8, 31), due_at=wib(9, 8, 30),
                      policies=sla, source=SOURCE, tz=WIB, response=response)
    assert event["data"]["latency_working_seconds"] == 2 * HOUR
    assert event["data"]["latency_wall_seconds"] == wib(9, 8, 30) - wib(6, 15, 0)
    assert event["data"]["overdue_wall_seconds"] == 0.0
    assert event["data"]["responded_at"] == "2026-11-09T08:30:00+07:00"


# --- pausing ------------------------------------------------------------------------------------


def test_pause_keeps_the_spent_budget_and_resume_moves_the_deadline(sla):
    # tinggi from Monday 08:00 (deadline 12:00). Paused at 09:00 (1 h spent), resumed Tuesday
    # 08:00: 3 working hours left, deadline Tuesday 11:00.
    clock = clock_for(sla, "tinggi", wib(2, 8, 0))
    assert pause(clock, wib(2, 9, 0), sla)
    assert not pause(clock, wib(2, 9, 30), sla), "already paused"
    assert next_due(clock, sla) is None
    assert due_levels(clock, wib(20, 0, 0), sla) == []
    assert resume(clock, wib(3, 8, 0), sla)
    assert clock.deadline == clock.stages[STAGE_FIRST_RESPONSE].deadline == wib(3, 11, 0)
    assert next_due(clock, sla) == wib(3, 10, 0)  # at risk after 3 h of 4 spent
    assert not resume(clock, wib(3, 9, 0), sla), "not paused"


def test_resume_before_the_pause_in_event_time_restarts_at_the_pause(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    pause(clock, wib(6, 15, 20), sla)
    resume(clock, wib(6, 15, 10), sla)
    assert clock.deadline == wib(6, 16, 0)


def test_a_response_while_paused_is_late_only_if_the_budget_was_spent(sla):
    clock = clock_for(sla, "darurat", wib(6, 15, 0))
    pause(clock, wib(6, 15, 30), sla)
    assert record_response(clock, wib(6, 18, 0), "bpbd", sla).outcome == "met"


def test_only_the_citizens_own_post_resumes(sla):
    event = opened_event(priority="normal", opened_at=wib(6, 15, 0))
    event["first_post"]["author_handle"] = "Warga_Wedi"
    clock = open_clock(event, sla)
    assert is_citizen_post(clock, {"author_handle": "warga_wedi"})
    assert not is_citizen_post(clock, {"author_handle": "tetangga"})
    clock.author = None  # WhatsApp: no handle to compare
    assert is_citizen_post(clock, {"author_handle": None})


# --- excerpt ------------------------------------------------------------------------------------


def test_redact_removes_personal_data():
    text = ("Jalan rusak di depan rumah saya, hub 0812-3456-7890 atau +6281234567890, NIK 3310123456789012, "
            "email warga@contoh.id @pakrt https://x.com/a/1 no rek 1234567890")
    redacted = redact(text, limit=500)
    for secret in ("0812", "6281234567890", "3310123456789012", "warga@contoh.id", "@pakrt", "https://", "1234567890"):
        assert secret not in redacted
    assert "[telepon]" in redacted and "[nik]" in redacted and "[email]" in redacted
    assert redact("a " * 200).endswith("…") and len(redact("a " * 200)) == 160
    assert redact(None) is None


@pytest.mark.parametrize("text", [
    "lapor @dinkes.klaten jalan rusak", "warga@contoh.id", "a.b+c@d-e.f.g dan @pakrt.", "x@y", "@a.b", "@@a.b",
    "hub 08 1234 5678 9", "+6281234567890", "6281234567890", "NIK 3310123456789012", "no 123456789", "12345678",
    "RT 03 RW 12", "٣٣١٠١٢٣٤٥٦٧٨٩٠١٢", "https://x.com/a/1 www.klaten.go.id", "0", "628", "tanpa apa-apa"])
def test_redact_skips_only_patterns_that_cannot_match(text):
    """Each pattern runs only when the text has what every match of it has: the result is that
    of running them all."""
    from agents.domain.sla import _REDACTIONS

    everything = text
    for pattern, replacement, _ in _REDACTIONS:
        everything = pattern.sub(replacement, everything)
    assert redact(text, limit=500) == " ".join(everything.split())


# --- the deadline index -------------------------------------------------------------------------


def test_index_pops_only_due_clocks_and_rearms_them():
    index = DeadlineIndex()
    index.set("a", 10.0, "dpupr", GAUGE_OPEN)
    index.set("b", 20.0, "dpupr", GAUGE_OPEN)
    index.set("c", 30.0, "dlh", GAUGE_OPEN)
    assert index.pop_due(5.0, retry_at=100.0) == []
    assert index.pop_due(25.0, retry_at=100.0) == ["a", "b"]
    assert index.next_due() == 30.0
    assert index.pop_due(99.0, retry_at=200.0) == ["c"]
    assert index.pop_due(150.0, retry_at=300.0) == ["a", "b"], "re-armed until the owner acts"


def test_index_replaces_entries_lazily():
    index = DeadlineIndex()
    index.set("a", 10.0, "dpupr", GAUGE_OPEN)
    index.set("a", 50.0, "dpupr", GAUGE_AT_RISK)
    assert index.pop_due(20.0, retry_at=100.0) == []
    assert index.pop_due(60.0, retry_at=100.0) == ["a"]
    index.discard("a")
    assert len(index) == 0 and index.next_due() is None


def test_index_gauges_count_per_opd_and_state():
    index = DeadlineIndex()
    index.rebuild([("a", 1.0, "dpupr", GAUGE_OPEN), ("b", 2.0, "dpupr", GAUGE_AT_RISK),
                   ("c", None, "dlh", GAUGE_OVERDUE), ("d", None, "dlh", 0)])
    assert len(index) == 3
    assert index.gauges() == ({"dpupr": 2, "dlh": 1}, {"dpupr": 1}, {"dlh": 1})
    index.set("b", 5.0, "dpupr", GAUGE_OVERDUE)
    waiting, at_risk, overdue = index.gauges()
    assert (waiting["dpupr"], at_risk.get("dpupr", 0), overdue["dpupr"]) == (2, 0, 1)


def test_index_entry_is_stored_in_the_clock_for_rebuilds(sla):
    clock = clock_for(sla, "tinggi", wib(6, 15, 0))
    assert index_entry(clock, sla) == (wib(9, 9, 30), "dpupr", GAUGE_OPEN)
    assert (clock.next_due, clock.gauge) == (wib(9, 9, 30), GAUGE_OPEN)
    mark_emitted(clock, STAGE_FIRST_RESPONSE, "at_risk")
    assert gauge_state(clock) == GAUGE_AT_RISK


# --- reprioritized ------------------------------------------------------------------------------

def test_a_raised_priority_tightens_a_running_stage_from_the_opening(sla):
    from agents.domain.sla import reprioritize

    clock = clock_for(sla, "rendah", wib(2, 9))  # Monday 09:00: three working days
    assert local(clock.deadline) == datetime(2026, 11, 5, 9, 0, tzinfo=WIB)
    assert reprioritize(clock, "tinggi", sla)
    assert local(clock.deadline) == datetime(2026, 11, 2, 13, 0, tzinfo=WIB), "four working hours"
    assert clock.priority == "tinggi" and clock.policy == "tinggi"
    assert not reprioritize(clock, "tinggi", sla), "an older raise replayed changes nothing"


def test_a_raise_never_gives_more_time(sla):
    from agents.domain.sla import reprioritize

    # normal: 24 hours round the clock. Opened Friday 15:00, tinggi's four working hours end on
    # Monday 10:30: later than Saturday 15:00, so the 24 hours stay.
    clock = clock_for(sla, "normal", wib(6, 15))
    deadline = clock.deadline
    assert reprioritize(clock, "tinggi", sla)
    assert clock.deadline == deadline and clock.priority == "tinggi"


def test_a_raise_leaves_stopped_stages_and_moves_a_paused_one_on_resume(sla):
    from agents.domain.sla import pause, reprioritize, resume

    clock = clock_for(sla, "rendah", wib(2, 9))
    record_response(clock, wib(2, 10), "dpupr", sla)
    stopped = replace(clock.stages[STAGE_FIRST_RESPONSE])
    pause(clock, wib(2, 11), sla)
    resolution_budget = clock.stages[STAGE_RESOLUTION].budget
    assert reprioritize(clock, "tinggi", sla)
    assert clock.stages[STAGE_FIRST_RESPONSE] == stopped
    assert clock.stages[STAGE_RESOLUTION].budget == resolution_budget, "both give five working days"
    assert clock.stages[STAGE_RESOLUTION].anchor is None, "still paused"
    resume(clock, wib(3, 9), sla)
    assert clock.stages[STAGE_RESOLUTION].anchor == wib(3, 9)


def test_an_event_that_overtakes_its_opened_is_kept_and_applied_when_the_clock_opens(sla):
    from agents.domain.sla import step_clock

    recorded: list[tuple[str, float]] = []

    def record(state, responses, at) -> None:
        recorded.extend((r.outcome, at) for r in responses)

    response = {"type": "responded", "complaint_id": "cmp-test",
                "response": {"at": format_time(wib(3, 9), WIB), "by": "dpupr", "kind": "first_response"}}
    early = step_clock(None, response, sla, record)
    assert early.outcome == "buffered" and early.entry.early[0][:2] == ("responded", wib(3, 9)) and not recorded
    opened = step_clock(early.entry, opened_event(priority="tinggi", opened_at=wib(3, 8)), sla, record)
    assert opened.outcome == "opened" and opened.entry.stages[STAGE_FIRST_RESPONSE].stopped_at == wib(3, 9)
    assert recorded == [("met", wib(3, 9))]
    assert step_clock(opened.entry, opened_event(priority="tinggi", opened_at=wib(3, 8)), sla, record).outcome == \
        "redelivered"
    assert step_clock(opened.entry, {"type": "noted", "complaint_id": "cmp-test"}, sla, record).outcome == "ignored"


def test_a_replayed_copy_never_lowers_the_mention_count(sla):
    from agents.domain.sla import step_clock

    state = clock_for(sla, "tinggi", wib(3, 8))
    copy = {"type": "duplicate_attached", "complaint_id": "cmp-test", "occurred_at": format_time(wib(3, 9), WIB),
            "post": None}
    step_clock(state, copy | {"mentions": 4}, sla, lambda *_: None)
    step_clock(state, copy | {"mentions": 2}, sla, lambda *_: None)
    assert state.mentions == 4
