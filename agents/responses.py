"""Responses logged by the desk (a phone call, a field visit) become complaint events.

A response naming the complaint id goes straight to `complaints` (and, when it resolves the
complaint, a notice to every partition of the clustering stage). One naming the complaint's
first post is routed to that post's thread partition, where triage knows the complaint id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from agents.domain.cluster import RESOLUTION_NOTICE
from agents.domain.directory import Directory
from agents.domain.triage import desk_response_event
from schemas.events import DeskResponse, InvalidInput, decode_json_object

if TYPE_CHECKING:
    from streams.app import Pipeline

STAGE = "responses"
DESK_RESPONSE_ENVELOPE = "desk_response"
"""Key of the envelope that carries a desk response on the threads topic."""


SendComplaintEvent = Callable[[dict[str, Any]], Awaitable[None]]
SendBytes = Callable[..., Awaitable[None]]


class ResponsesStage:
    """What a desk response does: one naming the complaint id becomes a complaint event (and,
    when it resolves the complaint, a notice to every partition of the clustering stage); one
    naming the complaint's first post goes to that post's thread partition."""

    def __init__(self, directory: Directory, tz: Any, partitions: int, *, send_complaint_event: SendComplaintEvent,
                 send_bytes: SendBytes) -> None:
        self.directory = directory
        self.tz = tz
        self.partitions = partitions
        self._send_complaint_event = send_complaint_event
        self._send_bytes = send_bytes

    async def handle(self, value: dict[str, Any]) -> None:
        response = DeskResponse.parse(value)
        if response.by not in self.directory.opds:
            raise InvalidInput("unknown_reference", f"`by` is not an OPD in the directory: {response.by!r}")
        if not response.complaint_id:
            await self._send_bytes("threads", (response.post_key or "").encode(),
                                   orjson.dumps({DESK_RESPONSE_ENVELOPE: value}))
            return
        complaint = desk_response_event(response, {"complaint_id": response.complaint_id}, self.tz)
        await self._send_complaint_event(complaint)
        if complaint["type"] == "resolved":
            # The clustering stage keys complaints by kecamatan, which the response does not
            # name: every partition hears of it, and the one holding the complaint closes it to
            # copies (a later copy is a recurrence). A handful of records per resolution.
            notice = orjson.dumps({RESOLUTION_NOTICE: {"complaint_id": response.complaint_id}})
            for partition in range(self.partitions):
                await self._send_bytes("clusters", response.complaint_id.encode(), notice, partition)


def register(pipeline: Pipeline) -> ResponsesStage:
    """Wire the stage into the app: the agent on `responses`."""
    stage = ResponsesStage(pipeline.config.directory, pipeline.config.timezone, pipeline.settings.partitions,
                           send_complaint_event=pipeline.send_complaint_event, send_bytes=pipeline.send_bytes)

    async def handle(event) -> None:
        await stage.handle(decode_json_object(event.value))

    @pipeline.app.agent(pipeline.topic("responses"), name=STAGE)
    async def responses(stream):
        # Stateless, but batched like the stateful agents: its outputs are on the broker before
        # its messages are acked, and its partitions are read in sequence (SequenceGuard).
        await pipeline.run_batches(stream, STAGE, handle)

    return stage
