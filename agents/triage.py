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
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from agents import intake
from agents.domain.cluster import cluster_key, route
from agents.domain.triage import Triage, TriageResult
from agents.responses import DESK_RESPONSE_ENVELOPE
from schemas.events import DeskResponse, InvalidInput, RawPost, decode_json_object
from streams import metrics

if TYPE_CHECKING:
    from streams.app import Pipeline
    from streams.clock import SimulatedClock, WallClock

STAGE = "triage"
RELEASE_ENVELOPE = "release_orphans"
"""Key of the envelope, sent by the orphan timer on the threads topic, that ends a wait."""

SendJson = Callable[[str, str, dict[str, Any]], Awaitable[None]]
SendBytes = Callable[[str, bytes, bytes], Awaitable[None]]


class TriageStage:
    """What a `posts.threads` record (a post re-keyed by intake, a desk response naming a post,
    an orphan release) or an accepted `posts.raw` post does: the decision, the thread and orphan
    tables' updates, and the records and envelopes sent on.

    `threads` and `orphans` are the tables (any mutable mappings); `send_json` and
    `send_bytes` publish (topic, key, value)."""

    def __init__(self, triage: Triage, threads: MutableMapping[str, Any], orphans: MutableMapping[str, Any], *,
                 clock: WallClock | SimulatedClock, send_json: SendJson, send_bytes: SendBytes,
                 orphan_wait_seconds: float) -> None:
        self.triage = triage
        self.threads = threads
        self.orphans = orphans
        self.clock = clock
        self._send_json = send_json
        self._send_bytes = send_bytes
        self._wait_seconds = orphan_wait_seconds
        self._releases_sent: dict[str, float] = {}
        """Parent post key -> when a release was last sent for its waiting replies (wall time)."""

    async def decide(self, post: RawPost) -> None:
        self.clock.observe_event_time(post.created_at)
        await self._publish(self.triage.process(post, self.threads, self.orphans, now=time.time()))

    async def handle_thread_record(self, value: dict[str, Any]) -> None:
        """One decoded `posts.threads` record."""
        if DESK_RESPONSE_ENVELOPE in value:
            response = DeskResponse.parse(value[DESK_RESPONSE_ENVELOPE])
            complaint = self.triage.respond_by_post(response, self.threads)
            if complaint is None:
                raise InvalidInput("unknown_reference", f"response names a post that opened no complaint: {response.post_key}")
            await self._send_json("clusters", cluster_key(complaint.get("kecamatan")), {"records": [], "events": [complaint]})
        elif RELEASE_ENVELOPE in value:
            released = self.triage.release(value[RELEASE_ENVELOPE], self.orphans, self.threads)
            if released is not None:
                await self._publish(released)
        else:
            await self.decide(RawPost.parse(value))

    async def release_overdue_orphans(self) -> None:
        """Replies whose parent never came are decided on their own after the wait; only the
        agent writes the table, so this (a timer) sends it a release message, at most one per
        parent per wait."""
        cutoff = time.time() - self._wait_seconds
        for parent_key, waiting in list(self.orphans.items()):
            if not waiting or min(p["since"] for p in waiting) > cutoff:
                continue
            if time.time() - self._releases_sent.get(parent_key, 0.0) < self._wait_seconds:
                continue
            self._releases_sent[parent_key] = time.time()
            await self._send_bytes("threads", parent_key.encode(), orjson.dumps({RELEASE_ENVELOPE: parent_key}))

    async def _publish(self, result: TriageResult) -> None:
        result.apply(self.threads, self.orphans)
        for key, waiting in result.orphan_updates.items():
            if waiting is None:  # the wait ended: a later one may need a release again
                self._releases_sent.pop(key, None)
        # Complaints go through near-duplicate clustering, which emits their final records and
        # events; records of posts tied to no complaint are final here.
        direct, envelopes = route(result)
        for record in direct:
            await self._send_json("triaged", record["post_key"], record)
            metrics.count_decision(record)
        for key, envelope in envelopes.items():
            await self._send_json("clusters", key, envelope)


def register(pipeline: Pipeline) -> TriageStage:
    """Wire the stage into the app: its tables, the agent on `posts.raw` and `posts.threads`
    (intake first for the former) and the orphan timer."""
    app = pipeline.app
    threads = pipeline.table(
        "threads", help="Per post key: its decision; per complaint's first post: the complaint summary.")
    orphans = pipeline.table("orphans", help="Replies waiting for their parent post, by the parent's post key.")
    settings = pipeline.settings
    stage = TriageStage(Triage(pipeline.config, max_waiting_replies=settings.max_waiting_replies), threads, orphans,
                        clock=pipeline.clock, send_json=pipeline.send_json, send_bytes=pipeline.send_bytes,
                        orphan_wait_seconds=settings.orphan_wait_seconds)
    raw_topic = pipeline.names.posts_raw

    async def handle(event) -> None:
        if event.message.topic == raw_topic:
            post = await intake.accept(pipeline, event)
            if post is not None:
                await stage.decide(post)
        else:
            await stage.handle_thread_record(decode_json_object(event.value))

    def stage_of(event) -> str:
        return intake.STAGE if event.message.topic == raw_topic else STAGE

    @app.timer(interval=max(1.0, settings.orphan_wait_seconds / 4))
    async def release_overdue_orphans() -> None:
        await stage.release_overdue_orphans()

    triage_input = app.topic(pipeline.names.posts_raw, pipeline.names.threads, key_type=bytes, value_type=bytes)

    @app.agent(triage_input, name="triage")
    async def triage_agent(stream):
        await pipeline.run_batches(stream, STAGE, handle, (threads, orphans), stage_of=stage_of)

    return stage
