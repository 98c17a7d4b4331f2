"""The demo sample through a real worker, read back as standard consumers read it.

`breaches` follows the CloudEvents Kafka protocol binding in structured mode: every record
carries `content-type: application/cloudevents+json`, and the `cloudevents` SDK's Kafka
conversion reads every record back to the event the pipeline emitted.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat

from streams.demo import bundled_sample
from streams.kafka import consume
from tests.integration.test_pipeline import run_sample

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(deployment_factory):
    return run_sample(deployment_factory)


async def breach_records(settings) -> list:
    return [record async for record in consume(settings, [settings.topic("breaches")], idle_timeout=1.0)]


def test_the_cloudevents_sdk_reads_every_breach_event_in_structured_mode(demo):
    deployment, _, outcome = demo
    records = asyncio.run(breach_records(deployment.settings))
    # Escalations may still be falling due after the sample settled: at least what it had then.
    assert len(records) >= len(outcome.breaches) > 0
    read = 0
    for record in records:
        headers = {name: value for name, value in record.headers}
        assert headers.get("content-type") == b"application/cloudevents+json", record.headers
        assert not any(name.lower().startswith("ce_") for name in headers), "structured mode has no ce_ headers"
        message = ce_kafka.KafkaMessage(headers=headers, key=record.key, value=record.value)
        # Mode detection as a binding-following consumer does it, and structured mode explicitly.
        for event in (ce_kafka.from_kafka_event(message), ce_kafka.from_structured(message, JSONFormat())):
            sent = orjson.loads(record.value)
            assert event.get_id() == sent["id"]
            assert event.get_type() == sent["type"]
            assert event.get_source() == sent["source"]
            assert event.get_subject() == sent["subject"] == record.key.decode()
            assert event.get_specversion() == "1.0"
            assert event.get_datacontenttype() == "application/json"
            assert event.get_data() == sent["data"]
        read += 1
    assert read == len(records)
    print(f"cloudevents SDK read {read} of {len(records)} breach records")


# --- the backtest against the stream -------------------------------------------------------------

def histogram(metrics_text: str, name: str) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts per OPD (and "(all)") of a latency histogram."""
    import re

    buckets: dict[str, dict[float, float]] = {}
    pattern = re.compile(name + r'_bucket\{(.*)\} (\S+)$')
    for line in metrics_text.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        for opd in (labels["opd"], "(all)"):
            per = buckets.setdefault(opd, {})
            per[le] = per.get(le, 0.0) + float(match.group(2))
    return buckets


def bucket_index(cumulative: dict[float, float], q: float) -> int:
    """The index of the bucket holding the q-quantile (nearest rank) of a cumulative histogram."""
    import math

    bounds = sorted(cumulative)
    rank = max(1, math.ceil(q * cumulative[float("inf")]))
    return next(i for i, bound in enumerate(bounds) if cumulative[bound] >= rank)


def value_index(bounds: list[float], value: float) -> int:
    return next(i for i, bound in enumerate(bounds) if value <= bound)


def test_backtest_of_the_demo_sample_matches_what_the_stream_emitted(demo, config):
    import urllib.request

    from streams import backtest
    from streams.cli import read_jsonl as lines_of

    deployment, worker, outcome = demo
    inputs = backtest.parse_inputs(lines_of(bundled_sample()), ())
    run = backtest.run(config, inputs, until=backtest.UNTIL_END)
    rows = {row["opd"]: row for row in run.rows() if row["category"] == backtest.ALL}

    opened = outcome.opened()
    answered = set(outcome.first_responses())
    breached = outcome.breached()
    stream: dict[str, dict[str, int]] = {}
    for complaint_id, event in opened.items():
        figures = stream.setdefault(event["opd"], {"complaints": 0, "answered": 0, "breached": 0})
        figures["complaints"] += 1
        figures["answered"] += complaint_id in answered
        figures["breached"] += complaint_id in breached
    stream["(all)"] = {k: sum(f[k] for f in stream.values()) for k in ("complaints", "answered", "breached")}
    ours = {opd: {k: row[k] for k in ("complaints", "answered", "breached")} for opd, row in rows.items()}
    assert ours == stream
    assert set(run.complaints) == set(opened), "the same complaint ids"

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5).read().decode()
    for name, column in (("tanggap_response_latency_seconds", "wall"),
                         ("tanggap_response_working_latency_seconds", "working")):
        per_opd = histogram(metrics, name)
        for opd, cumulative in per_opd.items():
            bounds = sorted(cumulative)
            for q in (50, 90):
                ours_at = rows[opd][f"latency_{column}_p{q}"]
                assert abs(value_index(bounds, ours_at) - bucket_index(cumulative, q / 100)) <= 1, (name, opd, q, ours_at)
    print("backtest = stream:", {k: v for k, v in ours.items() if k == "(all)"})
