"""Triage: dedupe, classify and assign each post of a thread partition.

The three stages run in one agent because they share one key (the thread key) and one piece
of state (the thread table); a topic between them would only add a hop. The logic is
`agents.domain.triage.Triage`, the same object `tanggap triage` runs over a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from agents.domain.triage import Triage
from agents.responses import DESK_RESPONSE_ENVELOPE
from schemas.events import DeskResponse, InvalidInput, RawPost, decode_json_object
from streams import metrics

if TYPE_CHECKING:
    from streams.app import Pipeline

STAGE = "triage"


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    threads = app.Table(
        "threads", default=None, partitions=pipeline.settings.partitions,
        help="Per post key: its decision; per complaint's first post: the complaint summary.",
    )
    triage = Triage(pipeline.config)
    clock = pipeline.clock

    async def handle(event) -> None:
        value = decode_json_object(event.value)
        if DESK_RESPONSE_ENVELOPE in value:
            response = DeskResponse.parse(value[DESK_RESPONSE_ENVELOPE])
            complaint = triage.respond_by_post(response, threads)
            if complaint is None:
                raise InvalidInput("unknown_reference", f"response names a post that opened no complaint: {response.post_key}")
            await pipeline.send_json("complaints", complaint["complaint_id"], complaint)
            return

        post = RawPost.parse(value)
        clock.observe_event_time(post.created_at)
        result = triage.process(post, threads)
        for key, entry in result.state_updates.items():
            threads[key] = entry
        for record in (result.record, *result.late_records):
            await pipeline.send_json("triaged", record["post_key"], record)
            _count(record)
        for complaint in result.complaint_events:
            await pipeline.send_json("complaints", complaint["complaint_id"], complaint)

    @app.agent(pipeline.topic("threads"), name="triage")
    async def triage_agent(stream):
        async for event in stream.events():
            await pipeline.guarded(event, STAGE, handle)


def _count(record: dict) -> None:
    outcome = record["outcome"]
    metrics.posts.labels(record["platform"], record["kind"] or "unknown").inc()
    if outcome == "ignored":
        metrics.ignored.labels(record["ignored_reason"]).inc()
    elif record["duplicate_via"]:
        metrics.duplicates.labels(record["duplicate_via"]).inc()
    elif outcome == "opened":
        metrics.complaints_opened.labels(record["opd"], record["category"], record["priority"]).inc()
