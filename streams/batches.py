"""Batches of messages for the stateful agents: outputs on the broker first, state after.

Faust writes a table's changelog the moment a key is set, and sends an agent's outputs through
the same producer with no order between the two. A worker killed between them leaves a table
that says "done" for a message whose events never reached the broker; the message is then
redelivered (its offset was never committed), found done, and its events are lost for good.

The stateful agents (triage, cluster, sla) therefore take their messages in batches (whatever
has arrived, up to TANGGAP_BATCH_MAX: `Pipeline.run_batches`, which acks them by hand) and, per
batch:

1. run every message's handler against :class:`StagedTable` views of their tables: reads see
   the batch's own earlier writes, writes are held back (a failing message's writes and
   outputs are discarded with it, and it goes to the dead-letter topic instead);
2. send every output of the batch and wait until the broker has acknowledged all of them;
3. only then write the tables, one changelog record per key per batch (a key written by ten
   messages of a batch costs one record, not ten), the changelog records queued as produce
   batches (:meth:`StagedTable.commit_to_store`);
4. ack the batch's messages, so their offsets become committable (faust flushes the producer,
   changelogs included, before it commits).

Before a message joins a batch, a :class:`SequenceGuard` checks that it is the next offset of
its partition: a commit must never pass a message no batch processed.

A crash before step 3 replays the batch against the state it was first processed with: the
same outputs, with the same ids and the same content (the handlers are deterministic in their
input and state). A crash during step 3 replays it against part of its own writes: the keys
land in the order of their first write in the batch, each with its last value, so a landed key
may already hold what later messages of the batch did to it. The handlers are written for that:
a message whose own entry landed is a redelivery and emits nothing new (its outputs were
delivered in step 2); an aggregate (a complaint's summary) is written before the entries of the
messages it counts and remembers what it sent for each (triage's `counted`, clustering's
`sent`), so a message replayed against it sends what it sent the first time
(tests/unit/test_crash_replay.py crashes at every such point). Downstream sees duplicates by
id only, never a gap. Kafka transactions would close even the step-3 window; the embedded
broker has none, and this needs none.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson
from faust.streams import _current_event

from streams.backoff import Backoff

log = logging.getLogger(__name__)

_DELETED = object()


@contextmanager
def processing(event: Any) -> Iterator[None]:
    """Make `event` faust's current event: a table write goes to the store and changelog
    partition of the message that caused it."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
"""The options of faust's json codec: a value encodes to the same bytes as it did through it."""


def stored_key(key: Any) -> Any:
    """The bytes faust's json codec makes of a table key, for a str key: faust passes bytes keys
    through to the store and the changelog as they are, and its codec (a registry lookup and
    the standard library's json per call) cost ~7% of the clustering stage (bench/dedupe_bench.py).
    Only ASCII keys are encoded here: the standard library escapes other characters as \\uXXXX,
    orjson does not; faust encodes those (and any other type) as before, to the same bytes."""
    if type(key) is str and key.isascii():
        return orjson.dumps(key)
    return key


class StagedTable(MutableMapping):
    """A faust table as one batch sees it: the batch's own writes over the stored entries.

    Writes land in the table only at :meth:`commit`; each key is written once, in the context
    of the last message that set it (same key, same partition). Values are JSON documents,
    stored as bytes (a table with the raw value serializer, `Pipeline.table`): encoded once per
    write here and decoded once per read. Keys reach faust encoded (:func:`stored_key`), to the
    same bytes its json codec makes of them.

    With an `entry_type` (agents/domain/state.py), the batch reads and writes entries of that
    type: a stored value is decoded with ``entry_type.from_json`` on its read, and an entry is
    encoded with its ``to_json`` at the commit; without one, the values are the JSON documents.

    An entry type whose stage never changes an entry it read or wrote (``SHARED``: it replaces
    entries, as the backtest's dicts of entries need too) has its latest DECODED_ENTRIES entries
    remembered with their stored bytes: a read whose bytes in the store are the remembered ones
    hands out the remembered entry instead of decoding them again (a survivor with many
    members is read, and decoded, at every copy that joins it). The store is read either way, so
    whatever else wrote it (a changelog replayed after a rebalance) is what a read sees."""

    DECODED_ENTRIES = 1024

    def __init__(self, table: Any, entry_type: Any = None) -> None:
        self.table = table
        self._from_json = entry_type.from_json if entry_type is not None else None
        self._decoded: dict[Any, tuple[bytes, Any]] | None = {} if getattr(entry_type, "SHARED", False) else None
        """Key -> (stored bytes, the entry they decode to), oldest first."""
        self._store_get: Any = None
        self._batch: dict[Any, tuple[Any, Any]] = {}
        self._message: dict[Any, tuple[Any, Any]] = {}
        self._event: Any = None

    # The message in progress -------------------------------------------------------------
    def begin(self, event: Any) -> None:
        self._event = event
        self._message = {}

    def keep(self) -> None:
        self._batch.update(self._message)
        self._message = {}

    def discard(self) -> None:
        self._message = {}

    def commit(self) -> int:
        """Write the batch's entries to the table; returns how many keys were written."""
        written = len(self._batch)
        table = self.table
        for key, (value, event) in self._batch.items():
            key = stored_key(key)
            with processing(event):
                if value is _DELETED:
                    if key in table:
                        del table[key]
                else:
                    table[key] = self._encoded(value)
        self._batch = {}
        if self._decoded is not None:
            self._decoded.clear()  # written through the table, whose bytes are not seen here
        return written

    def _encoded(self, value: Any) -> bytes:
        return orjson.dumps(value.to_json() if self._from_json is not None else value, option=JSON_OPTIONS)

    def commit_to_store(self) -> list[ChangelogRecord]:
        """:meth:`commit` for a faust table: the entries go to its store, and their changelog
        records are returned for the caller to produce (`Pipeline.produce_changelog`) instead
        of being queued one by one. A key set through the table costs faust a future, a
        producer-buffer round and a send per changelog record; the caller sends a batch's records
        as whole produce batches, the same records (keys as faust encodes them, partition
        of the message that wrote them) in the same order per partition. Everything else faust's
        `Table.on_key_set`/`on_key_del` do (partition check, key expiry, sensors) is done here."""
        records: list[ChangelogRecord] = []
        table = self.table
        store = table.data
        decoded = self._decoded
        for name, (value, event) in self._batch.items():
            key = stored_key(name)
            with processing(event):
                partition = table.partition_for_key(key)
                if value is _DELETED:
                    if decoded is not None:
                        decoded.pop(name, None)
                    if key not in store:
                        continue
                    table._maybe_del_key_ttl(key, partition)
                    table._sensor_on_del(table, key)
                    del store[key]
                    raw = None
                else:
                    raw = self._encoded(value)
                    table._maybe_set_key_ttl(key, partition)
                    table._sensor_on_set(table, key, raw)
                    store[key] = raw
                    if decoded is not None:
                        self._remember(name, raw, value)
            changelog_key, _ = table.changelog_topic.prepare_key(key, table.key_serializer)
            records.append(ChangelogRecord(table, partition, changelog_key, raw))
        self._batch = {}
        return records

    # Mapping -------------------------------------------------------------------------------
    def _stored(self, key: Any) -> Any:
        # The store itself, looked up on first use (faust creates it lazily): faust's Table.get
        # costs two store lookups (a membership test, then the read) and a sensor call; the
        # store's own get costs one.
        if self._store_get is None:
            self._store_get = self.table.data.get
        raw = self._store_get(stored_key(key))
        if raw is None:
            return None
        decoded = self._decoded
        if decoded is None:
            return self._decode(raw)
        remembered = decoded.get(key)
        if remembered is not None and remembered[0] == raw:
            return remembered[1]
        value = self._decode(raw)
        self._remember(key, raw, value)
        return value

    def _remember(self, key: Any, raw: bytes, value: Any) -> None:
        decoded = self._decoded
        decoded.pop(key, None)  # newest last
        decoded[key] = (raw, value)
        if len(decoded) > self.DECODED_ENTRIES:
            del decoded[next(iter(decoded))]

    def _decode(self, raw: bytes) -> Any:
        value = orjson.loads(raw)
        return value if self._from_json is None else self._from_json(value)

    def _staged(self, key: Any) -> tuple[Any, Any] | None:
        staged = self._message.get(key)
        if staged is None:
            staged = self._batch.get(key)
        return staged

    def __getitem__(self, key: Any) -> Any:
        staged = self._staged(key)
        if staged is not None:
            if staged[0] is _DELETED:
                raise KeyError(key)
            return staged[0]
        value = self._stored(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        staged = self._staged(key)
        if staged is not None:
            return default if staged[0] is _DELETED else staged[0]
        value = self._stored(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __setitem__(self, key: Any, value: Any) -> None:
        self._message[key] = (value, self._event)

    def __delitem__(self, key: Any) -> None:
        self._message[key] = (_DELETED, self._event)

    def pop(self, key: Any, default: Any = None) -> Any:
        value = self.get(key, default)
        self._message[key] = (_DELETED, self._event)
        return value

    def __iter__(self) -> Iterator[Any]:
        """The stored keys (what timers and index rebuilds scan); staged writes are not
        included: they exist only inside the batch in progress."""
        return iter(self.table.keys())

    def __len__(self) -> int:
        return len(self.table)

    def items(self):  # type: ignore[override]
        return ((key, self._decode(raw)) for key, raw in self.table.items())


@dataclass(slots=True)
class Output:
    topic: str
    """The pipeline's topic field name (`triaged`, `complaints`, ...)."""
    key: bytes | None
    value: bytes
    event: Any = None
    """The message that caused it (for a dead letter if the broker refuses it for good)."""
    partition: int | None = None
    """None: the partition of its key (the default partitioner)."""


@dataclass(slots=True)
class ChangelogRecord:
    """A table write's changelog record, as faust would have sent it (value None: a deletion)."""

    table: Any
    partition: int
    key: bytes
    value: bytes | None


@dataclass
class Outbox:
    """The outputs of one batch, in the order the handlers sent them."""

    outputs: list[Output] = field(default_factory=list)
    _message: list[Output] = field(default_factory=list)

    def add(self, output: Output) -> None:
        self._message.append(output)

    def keep(self) -> None:
        self.outputs.extend(self._message)
        self._message = []

    def discard(self) -> None:
        self._message = []


current_outbox: ContextVar[Outbox | None] = ContextVar("tanggap_outbox", default=None)
"""The outbox of the batch the running agent task is processing (each agent is its own task,
so batches of two agents never mix)."""


SendFunction = Callable[[str, bytes | None, bytes, int | None], Awaitable[Awaitable[Any]]]
SendBatchesFunction = Callable[[list[Output]], Awaitable[list[tuple[list[Output], Awaitable[Any]]]]]
"""Queues outputs as produce batches; returns each batch's outputs with the future of the batch."""


PERMANENT_ERRORS = ("MessageSizeTooLargeError", "RecordTooLargeError", "InvalidTopicError",
                    "TopicAuthorizationFailedError", "UnsupportedVersionError", "CorruptRecordException")
"""Broker answers that no retry changes."""


def is_permanent(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ in PERMANENT_ERRORS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def deliver(outputs: list[Output], send: SendFunction, *,
                  on_permanent: Callable[[Output, BaseException], Output | None],
                  on_retry: Callable[[Output, BaseException, int], None],
                  send_batches: SendBatchesFunction | None = None,
                  backoff: Backoff = Backoff(0.1, 5.0)) -> None:
    """Send `outputs` and wait until the broker acknowledged every one.

    With `send_batches`, the first attempt queues the outputs as whole produce batches, one
    future per batch instead of one per record (the outputs' share of a worker's main thread fell
    from ~7% to ~4.5% in a profile: docs/performance.md). A batch that fails sends its outputs again one by one, so a
    record the broker refuses for good is told apart from the rest of its batch.

    A record the broker refuses for good is handed to `on_permanent`, which returns what to
    send instead (a dead letter of its cause) or None; every other failure is retried with
    exponential backoff for as long as it takes: the agent stops taking messages meanwhile
    (back-pressure), nothing piles up in memory and nothing is dropped."""
    pending = outputs
    attempt = 0
    if send_batches is not None and outputs:
        try:
            sent = await send_batches(outputs)
        except Exception as exc:  # refused before anything was queued (metadata, closed producer)
            sent = [(outputs, _failed(exc))]
        results = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        pending = []
        for (group, _), result in zip(sent, results):
            if isinstance(result, asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                for output in group:
                    on_retry(output, result, attempt)
                pending.extend(group)
    while pending:
        futures: list[Any] = []
        for output in pending:
            try:
                futures.append(await send(output.topic, output.key, output.value, output.partition))
            except Exception as exc:  # refused before it was queued (size checks, closed producer)
                futures.append(_failed(exc))
        results = await asyncio.gather(*futures, return_exceptions=True)
        retry: list[Output] = []
        for output, result in zip(pending, results):
            if not isinstance(result, BaseException):
                continue
            if isinstance(result, asyncio.CancelledError):
                raise result
            if is_permanent(result):
                instead = on_permanent(output, result)
                if instead is not None:
                    retry.append(instead)
            else:
                on_retry(output, result, attempt)
                retry.append(output)
        pending = retry
        if pending:
            attempt += 1
            await asyncio.sleep(backoff.delay(attempt))


def _failed(exc: BaseException) -> asyncio.Future:
    future = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


async def ack_processed(stream: Any, events: list[Any]) -> None:
    """Ack `events`, which a batch has processed (outputs delivered, state written)."""
    for event in events:
        await stream.ack(event)


PROCESS, ALREADY_READ, OUT_OF_SEQUENCE = "process", "already_read", "out_of_sequence"


class SequenceGuard:
    """Admits each partition's messages in offset order from where its last seek put it.

    faust hands an agent records of a partition in offset order, and its commits assume every
    offset below an acked one was read: its gap bookkeeping marks a jump in the read position
    as offsets absent from the log. Twice, a rebalance made an agent read a partition from a
    stale position (streams/faust_fixes.py), and the jump cost every message in between.
    Whatever the cause, this guard keeps the assumption true for the stateful agents:

    - the first message after a seek must be at the sought offset, every next one at the
      offset after the last admitted (`PROCESS`);
    - a message below that was admitted before in this assignment: it is re-read, acked after
      the batches in flight, never processed twice (`ALREADY_READ`);
    - a message above it is out of sequence: it is neither processed nor acked, and the
      partition is sought back to the expected offset (`OUT_OF_SEQUENCE`, with the offset to
      seek to); so is a message of a partition the last seek did not cover (its seek is still
      under way), without a seek of its own. Records fetched before the seek keep arriving for
      a while and are refused (and sought back) too; faust may even drop the first records read
      again, as below its read offset, until the last stale one has passed. Then the expected
      offset comes.

    Tanggap's topics are neither compacted nor written in transactions, so every offset holds
    a record: the guard never skips one. (A topic with holes would stall here, refused and
    sought back for ever, visible as consumer lag and as `tanggap_messages_out_of_sequence_total`
    growing; skipping is what lost messages before.)
    """

    def __init__(self, sought: Callable[[], tuple[int, dict]]) -> None:
        self._sought = sought
        self._seeks = -1
        self._expected: dict[Any, int] = {}
        self._unsought_since: dict[Any, float] = {}
        self.refused = 0

    def check(self, tp: Any, offset: int) -> tuple[str, int | None]:
        seeks, sought = self._sought()
        if seeks != self._seeks:  # a new assignment: start from where its seek put each partition
            self._seeks = seeks
            self._expected = dict(sought)
            self._unsought_since = {}
        expected = self._expected.get(tp)
        if expected is None and seeks > 0:
            # Not sought in this assignment: the seek that covers it has not finished, and the
            # record was read from a position nobody chose. It comes again after the seek.
            self.refused += 1
            self._unsought_since.setdefault(tp, time.monotonic())
            return OUT_OF_SEQUENCE, None
        if expected is None or offset == expected:
            self._expected[tp] = offset + 1
            return PROCESS, None
        if offset < expected:
            return ALREADY_READ, None
        self.refused += 1
        return OUT_OF_SEQUENCE, expected

    def unsought_for(self, tp: Any) -> float:
        """Seconds since the guard first refused a record of `tp` because no seek of this
        assignment covered it (0: it has not). A seek under way covers it within a rebalance;
        much longer means none is coming, and the partition is stalled."""
        since = self._unsought_since.get(tp)
        return 0.0 if since is None else time.monotonic() - since
