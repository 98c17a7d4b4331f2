"""Prometheus metrics of a Tanggap worker.

Names follow Prometheus conventions (`_total` counters, `_seconds` durations); every label has a
bounded set of values taken from configuration (OPD ids, categories, platforms, priorities,
reason codes), never a post, user or complaint id.
"""

from __future__ import annotations

import time
from typing import Any

from faust.sensors import Sensor
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, Info,
                               disable_created_metrics, generate_latest)

# `_created` series double the exposition and no dashboard reads them.
disable_created_metrics()

# Minutes to days: a darurat first response is due within the hour, rendah within days.
LATENCY_BUCKETS = (60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 86400, 2 * 86400, 3 * 86400,
                   5 * 86400, 7 * 86400)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

LATENCY_LABELS = ("opd", "category", "platform", "priority")

build_info = Info("tanggap_build", "Tanggap version and deployment")
posts = Counter("tanggap_posts_total", "Posts triaged, by platform and kind", ("platform", "kind"))
ignored = Counter("tanggap_posts_ignored_total", "Posts that open no complaint, by reason", ("reason",))
duplicates = Counter("tanggap_duplicates_total", "Posts merged into an existing post or complaint", ("how",))
complaints_opened = Counter("tanggap_complaints_opened_total", "Complaints opened", ("opd", "category", "priority"))
needs_review = Counter("tanggap_needs_review_total",
                       "Complaints opened on an unsure triage decision, for the triage desk to read, by the kind read",
                       ("kind",))
dead_letters = Counter("tanggap_dead_letters_total", "Messages sent to the dead-letter topic", ("stage", "reason"))
output_failures = Counter("tanggap_output_failures_total",
                          "Output records the broker did not take: retried (transient) or rejected for good",
                          ("stage", "result"))
batch_size = Histogram("tanggap_batch_messages", "Messages per batch of a stateful agent", ("stage",),
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
response_latency = Histogram(
    "tanggap_response_latency_seconds", "Wall-clock time from a complaint's first post to its first official response",
    LATENCY_LABELS, buckets=LATENCY_BUCKETS)
response_working_latency = Histogram(
    "tanggap_response_working_latency_seconds",
    "Working time (the SLA calendar's) from a complaint's first post to its first official response",
    LATENCY_LABELS, buckets=LATENCY_BUCKETS)
sla_outcomes = Counter("tanggap_sla_outcomes_total", "SLA outcomes by OPD and stage", ("opd", "stage", "outcome"))
open_clocks = Gauge("tanggap_sla_open_clocks", "Complaints on this worker awaiting a first response", ("opd",))
overdue_clocks = Gauge("tanggap_sla_overdue_clocks", "Complaints on this worker past their deadline without a response", ("opd",))
at_risk_clocks = Gauge("tanggap_sla_at_risk_clocks",
                       "Complaints on this worker awaiting a first response past the at-risk share of their budget",
                       ("opd",))
sla_escalations = Counter("tanggap_sla_escalations_total", "SLA escalations emitted, by OPD, stage and target",
                          ("opd", "stage", "target"))
sla_event_lateness = Histogram("tanggap_sla_event_lateness_seconds",
                               "How long after its due instant an SLA alert (at_risk, breached, escalation) was emitted",
                               ("level",), buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0, 3600.0))
stage_seconds = Histogram("tanggap_stage_seconds", "Processing time of one message per stage", ("stage",),
                          buckets=STAGE_BUCKETS)


# Pipeline health, fed by WorkerSensor (faust's sensor hooks) and refreshed on each scrape.
COMMIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
REBALANCE_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
consumer_lag = Gauge("tanggap_consumer_lag_messages",
                     "Messages in a partition assigned to this worker not yet committed by it",
                     ("topic", "partition"))
messages_consumed = Counter("tanggap_messages_consumed_total", "Messages this worker read, by topic", ("topic",))
offsets_skipped = Counter("tanggap_offsets_skipped_total",
                          "Offsets of a Tanggap topic counted as processed although this worker never read them "
                          "(faust fills a jump in a partition's read position as if the records were absent)",
                          ("topic",))
out_of_sequence = Counter("tanggap_messages_out_of_sequence_total",
                          "Messages a stateful agent refused because they came past the offset due next in "
                          "their partition (the partition is read again from that offset)", ("stage",))
rebalances = Counter("tanggap_rebalances_total", "Consumer group rebalances this worker took part in")
rebalance_seconds = Histogram("tanggap_rebalance_duration_seconds", "Time from a rebalance's start to its end",
                              buckets=REBALANCE_BUCKETS)
commit_seconds = Histogram("tanggap_commit_duration_seconds", "Time to commit consumer offsets",
                           buckets=COMMIT_BUCKETS)
assigned_partitions = Gauge("tanggap_assigned_partitions", "Partitions of Tanggap topics assigned to this worker")
worker_ready = Gauge("tanggap_worker_ready", "1 when partitions are assigned, tables recovered, no assigned partition "
                     "is stalled, sends to the broker are acknowledged and the broker answers, else 0")
broker_contact_age = Gauge("tanggap_broker_last_contact_age_seconds",
                           "Seconds since this worker's Kafka connections last received an answer from any broker "
                           "(fetches, group heartbeats, metadata, produce); at TANGGAP_BROKER_UNREACHABLE_SECONDS the "
                           "worker is not ready. It also rises while a rebalance's JoinGroup waits at the coordinator")
partition_stalled = Gauge("tanggap_partition_stalled", "1 for an assigned partition with lag whose committed offset has "
                          "not moved for TANGGAP_STALL_SECONDS", ("topic", "partition"))


def logical_topic(topic: str, prefix: str) -> str | None:
    """`tanggap.posts.raw` -> `posts.raw`: label values stay the same across deployments.
    Topics outside the prefix (table changelogs, faust internals) are not labelled."""
    if prefix and topic.startswith(prefix):
        return topic[len(prefix):]
    return None


class WorkerSensor(Sensor):
    """Faust's sensor hooks turned into Prometheus metrics (registered in streams.app)."""

    def __init__(self, topic_prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.topic_prefix = topic_prefix
        self.rebalancing_since: float | None = None
        self.assigned_once = False
        self._topics: dict[str, str | None] = {}

    def _logical(self, topic: str) -> str | None:
        if topic not in self._topics:
            self._topics[topic] = logical_topic(topic, self.topic_prefix)
        return self._topics[topic]

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        name = self._logical(tp.topic)
        if name is not None:
            messages_consumed.labels(name).inc()

    def on_commit_initiated(self, consumer: Any) -> Any:
        return time.monotonic()

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        if isinstance(state, float):
            commit_seconds.observe(time.monotonic() - state)

    def on_rebalance_start(self, app: Any) -> dict:
        rebalances.inc()
        self.rebalancing_since = time.monotonic()
        return {}

    def on_rebalance_end(self, app: Any, state: dict) -> None:
        if self.rebalancing_since is not None:
            rebalance_seconds.observe(time.monotonic() - self.rebalancing_since)
        self.rebalancing_since = None
        self.assigned_once = True

    def forget_partitions(self, revoked: Any) -> None:
        """After a revocation this worker no longer speaks for those partitions: its per-partition
        series and its per-OPD clock gauges (recomputed by the SLA timer from the partitions it
        still owns) must not double count what the new owner reports."""
        for tp in revoked:
            name = self._logical(tp.topic)
            if name is not None:
                try:
                    consumer_lag.remove(name, str(tp.partition))
                except KeyError:
                    pass
        open_clocks.clear()
        overdue_clocks.clear()
        at_risk_clocks.clear()

    def refresh(self, app: Any) -> None:
        """Lag per assigned partition: end offset minus committed offset (what Kafka's own
        consumer-group tools report), computed at scrape time from the consumer's state."""
        consumer = app.consumer
        try:
            assignment = consumer.assignment()
        except Exception:  # the consumer is not started yet, or is stopping
            assignment = set()
        committed_offsets = getattr(consumer, "_committed_offset", {})
        ours = 0
        for tp in assignment:
            name = self._logical(tp.topic)
            if name is None:
                continue
            ours += 1
            try:
                end = consumer.highwater(tp)
            except Exception:
                end = None
            if end is None:
                continue
            committed = committed_offsets.get(tp)
            consumer_lag.labels(name, str(tp.partition)).set(max(end - (committed or 0), 0))
        assigned_partitions.set(ours)
        worker_ready.set(1 if is_ready(app, self) else 0)


def is_ready(app: Any, sensor: WorkerSensor) -> bool:
    """Ready = the worker joined the group, is not in a rebalance, and its tables are recovered."""
    if not sensor.assigned_once or getattr(app, "rebalancing", False) or getattr(app, "in_recovery", False):
        return False
    try:
        return app.tables.recovery.completed.is_set()
    except AttributeError:
        return False


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def count_decision(record: dict) -> None:
    """The metrics of one final triage record (a pending record is counted when its wait ends)."""
    outcome = record["outcome"]
    if outcome.endswith("_pending"):
        return
    posts.labels(record["platform"], record["kind"] or "unknown").inc()
    if outcome == "ignored":
        ignored.labels(record["ignored_reason"]).inc()
    elif record["duplicate_via"]:
        duplicates.labels(record["duplicate_via"]).inc()
    elif outcome == "opened":
        complaints_opened.labels(record["opd"], record["category"], record["priority"]).inc()
        if record.get("needs_review"):
            needs_review.labels(record["kind"]).inc()
