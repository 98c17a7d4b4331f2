"""The worker sensor: lag per owned partition, readiness, and nothing kept after a revocation."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP
from prometheus_client import REGISTRY

from streams import metrics

PREFIX = "tx."


class FakeConsumer:
    def __init__(self, assignment: set[TP], highwaters: dict[TP, int], committed: dict[TP, int]) -> None:
        self._assignment = assignment
        self._highwaters = highwaters
        self._committed_offset = committed

    def assignment(self) -> set[TP]:
        return self._assignment

    def highwater(self, tp: TP) -> int | None:
        return self._highwaters.get(tp)


def fake_app(consumer: FakeConsumer, *, rebalancing=False, recovered=True) -> SimpleNamespace:
    completed = asyncio.Event()
    if recovered:
        completed.set()
    return SimpleNamespace(consumer=consumer, rebalancing=rebalancing, in_recovery=False,
                           tables=SimpleNamespace(recovery=SimpleNamespace(completed=completed)))


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_lag_is_end_minus_committed_for_owned_partitions_of_tanggap_topics_only():
    raw0, raw1 = TP(f"{PREFIX}posts.raw", 0), TP(f"{PREFIX}posts.raw", 1)
    changelog = TP("tanggap-clocks-changelog", 0)
    consumer = FakeConsumer({raw0, raw1, changelog}, {raw0: 120, raw1: 7, changelog: 999}, {raw0: 100})
    sensor = metrics.WorkerSensor(PREFIX)
    sensor.on_rebalance_start(None)
    sensor.on_rebalance_end(None, {})
    sensor.refresh(fake_app(consumer))
    assert sample("tanggap_consumer_lag_messages", topic="posts.raw", partition="0") == 20
    assert sample("tanggap_consumer_lag_messages", topic="posts.raw", partition="1") == 7  # nothing committed yet
    assert sample("tanggap_assigned_partitions") == 2
    assert sample("tanggap_worker_ready") == 1


def test_revoked_partitions_and_clock_gauges_are_forgotten():
    tp = TP(f"{PREFIX}complaints", 3)
    sensor = metrics.WorkerSensor(PREFIX)
    metrics.consumer_lag.labels("complaints", "3").set(5)
    metrics.open_clocks.labels("dpupr").set(4)
    metrics.at_risk_clocks.labels("dpupr").set(1)
    sensor.forget_partitions({tp})
    assert sample("tanggap_consumer_lag_messages", topic="complaints", partition="3") is None
    assert sample("tanggap_sla_open_clocks", opd="dpupr") is None
    assert sample("tanggap_sla_at_risk_clocks", opd="dpupr") is None


def test_not_ready_before_joining_during_a_rebalance_or_before_recovery():
    consumer = FakeConsumer(set(), {}, {})
    sensor = metrics.WorkerSensor(PREFIX)
    assert not metrics.is_ready(fake_app(consumer), sensor)  # never assigned
    sensor.on_rebalance_start(None)
    sensor.on_rebalance_end(None, {})
    assert metrics.is_ready(fake_app(consumer), sensor)
    assert not metrics.is_ready(fake_app(consumer, rebalancing=True), sensor)
    assert not metrics.is_ready(fake_app(consumer, recovered=False), sensor)


def test_commit_latency_and_rebalances_are_observed():
    sensor = metrics.WorkerSensor(PREFIX)
    before = sample("tanggap_commit_duration_seconds_count") or 0
    rebalances = sample("tanggap_rebalances_total") or 0
    sensor.on_commit_completed(None, sensor.on_commit_initiated(None))
    sensor.on_rebalance_start(None)
    assert sample("tanggap_commit_duration_seconds_count") == before + 1
    assert sample("tanggap_rebalances_total") == rebalances + 1
