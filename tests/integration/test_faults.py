"""Nothing is lost under faults: real workers on the real broker, faults injected mid-replay.

Each test replays a few thousand generated posts (citizen complaints, reposts, citizen replies,
redeliveries; no official replies, so every complaint must breach its first-response deadline
under the fast simulated clock) and injects one kind of fault while the workers process them:

- `kill -9` of the worker, restarted on its RocksDB state, several times;
- workers joining and leaving (one, two, three members, then back to one);
- the broker frozen (SIGSTOP) for 30 s and resumed, without restarting anything.

The oracle is the pure functions the pipeline runs (triage, then clustering) over the same
posts in one process: the complaints they open are what the pipeline must open, each exactly
once (by event id), and each must get its `breached` SLA event. Events that share an id must
have the same content (wall-clock fields of SLA events aside), and no rebalance may wait on
messages an agent holds. Duplicates by id are expected (at-least-once) and printed as a figure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.domain.cluster import Clusterer, ClusterPolicy, route
from agents.domain.sla import sla_event_id
from agents.domain.triage import Triage
from bench.generate import Mix, encoded, generate_posts
from schemas.events import RawPost
from streams.demo import Outcome
from streams.kafka import create_topics, produce
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

POSTS = 3000
MIX = Mix(redelivery=0.03, repost=0.08, reply=0.08, official_reply=0.0)
WALL_CLOCK_FIELDS = {"time", "emitted", "emitted_at", "overdue_wall_seconds", "overdue_working_seconds",
                     "lateness_seconds"}
"""Fields of SLA events that say when the worker emitted them, not what happened: a copy
re-emitted after a crash says when it was re-emitted (and so how overdue the stage was then)."""


DEDUPE_WINDOW_HOURS = 0.0000001


def expected_complaints(config, posts: list[dict]) -> tuple[set[str], dict[str, str]]:
    """The complaints the pipeline must open, by the pure functions it runs (triage, then
    clustering), and which of them are one complaint: the generator copies a post to another
    platform within the same second now and then, and clustering merges those even in the
    test's tiny window (event times have whole seconds). Which copy survives depends on
    arrival order, so a merged group counts as opened when any one of its ids is."""
    triage = Triage(config)
    clusterer = Clusterer(ClusterPolicy(window_seconds=DEDUPE_WINDOW_HOURS * 3600.0), config.timezone)
    threads: dict = {}
    orphans: dict = {}
    clusters: dict = {}
    opened: set[str] = set()
    group_of: dict[str, str] = {}
    for value in posts:
        result = triage.process(RawPost.parse(value), threads, orphans, now=0.0)
        result.apply(threads, orphans)
        opened_by_post = {e["post"]["key"]: e["complaint_id"] for e in result.complaint_events if e["type"] == "opened"}
        opened.update(opened_by_post.values())
        for envelope in route(result)[1].values():
            clustered = clusterer.process(envelope, clusters)
            clustered.apply(clusters)
            for event in clustered.events:
                merged = opened_by_post.get(event["post"]["key"]) if event["type"] == "duplicate_attached" else None
                if merged is not None and merged != event["complaint_id"]:
                    group_of[merged] = group_of.get(event["complaint_id"], event["complaint_id"])
    assert not orphans, "the generator only replies to posts it already produced"
    return opened, group_of


async def records_in(settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.partitions)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


def triaged_count(deployment) -> int:
    settings = deployment.settings
    return asyncio.run(records_in(settings, settings.topic("posts.triaged")))


class Verdict:
    """What the pipeline published, checked against the oracle."""

    def __init__(self, outcome: Outcome, oracle: tuple[set[str], dict[str, str]]) -> None:
        self.outcome = outcome
        self.oracle = oracle
        expected, group_of = oracle
        opened = [e for e in outcome.complaints if e["type"] == "opened"]
        self.opened_ids = {e["complaint_id"] for e in opened}
        self.breach_ids = {b["id"] for b in outcome.breaches}
        self.unexpected = self.opened_ids - expected
        # One complaint per group of merged copies (see expected_complaints): by its group id.
        self.expected = {group_of.get(c, c) for c in expected}
        breached = {group_of.get(c, c) for c in self.opened_ids
                    if sla_event_id(c, "first_response", "breached") in self.breach_ids}
        self.opened_groups = {group_of.get(c, c) for c in self.opened_ids}
        self.lost = self.expected - self.opened_groups
        self.missing_breaches = self.expected - breached
        by_id: dict[str, list[dict]] = defaultdict(list)
        for event in outcome.complaints:
            by_id[event["event_id"]].append(event)
        for event in outcome.breaches:
            by_id[event["id"]].append({k: v for k, v in event.items() if k not in WALL_CLOCK_FIELDS}
                                      | {"data": {k: v for k, v in event["data"].items() if k not in WALL_CLOCK_FIELDS}})
        self.duplicates = sum(len(events) - 1 for events in by_id.values())
        self.conflicting = {event_id: events for event_id, events in by_id.items()
                            if len({orjson.dumps(e, option=orjson.OPT_SORT_KEYS) for e in events}) > 1}
        opened_ids_by_complaint: dict[str, set[str]] = defaultdict(set)
        for event in opened:
            opened_ids_by_complaint[event["complaint_id"]].add(event["event_id"])
        self.opened_twice = [c for c, ids in opened_ids_by_complaint.items() if len(ids) > 1]

    def complete(self) -> bool:
        return not self.lost and not self.missing_breaches

    def figures(self, faults: int) -> str:
        events = len(self.outcome.complaints) + len(self.outcome.breaches)
        return (f"posts={POSTS} faults={faults} complaints_expected={len(self.expected)} "
                f"lost={len(self.lost)} missing_breaches={len(self.missing_breaches)} "
                f"events={events} duplicates_by_id={self.duplicates} conflicting_ids={len(self.conflicting)} "
                f"opened_twice={len(self.opened_twice)}")


def replay(deployment, config, seed: int) -> tuple[set[str], dict[str, str]]:
    posts = generate_posts(POSTS, seed=seed, mix=MIX)
    settings = deployment.settings
    asyncio.run(create_topics(settings))
    asyncio.run(produce(settings, settings.topic("posts.raw"), encoded(posts)))
    return expected_complaints(config, posts)


def settle(deployment, expected: tuple[set[str], dict[str, str]], timeout: float) -> Verdict:
    def done():
        verdict = Verdict(asyncio.run(Outcome.read(deployment.settings)), expected)
        return verdict if verdict.complete() else None

    try:
        wait_for(done, timeout=timeout, interval=3, message="every complaint opened and breached")
    except AssertionError:
        pass  # the assertions below say what is missing
    time.sleep(2)  # room for a wrong extra emission to show up
    return Verdict(asyncio.run(Outcome.read(deployment.settings)), expected)


def _differing_fields(events: list[dict]) -> set[str]:
    """Top-level and `data` fields whose values differ between copies of one event id."""
    fields: set[str] = set()
    for key in {k for e in events for k in e}:
        if key == "data":
            for inner in {k for e in events for k in e.get("data", {})}:
                if len({orjson.dumps(e.get("data", {}).get(inner), option=orjson.OPT_SORT_KEYS) for e in events}) > 1:
                    fields.add(f"data.{inner}")
        elif len({orjson.dumps(e.get(key), option=orjson.OPT_SORT_KEYS) for e in events}) > 1:
            fields.add(key)
    return fields


TRACED_TOPICS = ("posts.raw", "posts.threads", "posts.clusters", "complaints", "breaches", "sla.timeline")


async def _write_topics(settings, path: Path) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        with path.open("wb") as out:
            for name in TRACED_TOPICS:
                partitions = [TopicPartition(settings.topic(name), p) for p in range(settings.partitions)]
                consumer.assign(partitions)
                await consumer.seek_to_beginning(*partitions)
                ends = await consumer.end_offsets(partitions)
                for tp in partitions:
                    while await consumer.position(tp) < ends[tp]:
                        for record in (await consumer.getmany(tp, timeout_ms=2000)).get(tp, []):
                            out.write(orjson.dumps({"topic": name, "partition": tp.partition, "offset": record.offset,
                                                    "key": (record.key or b"").decode(errors="replace"),
                                                    "value": (record.value or b"").decode(errors="replace")}) + b"\n")
    finally:
        await consumer.stop()


def keep_evidence(deployment, verdict: Verdict, name: str) -> None:
    """With TANGGAP_FAULT_TRACE=DIR, write what a failure needs for tracing: the lost group ids
    and every record of the pipeline's topics with partition and offset (the broker keeps
    them in memory only). The worker logs stay in the test's directory."""
    directory = os.environ.get("TANGGAP_FAULT_TRACE")
    if not directory:
        return
    slug = "".join(c if c.isalnum() else "-" for c in name)
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / f"{slug}.lost").write_text("\n".join(sorted(verdict.lost)))
    asyncio.run(_write_topics(deployment.settings, Path(directory) / f"{slug}.jsonl"))
    print(f"[{name}] topics, lost ids: {directory}/{slug}.*; worker logs: {deployment.root}")


STALL_WARNING = "wait_empty: Waiting for tasks"
"""faust's warning while a rebalance waits for events a stream handed out to be acked."""


def rebalance_stalls(deployment) -> int:
    """How often a worker's rebalance waited on events its agents held: a batch loop that held
    events while waiting for the next one stalled rebalances until the group threw the member
    out, which then replayed and re-sent under a second owner."""
    return sum(worker.log_path.read_text(errors="replace").count(STALL_WARNING) for worker in deployment.workers)


async def _positions(settings) -> list[str]:
    """Per partition of every agent input: the group's committed offset and the end offset."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=settings.app_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        lines = []
        for name in ("posts.raw", "posts.clusters", "sla.timeline"):
            partitions = [TopicPartition(settings.topic(name), p) for p in range(settings.partitions)]
            ends = await consumer.end_offsets(partitions)
            committed = [await consumer.committed(tp) for tp in partitions]
            lines.append(f"{name}: " + ", ".join(f"p{tp.partition} {done}/{ends[tp]}"
                                                  for tp, done in zip(partitions, committed)))
        return lines
    finally:
        await consumer.stop()


EVIDENCE_NOISE = ("producer buffer full", "is overlapping")


def print_evidence(deployment) -> None:
    """What a failed run leaves in CI's output, where nothing else survives it: the group's
    committed offsets against the end offsets (a stalled partition shows), and the workers'
    warnings and errors (sequence-guard refusals name partition and offsets)."""
    for line in asyncio.run(_positions(deployment.settings)):
        print(f"  committed/end {line}")
    for worker in deployment.workers:
        lines = [line for line in worker.log_path.read_text(errors="replace").splitlines()
                 if ('"level":"warning"' in line or '"level":"error"' in line)
                 and not any(noise in line for noise in EVIDENCE_NOISE)]
        print(f"  {worker.log_path.name}: {len(lines)} warnings and errors")
        for line in lines[:15]:
            print(f"    {line[:300]}")


def check(deployment, verdict: Verdict, faults: int, name: str, *, stalls_allowed: bool = False) -> None:
    """Assert the guarantees, with the run's figures in every failure message."""
    stalls = rebalance_stalls(deployment)
    figures = f"[{name}] {verdict.figures(faults)} rebalance_stalls={stalls}"
    print(f"\n{figures}")
    keep_evidence(deployment, verdict, name)
    if (verdict.lost or verdict.missing_breaches or verdict.unexpected or verdict.opened_twice
            or verdict.conflicting or (stalls and not stalls_allowed)):
        print_evidence(deployment)
    assert not verdict.lost, f"{figures}: complaints never opened: {sorted(verdict.lost)[:5]}"
    assert not verdict.missing_breaches, f"{figures}: due breaches never emitted: {sorted(verdict.missing_breaches)[:5]}"
    assert not verdict.unexpected, f"{figures}: complaints the oracle did not open: {sorted(verdict.unexpected)[:5]}"
    assert not verdict.opened_twice, f"{figures}: complaints opened under two event ids: {verdict.opened_twice[:5]}"
    if verdict.conflicting:
        event_id, events = next(iter(verdict.conflicting.items()))
        raise AssertionError(f"{figures}: {event_id} (and {len(verdict.conflicting) - 1} more) sent with different "
                             f"content, differing in {sorted(_differing_fields(events))}")
    assert stalls_allowed or not stalls, f"{figures}: a rebalance waited on messages an agent held"


def fault_deployment(deployment_factory):
    # Generated posts reuse the sample's texts, so near-duplicate clustering would merge most of
    # them, in an order that depends on arrival; a window of microseconds keeps the oracle exact
    # (the cluster hop still runs). Near-duplicates have their own tests.
    # Replies wait for their parents as long as the test runs: a reply released on its own after
    # a fault-induced delay is decided differently from the oracle's (where parents come first).
    return deployment_factory(TANGGAP_CLOCK_SPEED="60000", TANGGAP_SLA_GRACE_SECONDS="0.2",
                              TANGGAP_ORPHAN_WAIT_SECONDS="3600", TANGGAP_DEDUPE_WINDOW_HOURS=str(DEDUPE_WINDOW_HOURS))


def test_kill_9_mid_replay_several_times_loses_nothing(deployment_factory, config):
    deployment = fault_deployment(deployment_factory)
    expected = replay(deployment, config, seed=71)
    worker = deployment.worker()
    kills = 0
    for fraction in (0.15, 0.4, 0.7):
        try:
            wait_for(lambda: triaged_count(deployment) >= POSTS * fraction, timeout=120, interval=0.5,
                     message=f"{fraction:.0%} of the posts triaged")
        except AssertionError:
            if kills:
                break  # processing outran the kills: the ones made still count
            raise
        worker.kill()
        kills += 1
        worker = deployment.worker()
    verdict = settle(deployment, expected, timeout=150)
    assert worker.alive()
    deployment.close()
    assert kills >= 2
    check(deployment, verdict, kills, "kill -9")


def test_workers_joining_and_leaving_mid_replay_lose_nothing(deployment_factory, config):
    deployment = fault_deployment(deployment_factory)
    expected = replay(deployment, config, seed=72)
    # Every member has its own RocksDB directory, as on separate machines (RocksDB locks it).
    first = deployment.worker(TANGGAP_DATA_DIR=str(deployment.root / "data-1"))
    wait_for(lambda: triaged_count(deployment) >= POSTS * 0.1, timeout=120, message="the first worker started")
    second = deployment.worker(TANGGAP_DATA_DIR=str(deployment.root / "data-2"))
    wait_for(lambda: triaged_count(deployment) >= POSTS * 0.3, timeout=120, message="progress with two workers")
    third = deployment.worker(TANGGAP_DATA_DIR=str(deployment.root / "data-3"))
    wait_for(lambda: triaged_count(deployment) >= POSTS * 0.5, timeout=120, message="progress with three workers")
    first.kill()   # leaves without a goodbye: its partitions move when its session times out
    second.stop()  # leaves cleanly
    verdict = settle(deployment, expected, timeout=150)
    assert third.alive()
    deployment.close()
    check(deployment, verdict, 4, "join/leave")  # two joins, a kill and a clean leave


def test_broker_frozen_for_30_seconds_mid_replay_workers_recover_without_restart(deployment_factory, config, broker):
    deployment = fault_deployment(deployment_factory)
    expected = replay(deployment, config, seed=73)
    worker = deployment.worker()
    wait_for(lambda: triaged_count(deployment) >= POSTS * 0.2, timeout=120, message="the replay under way")
    os.kill(broker.process.pid, signal.SIGSTOP)
    try:
        time.sleep(30)
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    verdict = settle(deployment, expected, timeout=150)
    assert worker.alive(), "the worker recovers on its own"
    assert len(deployment.workers) == 1, "without a restart"
    deployment.close()
    # Batches wait for the broker's acks while it is frozen, so a rebalance may wait on them.
    check(deployment, verdict, 1, "broker frozen 30 s", stalls_allowed=True)


def test_ten_thousand_hostile_messages_end_in_dead_letters_or_decisions_and_the_worker_stays_up(deployment_factory):
    import random

    from agents.responses import DESK_RESPONSE_ENVELOPE
    from tests.unit.test_fuzz import hostile_messages

    # Replies to posts that never come are decided on their own after a short wait.
    deployment = deployment_factory(TANGGAP_CLOCK_SPEED="60000", TANGGAP_ORPHAN_WAIT_SECONDS="5")
    settings = deployment.settings
    messages = {"posts.raw": [], "responses": []}
    for topic, raw in hostile_messages(random.Random(7), 10_000):
        raw = raw[:900_000]  # under the producer's request limit: the cut ones are invalid JSON
        messages[topic].append((f"k{len(messages[topic])}".encode(), raw))
    asyncio.run(create_topics(settings))
    worker = deployment.worker()
    started = time.monotonic()
    for topic, batch in messages.items():
        asyncio.run(produce(settings, settings.topic(topic), batch))

    def accounted():
        outcome = asyncio.run(Outcome.read(settings))
        parked = Counter(letter["source"]["topic"] for letter in outcome.dead_letters)
        threads = asyncio.run(records_in(settings, settings.topic("posts.threads")))
        decided_posts = {r["post_key"] for r in outcome.triaged if not r["outcome"].endswith("_pending")}
        desk = sum(1 for e in outcome.complaints if e["type"] in ("responded", "resolved"))
        raw_done = parked[settings.topic("posts.raw")] + threads >= len(messages["posts.raw"])
        responses_done = parked[settings.topic("responses")] + desk + parked[settings.topic("posts.threads")] \
            >= len(messages["responses"])
        return (outcome, decided_posts) if raw_done and responses_done else None

    outcome, decided_posts = wait_for(accounted, timeout=300, interval=3, message="every hostile message accounted for")
    elapsed = time.monotonic() - started
    reasons = Counter(letter["reason"] for letter in outcome.dead_letters)
    print(f"\n[hostile] messages=10000 dead_letters={sum(reasons.values())} {dict(reasons)} "
          f"decided_posts={len(decided_posts)} elapsed={elapsed:.0f}s ({10_000 / elapsed:.0f} messages/s incl. produce)")
    assert "processing_error" not in reasons, [l["detail"] for l in outcome.dead_letters if l["reason"] == "processing_error"][:3]
    assert worker.alive()
    forwarded = [orjson.loads(r.value) for r in asyncio.run(_read(settings, "posts.threads"))]
    post_keys = {f"{v['platform']}:{v['post_id']}" for v in forwarded
                 if DESK_RESPONSE_ENVELOPE not in v and "release_orphans" not in v}
    wait_for(lambda: post_keys <= {r["post_key"] for r in asyncio.run(Outcome.read(settings)).triaged
                                   if not r["outcome"].endswith("_pending")},
             timeout=60, interval=3, message="a final decision for every post that passed intake")
    assert status_ok(worker.web_port)
    deployment.close()


async def _read(settings, name: str) -> list:
    from streams.kafka import consume

    return [record async for record in consume(settings, [settings.topic(name)], idle_timeout=1.0)]


def status_ok(port: int) -> bool:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/live", timeout=5) as response:
        return response.status == 200
