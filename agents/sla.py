"""The SLA stage: the clocks of every complaint, in a RocksDB-backed table keyed by complaint id.

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
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from agents.domain.sla import (
    STAGE_FIRST_RESPONSE,
    DeadlineIndex,
    Response,
    SlaPolicies,
    due_levels,
    index_entry,
    mark_emitted,
    sla_event,
    step_clock,
)
from agents.domain.state import Clock
from schemas.events import InvalidInput, decode_json_object, parse_time
from streams import metrics

if TYPE_CHECKING:
    from streams.app import Pipeline
    from streams.clock import SimulatedClock, WallClock

log = logging.getLogger(__name__)

STAGE = "sla"
TICK_RESEND_SECONDS = 5.0
"""A tick not yet acted on is sent again after this long (wall seconds; the first may still be queued)."""

SendJson = Callable[[str, str, dict[str, Any]], Awaitable[None]]


class SlaStage:
    """The clocks of the complaints of this worker's partitions: what a `sla.timeline` record
    (a complaint event or a tick) does to its clock, the SLA events that follow, and the deadline
    index the tick timer pops.

    `clocks` is the clock table (any mutable mapping: a faust table in the worker, a dict in a
    unit test); `send` publishes an event (topic, key, value)."""

    def __init__(self, clocks: MutableMapping[str, Clock], policies: SlaPolicies, *,
                 clock: WallClock | SimulatedClock, send: SendJson, source: str, tz: Any,
                 grace_seconds: float) -> None:
        self.clocks = clocks
        self.policies = policies
        self.clock = clock
        self.index = DeadlineIndex()
        self._send = send
        self._source = source
        self._tz = tz
        self._grace_seconds = grace_seconds
        self._outbox: list[tuple[str, dict[str, Any]]] = []
        """(complaint id, SLA event) built while a record is applied, sent once it is."""

    async def handle(self, value: dict[str, Any]) -> None:
        """One decoded `sla.timeline` record: a tick is a complaint id and the instant it was
        checked at; a complaint event has a type."""
        if "type" in value:
            await self.on_complaint_event(value)
            return
        checked_at = value.get("checked_at")
        if checked_at is not None and not isinstance(checked_at, (int, float)):
            raise InvalidInput("schema_violation", f"`checked_at` is not a number: {checked_at!r}")
        await self.on_tick(value["complaint_id"], checked_at)

    async def on_complaint_event(self, complaint: dict[str, Any]) -> None:
        complaint_id = complaint["complaint_id"]
        entry = self.clocks.get(complaint_id)
        if complaint["type"] == "opened" and (entry is None or not entry.is_open):
            self.clock.observe_event_time(parse_time(complaint["occurred_at"]))
        step = step_clock(entry, complaint, self.policies, self._responses_recorded)
        if step.outcome == "unmatched":
            log.warning("no SLA policy matches complaint %s: it has no deadline", complaint_id)
        elif step.outcome == "buffered":
            self.clocks[complaint_id] = step.entry
        elif step.entry is not None:
            self._store(step.entry)
        await self._flush()

    async def on_tick(self, complaint_id: str, checked_at: float | None) -> None:
        state = self.clocks.get(complaint_id)
        if state is None or not state.is_open:
            self.index.discard(complaint_id)
            return
        if checked_at is None:  # a tick without its instant (sent by hand): check against now
            checked_at = self.clock.lagged(self._grace_seconds)
        self._emit_due(state, checked_at)
        self._store(state)
        await self._flush()

    def rebuild_index(self) -> None:
        """The deadline index of exactly the clocks in the table (after every assignment)."""
        started = time.monotonic()
        self.index.rebuild(
            (complaint_id, state.next_due, state.opd, state.gauge or 0)
            for complaint_id, state in self.clocks.items() if state.is_open)
        log.info("SLA deadline index rebuilt: %d clocks in %.2f s", len(self.index), time.monotonic() - started)

    def due_ticks(self) -> list[dict[str, Any]]:
        """A tick for every clock due by the lagged clock, each carrying the instant it was
        checked at: the stage checks the clock at that instant, not at its own reading, so a
        replay of the tick (after a crash, on another worker whose clock reads differently)
        emits exactly what the first reading emitted."""
        if not self.clock.started():
            return []
        checked_at = self.clock.lagged(self._grace_seconds)
        retry_at = checked_at + (self.clock.now() - self.clock.lagged(TICK_RESEND_SECONDS))
        return [{"complaint_id": complaint_id, "checked_at": checked_at}
                for complaint_id in self.index.pop_due(checked_at, retry_at)]

    # -- inside --------------------------------------------------------------------------------

    def _store(self, state: Clock) -> None:
        due, opd, gauge = index_entry(state, self.policies)
        self.clocks[state.complaint_id] = state
        self.index.set(state.complaint_id, due, opd, gauge)

    def _event(self, state: Clock, stage: str, level: str, *, due_at: float, emitted_at: float,
               response: Response | None = None) -> None:
        self._outbox.append((state.complaint_id, sla_event(
            state, stage, level, emitted_at=emitted_at, due_at=due_at, policies=self.policies, source=self._source,
            tz=self._tz, response=response)))

    async def _flush(self) -> None:
        events, self._outbox = self._outbox, []
        for complaint_id, event in events:
            await self._send("breaches", complaint_id, event)

    def _emit_due(self, state: Clock, checked_at: float) -> None:
        """Every level past due at `checked_at`, oldest first."""
        now = self.clock.now()
        for stage, level, due_at in due_levels(state, checked_at, self.policies):
            mark_emitted(state, stage, level.name)
            self._event(state, stage, level.name, due_at=due_at, emitted_at=now)
            metrics.sla_event_lateness.labels(level.name).observe(max(0.0, now - due_at))
            if level.escalate_to:
                metrics.sla_escalations.labels(state.opd, stage, level.escalate_to).inc()
            elif level.multiple == 1.0:
                metrics.sla_outcomes.labels(state.opd, stage, "breached").inc()
            if now - due_at > 60.0:
                log.info("SLA %s of %s emitted %.0f s after it fell due", level.name, state.complaint_id,
                         now - due_at)

    def _responses_recorded(self, state: Clock, responses: list[Response], at: float) -> None:
        emitted_at = max(self.clock.now(), at)
        for response in responses:
            stage = state.stages[response.stage]
            if response.backfill_breach:
                metrics.sla_outcomes.labels(state.opd, response.stage, "breached").inc()
                self._event(state, response.stage, "breached", due_at=stage.deadline, emitted_at=emitted_at)
            metrics.sla_outcomes.labels(state.opd, response.stage, response.outcome).inc()
            self._event(state, response.stage, response.outcome, due_at=at, emitted_at=emitted_at, response=response)
            if response.stage == STAGE_FIRST_RESPONSE:
                labels = (state.opd, state.category, state.platform or "unknown", state.priority)
                metrics.response_latency.labels(*labels).observe(response.wall_seconds)
                metrics.response_working_latency.labels(*labels).observe(response.working_seconds)


def register(pipeline: Pipeline) -> SlaStage:
    """Wire the stage into the app: its table, the agent on `sla.timeline`, the index rebuild
    on assignment and the tick timer."""
    app = pipeline.app
    clocks = pipeline.table("clocks", help="SLA clocks per complaint id.")
    stage = SlaStage(clocks, pipeline.config.sla, clock=pipeline.clock, send=pipeline.send_json,
                     source=f"tanggap/{pipeline.config.regency_id}", tz=pipeline.config.timezone,
                     grace_seconds=pipeline.settings.sla_grace_seconds)
    pipeline.sla_index = stage.index  # for tests and the health page

    async def handle(event) -> None:
        await stage.handle(decode_json_object(event.value))

    @clocks.table.on_recover
    async def rebuild_index() -> None:
        stage.rebuild_index()

    @app.agent(pipeline.topic("sla_timeline"), name=STAGE)
    async def sla(stream):
        await pipeline.run_batches(stream, STAGE, handle, (clocks,))

    @app.timer(interval=pipeline.settings.sla_tick_seconds)
    async def send_ticks_for_due_clocks() -> None:
        if not stage.clock.started():
            return
        for tick in stage.due_ticks():
            await pipeline.send_bytes("sla_timeline", tick["complaint_id"].encode(), orjson.dumps(tick))
        if stage.index.dirty:
            publish_gauges(stage.index)

    return stage


def publish_gauges(index: DeadlineIndex) -> None:
    waiting, at_risk, overdue = index.gauges()
    for gauge, counts in ((metrics.open_clocks, waiting), (metrics.at_risk_clocks, at_risk),
                          (metrics.overdue_clocks, overdue)):
        gauge.clear()
        for opd, count in counts.items():
            if count:
                gauge.labels(opd or "unknown").set(count)
