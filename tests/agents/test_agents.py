"""The faust agents as thin wrappers, driven in-process with faust's `test_context()`.

No broker: the outgoing topics' `send` is replaced by a recorder, tables use the memory store.
The integration tests run the same agents through a real broker.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from agents.domain.config import load_config
from streams.app import build_app
from streams.settings import Settings
from tests.conftest import BUNDLED_CONFIG


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict]] = []

    def patch(self, pipeline) -> None:
        for name, topic in pipeline.topics.items():
            async def send(*, key=None, value=None, _name=name, **_):
                self.sent.append((_name, key, orjson.loads(value)))
            topic.send = send

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


def run(coro):
    return asyncio.run(coro)


async def cluster_what_triage_sent(pipeline) -> None:
    """Complaints reach `posts.triaged` and `complaints` through the clustering stage."""
    async with agent(pipeline, "cluster").test_context() as cluster:
        for name, key, value in list(pipeline.recorder.sent):
            if name == "clusters":
                await cluster.put(orjson.dumps(value), key=key)


POST = {"platform": "twitter", "post_id": "1", "text": "Jalan di kecamatan Wedi rusak parah dan berlubang",
        "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "u1", "handle": "warga"}}


def test_intake_forwards_valid_posts_by_thread_key_and_parks_bad_ones(pipeline):
    async def scenario():
        async with agent(pipeline, "intake").test_context() as intake:
            await intake.put(orjson.dumps(POST), key=b"twitter:1")
            await intake.put(orjson.dumps({**POST, "post_id": "2", "repost_of": "1"}), key=b"twitter:2")
            await intake.put(b"{not json", key=b"bad")

    run(scenario())
    forwarded = [(key, value["post_id"]) for name, key, value in pipeline.recorder.sent if name == "threads"]
    assert forwarded == [(b"twitter:1", "1"), (b"twitter:1", "2")], "a repost goes to its original's thread"
    letters = pipeline.recorder.on("deadletter")
    assert [letter["reason"] for letter in letters] == ["invalid_json"]
    assert letters[0]["value_text"] == "{not json"


def test_triage_opens_one_complaint_and_recognizes_the_redelivery(pipeline):
    async def scenario():
        async with agent(pipeline, "triage").test_context() as triage:
            await triage.put(orjson.dumps(POST), key=b"twitter:1")
            await triage.put(orjson.dumps(POST), key=b"twitter:1")
        await cluster_what_triage_sent(pipeline)

    run(scenario())
    outcomes = [record["outcome"] for record in pipeline.recorder.on("triaged")]
    assert outcomes == ["opened", "redelivery"]
    complaints = pipeline.recorder.on("complaints")
    assert [c["type"] for c in complaints] == ["opened"]
    assert complaints[0]["opd"] == "dpupr"


def test_sla_agent_times_a_complaint_and_breaches_on_a_late_response(pipeline):
    from prometheus_client import REGISTRY

    def answered_count() -> float:
        return REGISTRY.get_sample_value("tanggap_sla_outcomes_total",
                                         {"opd": "dpupr", "stage": "first_response", "outcome": "answered_late"}) or 0.0

    async def scenario():
        async with agent(pipeline, "triage").test_context() as triage:
            await triage.put(orjson.dumps(POST), key=b"twitter:1")
        await cluster_what_triage_sent(pipeline)
        opened = pipeline.recorder.on("complaints")[0]
        late_reply = {**opened, "event_id": "evt-x", "type": "responded",
                      "response": {"by": "dpupr", "kind": "first_response", "at": "2026-11-20T08:00:00+07:00",
                                   "channel": "twitter", "post": None}}
        async with agent(pipeline, "sla").test_context() as sla:
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
