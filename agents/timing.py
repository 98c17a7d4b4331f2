"""Timing: one SLA clock per complaint, in a RocksDB-backed table keyed by complaint id.

The agent consumes `complaints` (opened, responded, ...) and `sla.ticks`, both keyed by complaint
id, so a clock and every event about it meet in one partition. Faust timers cannot write
tables, so the timer only finds clocks past their deadline and sends a tick for each; the agent
that owns the table re-checks the clock and emits the breach. Clock state survives restarts, so
a worker that was down when deadlines passed emits those breaches when it comes back.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson

from agents.domain.sla import breach_event, is_due, open_clock, record_response
from schemas.events import decode_json_object, parse_time
from streams import metrics

if TYPE_CHECKING:
    from streams.app import Pipeline

log = logging.getLogger("tanggap.timing")

STAGE = "sla"
TICK_RESEND_SECONDS = 5.0
"""A tick not yet acted on is sent again after this long (the first may still be queued)."""


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    settings = pipeline.settings
    policies = pipeline.config.sla
    tz = pipeline.config.timezone
    source = f"tanggap/{pipeline.config.regency_id}"
    clock = pipeline.clock
    clocks = app.Table(
        "clocks", default=None, partitions=settings.partitions,
        help="SLA clock per complaint id.",
    )
    ticks_topic_name = pipeline.names.sla_ticks
    sla_input = app.topic(pipeline.names.complaints, ticks_topic_name, key_type=bytes, value_type=bytes)
    ticks_sent: dict[str, float] = {}

    async def emit_breach(state: dict[str, Any], overdue_until: float) -> None:
        now = clock.now()
        event = breach_event(state, emitted_at=max(now, overdue_until), overdue_until=overdue_until,
                             policies=policies, source=source, tz=tz)
        state["breached"] = True
        metrics.sla_outcomes.labels(state["opd"], state["stage"], "breached").inc()
        await pipeline.send_json("breaches", state["complaint_id"], event)

    async def on_opened(complaint: dict[str, Any]) -> None:
        complaint_id = complaint["complaint_id"]
        existing = clocks.get(complaint_id)
        if existing is not None and "deadline" in existing:
            return  # redelivered
        clock.observe_event_time(parse_time(complaint["occurred_at"]))
        state = open_clock(complaint, policies)
        if state is None:
            log.warning("no SLA policy matches complaint %s: it has no deadline", complaint_id)
            return
        if existing is not None and existing.get("early_response"):
            early = existing["early_response"]
            await on_response(state, early["at"], early["by"])
        clocks[complaint_id] = state

    async def on_response(state: dict[str, Any], at: float, by: str | None) -> None:
        response = record_response(state, at, by, policies)
        if response is None:
            return
        labels = (state["opd"], state["category"], state["platform"] or "unknown", state["priority"])
        metrics.response_latency.labels(*labels).observe(response.wall_seconds)
        metrics.response_working_latency.labels(*labels).observe(response.working_seconds)
        metrics.sla_outcomes.labels(state["opd"], state["stage"], response.outcome).inc()
        if response.late and not state["breached"]:
            await emit_breach(state, overdue_until=at)

    async def on_complaint_event(complaint: dict[str, Any]) -> None:
        complaint_id = complaint["complaint_id"]
        kind = complaint["type"]
        if kind == "opened":
            await on_opened(complaint)
            return
        state = clocks.get(complaint_id)
        if kind in ("responded", "resolved"):
            at = parse_time(complaint["response"]["at"])
            by = complaint["response"]["by"]
            if state is None or "deadline" not in state:
                # The response overtook its complaint (another producer): keep it for `opened`.
                clocks[complaint_id] = {"early_response": {"at": at, "by": by}}
                return
            await on_response(state, at, by)
            clocks[complaint_id] = state
        elif kind == "duplicate_attached" and state is not None and "deadline" in state:
            if complaint.get("mentions"):
                state["mentions"] = complaint["mentions"]
                clocks[complaint_id] = state

    async def on_tick(complaint_id: str) -> None:
        ticks_sent.pop(complaint_id, None)
        state = clocks.get(complaint_id)
        if state is None or "deadline" not in state:
            return
        if is_due(state, clock.lagged(settings.sla_grace_seconds)):
            await emit_breach(state, overdue_until=clock.now())
            clocks[complaint_id] = state

    async def handle(event) -> None:
        value = decode_json_object(event.value)
        if event.message.topic == ticks_topic_name:
            await on_tick(value["complaint_id"])
        else:
            await on_complaint_event(value)

    @app.agent(sla_input, name="sla")
    async def sla(stream):
        async for event in stream.events():
            await pipeline.guarded(event, STAGE, handle)

    @app.timer(interval=settings.sla_tick_seconds)
    async def find_due_clocks() -> None:
        if not clock.started():
            return
        checked_at = clock.lagged(settings.sla_grace_seconds)
        wall = time.monotonic()
        open_by_opd: Counter[str] = Counter()
        overdue_by_opd: Counter[str] = Counter()
        for complaint_id, state in list(clocks.items()):
            if not state or "deadline" not in state or state.get("responded_at") is not None:
                continue
            open_by_opd[state["opd"]] += 1
            if checked_at > state["deadline"]:
                overdue_by_opd[state["opd"]] += 1
            if is_due(state, checked_at) and wall - ticks_sent.get(complaint_id, -1e9) > TICK_RESEND_SECONDS:
                ticks_sent[complaint_id] = wall
                await pipeline.topic("sla_ticks").send(key=complaint_id.encode(),
                                                       value=orjson.dumps({"complaint_id": complaint_id}))
        _set_gauge(metrics.open_clocks, open_by_opd)
        _set_gauge(metrics.overdue_clocks, overdue_by_opd)


def _set_gauge(gauge, counts: Counter[str]) -> None:
    gauge.clear()
    for opd, count in counts.items():
        gauge.labels(opd).set(count)
