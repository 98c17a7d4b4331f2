"""Prometheus metrics of a Tanggap worker.

Names follow Prometheus conventions (`_total` counters, `_seconds` durations); every label has a
bounded set of values taken from configuration (OPD ids, categories, platforms, priorities,
reason codes), never a post, user or complaint id.
"""

from __future__ import annotations

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
dead_letters = Counter("tanggap_dead_letters_total", "Messages sent to the dead-letter topic", ("stage", "reason"))
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
stage_seconds = Histogram("tanggap_stage_seconds", "Processing time of one message per stage", ("stage",),
                          buckets=STAGE_BUCKETS)


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
