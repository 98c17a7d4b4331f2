"""The `sla` agent driven in-process with faust's `test_context()`: what it emits, by id, for
ticks, responses, pauses and redeliveries, and how it keeps its deadline index.

Complaints are dated in the past, so every level of an unanswered clock is due on the first tick
(the worker's clock is the wall clock here).
"""

from __future__ import annotations

import asyncio
from unittest.mock import ANY

import orjson
import pytest

from agents.domain.config import load_config
from agents.domain.sla import sla_event_id
from agents.sla import SlaStage
from streams.app import build_app
from streams.clock import WallClock
from streams.settings import Settings
from tests.agents.test_agents import Recorder, agent_context
from tests.conftest import BUNDLED_CONFIG

CID = "cmp-timing-1"


@pytest.fixture()
def pipeline(tmp_path):
    settings = Settings.from_env({"TANGGAP_STORE": "memory://", "TANGGAP_BROKER": "127.0.0.1:1",
                                  "TANGGAP_DATA_DIR": str(tmp_path), "TANGGAP_CONFIG": str(BUNDLED_CONFIG),
                                  "TANGGAP_WEB_PORT": "1", "TANGGAP_SLA_GRACE_SECONDS": "0"})
    built = build_app(settings, load_config(settings.config_dir))
    recorder = Recorder()
    recorder.patch(built)
    built.recorder = recorder
    return built


def opened(priority: str = "tinggi", at: str = "2025-11-03T08:00:00+07:00") -> dict:
    return {"event_id": "evt-o", "type": "opened", "complaint_id": CID, "occurred_at": at, "kind": "pengaduan",
            "category": "jalan", "priority": priority, "opd": "dpupr", "kecamatan": "Wedi", "desa": None,
            "mentions": 1, "platforms": ["twitter"],
            "first_post": {"key": "twitter:1", "platform": "twitter", "post_id": "1", "url": "https://x.com/w/1",
                           "author_handle": "warga", "created_at": at},
            "post": None, "excerpt": "Jalan rusak, hubungi 081234567890", "response": None, "reasons": []}


def responded(at: str, kind: str = "first_response", event_type: str = "responded") -> dict:
    return {**opened(), "event_id": f"evt-{kind}-{at}", "type": event_type,
            "response": {"by": "dpupr", "kind": kind, "at": at, "channel": "desk", "post": None}}


def citizen_post(at: str, handle: str = "warga") -> dict:
    return {**opened(), "event_id": f"evt-dup-{at}", "type": "duplicate_attached", "occurred_at": at, "mentions": 2,
            "post": {"key": "twitter:2", "platform": "twitter", "post_id": "2", "url": None,
                     "author_handle": handle, "created_at": at}}


TICK = {"complaint_id": CID}


async def put_all(pipeline, *values) -> None:
    async with agent_context(pipeline, "sla") as sla:
        for value in values:
            await sla.put(orjson.dumps(value), key=CID.encode())


def emitted(pipeline) -> dict[str, str]:
    """Event id -> level of everything on `breaches`; asserts no id was sent twice."""
    events = pipeline.recorder.on("breaches")
    by_id = {e["id"]: e["data"]["level"] for e in events}
    assert len(by_id) == len(events), f"an event was emitted twice: {[e['id'] for e in events]}"
    return by_id


def expected(*pairs: tuple[str, str]) -> dict[str, str]:
    return {sla_event_id(CID, stage, level): level for stage, level in pairs}


FR, RES = "first_response", "resolution"
ALL_LEVELS = ("at_risk", "breached", "escalated_opd_head", "escalated_sekda")


def test_a_tick_emits_every_level_past_due_once_with_its_lateness(pipeline):
    asyncio.run(put_all(pipeline, opened(), TICK, TICK))
    assert emitted(pipeline) == expected(*[(stage, level) for stage in (FR, RES) for level in ALL_LEVELS])
    events = pipeline.recorder.on("breaches")
    assert all(e["data"]["lateness_seconds"] > 86400 for e in events), "a year late, and says so"
    assert "081234567890" not in events[0]["data"]["excerpt"]
    targets = {e["data"]["level"]: e["data"]["escalation_target"] for e in events}
    assert targets["escalated_opd_head"] == "Kepala DPUPR"
    assert targets["escalated_sekda"] == "Sekretaris Daerah Kabupaten Klaten"
    assert len(pipeline.sla_index) == 1 and pipeline.sla_index.next_due() is None


def test_a_response_in_time_is_met_even_when_delivered_late(pipeline):
    asyncio.run(put_all(pipeline, opened(), responded("2025-11-03T09:00:00+07:00"), TICK))
    assert emitted(pipeline) == expected((FR, "met"), *[(RES, level) for level in ALL_LEVELS])
    met = next(e for e in pipeline.recorder.on("breaches") if e["data"]["level"] == "met")
    assert met["data"]["latency_working_seconds"] == met["data"]["latency_wall_seconds"] == 3600.0


def test_a_late_response_backfills_the_breach_but_no_alerts(pipeline):
    late = responded("2025-11-03T13:00:00+07:00")  # deadline 12:00
    asyncio.run(put_all(pipeline, opened(), late, late))
    assert emitted(pipeline) == expected((FR, "breached"), (FR, "answered_late"))


def test_resolved_stops_both_stages(pipeline):
    resolved = responded("2025-11-03T10:00:00+07:00", kind="resolved", event_type="resolved")
    asyncio.run(put_all(pipeline, opened(), resolved, TICK))
    assert emitted(pipeline) == expected((FR, "met"), (RES, "met"))
    assert len(pipeline.sla_index) == 0


def test_waiting_for_citizen_pauses_until_the_citizen_posts_again(pipeline):
    asking = responded("2025-11-03T09:00:00+07:00", kind="waiting_for_citizen")
    asyncio.run(put_all(pipeline, opened(), asking, TICK, citizen_post("2025-11-03T10:00:00+07:00", "tetangga"),
                        TICK))
    assert emitted(pipeline) == {}, "paused: nothing falls due, and a neighbour's post does not resume it"
    asyncio.run(put_all(pipeline, citizen_post("2025-11-04T08:00:00+07:00"), TICK))
    assert set(emitted(pipeline).values()) == set(ALL_LEVELS)
    breach = next(e for e in pipeline.recorder.on("breaches") if e["data"]["level"] == "breached"
                  and e["data"]["stage"] == FR)
    assert breach["data"]["deadline"] == "2025-11-04T11:00:00+07:00", "3 working hours left after the pause"
    assert breach["data"]["mentions"] == 2


def test_an_event_that_overtakes_its_opened_is_applied_when_the_clock_opens(pipeline):
    asyncio.run(put_all(pipeline, responded("2025-11-03T09:00:00+07:00"), opened()))
    assert emitted(pipeline) == expected((FR, "met"))


def test_the_index_is_rebuilt_from_the_table_on_recovery(pipeline):
    asyncio.run(put_all(pipeline, opened()))
    index = pipeline.sla_index
    due = index.next_due()
    assert due is not None
    index.clear()
    clocks = pipeline.app.tables["clocks"]

    async def recover():
        for callback in clocks._recover_callbacks:
            await callback()

    asyncio.run(recover())
    assert len(index) == 1 and index.next_due() == due


def test_a_tick_checks_the_clock_at_the_instant_it_carries_not_at_the_readers_clock(pipeline):
    """A tick replayed on another worker (whose clock reads differently) emits what its first
    reading emitted: only the levels due at the instant the timer checked."""
    from schemas.events import parse_time

    before_deadline = parse_time("2025-11-03T11:00:00+07:00")  # first response due 12:00, at risk 11:00
    asyncio.run(put_all(pipeline, opened(), {**TICK, "checked_at": before_deadline + 60}))
    assert emitted(pipeline) == expected((FR, "at_risk"))
    asyncio.run(put_all(pipeline, {**TICK, "checked_at": "soon"}))
    assert pipeline.recorder.on("deadletter")[0]["reason"] == "schema_violation"


def test_a_replayed_older_mention_count_does_not_lower_the_count(pipeline):
    three = {**citizen_post("2025-11-03T08:30:00+07:00"), "event_id": "evt-dup-3", "mentions": 3}
    two = {**citizen_post("2025-11-03T08:20:00+07:00"), "event_id": "evt-dup-2", "mentions": 2}
    asyncio.run(put_all(pipeline, opened(), two, three, two, TICK))
    breach = next(e for e in pipeline.recorder.on("breaches") if e["data"]["level"] == "breached")
    assert breach["data"]["mentions"] == 3


def test_a_replay_over_the_clocks_own_state_changes_nothing(pipeline):
    """A worker that wrote its table but stopped before committing its offsets reads the same
    messages again, against state that already holds them: the pause is not counted twice after
    its resume (the deadline stays where one pause put it), and nothing is emitted twice."""
    asking = responded("2025-11-03T09:00:00+07:00", kind="waiting_for_citizen")
    resumed = citizen_post("2025-11-04T08:00:00+07:00")
    asyncio.run(put_all(pipeline, opened(), asking, resumed))
    pipeline.test_offsets["sla"] = 1  # the same partition, read again from the pause
    asyncio.run(put_all(pipeline, asking, resumed, TICK))
    breach = next(e for e in pipeline.recorder.on("breaches") if e["data"]["level"] == "breached"
                  and e["data"]["stage"] == FR)
    assert breach["data"]["deadline"] == "2025-11-04T11:00:00+07:00", "paused once, resumed once"
    assert len(pipeline.recorder.on("breaches")) == len(emitted(pipeline))


def test_a_reprioritized_complaint_is_timed_by_its_raised_priority(pipeline):
    from schemas.events import parse_time

    viral = {**opened(priority="tinggi"), "event_id": "evt-viral", "type": "reprioritized",
             "occurred_at": "2025-11-03T08:30:00+07:00", "reasons": ["dedupe:viral[mentions>=5]"]}
    one_pm = parse_time("2025-11-03T13:00:00+07:00")  # rendah: due in three working days
    asyncio.run(put_all(pipeline, opened(priority="rendah"), viral, {**TICK, "checked_at": one_pm}))
    assert emitted(pipeline) == expected((FR, "at_risk"), (FR, "breached"))
    breach = next(e for e in pipeline.recorder.on("breaches") if e["data"]["level"] == "breached")
    assert breach["data"]["deadline"] == "2025-11-03T12:00:00+07:00", "four working hours, tinggi's budget"
    assert breach["data"]["priority"] == "tinggi" and breach["data"]["policy"] == "tinggi"


def test_the_stage_runs_on_a_plain_dict_without_a_worker():
    """The stage needs a mapping for its table and a send function, nothing of faust: the same
    overtaking response, replayed copy and tick as above, on a dict."""
    config = load_config(BUNDLED_CONFIG, with_model=False)
    sent: list[tuple[str, str, dict]] = []

    async def send(topic: str, key: str, value: dict) -> None:
        sent.append((topic, key, value))

    stage = SlaStage({}, config.sla, clock=WallClock(), send=send, source="tanggap/test", tz=config.timezone,
                     grace_seconds=0.0)

    async def run() -> None:
        await stage.handle(responded("2025-11-03T09:00:00+07:00"))
        assert stage.clocks[CID].to_json() == {"early": [["responded", ANY, "dpupr", "first_response", None]]}
        assert not sent
        await stage.handle(opened())
        await stage.handle(opened())  # redelivered: nothing happens twice
        await stage.handle(citizen_post("2025-11-03T10:00:00+07:00") | {"mentions": 3})
        await stage.handle(citizen_post("2025-11-03T10:00:00+07:00"))  # an older copy's count
        await stage.handle({"complaint_id": CID, "checked_at": stage.clock.now()})

    asyncio.run(run())
    assert stage.clocks[CID].mentions == 3, "a replayed copy does not lower the count"
    assert {event["id"]: event["data"]["level"] for _, _, event in sent} == \
        expected((FR, "met"), *[(RES, level) for level in ALL_LEVELS])
    assert {(topic, key) for topic, key, _ in sent} == {("breaches", CID)}
    assert stage.index.next_due() is None, "every level emitted: nothing left to tick for"
