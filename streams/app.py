"""The faust application: settings applied, topics declared, agents registered.

Topology (every arrow a Kafka topic; a hop exists only where the key must change):

    posts.raw (keyed by thread) --triage--> posts.clusters --cluster--> posts.triaged
        |                          |                            \\-----> complaints --sla--> breaches
        \\--(other keys: intake)--> posts.threads --triage        \\--(no complaint)--> posts.triaged
    responses --responses--> complaints (or posts.threads for a post reference)
    any stage --on bad input--> deadletter
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from collections.abc import Awaitable
from typing import Any

import faust
import orjson

from agents.domain.config import TanggapConfig
from agents.domain.state import ENTRY_TYPES
from schemas.events import DEAD_LETTER_REASONS, DeadLetter, InvalidInput, configure_limits
from faust.streams import current_event

from streams import faust_fixes, metrics, security, web
from streams.batches import (
    ALREADY_READ,
    OUT_OF_SEQUENCE,
    PROCESS,
    ChangelogRecord,
    Outbox,
    Output,
    SequenceGuard,
    StagedTable,
    ack_processed,
    current_outbox,
    deliver,
    processing,
)
from streams.clock import SimulatedClock, WallClock, make_clock
from streams.health import BrokerContact, PublishWatch, StallWatch
from streams.kafka import KeyPartitioner
from streams.settings import Settings
from streams.topics import NO_HEADERS, RECORD_HEADERS, TopicNames

log = logging.getLogger(__name__)


def _installed_version() -> str:
    """The version pyproject.toml declares, as the installed package records it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tanggap")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


VERSION = _installed_version()
UNSOUGHT_WARNING_SECONDS = 60.0
"""A partition whose records a sequence guard refuses for want of a seek this long is stalled:
a seek after an assignment takes a broker round trip, a rebalance seconds."""


_STAGE_TIMERS: dict[str, Any] = {}


@dataclass
class Pipeline:
    """What every agent module needs: the app, its settings and configuration, topics, clock."""

    app: faust.App
    settings: Settings
    config: TanggapConfig
    names: TopicNames
    topics: dict[str, faust.TopicT]
    clock: WallClock | SimulatedClock
    topic_names: dict[str, str] = None  # type: ignore[assignment]
    publishing: PublishWatch = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.topic_names = {field: topic.get_topic_name() for field, topic in self.topics.items()}
        if self.publishing is None:
            self.publishing = PublishWatch(self.settings.ingest_publish_timeout_seconds)

    def topic(self, name: str) -> faust.TopicT:
        return self.topics[name]

    def table(self, name: str, help: str) -> StagedTable:
        """A faust table (RocksDB, changelogged, one partition per input partition) of JSON
        documents, as the stateful agents use them: entries of the table's type
        (agents.domain.state.ENTRY_TYPES), stored as their ``to_json()``. Its values are stored
        as the bytes `StagedTable` encodes: faust's json codec and serializer registry cost
        ~0.7 µs per read and per write more for the same bytes (docs/dedupe.md, Speed)."""
        return StagedTable(self.app.Table(name, default=None, partitions=self.settings.partitions,
                                          value_type=bytes, help=help), ENTRY_TYPES.get(name))

    async def produce(self, topic: str, key: bytes | None, value: bytes,
                      partition: int | None = None) -> Awaitable[Any]:
        """Queue one record on the producer; the returned future resolves when the broker has
        it. Straight to faust's producer: `Topic.send` adds a FutureMessage, a callback chain and
        a producer buffer per record (~7% of a worker's CPU) and nothing the agents need."""
        return await self.app.producer.send(self.topic_names[topic], key, value, partition, None,
                                            RECORD_HEADERS.get(topic))

    async def produce_batches(self, outputs: list[Output]) -> list[tuple[list[Output], Awaitable[Any]]]:
        """Queue `outputs` as produce batches, one per topic partition (more where one would
        exceed the producer's batch size), in their order within each partition; returns each
        batch's outputs with the future that resolves when the broker has the batch.

        A record sent alone costs faust's and aiokafka's send paths, a future and its callback
        (with the gather of the futures, ~7% of a worker's main thread in a profile; ~4.5% as
        batches, docs/performance.md); a record appended to a batch costs the
        append. Partitions come from the producer's own partitioner (`key_partition`), so a key
        lands where a plain send would put it. The producer still takes one batch per partition
        per request, and a full batch waits until its predecessor is on its way, as a plain
        send's does."""
        producer = self.app.producer
        client = producer._ensure_producer()  # the aiokafka producer: faust has no batch API
        groups: dict[tuple[str, int], list[Output]] = {}
        names = self.topic_names
        known: set[str] = set()
        for output in outputs:
            name = names[output.topic]
            if name not in known:
                known.add(name)
                await client.partitions_for(name)  # metadata first: the partitioner needs it
            partition = output.partition
            if partition is None:
                partition = producer.key_partition(name, output.key).partition
            group = groups.get((name, partition))
            if group is None:
                group = groups[(name, partition)] = []
            group.append(output)

        async def send_group(name: str, partition: int, group: list[Output]) -> list[tuple[list[Output], Any]]:
            headers = RECORD_HEADERS.get(group[0].topic, NO_HEADERS)  # a group is one topic's
            return await _queue_batches(client, name, partition, group, headers)

        if len(groups) == 1:
            (name, partition), group = next(iter(groups.items()))
            return await send_group(name, partition, group)
        # Partitions side by side: a partition's second batch waits for its first to drain.
        per_partition = await asyncio.gather(*(send_group(name, partition, group)
                                               for (name, partition), group in groups.items()))
        return [sent for batches in per_partition for sent in batches]

    async def produce_changelog(self, records: list[ChangelogRecord]) -> None:
        """Queue a batch's changelog records (`StagedTable.commit_to_store`) as produce batches,
        one per changelog partition, in their order; when the broker has a batch, its table's
        store records the batch's last offset as persisted, as faust does for each record it
        sends. Not waited for, as faust's own changelog sends are not: faust flushes the
        producer before it commits offsets. A batch the producer refuses to queue goes through
        faust's own changelog send, record by record."""
        if not records:
            return
        client = self.app.producer._ensure_producer()  # the aiokafka producer: faust has no batch API
        groups: dict[tuple[Any, int], list[ChangelogRecord]] = {}
        for record in records:
            groups.setdefault((record.table, record.partition), []).append(record)
        for (table, partition), group in groups.items():
            name = table.changelog_topic.get_topic_name()
            try:
                sent = await _queue_batches(client, name, partition, group, NO_HEADERS)
            except Exception as exc:  # refused before anything was queued (metadata, closed producer)
                log.warning("%s: changelog batch not queued (%s); sending its records one by one",
                            name, type(exc).__name__)
                for record in group:
                    table.send_changelog(partition, record.key, record.value, key_serializer="raw",
                                         value_serializer="raw")
                continue
            for members, future in sent:
                future.add_done_callback(functools.partial(_changelog_sent, table, len(members)))

    async def send_complaint_event(self, event: dict[str, Any]) -> None:
        """A complaint event goes to `complaints` (for the desk and downstream systems) and to
        `sla.timeline`, where the SLA agent reads it in one log with its clock's ticks: read from
        two topics, a replay could interleave an event and a tick in another order than the
        first reading did and emit an SLA event with other content under the same id."""
        key, value = event["complaint_id"].encode(), orjson.dumps(event)
        await self.send_bytes("complaints", key, value)
        await self.send_bytes("sla_timeline", key, value)

    async def send_json(self, topic: str, key: str, value: dict[str, Any]) -> None:
        await self.send_bytes(topic, key.encode(), orjson.dumps(value))

    async def send_bytes(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        """Inside a batch the record joins the batch's outbox (sent before its state is
        written); elsewhere (timers) it is queued on the producer at once. `partition` None: the
        partition of the key."""
        outbox = current_outbox.get()
        if outbox is not None:
            outbox.add(Output(topic, key, value, current_event(), partition))
        else:
            await self.produce(topic, key, value, partition)

    def dead_letter_output(self, event: faust.EventT, stage: str, reason: str, detail: str) -> Output:
        message = event.message
        letter = DeadLetter(
            reason=reason, detail=detail, topic=message.topic, partition=message.partition,
            offset=message.offset, key=message.key, value=message.value, stage=stage,
            at=time.time(),  # when it was parked, for operators: always the wall clock
        )
        metrics.dead_letters.labels(stage, reason).inc()
        # Offsets, not contents: the message may hold personal data.
        log.warning("dead letter: stage=%s reason=%s topic=%s partition=%s offset=%s",
                    stage, reason, message.topic, message.partition, message.offset,
                    extra={"stage": stage, "reason": reason, "topic": message.topic,
                           "partition": message.partition, "offset": message.offset})
        return Output("deadletter", message.key, orjson.dumps(letter.to_json()), event)

    async def run_batches(self, stream: faust.StreamT, stage: str, handler,
                          tables: tuple[StagedTable, ...] = (), stage_of=None) -> None:
        """The loop of a stateful agent: see streams/batches.py for why batches, and why the
        outputs go first. `stage_of(event)` names the stage a failing message is parked under
        when one agent serves two (intake and triage)."""
        # Events are acked by hand, after their batch's outputs and state are written: an event
        # acked earlier could have its offset committed before its outputs exist.
        manual = stream.noack()
        most = self.settings.batch_max
        # Two tasks: one reads the stream into `arrived`, the other processes whatever has
        # arrived as one batch. The processing side never waits on the stream while it holds
        # events: in a rebalance faust empties the stream's buffer and waits until every
        # event it handed out is acked, and a loop that held a half-built batch while waiting
        # for the next event (which cannot come until the rebalance ends) stalled the
        # rebalance until the group threw the member out. Under load batches fill up to
        # `most`; a quiet stream processes each message at once (no added latency, no timer).
        # The bounded queue is the back-pressure: at most `most` events wait here.
        arrived: asyncio.Queue = asyncio.Queue(maxsize=most)
        guard = SequenceGuard(lambda: (faust_fixes.seeks, faust_fixes.sought))
        refusals = _Refusals(stage, guard, self.app.consumer)

        async def read() -> None:
            async for event in manual.events():
                message = event.message
                if message.topic not in faust_fixes.guarded_topics:
                    faust_fixes.guarded_topics.add(message.topic)
                verdict, seek_to = guard.check(message.tp, message.offset)
                if verdict == OUT_OF_SEQUENCE:
                    await refusals.refuse(message, seek_to)
                    continue
                if verdict == PROCESS:
                    faust_fixes.reseeking.discard(message.tp)
                await arrived.put((event, verdict == ALREADY_READ))
            await arrived.put(None)  # the stream ended (a finite test stream): finish and stop

        async def process() -> None:
            ended = False
            while not ended:
                batch = [await arrived.get()]
                while len(batch) < most and not arrived.empty():
                    batch.append(arrived.get_nowait())
                if batch[-1] is None:
                    ended = True
                    batch.pop()
                if batch:
                    # A message read again (ALREADY_READ) is acked after the batches before it,
                    # which hold its first reading, and not processed twice.
                    fresh = [event for event, already in batch if not already]
                    if fresh:
                        await self.process_batch(fresh, stage, handler, tables, stage_of)
                    await ack_processed(manual, [event for event, _ in batch])

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(read(), name=f"{stage}-read")
            tasks.create_task(process(), name=f"{stage}-process")

    async def process_batch(self, events, stage: str, handler, tables: tuple[StagedTable, ...] = (),
                            stage_of=None) -> None:
        outbox = Outbox()
        token = current_outbox.set(outbox)
        timer = _stage_timer(stage)
        metrics.batch_size.labels(stage).observe(len(events))
        try:
            for event in events:
                started = time.perf_counter()
                for table in tables:
                    table.begin(event)
                with processing(event):
                    try:
                        await handler(event)
                    except Exception as exc:
                        for table in tables:
                            table.discard()
                        outbox.discard()
                        failed_in = stage_of(event) if stage_of else stage
                        outbox.add(self.dead_letter_output(event, failed_in, *_failure(exc, failed_in)))
                    else:
                        for table in tables:
                            table.keep()
                    outbox.keep()
                timer.observe(time.perf_counter() - started)
        finally:
            current_outbox.reset(token)
        await self.deliver(outbox.outputs, stage)
        await self.produce_changelog([record for table in tables for record in table.commit_to_store()])

    async def deliver(self, outputs: list[Output], stage: str) -> None:
        def on_permanent(output: Output, exc: BaseException) -> Output | None:
            metrics.output_failures.labels(stage, "rejected").inc()
            if output.topic == "deadletter" or output.event is None:
                # Nothing smaller is left to send: say so loudly, with offsets and no content.
                log.error("broker refused a %s record for good (%s); it is logged here and dropped",
                          output.topic, type(exc).__name__)
                return None
            return self.dead_letter_output(output.event, stage, "output_rejected",
                                           f"the broker refused the {output.topic} record: {type(exc).__name__}")

        def on_retry(output: Output, exc: BaseException, attempt: int) -> None:
            metrics.output_failures.labels(stage, "retried").inc()
            if attempt in (0, 3) or attempt % 20 == 0:
                log.warning("sending to %s failed (%s: %s); retrying, attempt %d", output.topic,
                            type(exc).__name__, exc, attempt + 1)

        token = self.publishing.begin()
        ok = False
        try:
            await deliver(outputs, self.produce, send_batches=self.produce_batches,
                          on_permanent=on_permanent, on_retry=on_retry)
            ok = True
        finally:
            self.publishing.end(token, ok)


def _failure(exc: Exception, stage: str) -> tuple[str, str]:
    """The dead-letter reason and detail of a message whose handler raised `exc`."""
    if isinstance(exc, InvalidInput):
        return exc.reason, exc.detail
    # A bug must not stop the partition: the message is parked, and the bug logged.
    log.exception("processing error in %s", stage)
    return "processing_error", f"{type(exc).__name__}: {exc}"


async def _queue_batches(client: Any, topic: str, partition: int, records: list, headers: list
                         ) -> list[tuple[list, Any]]:
    """Append `records` (anything with `key` and `value`) in order to produce batches of one topic
    partition, each queued on the aiokafka producer `client` when full and the last at the end;
    returns each batch's records with the future that resolves when the broker has the batch."""
    sent: list[tuple[list, Any]] = []
    batch, members = client.create_batch(), []
    for record in records:
        if members and batch.append(key=record.key, value=record.value, timestamp=None, headers=headers) is None:
            sent.append((members, await client.send_batch(batch, topic, partition=partition)))
            batch, members = client.create_batch(), []
        if not members:  # an empty batch takes any one record, however large
            batch.append(key=record.key, value=record.value, timestamp=None, headers=headers)
        members.append(record)
    sent.append((members, await client.send_batch(batch, topic, partition=partition)))
    return sent


class _SentChangelog:
    """What faust's `Collection._on_changelog_sent` reads of a sent changelog record: its
    metadata, here the last record's of a batch."""

    __slots__ = ("_metadata",)

    def __init__(self, metadata: Any) -> None:
        self._metadata = metadata

    def result(self) -> Any:
        return self._metadata


def _changelog_sent(table: Any, count: int, future: asyncio.Future) -> None:
    """A changelog batch of `count` records reached the broker (or failed): on success the
    table's store persists the last offset, through faust's own callback."""
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        # As when faust's own changelog send fails: the worker crashes and restarts from its
        # committed offsets. Sending the records again could put them after a later batch's
        # writes of the same keys, and a recovery would then read the older values last.
        log.error("changelog batch of %s failed: %s", table.changelog_topic.get_topic_name(), type(exc).__name__)
        asyncio.ensure_future(table.app.crash(exc))
        return
    metadata = future.result()
    table._on_changelog_sent(_SentChangelog(metadata._replace(offset=metadata.offset + count - 1)))


def _stage_timer(stage: str):
    # The labelled child is looked up once per stage: a lookup per message costs as much as the
    # observation itself.
    return _STAGE_TIMERS.get(stage) or _STAGE_TIMERS.setdefault(stage, metrics.stage_seconds.labels(stage))


def _fetch_progress(consumer) -> tuple[int, int]:
    """(sum of positions, records waiting in partitions not paused) over the consumer's assigned
    partitions, read from aiokafka 0.14's subscription state (plain values, safe to read from
    faust's main thread)."""
    subscription = getattr(getattr(consumer, "_subscription", None), "subscription", None)
    assignment = getattr(subscription, "assignment", None)
    if assignment is None:
        return 0, 0
    positions = waiting = 0
    for tp in list(assignment.tps):
        state = assignment.state_value(tp)
        position = getattr(state, "_position", None)
        if position is None:
            continue
        positions += position
        # A paused partition (faust's flow control: its buffer is full) waits for the agent.
        if state.highwater is not None and not getattr(state, "paused", False):
            waiting += max(0, state.highwater - position)
    return positions, waiting


def _broker_answer_times(app: faust.App) -> list[float]:
    """When each broker connection of this worker's Kafka clients (the worker consumer, the
    producer) last received an answer, on `time.monotonic()`'s clock.

    aiokafka 0.14 sets `AIOKafkaConnection._last_action` (its idle-drop timer) when a response
    frame arrives and nowhere else but the constructor, and a connection enters its client's
    `_conns` only after its ApiVersions request was answered: so each value is the time of a real
    answer (tests/unit/test_health.py pins this). The consumer's connections live in faust's
    consumer thread; a float and a dict copy are safe to read from here. Nothing is sent."""
    clients = []
    consumer = faust_fixes.worker_consumers[0] if faust_fixes.worker_consumers else None
    clients.append(getattr(consumer, "_client", None))
    producer = getattr(getattr(app, "_producer", None), "_producer", None)  # faust's, if started
    clients.append(getattr(producer, "_client", None))
    times = []
    for client in clients:
        try:
            connections = list(getattr(client, "_conns", {}).values())
        except RuntimeError:  # changed size while copied (another thread): the next look sees it
            continue
        for connection in connections:
            answered = getattr(connection, "_last_action", None)
            if isinstance(answered, float):
                times.append(answered)
    return times


def install_faust_fixes(settings: Settings) -> None:
    """faust's patches and the two settings it has no option for (streams/faust_fixes.py):
    before any faust app of the process is built."""
    faust_fixes.install(topic_prefix=settings.topic_prefix, fetch_max_wait_ms=settings.fetch_max_wait_ms,
                        write_ahead_log=settings.store_wal)


def faust_settings(settings: Settings) -> dict[str, Any]:
    brokers = ";".join(f"kafka://{server.strip()}" for server in settings.broker.split(",") if server.strip())
    options: dict[str, Any] = {
        "broker": brokers,
        "store": settings.store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication,
        "web_enabled": True,
        # web_host only names the worker in URLs faust builds; the socket binds web_bind
        # (faust's default 0.0.0.0), which must follow the configured interface.
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_port": settings.web_port,
        "consumer_auto_offset_reset": "earliest",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "autodiscover": False,
        "producer_acks": -1,
        # aiokafka's partitioner with a faster, remembered murmur2 (the same partitions).
        "producer_partitioner": KeyPartitioner(),
        # faust's own views (/router, /table, /graph, statistics at /) show table contents and
        # topology: off unless TANGGAP_WEB_INTROSPECTION asks for them while debugging.
        "web_router_enabled": settings.web_introspection,
        "web_tables_enabled": settings.web_introspection,
        "web_graph_enabled": settings.web_introspection,
        "web_stats_enabled": settings.web_introspection,
        "web_metrics_enabled": False,
        **security.from_settings(settings).faust_options(),
    }
    options["producer_linger"] = settings.producer_linger_ms / 1000.0
    if settings.producer_max_batch_bytes:
        options["producer_max_batch_size"] = settings.producer_max_batch_bytes
    if settings.rebalance_timeout:
        options["broker_rebalance_timeout"] = settings.rebalance_timeout
    if settings.session_timeout:
        options["broker_session_timeout"] = settings.session_timeout
    if settings.heartbeat_interval:
        options["broker_heartbeat_interval"] = settings.heartbeat_interval
    return options


def _positions(app: faust.App, prefix: str) -> list[tuple[Any, int | None, int | None]]:
    """(partition, committed offset, end offset) of every partition of Tanggap's topics assigned
    to this worker (table changelogs are read for recovery and never committed: not these)."""
    consumer = app.consumer
    committed = getattr(consumer, "_committed_offset", {})
    positions = []
    for tp in _assignment(app):
        if not tp.topic.startswith(prefix) or tp.topic.endswith("-changelog"):
            continue
        try:
            end = consumer.highwater(tp)
        except Exception:
            end = None
        positions.append((tp, committed.get(tp), end))
    return positions


def _assignment(app: faust.App) -> set:
    try:
        return app.consumer.assignment()
    except Exception:  # no consumer yet (starting) or already stopped
        return set()


class _Refusals:
    """What an agent does with a record its sequence guard refuses: not processed, not acked,
    its partition read again from the offset due (or, while no seek covers it, a warning once
    it has waited too long)."""

    def __init__(self, stage: str, guard: SequenceGuard, consumer: Any) -> None:
        self.stage = stage
        self.guard = guard
        self.consumer = consumer
        self._announced: dict = {}
        self._stalled: set = set()

    async def refuse(self, message: Any, seek_to: int | None) -> None:
        metrics.out_of_sequence.labels(self.stage).inc()
        faust_fixes.release_unprocessed(self.consumer, message)
        if seek_to is None:
            # Its partition's seek is under way and reads it again; if none comes, the
            # partition is stalled, and the operators must hear of it.
            stall = (message.tp, faust_fixes.seeks)  # once per partition and seek
            waited = self.guard.unsought_for(message.tp)
            if waited > UNSOUGHT_WARNING_SECONDS and stall not in self._stalled:
                self._stalled.add(stall)
                log.warning("%s partition %d: no seek of this assignment covers it after %.0f s; "
                            "its records are refused (offset %d)", message.topic, message.partition,
                            waited, message.offset)
            return
        if self._announced.get(message.tp) != seek_to:
            self._announced[message.tp] = seek_to
            log.warning("%s partition %d delivered offset %d where %d was due: not processed; "
                        "reading the partition again from %d", message.topic, message.partition,
                        message.offset, seek_to, seek_to)
        await faust_fixes.seek_back(self.consumer, message.tp, seek_to)


class WorkerHealth:
    """What /ready, /health and `tanggap_worker_ready` say: ready when faust calls the worker
    ready, it is not shutting down, no assigned partition is stalled, publishing works and the
    broker answers."""

    def __init__(self, pipeline: Pipeline, sensor: metrics.WorkerSensor) -> None:
        self.pipeline = pipeline
        self.sensor = sensor
        settings = pipeline.settings
        self.shutting_down = False
        self.stalls = StallWatch(settings.stall_seconds)
        self.contact = BrokerContact(settings.broker_unreachable_seconds)
        self.rebalance_timeout = float(pipeline.app.conf.broker_rebalance_timeout)

    def watch_partitions(self) -> None:
        """Feed the stall watch with every assigned partition's committed and end offsets (only
        while faust calls the worker ready: recovery and rebalances hold offsets still)."""
        app, prefix = self.pipeline.app, self.pipeline.settings.topic_prefix
        if self.shutting_down or not metrics.is_ready(app, self.sensor):
            self.stalls.observe(())
        else:
            self.stalls.observe(_positions(app, prefix))
        metrics.partition_stalled.clear()
        for tp, _ in self.stalls.stalled.items():
            name = metrics.logical_topic(tp.topic, prefix) or tp.topic
            metrics.partition_stalled.labels(name, str(tp.partition)).set(1)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        app, settings = self.pipeline.app, self.pipeline.settings
        base = not self.shutting_down and metrics.is_ready(app, self.sensor)
        reasons = []
        stalled = [{"topic": tp.topic, "partition": tp.partition, "seconds": round(seconds)}
                   for tp, seconds in sorted(self.stalls.stalled.items(),
                                             key=lambda item: (item[0].topic, item[0].partition))]
        if stalled:
            reasons.append(f"{len(stalled)} assigned partition(s) with lag and no progress for "
                           f"{settings.stall_seconds:g} s or more")
        problem = self.pipeline.publishing.problem()
        if problem:
            reasons.append(problem)
        metrics.broker_contact_age.set(round(self.contact.observe(_broker_answer_times(app)), 3))
        # A rebalance's JoinGroup may wait at the coordinator for up to the rebalance timeout
        # with nothing else to answer: during one the limit grows by that much.
        unreachable = self.contact.problem(self.rebalance_timeout if getattr(app, "rebalancing", False) else 0.0)
        if unreachable:
            reasons.append(unreachable)
        ready = base and not reasons
        metrics.worker_ready.set(1 if ready else 0)
        return ready, {"ready": ready, "rebalancing": bool(getattr(app, "rebalancing", False)),
                       "recovering": bool(getattr(app, "in_recovery", False)), "shutting_down": self.shutting_down,
                       "assigned_partitions": len([tp for tp in _assignment(app)
                                                   if tp.topic.startswith(settings.topic_prefix)]),
                       "stalled_partitions": stalled, "reasons": reasons}


def _register_health(pipeline: Pipeline, health: WorkerHealth) -> None:
    """The readiness timer and the /metrics, /health, /live and /ready pages."""
    app, settings = pipeline.app, pipeline.settings

    @app.timer(interval=max(1.0, min(10.0, settings.stall_seconds / 4, settings.broker_unreachable_seconds / 4)))
    async def readiness_watch() -> None:
        health.watch_partitions()
        health.readiness()

    @app.page("/metrics")
    async def metrics_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        health.sensor.refresh(app)
        health.readiness()  # the gauge says what /ready says
        body, content_type = metrics.exposition()
        return view.bytes(body, headers={"Content-Type": content_type})

    @app.page("/health")
    async def health_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        ready, detail = health.readiness()
        return view.json({"status": "ok", "app": settings.app_id, "regency": pipeline.config.regency_id,
                          "clock_started": pipeline.clock.started(), **detail})

    @app.page("/live")
    async def live_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        # The web server answers only while the event loop runs; a wedged loop fails this probe.
        return view.json({"live": True})

    @app.page("/ready")
    async def ready_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        ready, detail = health.readiness()
        return view.json(detail, status=200 if ready else 503)


def _register_adaptive_fetch_wait(app: faust.App, settings: Settings) -> None:
    """Embedded broker only (TANGGAP_FETCH_WAIT_ADAPTIVE): tune the worker consumer's fetch
    wait to what its partitions hold (streams/fetchwait.py)."""
    from streams.fetchwait import AdaptiveFetchWait

    tuning: dict[str, Any] = {}

    @app.timer(interval=0.25)
    async def adapt_fetch_wait() -> None:
        consumer = faust_fixes.worker_consumers[0] if faust_fixes.worker_consumers else None
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is None:
            return
        if tuning.get("fetcher") is not fetcher:  # a new consumer (start, restart)
            tuning.update(fetcher=fetcher, tuner=AdaptiveFetchWait(fetcher, settings.fetch_max_wait_ms), positions=None)
        positions, waiting = _fetch_progress(consumer)
        read = 0 if tuning["positions"] is None else max(0, positions - tuning["positions"])
        tuning["positions"] = positions
        tuning["tuner"].observe(read, waiting)


def build_app(settings: Settings, config: TanggapConfig) -> Pipeline:
    from agents import cluster, intake, responses, sla, triage
    from streams import ingest

    configure_limits(max_message_bytes=settings.max_message_bytes, max_text_chars=settings.max_text_chars)
    install_faust_fixes(settings)
    app = faust.App(settings.app_id, **faust_settings(settings))
    names = TopicNames.from_settings(settings)
    topics = {
        field: app.topic(getattr(names, field), partitions=settings.partitions, key_type=bytes,
                         value_type=bytes, internal=False)
        for field in TopicNames.fields()
    }
    pipeline = Pipeline(app, settings, config, names, topics, make_clock(settings.clock_speed))
    web.harden_faust(app, settings)  # client timeouts, response headers (streams/web.py)
    metrics.build_info.info({"version": VERSION, "regency": config.regency_id})
    sensor = metrics.WorkerSensor(settings.topic_prefix)
    app.sensors.add(sensor)
    health = WorkerHealth(pipeline, sensor)

    @app.on_partitions_revoked.connect
    async def forget_revoked(app: faust.App, revoked, **kwargs) -> None:
        sensor.forget_partitions(revoked)

    @app.on_before_shutdown.connect
    async def on_shutdown(app: faust.App, **kwargs) -> None:
        # Readiness fails at once so the orchestrator stops routing to us; faust then stops the
        # agents, commits what was processed and flushes the producer before the process exits.
        health.shutting_down = True
        log.info("shutting down: committing offsets and flushing the producer")

    if settings.fetch_wait_adaptive:
        _register_adaptive_fetch_wait(app, settings)
    _register_health(pipeline, health)
    responses.register(pipeline)
    triage.register(pipeline)
    cluster.register(pipeline)
    sla.register(pipeline)
    ingest.register(pipeline)
    # A counter series born at 1 shows no increase() in Prometheus: the first dead letter of a
    # worker's life would never alert. Every (stage, reason) series therefore starts at zero.
    for stage in (intake.STAGE, responses.STAGE, triage.STAGE, cluster.STAGE, sla.STAGE):
        for reason in DEAD_LETTER_REASONS:
            metrics.dead_letters.labels(stage, reason)
    return pipeline
