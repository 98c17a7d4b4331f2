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

from streams.cli import read_jsonl, strip_expectation
from streams.demo import Outcome, bundled_sample
from streams.kafka import consume, produce
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(deployment_factory):
    deployment = deployment_factory(TANGGAP_CLOCK_SPEED="60000", TANGGAP_SLA_GRACE_SECONDS="1",
                                    TANGGAP_ORPHAN_WAIT_SECONDS="3")
    worker = deployment.worker()
    messages = [strip_expectation(line) for _, line in read_jsonl(bundled_sample())]
    asyncio.run(produce(deployment.settings, deployment.settings.topic("posts.raw"), messages))

    def settled():
        outcome = asyncio.run(Outcome.read(deployment.settings))
        assert worker.alive(), worker.log()[-3000:]
        return outcome if len(outcome.triaged) >= len(messages) and outcome.settled() else None

    outcome = wait_for(settled, timeout=120, interval=1.0, message="every sample complaint answered or breached")
    return deployment, worker, outcome


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
