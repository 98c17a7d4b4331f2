"""Near-duplicate clustering: the stage after triage that merges copies of one complaint.

Triage sends every record and complaint event of a complaint to `posts.clusters`, keyed by the
complaint's kecamatan (or "unknown"), so that copies of one complaint meet in one partition
whatever thread they came from. The logic is `agents.domain.cluster.Clusterer`, the same object
`tanggap triage` runs; its state is the `clusters` table (RocksDB, changelogged), and its LSH
index is rebuilt from that table whenever partitions are assigned, so a restarted worker still
recognizes a copy of a complaint opened before the restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from agents.domain.cluster import Clusterer, ClusterPolicy
from agents.domain.state import ClusterEntry
from schemas.events import decode_json_object
from streams import metrics

if TYPE_CHECKING:
    from streams.app import Pipeline
    from streams.settings import Settings

STAGE = "cluster"
log = logging.getLogger(__name__)

SendJson = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def policy_from(settings: Settings) -> ClusterPolicy:
    return ClusterPolicy(window_seconds=settings.dedupe_window_hours * 3600.0, jaccard=settings.dedupe_jaccard,
                         containment=settings.dedupe_containment, viral_mentions=settings.viral_mentions,
                         viral_platforms=settings.viral_platforms, max_members=settings.dedupe_max_members)


class ClusterStage:
    """What a `posts.clusters` envelope (a complaint's records and events, or a resolution
    notice) does: the merge decision, the `clusters` table's update, the final records and the
    complaint events sent on.

    `clusters` is the table (any mutable mapping); `send_json` publishes (topic, key, value) and
    `send_complaint_event` a complaint event (to `complaints` and `sla.timeline`)."""

    def __init__(self, clusterer: Clusterer, clusters: MutableMapping[str, ClusterEntry], *, send_json: SendJson,
                 send_complaint_event: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.clusterer = clusterer
        self.clusters = clusters
        self._send_json = send_json
        self._send_complaint_event = send_complaint_event

    async def handle(self, envelope: dict[str, Any]) -> None:
        result = self.clusterer.process(envelope, self.clusters)
        result.apply(self.clusters)
        for record in result.records:
            await self._send_json("triaged", record["post_key"], record)
            metrics.count_decision(record)
        for complaint in result.events:
            await self._send_complaint_event(complaint)

    def rebuild_index(self) -> None:
        """The fingerprints of exactly the clusters in the table (after every assignment)."""
        started = time.monotonic()
        indexed = self.clusterer.rebuild(self.clusters.items())
        log.info("near-duplicate index rebuilt: %d fingerprints in %.2f s", indexed, time.monotonic() - started)


def register(pipeline: Pipeline) -> ClusterStage:
    """Wire the stage into the app: its table, the agent on `posts.clusters` and the index
    rebuild on assignment."""
    clusters = pipeline.table(
        "clusters", help="Per complaint id: the surviving complaint's snapshot and members, or the alias of a merged copy.")
    stage = ClusterStage(Clusterer(policy_from(pipeline.settings), pipeline.config.timezone), clusters,
                         send_json=pipeline.send_json, send_complaint_event=pipeline.send_complaint_event)

    async def handle(event) -> None:
        await stage.handle(decode_json_object(event.value))

    @clusters.table.on_recover
    async def rebuild_index() -> None:
        stage.rebuild_index()

    @pipeline.app.agent(pipeline.topic("clusters"), name=STAGE)
    async def cluster_agent(stream):
        await pipeline.run_batches(stream, STAGE, handle, (clusters,))

    return stage
