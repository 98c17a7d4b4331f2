"""Hostile input through the pure intake → triage and responses paths.

Whatever arrives on `posts.raw` or `responses` must end either as `InvalidInput` with a known
dead-letter reason (the worker parks it) or as a decision; any other exception would be a
`processing_error` dead letter, i.e. a bug. Property tests (hypothesis) explore the shapes; a
seeded fuzz run pushes 12,000 hostile messages of every family below.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agents.domain.triage import Triage, desk_response_event
from schemas.events import DEAD_LETTER_REASONS, LIMITS, DeskResponse, InvalidInput, RawPost, decode_json_object

FUZZ_MESSAGES = 12_000
OUTCOMES = {"opened", "mention", "ignored", "response", "redelivery", "reply_pending", "response_pending"}


class Pipeline:
    """The worker's per-message logic without Kafka: intake, triage, responses."""

    def __init__(self, config) -> None:
        self.config = config
        self.triage = Triage(config)
        self.threads: dict = {}
        self.orphans: dict = {}

    def post(self, raw: bytes) -> dict:
        post = RawPost.parse(raw)
        result = self.triage.process(post, self.threads, self.orphans, now=time.time())
        self.threads.update(result.state_updates)
        for key, waiting in result.orphan_updates.items():
            if waiting is None:
                self.orphans.pop(key, None)
            else:
                self.orphans[key] = waiting
        return result.record

    def response(self, raw: bytes) -> dict:
        value = decode_json_object(raw)
        response = DeskResponse.parse(value)
        if response.by not in self.config.directory.opds:
            raise InvalidInput("unknown_reference", f"not an OPD: {response.by!r}")
        if response.complaint_id:
            return desk_response_event(response, {"complaint_id": response.complaint_id}, self.config.timezone)
        event = self.triage.respond_by_post(response, self.threads)
        if event is None:
            raise InvalidInput("unknown_reference", "response names a post that opened no complaint")
        return event


def ends_well(handler, raw) -> str:
    """The dead-letter reason, or `decided`; anything else fails the test with the input."""
    try:
        result = handler(raw)
    except InvalidInput as exc:
        assert exc.reason in DEAD_LETTER_REASONS, exc.reason
        assert exc.detail, "a dead letter says why"
        return exc.reason
    except Exception as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"{type(exc).__name__}: {exc} on input {raw[:300]!r}")
    if "outcome" in result:
        assert result["outcome"] in OUTCOMES, result["outcome"]
    return "decided"


def valid_post(i: int, **changes) -> dict:
    post = {"platform": "twitter", "post_id": f"f{i}", "text": "Jalan di kecamatan Wedi rusak parah, mohon diperbaiki",
            "created_at": "2026-11-02T07:12:00+07:00", "author": {"id": f"u{i}", "handle": f"warga{i}"},
            "reply_to": None, "repost_of": None, "addressed_to": ["dpuprklaten"], "lang": "id"}
    post.update(changes)
    return post


def hostile_messages(rng: random.Random, count: int):
    """(topic, bytes) of every hostile family, interleaved with valid posts that later ones refer to."""
    strange_texts = ["\x00\x01\x02\x1b[31m", "\u202e\u200b\ufeff", "🙏" * 5000, "a" * 1_000_000, "",
                     "Jalan\r\nrusak\tdi\x0bWedi", "ＪＡＬＡＮ ｒｕｓａｋ", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]
    timestamps = ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "2026-11-02T07:12:00",
                  "2026-13-45T99:99:99+07:00", "2016-12-31T23:59:60Z", "yesterday", "", "1970-01-01T00:00:00Z"]
    for i in range(count):
        family = i % 16
        if family == 0:
            yield "posts.raw", orjson.dumps(valid_post(i))
        elif family == 1:
            yield "posts.raw", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))  # not JSON, bad UTF-8
        elif family == 2:
            yield "posts.raw", orjson.dumps(rng.choice([None, 1, "text", [1, 2], True, 1.5]))
        elif family == 3:
            post = valid_post(i)
            for field in rng.sample(list(post), rng.randrange(1, 4)):
                post[field] = rng.choice([None, 7, [], {}, "x", -1.5, True])
            yield "posts.raw", orjson.dumps(post)
        elif family == 4:
            post = valid_post(i)
            for field in rng.sample(["platform", "post_id", "text", "created_at", "author"], rng.randrange(1, 3)):
                post.pop(field)
            yield "posts.raw", orjson.dumps(post)
        elif family == 5:
            yield "posts.raw", orjson.dumps(valid_post(i, text=rng.choice(strange_texts)))
        elif family == 6:
            depth = rng.choice([50, 500, 5000])
            yield "posts.raw", b'{"platform":"twitter","post_id":"d","geo":' + b"[" * depth + b"]" * depth + b"}"
        elif family == 7:
            yield "posts.raw", b'{"platform":"twitter","post_id":"\xff\xfe","text":"\xc3\x28"}'
        elif family == 8:
            yield "posts.raw", orjson.dumps(valid_post(i, created_at=rng.choice(timestamps)))
        elif family == 9:  # a post id reused by another author, with another text
            original = rng.randrange(0, i + 1, 16) if i >= 16 else 0
            yield "posts.raw", orjson.dumps(valid_post(original, author={"id": f"intruder{i}"},
                                                       text="Sampah menumpuk di desa Jotangan, tolong diangkut"))
        elif family == 10:
            yield "posts.raw", orjson.dumps(valid_post(i, reply_to=f"never-{i}", text="sama di sini min"))
        elif family == 11:
            yield "posts.raw", orjson.dumps(valid_post(i, repost_of=f"ghost-{i % 50}", text="RT jalan rusak"))
        elif family == 12:
            yield "responses", orjson.dumps({"by": "dpupr", "kind": "first_response", "at": "2026-11-02T08:00:00+07:00",
                                             "complaint_id": f"cmp-unknown{i}"})
        elif family == 13:
            yield "responses", orjson.dumps({"by": rng.choice(["dpupr", "nobody", ""]), "kind": "first_response",
                                             "at": rng.choice([*timestamps, "2026-11-02T08:00:00+07:00"] * 2),
                                             "post": {"platform": "twitter", "post_id": f"unknown{i}"}})
        elif family == 14:
            yield "responses", rng.choice([b"", b"null", b"[]", b"{", orjson.dumps({"by": 1}), b"\xff" * 10])
        else:
            yield "posts.raw", orjson.dumps(valid_post(i, addressed_to=[f"acct{n}" for n in range(rng.choice([0, 10, 5000]))],
                                                       post_id="x" * rng.choice([1, 256, 257, 100_000])))


def test_fuzz_run_of_hostile_messages_ends_in_dead_letters_or_decisions(config):
    pipeline = Pipeline(config)
    rng = random.Random(2026)
    outcomes: Counter = Counter()
    started = time.perf_counter()
    for topic, raw in hostile_messages(rng, FUZZ_MESSAGES):
        handler = pipeline.post if topic == "posts.raw" else pipeline.response
        outcomes[(topic, ends_well(handler, raw))] += 1
    elapsed = time.perf_counter() - started
    print(f"\nfuzz: {FUZZ_MESSAGES} messages in {elapsed:.1f}s ({FUZZ_MESSAGES / elapsed:,.0f}/s): {dict(outcomes)}")
    assert sum(outcomes.values()) == FUZZ_MESSAGES
    reasons = {reason for _, reason in outcomes}
    assert {"invalid_json", "not_an_object", "schema_violation", "bad_timestamp", "unknown_reference",
            "too_large", "decided"} <= reasons
    assert "processing_error" not in reasons


def test_a_message_over_the_byte_limit_is_too_large_before_it_is_parsed():
    raw = orjson.dumps(valid_post(1, text="a" * 19_000)) + b" " * LIMITS.max_message_bytes
    with pytest.raises(InvalidInput) as caught:
        RawPost.parse(raw)
    assert caught.value.reason == "too_large"


def test_a_text_over_the_text_limit_is_too_large(monkeypatch):
    monkeypatch.setattr(LIMITS, "max_text_chars", 100)
    with pytest.raises(InvalidInput) as caught:
        RawPost.parse(orjson.dumps(valid_post(1, text="a" * 101)))
    assert caught.value.reason == "too_large"
    assert RawPost.parse(orjson.dumps(valid_post(1, text="a" * 100))).text == "a" * 100


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
post_fields = st.fixed_dictionaries({}, optional={
    "platform": st.sampled_from(["twitter", "facebook", "friendster", ""]) | json_values,
    "post_id": st.text(max_size=300) | json_values,
    "text": st.text() | json_values,
    "created_at": st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()) | st.text(max_size=40),
    "author": st.fixed_dictionaries({"id": st.text(max_size=20)}) | json_values,
    "reply_to": st.none() | st.text(max_size=20),
    "repost_of": st.none() | st.text(max_size=20),
    "addressed_to": st.lists(st.text(max_size=20), max_size=5) | json_values,
})
quick = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@quick
@given(raw=st.binary(max_size=500))
def test_any_bytes_are_a_post_or_a_dead_letter(config, raw):
    ends_well(Pipeline(config).post, raw)


@quick
@given(value=post_fields)
def test_any_object_with_post_fields_is_decided_or_a_dead_letter(config, value):
    ends_well(Pipeline(config).post, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


@quick
@given(text=st.text(max_size=3000),
       # Before 1990 some zones had offsets with seconds, which RFC 3339 cannot write.
       created=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2400, 1, 1), timezones=st.timezones()),
       reply_to=st.none() | st.sampled_from(["f1", "nothing"]))
def test_any_text_and_time_of_a_well_formed_post_gets_a_decision(config, text, created, reply_to):
    pipeline = Pipeline(config)
    ends_well(pipeline.post, orjson.dumps(valid_post(1)))
    outcome = ends_well(pipeline.post, orjson.dumps(valid_post(2, text=text, created_at=created.isoformat(),
                                                               reply_to=reply_to)))
    assert outcome in ("decided", "bad_timestamp")


@quick
@given(value=json_values)
def test_any_response_is_a_complaint_event_or_a_dead_letter(config, value):
    ends_well(Pipeline(config).response, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def test_a_dead_letter_of_a_huge_message_stays_sendable():
    from schemas.events import DEAD_LETTER_MAX_VALUE_BYTES, DeadLetter

    value = orjson.dumps(valid_post(1, text="a" * 1_000_000))
    letter = DeadLetter(reason="too_large", detail="x", topic="posts.raw", partition=0, offset=1, key=b"k",
                        value=value, stage="intake").to_json()
    assert letter["value_truncated"] is True and letter["value_bytes"] == len(value)
    assert len(orjson.dumps(letter)) < 1_000_000 - 4096, "under Kafka's default message limit"
    assert len(letter["value_text"]) == DEAD_LETTER_MAX_VALUE_BYTES
    small = DeadLetter(reason="invalid_json", detail="x", topic="t", partition=0, offset=2, key=None,
                       value=b"\xff", stage="intake").to_json()
    assert (small["value_truncated"], small["value_bytes"], small["value_text"]) == (False, 1, None)
