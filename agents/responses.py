"""Responses logged by the desk (a phone call, a field visit) become complaint events.

A response naming the complaint id goes straight to `complaints` (and, when it resolves the
complaint, a notice to every partition of the clustering stage). One naming the complaint's
first post is routed to that post's thread partition, where triage knows the complaint id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from agents.domain.cluster import RESOLUTION_NOTICE
from agents.domain.triage import desk_response_event
from schemas.events import DeskResponse, InvalidInput, decode_json_object

if TYPE_CHECKING:
    from streams.app import Pipeline

STAGE = "responses"
DESK_RESPONSE_ENVELOPE = "desk_response"
"""Key of the envelope that carries a desk response on the threads topic."""


def register(pipeline: Pipeline) -> None:
    directory = pipeline.config.directory

    async def handle(event) -> None:
        value = decode_json_object(event.value)
        response = DeskResponse.parse(value)
        if response.by not in directory.opds:
            raise InvalidInput("unknown_reference", f"`by` is not an OPD in the directory: {response.by!r}")
        if response.complaint_id:
            complaint = desk_response_event(response, {"complaint_id": response.complaint_id},
                                            pipeline.config.timezone)
            await pipeline.send_complaint_event(complaint)
            if complaint["type"] == "resolved":
                # The clustering stage keys complaints by kecamatan, which the response does not
                # name: every partition hears of it, and the one holding the complaint closes it
                # to copies (a later copy is a recurrence). A handful of records per resolution.
                notice = orjson.dumps({RESOLUTION_NOTICE: {"complaint_id": response.complaint_id}})
                for partition in range(pipeline.settings.partitions):
                    await pipeline.send_bytes("clusters", response.complaint_id.encode(), notice, partition)
        else:
            await pipeline.send_bytes("threads", (response.post_key or "").encode(),
                                      orjson.dumps({DESK_RESPONSE_ENVELOPE: value}))

    @pipeline.app.agent(pipeline.topic("responses"), name="responses")
    async def responses(stream):
        # Stateless, but batched like the stateful agents: its outputs are on the broker before
        # its messages are acked, and its partitions are read in sequence (SequenceGuard).
        await pipeline.run_batches(stream, STAGE, handle)
