"""The triage, clustering and responses stages driven on plain dicts, without a worker: the
stage classes need mappings for their tables and functions that publish, nothing of faust."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.cluster import ClusterStage
from agents.domain.cluster import Clusterer, ClusterPolicy
from agents.domain.triage import Triage
from agents.triage import RELEASE_ENVELOPE, TriageStage
from schemas.events import RawPost
from streams.clock import WallClock


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any]] = []

    async def send_json(self, topic: str, key: str, value: dict) -> None:
        self.sent.append((topic, key, value))

    async def send_bytes(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    async def send_complaint_event(self, event: dict) -> None:
        self.sent.append(("complaints", event["complaint_id"], event))

    def on(self, topic: str) -> list:
        return [value for sent_topic, _, value in self.sent if sent_topic == topic]


def raw(post_id: str, text: str, **extra: Any) -> RawPost:
    return RawPost.parse({"platform": "twitter", "post_id": post_id, "text": text,
                          "created_at": "2026-11-06T15:00:00+07:00",
                          "author": {"id": f"id-{post_id}", "handle": "warga", "name": None}, **extra})


def test_a_complaint_goes_from_triage_through_clustering_on_dicts(config):
    outbox = Outbox()
    triage = TriageStage(Triage(config), {}, {}, clock=WallClock(), send_json=outbox.send_json,
                         send_bytes=outbox.send_bytes, orphan_wait_seconds=60.0)
    clustering = ClusterStage(Clusterer(ClusterPolicy(), config.timezone), {}, send_json=outbox.send_json,
                              send_complaint_event=outbox.send_complaint_event)
    text = "Jalan di desa Jimbung kecamatan Kalikotes rusak parah banyak lubang, mohon segera diperbaiki"

    async def run() -> None:
        await triage.decide(raw("1", text))
        await triage.decide(raw("1", text))  # redelivered
        for envelope in outbox.on("clusters"):
            await clustering.handle(envelope)

    asyncio.run(run())
    assert len(outbox.on("clusters")) == 2, "the redelivery goes on too: clustering recognizes it"
    opened = [e for e in outbox.on("complaints") if e["type"] == "opened"]
    assert len(opened) == 1 and opened[0]["kecamatan"] == "Kalikotes"
    assert [r["outcome"] for r in outbox.on("triaged")][:1] == ["opened"]
    assert triage.threads and clustering.clusters, "both tables were written"


def test_a_reply_whose_parent_never_comes_is_released_after_the_wait(config):
    outbox = Outbox()
    triage = TriageStage(Triage(config), {}, {}, clock=WallClock(), send_json=outbox.send_json,
                         send_bytes=outbox.send_bytes, orphan_wait_seconds=0.2)
    reply = raw("2", "lampu jalan di gang kami juga mati, gelap sekali", reply_to="404")

    async def run() -> None:
        await triage.decide(reply)
        assert triage.orphans, "the reply waits for its parent"
        await triage.release_overdue_orphans()
        assert not outbox.on("threads"), "not before the wait is over"
        await asyncio.sleep(0.25)
        await triage.release_overdue_orphans()
        await triage.release_overdue_orphans()  # one release per parent per wait
        for _, key, value in [s for s in outbox.sent if s[0] == "threads"]:
            await triage.handle_thread_record({RELEASE_ENVELOPE: key.decode()})

    asyncio.run(run())
    assert len([s for s in outbox.sent if s[0] == "threads"]) == 1
    assert not any(triage.orphans.values()), "released: decided on its own"


def test_a_desk_response_becomes_a_complaint_event_or_goes_to_its_posts_thread(config):
    import pytest

    from agents.responses import ResponsesStage
    from schemas.events import InvalidInput

    sent: list[tuple] = []

    async def send_bytes(topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        sent.append((topic, key, partition))

    async def send_complaint_event(event: dict) -> None:
        sent.append(("complaints", event["type"], event["complaint_id"]))

    stage = ResponsesStage(config.directory, config.timezone, 3, send_complaint_event=send_complaint_event,
                           send_bytes=send_bytes)
    by = next(iter(config.directory.opds))
    resolved = {"by": by, "kind": "resolved", "at": "2026-11-06T15:00:00+07:00", "complaint_id": "cmp-1"}
    by_post = {"by": by, "kind": "first_response", "at": "2026-11-06T15:00:00+07:00",
               "post": {"platform": "twitter", "post_id": "9"}}
    asyncio.run(stage.handle(resolved))
    asyncio.run(stage.handle(by_post))
    assert sent == [("complaints", "resolved", "cmp-1"), *[("clusters", b"cmp-1", p) for p in range(3)],
                    ("threads", b"twitter:9", None)]
    with pytest.raises(InvalidInput):
        asyncio.run(stage.handle({**resolved, "by": "nobody"}))
