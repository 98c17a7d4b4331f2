"""The faust-streaming fixes (streams/faust_fixes.py): a partition never committed, or committed
at 0, is sought too, so messages faust skipped during a rebalance are read again."""

from __future__ import annotations

import asyncio
import logging
import types

import pytest
from aiokafka import TopicPartition
from faust.types import TP

from streams import faust_fixes, metrics


class RecordingConsumer:
    """aiokafka's consumer as far as the fix uses it: `seek_to_committed` seeks only partitions
    committed at a positive offset, as aiokafka's does."""

    def __init__(self, committed: dict) -> None:
        self.committed = committed
        self.positions: dict = {}

    async def seek_to_committed(self):
        for tp, offset in self.committed.items():
            if offset and offset > 0:
                self.positions[tp] = offset
        return dict(self.committed)

    def seek(self, tp, offset):
        self.positions[tp] = offset

    async def seek_to_beginning(self, *tps):
        for tp in tps:
            self.positions[tp] = "beginning"

    async def position(self, tp):
        return 0 if self.positions[tp] == "beginning" else self.positions[tp]


@pytest.fixture(autouse=True)
def no_seek_leaks_out(monkeypatch):
    """The seek record is process-wide: agent tests (no seeks) must not see these tests' seeks."""
    monkeypatch.setattr(faust_fixes, "seeks", 0)
    monkeypatch.setattr(faust_fixes, "sought", {})
    monkeypatch.setattr(faust_fixes, "reseeking", set())
    monkeypatch.setattr(faust_fixes, "guarded_topics", set())
    monkeypatch.setattr(faust_fixes, "_seeks_started", 0)
    monkeypatch.setattr(faust_fixes, "_recorded_seek", 0)
    monkeypatch.setattr(faust_fixes, "_recorded_committed", {})


def test_every_assigned_partition_is_sought_including_those_without_a_positive_commit():
    never, zero, some = (TopicPartition("posts.clusters", p) for p in range(3))
    consumer = RecordingConsumer({never: None, zero: 0, some: 42})
    committed = asyncio.run(faust_fixes._seek_to_committed_everywhere(consumer))
    assert committed == {never: None, zero: 0, some: 42}  # what faust records as committed
    assert consumer.positions == {never: "beginning", zero: 0, some: 42}
    # what the agents' sequence guards start from (faust's TP type, like its messages carry)
    assert faust_fixes.sought == {TP("posts.clusters", 0): 0, TP("posts.clusters", 1): 0, TP("posts.clusters", 2): 42}


def test_every_seek_is_counted_so_the_agents_start_over():
    before = faust_fixes.seeks
    asyncio.run(faust_fixes._seek_to_committed_everywhere(RecordingConsumer({TopicPartition("complaints", 0): 7})))
    assert faust_fixes.seeks == before + 1 and faust_fixes.sought == {TP("complaints", 0): 7}


class RebalancingConsumer(RecordingConsumer):
    """One consumer whose assignment and committed offsets change between two seeks; the first
    seek's answer from the broker waits until the test lets it through."""

    def __init__(self, committed: dict) -> None:
        super().__init__(committed)
        self.first_answer = asyncio.Event()
        self.calls = 0

    def assignment(self) -> set:
        return set(self.committed)

    async def seek_to_committed(self):
        self.calls += 1
        committed = dict(self.committed)  # read as the seek starts, as aiokafka reads them
        if self.calls == 1:
            await self.first_answer.wait()
        for tp, offset in committed.items():
            if offset and offset > 0:
                self.positions[tp] = offset
        return committed


def test_a_seek_that_finishes_after_a_later_one_is_undone():
    """faust's fetch loop seeks when it finds the flow stopped, as a rebalance begins; that seek
    reads the old assignment. If it finishes after the new assignment's seek, the new positions
    stand: the old ones lack the partitions this worker just took over, whose records the guards
    then refused for ever (CI, join/leave fault test)."""
    p = [TopicPartition("posts.raw", n) for n in range(4)]
    consumer = RebalancingConsumer({p[0]: 30, p[1]: 48})  # the assignment before the rebalance

    async def scenario():
        stale = asyncio.create_task(faust_fixes._seek_to_committed_everywhere(consumer))
        await asyncio.sleep(0)  # the stale seek has started, and waits for the broker
        consumer.committed = {p[0]: 30, p[1]: 420, p[2]: 419, p[3]: 727}  # the new assignment
        newer = await faust_fixes._seek_to_committed_everywhere(consumer)
        consumer.first_answer.set()
        return newer, await stale

    newer, stale = asyncio.run(scenario())
    assert faust_fixes.sought == {TP("posts.raw", 0): 30, TP("posts.raw", 1): 420, TP("posts.raw", 2): 419,
                                  TP("posts.raw", 3): 727}
    assert faust_fixes.seeks == 1
    assert consumer.positions == {p[0]: 30, p[1]: 420, p[2]: 419, p[3]: 727}  # not left at 48
    assert stale == newer  # faust's committed-offset bookkeeping does not move back either


def test_seeks_finishing_in_order_are_all_recorded():
    p = TopicPartition("posts.raw", 0)
    asyncio.run(faust_fixes._seek_to_committed_everywhere(RecordingConsumer({p: 5})))
    asyncio.run(faust_fixes._seek_to_committed_everywhere(RecordingConsumer({p: 9})))
    assert faust_fixes.seeks == 2 and faust_fixes.sought == {TP("posts.raw", 0): 9}


def test_install_patches_faust_once_and_refuses_an_unknown_shape():
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    faust_fixes.install()
    patched = AIOKafkaConsumerThread.seek_to_committed
    faust_fixes.install()
    assert AIOKafkaConsumerThread.seek_to_committed is patched
    assert patched.__qualname__.startswith("install.")


class RecordingRecovery:
    """faust's Recovery as far as `_resume_streams` uses it, recording the order of its steps."""

    def __init__(self, steps: list) -> None:
        async def send():
            steps.append("on_rebalance_complete")

        async def perform_seek():
            steps.append("seek")

        async def maybe_start():
            steps.append("fetcher")

        flow = types.SimpleNamespace(resume=lambda: steps.append("flow"))
        self.app = types.SimpleNamespace(
            on_rebalance_complete=types.SimpleNamespace(send=send), consumer_generation_id=7, flow_control=flow,
            conf=types.SimpleNamespace(broker_request_timeout=1.0), _fetcher=types.SimpleNamespace(maybe_start=maybe_start),
            on_rebalance_end=lambda: steps.append("end"),
            consumer=types.SimpleNamespace(
                assignment=lambda: {TopicPartition("posts.clusters", 0), TopicPartition("app-clusters-changelog", 0)},
                perform_seek=perform_seek, resume_flow=lambda: None,
                resume_partitions=lambda tps: steps.append(("resume", sorted(tp.topic for tp in tps)))))
        self.tables = types.SimpleNamespace(on_actives_ready=lambda: None, on_standbys_ready=lambda: None)
        self.completed = types.SimpleNamespace(set=lambda: None)
        self.log = types.SimpleNamespace(info=lambda *a: None, dev=lambda *a: None, warning=lambda *a: None)

    async def _wait(self, coroutine, timeout=None):
        await coroutine

    def _is_changelog_tp(self, tp) -> bool:
        return tp.topic.endswith("-changelog")


def test_stream_partitions_are_sought_while_paused_and_resumed_only_after():
    steps: list = []
    asyncio.run(faust_fixes._resume_streams(RecordingRecovery(steps), generation_id=7))
    assert steps.index("seek") < steps.index(("resume", ["posts.clusters"])) < steps.index("flow")


def test_a_faust_release_other_than_the_reviewed_one_is_refused(monkeypatch):
    import faust

    monkeypatch.setattr(faust, "__version__", "9.9.9")
    monkeypatch.setattr(faust_fixes, "_INSTALLED", False)
    with pytest.raises(RuntimeError, match="faust-streaming 9.9.9 and aiokafka"):
        faust_fixes.install()


def test_an_aiokafka_release_other_than_the_reviewed_one_is_refused(monkeypatch):
    import aiokafka

    monkeypatch.setattr(aiokafka, "__version__", "9.9.9")
    monkeypatch.setattr(faust_fixes, "_INSTALLED", False)
    with pytest.raises(RuntimeError, match="aiokafka 9.9.9 are installed"):
        faust_fixes.install()


def test_a_jump_in_a_read_position_is_logged_and_counted_before_faust_fills_it(caplog):
    filled = []

    async def faust_add_gap(consumer, tp, offset_from, offset_to):
        filled.append((tp.partition, offset_from, offset_to))

    def skipped(topic: str) -> float:
        return metrics.REGISTRY.get_sample_value("tanggap_offsets_skipped_total", {"topic": topic}) or 0.0

    faust_fixes._topic_prefix = "klaten."
    before = skipped("posts.clusters")
    asyncio.run(faust_fixes._add_gap_watched(faust_add_gap, None, TopicPartition("klaten.posts.clusters", 2), 30, 651))
    asyncio.run(faust_fixes._add_gap_watched(faust_add_gap, None, TopicPartition("app-clusters-changelog", 0), 5, 9))
    assert skipped("posts.clusters") - before == 621
    assert filled == [(2, 30, 651), (0, 5, 9)]  # faust's own bookkeeping still runs
    assert "offsets 30 to 650 of klaten.posts.clusters partition 2" in caplog.text
    assert "changelog" not in caplog.text  # not a Tanggap topic: faust's business


def test_gaps_behind_an_agents_own_seek_back_are_not_counted_as_skipped(caplog):
    async def faust_add_gap(consumer, tp, offset_from, offset_to):
        pass

    def skipped() -> float:
        return metrics.REGISTRY.get_sample_value("tanggap_offsets_skipped_total", {"topic": "posts.raw"}) or 0.0

    tp = TopicPartition("klaten.posts.raw", 1)
    faust_fixes._topic_prefix = "klaten."
    caplog.set_level(logging.INFO, "streams.faust_fixes")
    faust_fixes.guarded_topics.add(tp.topic)
    faust_fixes.reseeking.add(tp)  # what seek_back records until the offset due is read again
    before = skipped()
    asyncio.run(faust_fixes._add_gap_watched(faust_add_gap, None, tp, 420, 538))
    assert skipped() == before and caplog.text == ""


def test_a_gap_on_a_topic_the_sequence_guard_reads_is_only_noted(caplog):
    async def faust_add_gap(consumer, tp, offset_from, offset_to):
        pass

    def skipped() -> float:
        return metrics.REGISTRY.get_sample_value("tanggap_offsets_skipped_total", {"topic": "complaints"}) or 0.0

    caplog.set_level(logging.INFO, "streams.faust_fixes")
    faust_fixes._topic_prefix = "klaten."
    faust_fixes.guarded_topics.add("klaten.complaints")
    before = skipped()
    asyncio.run(faust_fixes._add_gap_watched(faust_add_gap, None, TopicPartition("klaten.complaints", 0), 3, 9))
    assert skipped() == before
    assert "sequence guard reads them" in caplog.text and "never read" not in caplog.text


def test_a_seek_back_of_a_partition_revoked_meanwhile_is_dropped_without_crashing_the_agent():
    from aiokafka.errors import IllegalStateError

    class RevokedConsumer:
        _gap: dict = {}

        async def seek_wait(self, partitions):
            raise IllegalStateError("No current assignment for partition")

    tp = TP("posts.raw", 2)
    asyncio.run(faust_fixes.seek_back(RevokedConsumer(), tp, 419))
    assert tp not in faust_fixes.reseeking
