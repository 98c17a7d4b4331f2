"""Timing: the SLA clocks of every complaint, in a RocksDB-backed table keyed by complaint id.

The agent consumes `sla.timeline`, keyed by complaint id: every complaint event (opened,
responded, resolved, duplicate_attached, reprioritized; the clustering and responses agents send
each to `complaints` and here) and the timer's ticks, in one log per partition. One log, because
the order of what a clock hears decides what it emits: read from two topics, a replay after a
crash could take a tick before an event the first reading took after it and emit an SLA event
with other content (a breach with one mention fewer) under the same id. It emits SLA events
(CloudEvents: at_risk, breached, escalations, met, answered_late) on `breaches`.

Faust timers cannot write tables, and scanning every open clock each tick does not scale, so
each worker keeps a `DeadlineIndex` (a heap of next due instants) of the clocks of its
partitions: the agent updates it whenever it writes a clock, and it is rebuilt from the table
whenever partitions are assigned (after table recovery, so a restart or a rebalance starts from
the durable state). The timer pops only the due entries and sends a tick for each to
`sla.timeline`; the agent that owns the table re-checks the clock and emits what is due. A worker
that was down while deadlines passed emits those events when it comes back, with their lateness.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from agents.domain.sla import (
    RESPONSE_KIND_WAITING,
    STAGE_FIRST_RESPONSE,
    DeadlineIndex,
    Response,
    due_levels,
    index_entry,
    is_citizen_post,
    mark_emitted,
    open_clock,
    pause,
    record_resolution,
    record_response,
    reprioritize,
    resume,
    sla_event,
)
from schemas.events import InvalidInput, decode_json_object, parse_time
from streams import metrics

if TYPE_CHECKING:
    from streams.app import Pipeline

log = logging.getLogger(__name__)

STAGE = "sla"
TICK_RESEND_SECONDS = 5.0
"""A tick not yet acted on is sent again after this long (wall seconds; the first may still be queued)."""


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    settings = pipeline.settings
    policies = pipeline.config.sla
    tz = pipeline.config.timezone
    source = f"tanggap/{pipeline.config.regency_id}"
    clock = pipeline.clock
    clocks = pipeline.table("clocks", help="SLA clocks per complaint id.")
    index = DeadlineIndex()
    pipeline.sla_index = index  # for tests and the health page

    def store(state: dict[str, Any]) -> None:
        due, opd, gauge = index_entry(state, policies)
        clocks[state["complaint_id"]] = state
        index.set(state["complaint_id"], due, opd, gauge)

    async def emit(state: dict[str, Any], stage: str, level: str, *, due_at: float, emitted_at: float,
                   response: Response | None = None) -> None:
        event = sla_event(state, stage, level, emitted_at=emitted_at, due_at=due_at, policies=policies,
                          source=source, tz=tz, response=response)
        await pipeline.send_json("breaches", state["complaint_id"], event)

    async def emit_due(state: dict[str, Any], checked_at: float) -> None:
        """Every level past due at `checked_at`, oldest first."""
        now = clock.now()
        for stage, level, due_at in due_levels(state, checked_at, policies):
            mark_emitted(state, stage, level.name)
            await emit(state, stage, level.name, due_at=due_at, emitted_at=now)
            metrics.sla_event_lateness.labels(level.name).observe(max(0.0, now - due_at))
            if level.escalate_to:
                metrics.sla_escalations.labels(state["opd"], stage, level.escalate_to).inc()
            elif level.multiple == 1.0:
                metrics.sla_outcomes.labels(state["opd"], stage, "breached").inc()
            if now - due_at > 60.0:
                log.info("SLA %s of %s emitted %.0f s after it fell due", level.name, state["complaint_id"],
                         now - due_at)

    async def on_responses(state: dict[str, Any], responses: list[Response], at: float) -> None:
        emitted_at = max(clock.now(), at)
        for response in responses:
            stage = state["stages"][response.stage]
            if response.backfill_breach:
                metrics.sla_outcomes.labels(state["opd"], response.stage, "breached").inc()
                await emit(state, response.stage, "breached", due_at=stage["deadline"], emitted_at=emitted_at)
            metrics.sla_outcomes.labels(state["opd"], response.stage, response.outcome).inc()
            await emit(state, response.stage, response.outcome, due_at=at, emitted_at=emitted_at, response=response)
            if response.stage == STAGE_FIRST_RESPONSE:
                labels = (state["opd"], state["category"], state["platform"] or "unknown", state["priority"])
                metrics.response_latency.labels(*labels).observe(response.wall_seconds)
                metrics.response_working_latency.labels(*labels).observe(response.working_seconds)

    async def apply(state: dict[str, Any], event_type: str, at: float, by: str | None, kind: str | None,
                    detail: dict[str, Any] | None = None) -> None:
        """`detail`: the attached post of a `duplicate_attached`, the new priority of a
        `reprioritized` (kept with the other arguments when the event overtakes `opened`)."""
        if event_type == "resolved":
            await on_responses(state, record_resolution(state, at, by, policies), at)
        elif event_type == "responded" and kind == RESPONSE_KIND_WAITING:
            pause(state, at, policies)
        elif event_type == "responded":
            response = record_response(state, at, by, policies)
            await on_responses(state, [response] if response else [], at)
        elif event_type == "duplicate_attached" and is_citizen_post(state, detail):
            resume(state, at, policies)
        elif event_type == "reprioritized":
            reprioritize(state, (detail or {}).get("priority"), policies)

    async def on_opened(complaint: dict[str, Any]) -> None:
        complaint_id = complaint["complaint_id"]
        existing = clocks.get(complaint_id)
        if existing is not None and "stages" in existing:
            return  # redelivered
        clock.observe_event_time(parse_time(complaint["occurred_at"]))
        state = open_clock(complaint, policies)
        if state is None:
            log.warning("no SLA policy matches complaint %s: it has no deadline", complaint_id)
            return
        for early in (existing or {}).get("early", []):
            await apply(state, *early)
        store(state)

    async def on_complaint_event(complaint: dict[str, Any]) -> None:
        complaint_id = complaint["complaint_id"]
        event_type = complaint["type"]
        if event_type == "opened":
            await on_opened(complaint)
            return
        if event_type in ("responded", "resolved"):
            response = complaint["response"]
            args = (event_type, parse_time(response["at"]), response["by"], response.get("kind"), None)
        elif event_type == "duplicate_attached":
            args = (event_type, parse_time(complaint["occurred_at"]), None, None, complaint.get("post"))
        elif event_type == "reprioritized":
            raised = {"priority": complaint.get("priority")}
            args = (event_type, parse_time(complaint["occurred_at"]), None, None, raised)
        else:
            return
        state = clocks.get(complaint_id)
        if state is None or "stages" not in state:
            # The event overtook its complaint's `opened` (another producer): keep it for then.
            pending = state or {"early": []}
            pending["early"].append(list(args))
            clocks[complaint_id] = pending
            return
        if event_type == "duplicate_attached" and complaint.get("mentions"):
            # A replayed copy of an older event (same id, its first count) must not lower it.
            state["mentions"] = max(state.get("mentions") or 1, complaint["mentions"])
        await apply(state, *args)
        store(state)

    async def on_tick(complaint_id: str, checked_at: float | None) -> None:
        state = clocks.get(complaint_id)
        if state is None or "stages" not in state:
            index.discard(complaint_id)
            return
        if checked_at is None:  # a tick without its instant (sent by hand): check against now
            checked_at = clock.lagged(settings.sla_grace_seconds)
        await emit_due(state, checked_at)
        store(state)

    async def handle(event) -> None:
        value = decode_json_object(event.value)
        # A tick is a complaint id and the instant it was checked at; a complaint event has a type.
        if "type" not in value:
            checked_at = value.get("checked_at")
            if checked_at is not None and not isinstance(checked_at, (int, float)):
                raise InvalidInput("schema_violation", f"`checked_at` is not a number: {checked_at!r}")
            await on_tick(value["complaint_id"], checked_at)
        else:
            await on_complaint_event(value)

    @clocks.table.on_recover
    async def rebuild_index() -> None:
        """After every assignment: the clocks of exactly the partitions this worker now owns."""
        started = time.monotonic()
        index.rebuild(
            (complaint_id, state.get("next_due"), state.get("opd"), state.get("gauge", 0))
            for complaint_id, state in clocks.items()
            if state and "stages" in state
        )
        log.info("SLA deadline index rebuilt: %d clocks in %.2f s", len(index), time.monotonic() - started)

    @app.agent(pipeline.topic("sla_timeline"), name="sla")
    async def sla(stream):
        await pipeline.run_batches(stream, STAGE, handle, (clocks,))

    @app.timer(interval=settings.sla_tick_seconds)
    async def send_ticks_for_due_clocks() -> None:
        if not clock.started():
            return
        checked_at = clock.lagged(settings.sla_grace_seconds)
        retry_at = checked_at + (clock.now() - clock.lagged(TICK_RESEND_SECONDS))
        for complaint_id in index.pop_due(checked_at, retry_at):
            # The instant travels with the tick: the agent checks the clock at that instant, not
            # at its own reading, so a replay of the tick (after a crash, on another worker whose
            # clock reads differently) emits exactly what the first reading emitted.
            tick = {"complaint_id": complaint_id, "checked_at": checked_at}
            await pipeline.send_bytes("sla_timeline", complaint_id.encode(), orjson.dumps(tick))
        if index.dirty:
            publish_gauges(index)


def publish_gauges(index: DeadlineIndex) -> None:
    waiting, at_risk, overdue = index.gauges()
    for gauge, counts in ((metrics.open_clocks, waiting), (metrics.at_risk_clocks, at_risk),
                          (metrics.overdue_clocks, overdue)):
        gauge.clear()
        for opd, count in counts.items():
            if count:
                gauge.labels(opd or "unknown").set(count)
