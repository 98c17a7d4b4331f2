"""The faust-streaming fixes (streams/faust_fixes.py): a partition never committed, or committed
at 0, is sought too, so messages faust skipped during a rebalance are read again."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from streams import faust_fixes


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


def test_every_assigned_partition_is_sought_including_those_without_a_positive_commit():
    never, zero, some = (TopicPartition("posts.clusters", p) for p in range(3))
    consumer = RecordingConsumer({never: None, zero: 0, some: 42})
    committed = asyncio.run(faust_fixes._seek_to_committed_everywhere(consumer))
    assert committed == {never: None, zero: 0, some: 42}  # what faust records as committed
    assert consumer.positions == {never: "beginning", zero: 0, some: 42}


def test_install_patches_faust_once_and_refuses_an_unknown_shape():
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    faust_fixes.install()
    patched = AIOKafkaConsumerThread.seek_to_committed
    faust_fixes.install()
    assert AIOKafkaConsumerThread.seek_to_committed is patched
    assert patched.__qualname__.startswith("install.")
