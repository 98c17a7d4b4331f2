"""Triage: dedupe, classify and assign each post of a thread partition.

Complaints then go to near-duplicate clustering (agents/cluster.py), re-keyed by place.

The three stages run in one agent because they share one key (the thread key) and one piece
of state (the thread table); a topic between them would only add a hop. The agent reads
`posts.raw` directly (posts keyed by thread key, see agents/intake.py) and `posts.threads`
(posts re-keyed by intake, desk responses naming a post, orphan releases). It works in batches
whose outputs reach the broker before their table writes (streams/batches.py). The logic is
`agents.domain.triage.Triage`, the same object `tanggap triage` runs over a file.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import orjson

from agents import intake
from agents.domain.cluster import cluster_key, route
from agents.domain.triage import Triage
from agents.responses import DESK_RESPONSE_ENVELOPE
from schemas.events import DeskResponse, InvalidInput, RawPost, decode_json_object
from streams import metrics

if TYPE_CHECKING:
    from streams.app import Pipeline

STAGE = "triage"
RELEASE_ENVELOPE = "release_orphans"
"""Key of the envelope, sent by the orphan timer on the threads topic, that ends a wait."""


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    threads = pipeline.table(
        "threads", help="Per post key: its decision; per complaint's first post: the complaint summary.")
    orphans = pipeline.table("orphans", help="Replies waiting for their parent post, by the parent's post key.")
    triage = Triage(pipeline.config, max_waiting_replies=pipeline.settings.max_waiting_replies)
    clock = pipeline.clock
    wait_seconds = pipeline.settings.orphan_wait_seconds
    releases_sent: dict[str, float] = {}
    raw_topic = pipeline.names.posts_raw

    async def publish(result) -> None:
        result.apply(threads, orphans)
        for key, waiting in result.orphan_updates.items():
            if waiting is None:  # the wait ended: a later one may need a release again
                releases_sent.pop(key, None)
        # Complaints go through near-duplicate clustering, which emits their final records and
        # events; records of posts tied to no complaint are final here.
        direct, envelopes = route(result)
        for record in direct:
            await pipeline.send_json("triaged", record["post_key"], record)
            metrics.count_decision(record)
        for key, envelope in envelopes.items():
            await pipeline.send_json("clusters", key, envelope)

    async def handle(event) -> None:
        if event.message.topic == raw_topic:
            post = await intake.accept(pipeline, event)
            if post is not None:
                await decide(post)
            return
        value = decode_json_object(event.value)
        if DESK_RESPONSE_ENVELOPE in value:
            response = DeskResponse.parse(value[DESK_RESPONSE_ENVELOPE])
            complaint = triage.respond_by_post(response, threads)
            if complaint is None:
                raise InvalidInput("unknown_reference", f"response names a post that opened no complaint: {response.post_key}")
            await pipeline.send_json("clusters", cluster_key(complaint.get("kecamatan")),
                                     {"records": [], "events": [complaint]})
            return
        if RELEASE_ENVELOPE in value:
            released = triage.release(value[RELEASE_ENVELOPE], orphans, threads)
            if released is not None:
                await publish(released)
            return
        await decide(RawPost.parse(value))

    async def decide(post: RawPost) -> None:
        clock.observe_event_time(post.created_at)
        await publish(triage.process(post, threads, orphans, now=time.time()))

    def stage_of(event) -> str:
        return intake.STAGE if event.message.topic == raw_topic else STAGE

    @app.timer(interval=max(1.0, wait_seconds / 4))
    async def release_overdue_orphans() -> None:
        """Replies whose parent never came are decided on their own after the wait; the table
        can only be written by the agent, so the timer sends it a release message."""
        cutoff = time.time() - wait_seconds
        for parent_key, waiting in list(orphans.items()):
            if not waiting or min(p["since"] for p in waiting) > cutoff:
                continue
            if time.time() - releases_sent.get(parent_key, 0.0) < wait_seconds:
                continue
            releases_sent[parent_key] = time.time()
            await pipeline.send_bytes("threads", parent_key.encode(), orjson.dumps({RELEASE_ENVELOPE: parent_key}))

    triage_input = app.topic(pipeline.names.posts_raw, pipeline.names.threads, key_type=bytes, value_type=bytes)

    @app.agent(triage_input, name="triage")
    async def triage_agent(stream):
        await pipeline.run_batches(stream, STAGE, handle, (threads, orphans), stage_of=stage_of)
