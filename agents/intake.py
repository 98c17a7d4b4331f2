"""Intake: validate raw posts and make sure each is processed in the partition of its thread.

A repost or reply must meet the state of the post it points at, so posts are processed in the
partition of their *thread key* (agents.domain.dedupe). Tanggap's own producers (`tanggap
replay`, the ingest door, the demo) already key `posts.raw` by thread key, so their posts are
triaged where they land, with no extra hop. A post from any other producer (keyed by its own
post key, or not at all, or placed by a custom partitioner) is forwarded once to
`posts.threads` under its thread key. Both topics feed the triage agent, co-partitioned.

Anything that is not a valid raw post goes to the dead-letter topic with a reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.events import RawPost
from streams.kafka import partition_for

if TYPE_CHECKING:
    from streams.app import Pipeline

STAGE = "intake"


async def accept(pipeline: Pipeline, event) -> RawPost | None:
    """The post of a `posts.raw` message if this partition holds its thread (the partition of
    its thread key: `partition_for`); otherwise it is forwarded to its thread's partition
    (None). Raises InvalidInput for bad input."""
    post = RawPost.parse(event.value)
    message = event.message
    key = post.thread_key.encode()
    if message.key == key and message.partition == partition_for(key, pipeline.settings.partitions):
        return post
    # The validated original bytes travel on, so nothing a producer sent is lost in re-encoding.
    await pipeline.send_bytes("threads", key, message.value)
    return None
