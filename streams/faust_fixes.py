"""Fixes for faust-streaming defects that lose messages, installed once per process.

Each fix names the defect, how it showed in Tanggap's fault tests, and why the fix is safe.
They patch faust's aiokafka driver in place because faust offers no hook at these points;
`install()` is idempotent and checks that the patched function still has the expected shape,
so an upgrade that changes it fails loudly at start-up instead of silently unpatching.

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
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("tanggap")

_INSTALLED = False


async def _seek_to_committed_everywhere(consumer: Any) -> dict:
    """aiokafka's `seek_to_committed`, plus a seek for the partitions it leaves alone."""
    committed = await consumer.seek_to_committed()
    never_committed = [tp for tp, offset in committed.items() if offset is None]
    for tp, offset in committed.items():
        if offset == 0:
            consumer.seek(tp, 0)
    if never_committed:
        await consumer.seek_to_beginning(*never_committed)
    return committed


def install() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original = AIOKafkaConsumerThread.seek_to_committed
    if getattr(original, "__qualname__", "") != "AIOKafkaConsumerThread.seek_to_committed":
        raise RuntimeError("faust's AIOKafkaConsumerThread.seek_to_committed changed shape; "
                           "review streams/faust_fixes.py against the installed faust-streaming")

    async def seek_to_committed(self):
        return await self.call_thread(_seek_to_committed_everywhere, self._ensure_consumer())

    seek_to_committed.__doc__ = original.__doc__
    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed
    _INSTALLED = True
