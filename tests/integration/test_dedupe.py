"""Near-duplicate clustering through the real broker and real worker processes: copies of a
complaint on other platforms join it (one `opened`, `duplicate_attached` for each copy), a reply
to a merged copy lands on the surviving complaint, the same text about another kecamatan stays a
complaint of its own, and a worker restarted on its state still recognizes a copy of a complaint
opened before the restart (the LSH index is rebuilt from the `clusters` table)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from schemas import validator
from streams.demo import Outcome
from streams.kafka import produce
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

ORIGINAL = "Jalan utama di kec. Wedi berlubang besar dan dalam, sudah banyak motor yang jatuh. Mohon segera ditambal."
COPY = "@pemkabklaten Min, jln utama di kec. Wedi berlubang gede dan dalam, udah byk motor yg jatuh 🙏 #klaten"
OTHER_PLACE = "Jalan utama di kec. Bayat berlubang besar dan dalam, sudah banyak motor yang jatuh. Mohon segera ditambal."


def post(platform: str, post_id: str, text: str, minute: int, **extra) -> tuple[bytes, bytes]:
    value = {"platform": platform, "post_id": post_id, "text": text,
             "created_at": f"2026-11-02T08:{minute:02d}:00+07:00",
             "author": {"id": f"u-{post_id}", "handle": f"warga{post_id}"}, **extra}
    return f"{platform}:{post_id}".encode(), orjson.dumps(value)


def test_copies_join_one_complaint_across_platforms_and_across_a_restart(deployment_factory):
    deployment = deployment_factory()
    settings = deployment.settings
    first = deployment.worker()
    asyncio.run(produce(settings, settings.topic("posts.raw"), [
        post("twitter", "1", ORIGINAL, 0),
        post("instagram", "2", COPY, 5),
        post("twitter", "3", OTHER_PLACE, 6),
        post("instagram", "4", "sama di sini, kemarin saya jatuh di situ", 9, reply_to="2"),
    ]))

    def decided(keys: set[str]):
        def check():
            outcome = asyncio.run(Outcome.read(settings))
            assert deployment.workers[-1].alive(), deployment.workers[-1].log()[-3000:]
            final = outcome.final_records()
            return outcome if keys <= set(final) else None
        return check

    outcome = wait_for(decided({"twitter:1", "instagram:2", "twitter:3", "instagram:4"}), timeout=90,
                       message="the four posts decided")
    final = outcome.final_records()
    survivor = final["twitter:1"]["complaint_id"]
    assert final["instagram:2"]["duplicate_via"] == "near_duplicate"
    assert final["instagram:2"]["complaint_id"] == survivor
    assert final["instagram:4"]["complaint_id"] == survivor, "a reply to the merged copy"
    assert final["twitter:3"]["outcome"] == "opened" and final["twitter:3"]["complaint_id"] != survivor
    types = [(e["type"], e["complaint_id"]) for e in outcome.complaints]
    assert types.count(("opened", survivor)) == 1
    assert ("duplicate_attached", survivor) in types
    assert ("reprioritized", survivor) in types, "two platforms: one priority level up"
    for record in outcome.triaged:
        validator("triage_record")(record)
    for event in outcome.complaints:
        validator("complaint_event")(event)

    first.stop()
    second = deployment.worker()
    asyncio.run(produce(settings, settings.topic("posts.raw"), [post("tiktok", "5", COPY + " 😡", 30)]))
    outcome = wait_for(decided({"tiktok:5"}), timeout=90, message="the copy posted after the restart decided")
    after = outcome.final_records()["tiktok:5"]
    assert after["duplicate_via"] == "near_duplicate"
    assert after["complaint_id"] == survivor
    assert [e["type"] for e in outcome.complaints if e["complaint_id"] == survivor].count("opened") == 1
    assert second.alive()
