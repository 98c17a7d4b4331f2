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
from typing import TYPE_CHECKING

from agents.domain.cluster import Clusterer, ClusterPolicy
from schemas.events import decode_json_object
from streams import metrics

if TYPE_CHECKING:
    from streams.app import Pipeline
    from streams.settings import Settings

STAGE = "cluster"
log = logging.getLogger("tanggap")


def policy_from(settings: Settings) -> ClusterPolicy:
    return ClusterPolicy(window_seconds=settings.dedupe_window_hours * 3600.0, jaccard=settings.dedupe_jaccard,
                         containment=settings.dedupe_containment, viral_mentions=settings.viral_mentions,
                         viral_platforms=settings.viral_platforms, max_members=settings.dedupe_max_members)


def register(pipeline: Pipeline) -> None:
    app = pipeline.app
    clusters = pipeline.table(
        "clusters", help="Per complaint id: the surviving complaint's snapshot and members, or the alias of a merged copy.")
    clusterer = Clusterer(policy_from(pipeline.settings), pipeline.config.timezone)

    async def handle(event) -> None:
        envelope = decode_json_object(event.value)
        result = clusterer.process(envelope, clusters)
        result.apply(clusters)
        for record in result.records:
            await pipeline.send_json("triaged", record["post_key"], record)
            metrics.count_decision(record)
        for complaint in result.events:
            await pipeline.send_complaint_event(complaint)

    @clusters.table.on_recover
    async def rebuild_index() -> None:
        """After every assignment: the fingerprints of exactly the partitions this worker owns."""
        started = time.monotonic()
        indexed = clusterer.rebuild(clusters.items())
        log.info("near-duplicate index rebuilt: %d fingerprints in %.2f s", indexed, time.monotonic() - started)

    @app.agent(pipeline.topic("clusters"), name="cluster")
    async def cluster_agent(stream):
        await pipeline.run_batches(stream, STAGE, handle, (clusters,))
