"""Crash replays of triage and clustering, modelled without Kafka: an event id never goes out
with other content, and no copy is merged the first time and opened the second.

The integration test (tests/integration/test_faults.py) kills real workers, a few times per run;
a flaw that needs a crash at one exact point shows there once in many runs. This model crashes
the two stages hundreds of times, at every kind of point, with the stages' own code and table
view (`StagedTable`), and is repeatable:

- a stage takes a batch of messages from its input partitions, interleaved at random;
- its outputs go out, then its table writes land in the order `StagedTable.commit` writes them;
  a crash lands only the first k of them (a kill -9 while the changelog records were on their
  way: they land in order, and the store is rebuilt from them);
- offsets are committed lazily (faust commits on an interval), so a restart replays batches
  whose state landed, in part or in full;
- a crash restarts both stages; triage's replay sends its envelopes again, after whatever the
  clustering stage's input holds by then;
- after some restarts the dead member holds half of the partitions for a while (its session has
  not timed out), so the partitions resume at different times.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest

from agents.domain.cluster import Clusterer, ClusterPolicy, route
from agents.domain.state import ENTRY_TYPES
from agents.domain.triage import Triage
from bench.generate import Mix, generate_posts
from schemas.events import RawPost, message_key
from streams.batches import StagedTable

PARTITIONS = 4


class Crash(Exception):
    pass


class DurableTable:
    """What survives a crash of one table: the writes that landed. `budget` writes may still
    land before the crash (None: no crash under way)."""

    budget: int | None = None

    def __init__(self) -> None:
        self.data: dict[Any, bytes] = {}

    def _land(self) -> None:
        if DurableTable.budget is not None:
            if DurableTable.budget <= 0:
                raise Crash
            DurableTable.budget -= 1

    def __setitem__(self, key: Any, value: bytes) -> None:
        self._land()
        self.data[key] = value

    def __delitem__(self, key: Any) -> None:
        self._land()
        del self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def __len__(self) -> int:
        return len(self.data)

    def keys(self) -> list[Any]:
        return [orjson.loads(key) if isinstance(key, bytes) else key for key in self.data]

    def items(self) -> list[tuple[Any, bytes]]:
        return [(orjson.loads(key) if isinstance(key, bytes) else key, value) for key, value in self.data.items()]


class Message:
    __slots__ = ("value", "partition", "offset", "__weakref__")  # faust's current event is a weakref

    def __init__(self, value: bytes, partition: int, offset: int) -> None:
        self.value, self.partition, self.offset = value, partition, offset


class Stage:
    """One stateful stage of one worker: input partitions, committed offsets, durable tables."""

    held: frozenset[int] = frozenset()
    """Partitions still owned by a dead member (shared by both stages: they are one worker)."""

    def __init__(self, inputs: dict[int, list[bytes]], tables: tuple[str, ...], rng: random.Random) -> None:
        self.inputs, self.rng = inputs, rng
        self.durable = {name: DurableTable() for name in tables}
        self.committed = dict.fromkeys(range(PARTITIONS), 0)
        self.restart()

    def restart(self) -> None:
        self.tables = {name: StagedTable(durable, ENTRY_TYPES.get(name)) for name, durable in self.durable.items()}
        self.position = dict(self.committed)
        self.started()

    def started(self) -> None:
        pass

    def readable(self) -> list[int]:
        return [p for p in range(PARTITIONS) if p not in Stage.held and self.position[p] < len(self.inputs[p])]

    def run_batch(self, crash: bool) -> bool:
        """One batch; True if the worker crashed in it."""
        batch = []
        for _ in range(self.rng.randint(1, 40)):
            readable = self.readable()
            if not readable:
                break
            partition = self.rng.choice(readable)
            batch.append(Message(self.inputs[partition][self.position[partition]], partition, self.position[partition]))
            self.position[partition] += 1
        outputs: list[Any] = []
        for message in batch:
            for table in self.tables.values():
                table.begin(message)
            outputs.extend(self.handle(message))
            for table in self.tables.values():
                table.keep()
        self.deliver(outputs)
        if crash:
            staged = sum(len(table._batch) for table in self.tables.values())
            DurableTable.budget = self.rng.randint(0, staged)
        try:
            for table in self.tables.values():
                table.commit()
        except Crash:
            pass
        finally:
            DurableTable.budget = None
        if crash:
            return True
        if self.rng.random() < 0.3:
            self.committed = dict(self.position)
        return False

    def handle(self, message: Message) -> list[Any]:
        raise NotImplementedError

    def deliver(self, outputs: list[Any]) -> None:
        raise NotImplementedError


class TriageStage(Stage):
    def __init__(self, config, posts: dict[int, list[bytes]], clusters: dict[int, list[bytes]], rng) -> None:
        self.config, self.clusters = config, clusters
        super().__init__(posts, ("threads", "orphans"), rng)

    def started(self) -> None:
        self.triage = Triage(self.config)

    def handle(self, message: Message) -> list[tuple[int, bytes]]:
        # What agents/triage.py's `publish` does, without Kafka.
        threads, orphans = self.tables["threads"], self.tables["orphans"]
        result = self.triage.process(RawPost.parse(orjson.loads(message.value)), threads, orphans, now=0.0)
        result.apply(threads, orphans)
        return [(partition_of(key.encode()), orjson.dumps(envelope)) for key, envelope in route(result)[1].items()]

    def deliver(self, outputs: list[tuple[int, bytes]]) -> None:
        for partition, envelope in outputs:
            self.clusters[partition].append(envelope)


class ClusterStage(Stage):
    def __init__(self, config, clusters: dict[int, list[bytes]], policy: ClusterPolicy, rng) -> None:
        self.config, self.policy = config, policy
        self.sent: dict[str, set[bytes]] = defaultdict(set)
        """Event id -> every content it went out with."""
        self.decisions: dict[str, set[str]] = defaultdict(set)
        """Opened complaint id -> "opened" or "merged into <survivor>", each time it was decided."""
        super().__init__(clusters, ("clusters",), rng)

    def started(self) -> None:
        self.clusterer = Clusterer(self.policy, self.config.timezone)
        self.rebuild()

    def rebuild(self) -> None:
        """As agents/cluster.py does after every assignment."""
        self.clusterer.rebuild(self.tables["clusters"].items())

    def handle(self, message: Message) -> list[dict[str, Any]]:
        table = self.tables["clusters"]
        envelope = orjson.loads(message.value)
        result = self.clusterer.process(envelope, table)
        result.apply(table)
        for cause in envelope.get("events", ()):
            if cause["type"] != "opened":
                continue
            for event in result.events:
                if event["type"] == "opened" and event["complaint_id"] == cause["complaint_id"]:
                    self.decisions[cause["complaint_id"]].add("opened")
                elif event["type"] == "duplicate_attached" and (event["post"] or {}).get("key") == cause["post"]["key"]:
                    self.decisions[cause["complaint_id"]].add(f"merged into {event['complaint_id']}")
        return result.events

    def deliver(self, outputs: list[dict[str, Any]]) -> None:
        for event in outputs:
            self.sent[event["event_id"]].add(orjson.dumps(event, option=orjson.OPT_SORT_KEYS))


def partition_of(key: bytes) -> int:
    return zlib.crc32(key) % PARTITIONS


def crash_replays(config, seed: int, posts: int, window_hours: float, mix: Mix) -> ClusterStage:
    rng = random.Random(seed)
    raw: dict[int, list[bytes]] = defaultdict(list)
    for value in generate_posts(posts, seed=seed, mix=mix):
        raw[partition_of(message_key(value))].append(orjson.dumps(value))
    clusters: dict[int, list[bytes]] = defaultdict(list)
    triage = TriageStage(config, raw, clusters, rng)
    cluster = ClusterStage(config, clusters, ClusterPolicy(window_seconds=window_hours * 3600.0), rng)
    held_for = 0
    Stage.held = frozenset()
    while triage.readable() or cluster.readable() or Stage.held:
        if Stage.held:
            held_for -= 1
            if held_for <= 0 or not (triage.readable() or cluster.readable()):
                Stage.held = frozenset()  # the dead member's session timed out: a new assignment
                cluster.rebuild()
                continue
        stage = rng.choice([stage for stage in (triage, cluster) if stage.readable()])
        if stage.run_batch(crash=rng.random() < 0.08):
            triage.restart()
            cluster.restart()
            if rng.random() < 0.7:
                Stage.held = frozenset(rng.sample(range(PARTITIONS), PARTITIONS // 2))
                held_for = rng.randint(1, 30)
    return cluster


@pytest.mark.parametrize(("seed", "window_hours", "official_reply"), [
    (7, 1e-7, 0.0),   # copies merge only within a second: expiry on every opening (the fault tests' window)
    (3, 1e-7, 0.05),
    (0, 72.0, 0.05),  # the default window, with official replies
    (5, 72.0, 0.05),
])
def test_crash_replays_never_change_an_event_or_a_merge(config, seed, window_hours, official_reply):
    mix = Mix(redelivery=0.03, repost=0.1, reply=0.15, official_reply=official_reply, copies=0.5)
    cluster = crash_replays(config, seed, 1200, window_hours, mix)
    conflicting = {event_id: [orjson.loads(content) for content in contents]
                   for event_id, contents in cluster.sent.items() if len(contents) > 1}
    assert not conflicting, (f"{len(conflicting)} event ids went out with other content, by type: "
                             f"{Counter(events[0]['type'] for events in conflicting.values())}; "
                             f"first: {next(iter(conflicting.values()))}")
    flipped = {complaint_id: sorted(ways) for complaint_id, ways in cluster.decisions.items() if len(ways) > 1}
    assert not flipped, f"decided two ways after a replay: {list(flipped.items())[:3]}"
    assert sum(len(ways) for ways in cluster.decisions.values()) > 500, "the model opened and merged complaints"
