"""The bundled sample through the real broker and a real worker process, post by post.

Every sample line carries its expected decision (`expect`): kind, OPD, complaint group, and for
a complaint's first post whether it breaches its SLA. The worker runs with a simulated clock so
three days of posts and their deadlines play out in seconds; outcomes are decided by event time,
so they do not depend on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import base64
import urllib.request
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from schemas import validator
from streams.cli import read_jsonl, strip_expectation
from streams.demo import Outcome, bundled_sample, histogram_count
from streams.kafka import produce
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def sample_lines() -> list[dict]:
    return [orjson.loads(line) for _, line in read_jsonl(bundled_sample())]


def run_sample(deployment_factory):
    """The bundled sample through a fresh worker until every complaint is answered or breached:
    (deployment, worker, outcome)."""
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


@pytest.fixture(scope="module")
def pipeline(deployment_factory):
    return run_sample(deployment_factory)


def records_by_post(outcome: Outcome) -> dict[str, list[dict]]:
    by_post: dict[str, list[dict]] = defaultdict(list)
    for record in outcome.triaged:
        by_post[record["post_key"]].append(record)
    return by_post


def test_every_sample_post_gets_its_expected_kind_opd_and_complaint(pipeline):
    _, _, outcome = pipeline
    final = outcome.final_records()
    label_to_complaint: dict[str, str] = {}
    mismatches = []
    for line in sample_lines():
        expect = line["expect"]
        key = f"{line['platform']}:{line['post_id']}"
        assert key in final, f"{key} never triaged"
        record = final[key]
        got = {"kind": record["kind"], "opd": record["opd"]}
        want = {"kind": expect["kind"], "opd": expect.get("opd")}
        if expect["kind"] == "respon_resmi":
            got.pop("opd"), want.pop("opd")  # an official reply's OPD is its author's
        if "needs_review" in expect:
            got["needs_review"], want["needs_review"] = record["needs_review"], expect["needs_review"]
        if got != want:
            mismatches.append((key, line["text"][:60], want, got))
        label = expect.get("complaint")
        if label is None:
            assert record["complaint_id"] is None, (key, record)
        else:
            assert record["complaint_id"], (key, record)
            assert label_to_complaint.setdefault(label, record["complaint_id"]) == record["complaint_id"], (key, label)
    assert not mismatches, "\n".join(map(str, mismatches))
    assert len(set(label_to_complaint.values())) == len(label_to_complaint), "two labels share a complaint"


def test_unsure_posts_open_for_the_triage_desk_and_are_counted(pipeline):
    _, worker, outcome = pipeline
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5).read()
    review = [e for e in outcome.complaints if e["type"] == "opened" and e["needs_review"]]
    assert len(review) >= 2 and {e["opd"] for e in review} == {"diskominfo"}
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.decode().splitlines()
                  if line.startswith("tanggap_needs_review_total{"))
    assert counted == len(review)


def test_redelivered_posts_are_recorded_as_redeliveries_and_open_nothing(pipeline):
    _, _, outcome = pipeline
    by_post = records_by_post(outcome)
    redelivered = [f"{l['platform']}:{l['post_id']}" for l in sample_lines() if l["expect"].get("redelivery")]
    assert redelivered, "the sample should contain redeliveries"
    for key in redelivered:
        assert [r["outcome"] for r in by_post[key]].count("redelivery") >= 1, by_post[key]
    opened = [e["complaint_id"] for e in outcome.complaints if e["type"] == "opened"]
    assert len(opened) == len(set(opened)), "a complaint was opened twice"


def test_breaches_are_exactly_the_unanswered_or_late_complaints(pipeline):
    _, _, outcome = pipeline
    final = outcome.final_records()
    expected, unexpected = set(), set()
    for line in sample_lines():
        expect = line["expect"]
        if "breach" not in expect:
            continue
        complaint_id = final[f"{line['platform']}:{line['post_id']}"]["complaint_id"]
        (expected if expect["breach"] else unexpected).add(complaint_id)
    breached = outcome.breached()
    assert expected <= breached, f"missing breaches: {expected - breached}"
    assert not (unexpected & breached), f"complaints answered in time but breached: {unexpected & breached}"
    ids = [b["id"] for b in outcome.breaches]
    assert len(ids) == len(set(ids)), "a breach was emitted twice"
    for breach in outcome.breaches:
        validator("breach_event")(breach)
        if breach["type"] == "id.tanggap.sla.breached":
            assert breach["data"]["deadline"] < breach["data"]["emitted"]


def test_latency_histogram_counts_every_answered_complaint(pipeline):
    _, worker, outcome = pipeline
    answered = {label for line in sample_lines() if (label := line["expect"].get("response_to"))}
    assert len(outcome.first_responses()) == len(answered)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5).read()
    assert histogram_count(metrics) == len(answered)
    text = metrics.decode()
    assert 'tanggap_posts_ignored_total{reason="politik"}' in text
    assert "tanggap_sla_outcomes_total" in text
    assert "tanggap_response_working_latency_seconds_bucket" in text


def test_every_event_matches_its_published_schema(pipeline):
    _, _, outcome = pipeline
    for record in outcome.triaged:
        validator("triage_record")(record)
    for event in outcome.complaints:
        validator("complaint_event")(event)


BAD_MESSAGES = [
    (b"not json at all", "invalid_json"),
    (b"[1, 2, 3]", "not_an_object"),
    (b'{"platform": "twitter", "post_id": "x1", "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "a"}}',
     "schema_violation"),  # no text
    (b'{"platform": "twitter", "post_id": "x2", "text": 42, "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "a"}}',
     "schema_violation"),  # wrong type
    (b'{"platform": "myspace", "post_id": "x3", "text": "t", "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "a"}}',
     "schema_violation"),  # unknown platform
    (b'{"platform": "twitter", "post_id": "x4", "text": "t", "created_at": "2026-11-02 08:00", "author": {"id": "a"}}',
     "schema_violation"),  # not RFC 3339
    (b'\xff\xfe\x00garbage', "invalid_json"),  # not even UTF-8
]


def test_malformed_messages_go_to_the_dead_letter_topic_and_the_worker_keeps_going(pipeline):
    deployment, worker, _ = pipeline
    settings = deployment.settings
    valid = (b'{"platform": "web", "post_id": "after-bad-input", "text": "Lampu jalan di kecamatan Bayat mati '
             b'total sudah seminggu", "created_at": "2026-11-04T21:00:00+07:00", "author": {"id": "w1"}}')
    asyncio.run(produce(settings, settings.topic("posts.raw"),
                        [(f"bad-{i}".encode(), value) for i, (value, _) in enumerate(BAD_MESSAGES)]
                        + [(b"web:after-bad-input", valid)]))
    asyncio.run(produce(settings, settings.topic("responses"), [(b"r1", b'{"by": "dpupr"}'),
                                                                 (b"r2", b"{broken")]))

    def arrived():
        outcome = asyncio.run(Outcome.read(settings))
        done = any(r["post_key"] == "web:after-bad-input" for r in outcome.triaged)
        return outcome if done and len(outcome.dead_letters) >= len(BAD_MESSAGES) + 2 else None

    outcome = wait_for(arrived, timeout=60, message="dead letters and the valid post after them")
    assert worker.alive()
    letters = {letter["key_text"]: letter for letter in outcome.dead_letters}
    for i, (value, reason) in enumerate(BAD_MESSAGES):
        letter = letters[f"bad-{i}"]
        assert letter["reason"] == reason, letter
        assert base64.b64decode(letter["value_base64"]) == value, "the original bytes must be kept"
        assert letter["stage"] == "intake"
        validator("dead_letter")(letter)
    assert letters["r1"]["stage"] == "responses" and letters["r1"]["reason"] == "schema_violation"
    assert letters["r2"]["reason"] == "invalid_json"
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5).read().decode()
    assert 'tanggap_dead_letters_total{reason="invalid_json",stage="intake"} 2.0' in metrics
