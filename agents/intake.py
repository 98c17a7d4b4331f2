"""Intake: validate raw posts and route each to the partition that holds its thread.

A repost or reply must meet the state of the post it points at, so posts are re-keyed from
their own key to their thread key (see agents.domain.dedupe). Anything that is not a valid raw
post goes to the dead-letter topic with a reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.domain.dedupe import thread_key
from schemas.events import RawPost

if TYPE_CHECKING:
    from streams.app import Pipeline

STAGE = "intake"


def register(pipeline: Pipeline) -> None:
    threads = pipeline.topic("threads")

    async def handle(event) -> None:
        post = RawPost.parse(event.value)
        # The validated original bytes travel on, so nothing a producer sent is lost in re-encoding.
        await threads.send(key=thread_key(post).encode(), value=event.value)

    @pipeline.app.agent(pipeline.topic("posts_raw"), name="intake")
    async def intake(stream):
        async for event in stream.events():
            await pipeline.guarded(event, STAGE, handle)
