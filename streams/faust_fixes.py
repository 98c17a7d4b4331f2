"""Every change Tanggap makes to faust-streaming and aiokafka, installed once per process.

Two kinds: fixes for defects that lose messages (below), and two settings faust 0.15 has no
option for (the worker consumer's fetch wait, RocksDB's write options: see `install`).

Each fix names the defect, how it showed in Tanggap's fault tests, and why the fix is safe.
They patch faust in place because it offers no hook at these points. `install()` is idempotent
and refuses to run on another faust-streaming release than the one these fixes were reviewed
against (constraints.txt pins it): an upgrade fails loudly at start-up until someone checks
whether the defects are fixed upstream, instead of silently patching code that moved.

**Seek to committed forgets partitions without a committed offset**
(faust-streaming/faust#216, "Recovery ... resumes from kafka before seeking to committed
offsets"). After a rebalance faust resumes the stream partitions by seeking every assigned
partition to its committed offset (`Consumer.perform_seek`). aiokafka's
`seek_to_committed` seeks only when the committed offset is a positive number: a partition
with no committed offset yet (None), or committed at 0, keeps whatever fetch position it had.
Meanwhile faust drops ("skips") every message fetched while its flow control was suspended
during the rebalance, and neither acks nor re-reads it. The skipped messages are re-read only if
the seek moves the position back; for those partitions it does not, and the next commit passes
over them. Seen in the join/leave fault test: a worker joining while the cluster stage had not
yet committed anything on two `posts.clusters` partitions started them at offset 10 and 11,
and the complaints in offsets 0-10 were never clustered, timed or breached (14 lost in one
run). The fix seeks those partitions too: to offset 0 when 0 is committed, and to the
beginning (our `auto_offset_reset` is "earliest") when nothing is. Re-reading a message the
worker already processed is harmless: every output has a stable id and state is idempotent.

**Stream partitions resume before they are sought** (the same faust issue, still in 0.15.3:
`Recovery._resume_streams` resumes the stream partitions, then awaits the seek). Flow control
is already active at that point (recovery resumed it to read the changelogs), so the fetcher
delivers records from whatever position aiokafka held before the seek, and the agents process
them. When the seek then moves the position back, faust's gap bookkeeping
(`Consumer._drain_messages`) takes the jump between the seek target and the records already
delivered as offsets "not present in the log" and marks them processed; the re-read copies
are then dropped as already read. Seen in the join/leave fault test: a member taking over a
`posts.clusters` partition after a long rebalance processed it from offset 650 while its
committed offset was 29, and the 621 envelopes between were never clustered (535 complaints
lost in one run). The fix is the same method with the two steps swapped: seek while the
partitions are still paused, then resume them. The rest of the method is faust's, unchanged
(faust-streaming, BSD-3-Clause).

**Seeks to committed offsets can finish out of order.** faust seeks to committed offsets after
every assignment, and also from its fetch loop whenever it finds the flow stopped
(`Consumer.getmany`: "getmany called while flow not active"), which happens when a rebalance
starts while a fetch is under way. That second seek reads the assignment and the committed
offsets of the moment it starts. When it finishes after the seek of the new assignment, its
positions are those of the previous assignment: the agents' sequence guards then took them as
where the new assignment's partitions start. In the join/leave fault test (tests/integration/test_faults.py) a worker
that took over `posts.raw` partitions 2 and 3 in the last rebalance had a last recorded seek
without them, refused their records for ever as "not sought yet", and 150 complaints were never
opened; partition 1, recorded at the old committed offset 48 where 420 was due, was read again
from 48. The fix numbers the seeks as they start. A seek that finishes after a later-started one
was recorded is undone: its partitions go back to where the later seek put them, and faust gets
the later seek's committed offsets, so its own bookkeeping does not move back either.

**Watched, not changed: offsets counted as processed without being read.** faust's gap
bookkeeping is right for compacted topics and transaction markers, where offsets really are
absent, and wrong whenever a read position jumps, which is how both defects above lost
messages. The agents read through a sequence guard (streams/batches.py, `SequenceGuard`) that
refuses a record past a jump and reads the partition again, whatever the cause; on their topics
a gap is only logged (info). On a Tanggap topic read any other way a gap is logged as a warning
and counted in `tanggap_offsets_skipped_total{topic}` (alert `TanggapOffsetsSkipped`): Tanggap's
topics are not compacted, so outside transaction markers it means records no agent processed.

**Read, not changed: faust's table internals for batched changelogs.** A batch's table writes go
to the store and their changelog records out as whole produce batches (streams/batches.py
`StagedTable.commit_to_store`, streams/app.py `Pipeline.produce_changelog`): what faust's
`Table.on_key_set`/`on_key_del` and `Collection._on_changelog_sent` do per record, done per batch
through their private helpers (`_maybe_set_key_ttl`, `_sensor_on_set`, `_on_changelog_sent`) and
faust's aiokafka producer (`producer._ensure_producer()`). The release check covers them too.
"""

from __future__ import annotations

import logging
from typing import Any

from streams import metrics

log = logging.getLogger(__name__)

_INSTALLED = False
REVIEWED_FAUST = "0.15.3"
REVIEWED_AIOKAFKA = "0.14.0"
"""The releases these patches were written for: start-up fails on any other (constraints.txt pins both)."""

worker_consumers: list = []
"""The aiokafka consumer faust built for this process's worker (one): readiness reads its
connections (streams/app.py) and the adaptive fetch wait tunes it (streams/fetchwait.py)."""
_fetch_max_wait_ms: int | None = None
_write_ahead_log = False

sought: dict[Any, int] = {}
"""Where each assigned partition's read position was put by the last seek to committed offsets
(the committed offset, or the beginning where nothing is committed), by faust TP."""
seeks = 0
"""How many seeks to committed offsets this process made: an agent's sequence guard starts
over from `sought` when this changes (streams/batches.py, SequenceGuard)."""


_seeks_started = 0
"""Seeks to committed offsets started in this process: numbers them in the order they read the
assignment and the committed offsets."""
_recorded_seek = 0
"""The number of the seek whose positions are in `sought`."""
_recorded_committed: dict = {}
"""What that seek found committed (aiokafka's TopicPartition -> offset or None)."""


async def _seek_to_committed_everywhere(consumer: Any) -> dict:
    """aiokafka's `seek_to_committed`, plus a seek for the partitions it leaves alone."""
    global _seeks_started
    _seeks_started += 1
    number = _seeks_started
    committed = await consumer.seek_to_committed()
    never_committed = [tp for tp, offset in committed.items() if offset is None]
    for tp, offset in committed.items():
        if offset == 0:
            consumer.seek(tp, 0)
    if never_committed:
        await consumer.seek_to_beginning(*never_committed)
    positions = {_faust_tp(tp): offset for tp, offset in committed.items() if offset is not None}
    for tp in never_committed:
        positions[_faust_tp(tp)] = await consumer.position(tp)
    # Everything after the last await runs without a switch to another seek: the consumer
    # thread runs them all, so the numbering needs no lock.
    if number < _recorded_seek:
        return _undo_stale_seek(consumer)
    _record_seek(number, positions, committed)
    return committed


def _record_seek(number: int, positions: dict, committed: dict) -> None:
    # The agents read `sought` from the event loop's thread: it is replaced whole, never updated
    # in place, and `seeks` moves after it.
    global sought, seeks, _recorded_seek, _recorded_committed
    _recorded_seek = number
    _recorded_committed = dict(committed)
    sought = positions
    seeks += 1


def _undo_stale_seek(consumer: Any) -> dict:
    """A seek that read the assignment and committed offsets before the recorded one finished
    after it: put the partitions it moved back where the recorded seek put them, and give faust
    the recorded seek's committed offsets (it takes the returned ones as its own bookkeeping)."""
    log.info("a seek to committed offsets finished after a later one: its positions were read before an "
             "assignment; the later seek's stand")
    assigned = consumer.assignment()
    for tp in assigned:
        offset = sought.get(_faust_tp(tp))
        if offset is not None:
            consumer.seek(tp, offset)
    return {tp: offset for tp, offset in _recorded_committed.items() if tp in assigned}


guarded_topics: set[str] = set()
"""Topics read by an agent through a SequenceGuard (streams/batches.py): registered by the
agent as it reads them."""
reseeking: set[Any] = set()
"""Partitions an agent sought back (seek_back) and has not yet read again from the offset due:
records fetched before the seek still arrive past it, and the gaps faust notes for them are the
seek's doing, not offsets skipped (they are dropped at the next seek_back)."""


async def seek_back(consumer: Any, tp: Any, offset: int) -> None:
    """Put a partition's read position back to `offset` and forget faust's gap bookkeeping of
    the records read past it (they are read again, in order)."""
    from aiokafka.errors import IllegalStateError

    reseeking.add(tp)
    # seek_wait runs the seek in faust's consumer thread (which owns the aiokafka consumer) and
    # resets faust's read offset of the partition with it.
    try:
        await consumer.seek_wait({tp: offset})
    except IllegalStateError:
        # Revoked since the record was read: its next owner reads it from the committed offset,
        # which this worker never moved past the refused record. Raising would crash the agent.
        log.info("%s partition %d was revoked before it could be read again from %d", tp.topic, tp.partition, offset)
        reseeking.discard(tp)
        return
    consumer._gap.pop(tp, None)


def release_unprocessed(consumer: Any, message: Any) -> None:
    """Let faust stop waiting for a message an agent refused without processing it, without
    marking its offset processed: the commit cannot pass it, and it is read again."""
    message.acked = True
    consumer._unacked_messages.discard(message)


def _faust_tp(tp: Any) -> Any:
    from faust.types import TP

    return TP(tp.topic, tp.partition)


async def _resume_streams(self, generation_id: int = 0) -> None:
    """faust's `Recovery._resume_streams` with the seek before the resume (see above)."""
    app = self.app
    consumer = app.consumer
    await app.on_rebalance_complete.send()
    assignment = consumer.assignment()
    if self.app.consumer_generation_id != generation_id:
        self.log.warning("Recovery rebalancing again")
        return
    if assignment:
        self.log.info("Seek stream partitions to committed offsets.")
        await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
        self.log.dev("Resume stream partitions")
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
    else:
        self.log.info("Resuming streams with empty assignment")
    self.completed.set()
    self.log.info("Resuming flow...")
    app.flow_control.resume()
    consumer.resume_flow()
    await app._fetcher.maybe_start()
    self.tables.on_actives_ready()
    self.tables.on_standbys_ready()
    app.on_rebalance_end()
    self.log.info("Worker ready")


_topic_prefix = ""


async def _add_gap_watched(original: Any, consumer: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    topic = metrics.logical_topic(tp.topic, _topic_prefix)
    if tp.topic in guarded_topics:
        # A stateful agent reads this topic through its sequence guard, which refuses the
        # record past the gap and reads the partition again from the offset due.
        if offset_to > offset_from and tp not in reseeking:
            log.info("offsets %d to %d of %s partition %d jumped over: the agent's sequence guard reads them",
                     offset_from, offset_to - 1, tp.topic, tp.partition)
    elif topic is not None and offset_to > offset_from:
        log.warning("offsets %d to %d of %s partition %d count as processed although this worker never read them "
                    "(a jump in its read position)", offset_from, offset_to - 1, tp.topic, tp.partition)
        metrics.offsets_skipped.labels(topic).inc(offset_to - offset_from)
    await original(consumer, tp, offset_from, offset_to)


def _expect(function: Any, qualname: str) -> None:
    import aiokafka
    import faust

    if (faust.__version__, aiokafka.__version__) != (REVIEWED_FAUST, REVIEWED_AIOKAFKA) or \
            getattr(function, "__qualname__", "") != qualname:
        raise RuntimeError(f"streams/faust_fixes.py patches {qualname} of faust-streaming {REVIEWED_FAUST} with "
                           f"aiokafka {REVIEWED_AIOKAFKA}; faust-streaming {faust.__version__} and aiokafka "
                           f"{aiokafka.__version__} are installed: review the patches against them")


def _create_worker_consumer_with_wait(create: Any) -> Any:
    """faust 0.15 builds its worker consumer with a fixed fetch_max_wait_ms of 1500 and no
    setting for it. Kafka answers a fetch as soon as data arrives, so there the wait only bounds
    idle polling; the embedded broker holds every fetch for the whole wait, which puts up to that
    much latency on each topic hop (TANGGAP_FETCH_MAX_WAIT_MS)."""

    def _create_worker_consumer(self, transport):
        consumer = create(self, transport)
        if _fetch_max_wait_ms is not None:
            consumer._fetch_max_wait_ms = _fetch_max_wait_ms  # read by AIOKafkaConsumer.start() (aiokafka 0.14)
        worker_consumers[:] = [consumer]
        return consumer

    return _create_worker_consumer


def _open_with_write_options(open_store: Any) -> Any:
    """faust 0.15 has no setting for RocksDB's write options: its table stores open their
    databases through `RocksDBOptions.open`, wrapped here (streams/stores.py says why the
    write-ahead log is off by default)."""
    from streams import stores

    def open_with_write_options(self: Any, path: Any, *, read_only: bool = False) -> Any:
        db = open_store(self, path, read_only=read_only)
        if self.use_rocksdict and not read_only:
            stores.configure_writes(db, _write_ahead_log)
        return db

    open_with_write_options.__wrapped__ = open_store  # type: ignore[attr-defined]
    return open_with_write_options


def install(topic_prefix: str = "", *, fetch_max_wait_ms: int | None = None, write_ahead_log: bool = False) -> None:
    """Patch faust once per process; the arguments (the last call's) apply to every app of the
    process: `fetch_max_wait_ms` None keeps faust's wait."""
    global _INSTALLED, _topic_prefix, _fetch_max_wait_ms, _write_ahead_log
    _topic_prefix = topic_prefix
    _fetch_max_wait_ms = fetch_max_wait_ms
    _write_ahead_log = write_ahead_log
    if _INSTALLED:
        return
    from faust.stores.rocksdb import RocksDBOptions
    from faust.tables.recovery import Recovery
    from faust.transport.consumer import Consumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    _expect(AIOKafkaConsumerThread._create_worker_consumer, "AIOKafkaConsumerThread._create_worker_consumer")
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer_with_wait(
        AIOKafkaConsumerThread._create_worker_consumer)
    _expect(RocksDBOptions.open, "RocksDBOptions.open")
    RocksDBOptions.open = _open_with_write_options(RocksDBOptions.open)

    add_gap = Consumer._add_gap
    _expect(add_gap, "Consumer._add_gap")

    async def _add_gap(self, tp, offset_from: int, offset_to: int) -> None:
        await _add_gap_watched(add_gap, self, tp, offset_from, offset_to)

    Consumer._add_gap = _add_gap

    _expect(Recovery._resume_streams, "Recovery._resume_streams")
    Recovery._resume_streams = _resume_streams

    original = AIOKafkaConsumerThread.seek_to_committed
    _expect(original, "AIOKafkaConsumerThread.seek_to_committed")

    async def seek_to_committed(self):
        return await self.call_thread(_seek_to_committed_everywhere, self._ensure_consumer())

    seek_to_committed.__doc__ = original.__doc__
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed
    _INSTALLED = True
