"""The faust agents as thin wrappers, driven in-process with faust's `test_context()`.

No broker: the outgoing topics' `send` is replaced by a recorder, tables use the memory store.
The integration tests run the same agents through a real broker.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest

from agents.domain.config import load_config
from streams.app import build_app
from streams.settings import Settings
from tests.conftest import BUNDLED_CONFIG


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict]] = []
        self.partitions: list[int | None] = []
        self.changelog: list = []

    def patch(self, pipeline) -> None:
        async def produce(topic, key, value, partition=None):
            self.sent.append((topic, key, orjson.loads(value)))
            self.partitions.append(partition)
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future

        async def produce_batches(outputs):
            return [([output], await produce(output.topic, output.key, output.value, output.partition))
                    for output in outputs]

        async def produce_changelog(records):
            self.changelog.extend(records)

        pipeline.produce = produce
        pipeline.produce_batches = produce_batches
        pipeline.produce_changelog = produce_changelog

    def on(self, topic: str) -> list[dict]:
        return [value for name, _, value in self.sent if name == topic]


@pytest.fixture()
def pipeline(tmp_path):
    settings = Settings.from_env({"TANGGAP_STORE": "memory://", "TANGGAP_BROKER": "127.0.0.1:1",
                                  "TANGGAP_DATA_DIR": str(tmp_path), "TANGGAP_CONFIG": str(BUNDLED_CONFIG),
                                  "TANGGAP_WEB_PORT": "1"})
    built = build_app(settings, load_config(settings.config_dir))
    recorder = Recorder()
    recorder.patch(built)
    built.recorder = recorder
    return built


def agent(pipeline, name: str):
    return next(a for a in pipeline.app.agents.values() if a.name.endswith(name))


@contextlib.asynccontextmanager
async def agent_context(pipeline, name: str):
    """faust's `test_context()` of an agent, with offsets that go on from the previous context's
    as a topic's do (the sequence guard reads a repeated offset as a message read again)."""
    offsets = pipeline.__dict__.setdefault("test_offsets", {})
    async with agent(pipeline, name).test_context() as wrapper:
        wrapper.sent_offset = offsets.get(name, 0)
        try:
            yield wrapper
        finally:
            offsets[name] = wrapper.sent_offset


def run(coro):
    return asyncio.run(coro)


async def cluster_what_triage_sent(pipeline) -> None:
    """Complaints reach `posts.triaged` and `complaints` through the clustering stage."""
    async with agent_context(pipeline, "cluster") as cluster:
        for name, key, value in list(pipeline.recorder.sent):
            if name == "clusters":
                await cluster.put(orjson.dumps(value), key=key)


POST = {"platform": "twitter", "post_id": "1", "text": "Jalan di kecamatan Wedi rusak parah dan berlubang",
        "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "u1", "handle": "warga"}}


async def put_on(wrapper, topic: str, value: bytes, key: bytes, partition: int = 0) -> None:
    """`test_context().put` for an agent that reads two topics: the message names its topic."""
    message = wrapper.to_message(key, value, partition=partition, offset=wrapper.sent_offset)
    message.topic = topic
    await wrapper.stream().channel.put(await wrapper.stream().channel.decode(message))
    wrapper.sent_offset += 1
    async with wrapper.new_value_processed:
        await wrapper.new_value_processed.wait()


def test_intake_decides_posts_keyed_by_thread_where_they_land_and_forwards_the_others(pipeline):
    from agents.intake import partition_for

    raw = pipeline.names.posts_raw
    partitions = pipeline.settings.partitions

    async def scenario():
        async with agent_context(pipeline, "triage") as triage:
            # Keyed by thread key, on the thread's partition: decided here, no extra hop.
            await put_on(triage, raw, orjson.dumps(POST), b"twitter:1", partition_for(b"twitter:1", partitions))
            # A repost keyed by its own post key (a foreign producer): forwarded to its thread.
            await put_on(triage, raw, orjson.dumps({**POST, "post_id": "2", "repost_of": "1"}), b"twitter:2",
                         partition_for(b"twitter:2", partitions))
            await put_on(triage, raw, b"{not json", b"bad")

    run(scenario())
    forwarded = [(key, value["post_id"]) for name, key, value in pipeline.recorder.sent if name == "threads"]
    assert forwarded == [(b"twitter:1", "2")], "a repost goes to its original's thread"
    clustered = [value for name, _, value in pipeline.recorder.sent if name == "clusters"]
    assert [r["post_key"] for envelope in clustered for r in envelope["records"]] == ["twitter:1"]
    letters = pipeline.recorder.on("deadletter")
    assert [(letter["reason"], letter["stage"]) for letter in letters] == [("invalid_json", "intake")]
    assert letters[0]["value_text"] == "{not json"


def test_triage_opens_one_complaint_and_recognizes_the_redelivery(pipeline):
    async def scenario():
        async with agent_context(pipeline, "triage") as triage:
            await triage.put(orjson.dumps(POST), key=b"twitter:1")
            await triage.put(orjson.dumps(POST), key=b"twitter:1")
        await cluster_what_triage_sent(pipeline)

    run(scenario())
    outcomes = [record["outcome"] for record in pipeline.recorder.on("triaged")]
    assert outcomes == ["opened", "redelivery"]
    complaints = pipeline.recorder.on("complaints")
    assert [c["type"] for c in complaints] == ["opened"]
    assert complaints[0]["opd"] == "dpupr"
    assert pipeline.recorder.on("sla_timeline") == complaints, "the SLA clock hears every complaint event"


def test_sla_agent_times_a_complaint_and_breaches_on_a_late_response(pipeline):
    from prometheus_client import REGISTRY

    def answered_count() -> float:
        return REGISTRY.get_sample_value("tanggap_sla_outcomes_total",
                                         {"opd": "dpupr", "stage": "first_response", "outcome": "answered_late"}) or 0.0

    async def scenario():
        async with agent_context(pipeline, "triage") as triage:
            await triage.put(orjson.dumps(POST), key=b"twitter:1")
        await cluster_what_triage_sent(pipeline)
        opened = pipeline.recorder.on("complaints")[0]
        late_reply = {**opened, "event_id": "evt-x", "type": "responded",
                      "response": {"by": "dpupr", "kind": "first_response", "at": "2026-11-20T08:00:00+07:00",
                                   "channel": "twitter", "post": None}}
        async with agent_context(pipeline, "sla") as sla:
            await sla.put(orjson.dumps(opened), key=opened["complaint_id"].encode())
            await sla.put(orjson.dumps(late_reply), key=opened["complaint_id"].encode())
            await sla.put(orjson.dumps(late_reply), key=opened["complaint_id"].encode())  # redelivered

    before = answered_count()
    run(scenario())
    breaches = [e for e in pipeline.recorder.on("breaches") if e["type"] == "id.tanggap.sla.breached"]
    assert len(breaches) == 1, "one breach, however often the late response is delivered"
    assert breaches[0]["type"] == "id.tanggap.sla.breached"
    assert breaches[0]["data"]["overdue_wall_seconds"] > 0
    assert answered_count() == before + 1


def test_a_desk_resolution_by_complaint_id_reaches_complaints_and_every_clustering_partition(pipeline):
    from agents.domain.cluster import RESOLUTION_NOTICE

    response = {"by": "dpupr", "kind": "resolved", "at": "2026-11-03T08:00:00+07:00", "complaint_id": "cmp-1"}

    async def scenario():
        async with agent_context(pipeline, "responses") as responses:
            await responses.put(orjson.dumps(response), key=b"cmp-1")
            await responses.put(orjson.dumps({**response, "kind": "first_response"}), key=b"cmp-1")

    run(scenario())
    assert [c["type"] for c in pipeline.recorder.on("complaints")] == ["resolved", "responded"]
    assert pipeline.recorder.on("sla_timeline") == pipeline.recorder.on("complaints")
    notices = [(partition, value) for (name, _, value), partition
               in zip(pipeline.recorder.sent, pipeline.recorder.partitions) if name == "clusters"]
    assert sorted(partition for partition, _ in notices) == list(range(pipeline.settings.partitions))
    assert {orjson.dumps(value) for _, value in notices} == {orjson.dumps({RESOLUTION_NOTICE: {"complaint_id": "cmp-1"}})}


def test_a_partition_no_seek_covers_is_refused_and_reported_as_stalled(pipeline, monkeypatch, caplog):
    """After seeks to committed offsets, a record of a partition none of them covered is refused
    (its seek may be under way); if none comes, the partition is stalled, and the log says so
    (the CI failure of session 7 left no trace)."""
    import logging

    from streams import app as streams_app
    from streams import faust_fixes

    monkeypatch.setattr(faust_fixes, "seeks", 1)
    monkeypatch.setattr(faust_fixes, "sought", {})
    monkeypatch.setattr(streams_app, "UNSOUGHT_WARNING_SECONDS", -1.0)  # at once, not after a minute
    raw = pipeline.names.posts_raw

    async def scenario():
        async with agent_context(pipeline, "triage") as triage:
            message = triage.to_message(b"twitter:1", orjson.dumps(POST), partition=0, offset=0)
            message.topic = raw
            await triage.stream().channel.put(await triage.stream().channel.decode(message))
            for _ in range(100):
                if any("no seek of this assignment covers it" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.01)

    with caplog.at_level(logging.WARNING, logger="streams.app"):
        run(scenario())
    assert any("no seek of this assignment covers it" in r.getMessage() for r in caplog.records)
    assert pipeline.recorder.sent == []  # refused: nothing decided
