"""The ingest door's handlers over HTTP (aiohttp's test server, a publisher that records), with
hostile requests: no request may end in a 500, whatever its headers, nesting or field types."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from streams.ingest import Ingest, add_routes
from streams.settings import Settings

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "platform_payloads"
TOKEN = "door-token"
APP_SECRET = "door-app-secret"
SAMPLES = {
    "x": ["x_recent_search.json", "x_compliance_delete.json"],
    "meta": ["meta_facebook_feed.json", "meta_instagram_comments.json"],
    "whatsapp": ["whatsapp_messages.json", "whatsapp_echo.json"],
    "tiktok": ["tiktok_comments.jsonl"],
    "youtube": ["youtube_comment_threads.jsonl"],
}


def sample(name: str) -> Any:
    raw = (PAYLOADS / name).read_bytes()
    return orjson.loads(raw.splitlines()[0] if name.endswith(".jsonl") else raw)


class Door:
    """An aiohttp server with the ingest routes, on its own event loop, for synchronous tests."""

    def __init__(self, **env: str) -> None:
        self.settings = Settings.from_env({"TANGGAP_INGEST_TOKENS": TOKEN, "TANGGAP_INGEST_META_APP_SECRET": APP_SECRET,
                                           "TANGGAP_INGEST_WHATSAPP_HASH_KEY": "door-hash-key",
                                           "TANGGAP_INGEST_META_VERIFY_TOKEN": "door-verify", **env})
        self.published: list[tuple[bytes, bytes]] = []
        self.loop = asyncio.new_event_loop()
        app = web.Application()
        self.ingest = Ingest(self.settings, self.publish)
        add_routes(app, self.ingest)
        self.client = TestClient(TestServer(app, loop=self.loop), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())

    async def publish(self, messages) -> None:
        self.published.extend(messages)

    def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        async def call() -> tuple[int, bytes]:
            async with self.client.post(path, data=body, headers=headers or {"Authorization": f"Bearer {TOKEN}"}) as r:
                return r.status, await r.read()
        return self.loop.run_until_complete(call())

    def raw(self, request: bytes) -> bytes:
        """Bytes on the wire, for headers no client library would send."""
        async def call() -> bytes:
            reader, writer = await asyncio.open_connection(self.client.host, self.client.port)
            writer.write(request)
            await writer.drain()
            answer = await reader.read(65536)
            writer.close()
            return answer
        return self.loop.run_until_complete(call())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(scope="module")
def door():
    running = Door()
    yield running
    running.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_non_ascii_authorization_and_signature_headers_are_refused_not_500(door):
    body = b'{"object": "page", "entry": []}'
    for header in (b"Authorization: Bearer tok_\xe9", b"Authorization: Bearer \xff\xfe",
                   b"Authorization: \xc3\xa9\xc3\xa9 x", b"X-Hub-Signature-256: sha256=\xe9" + b"0" * 63):
        for path in (b"/ingest", b"/ingest/meta", b"/ingest/whatsapp"):
            answer = door.raw(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + header + b"\r\nContent-Length: "
                              + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            assert status_of(answer) in (401,), (header, path, answer[:200])
    answer = door.raw(b"GET /ingest/meta?hub.mode=subscribe&hub.verify_token=%FF%E9&hub.challenge=1 HTTP/1.1\r\n"
                      b"Host: x\r\nConnection: close\r\n\r\n")
    assert status_of(answer) == 403, answer[:200]


@pytest.mark.parametrize("depth", [63, 64, 65, 255, 300, 1000])
def test_deeply_nested_json_is_a_400_or_a_decision_never_a_500(door, depth):
    nested = b"[" * depth + b"]" * depth
    post = (b'{"platform": "web", "post_id": "deep", "text": "x", "created_at": "2026-11-02T08:00:00+07:00", '
            b'"author": {"id": "u"}, "geo": {"x": ' + nested + b'}}')
    for path in ("/ingest", "/ingest/x", "/ingest/tiktok", "/ingest/meta"):
        status, answer = door.post(path, post)
        assert status < 500, (path, depth, answer[:300])
        if depth + 2 > 64:
            assert status == 400 and orjson.loads(answer)["error"] == "invalid_json", answer[:300]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, prefix + (key,)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, prefix + (index,)))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


INTS = st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1)
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), INTS,
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "1e400", "wamid.", "true", "2026-13-45T99:99:99Z", "\u0000", "🙏" * 30]),
    st.lists(st.one_of(st.none(), INTS, st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=5), st.one_of(st.none(), INTS, st.text(max_size=5)), max_size=3),
    st.just({"data": {"delete": {"tweet": True}}}), st.just([[[]]]), st.just(1e300), st.just(-1e19),
)
CASES = [(fmt, name) for fmt, names in SAMPLES.items() for name in names]


@hypothesis_settings(max_examples=750, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(CASES), data=st.data())
def test_type_mutated_native_payloads_of_every_adapter_never_get_a_500(door, case, data):
    fmt, name = case
    payload = sample(name)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        path = data.draw(st.sampled_from(_paths(payload)), label="path")
        payload = _replace(payload, path, data.draw(ODD_VALUES, label="value"))
    body = orjson.dumps(payload)
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature} if fmt in ("meta", "whatsapp") else {"Authorization": f"Bearer {TOKEN}"}
    status, answer = door.post(f"/ingest/{fmt}", body, headers)
    assert status < 500, (fmt, answer[:500])
    assert orjson.loads(answer)  # always a JSON answer


def test_a_post_over_the_workers_message_limit_is_refused_at_the_door_not_dead_lettered_later():
    door = Door(TANGGAP_MAX_MESSAGE_BYTES="65536")
    try:
        text = "🙏" * 20_000  # within the schema's 20,000 characters, 80,000 bytes as UTF-8
        post = {"platform": "web", "post_id": "emoji", "text": text, "created_at": "2026-11-02T08:00:00+07:00",
                "author": {"id": "u-emoji"}}
        status, answer = door.post("/ingest", orjson.dumps(post))
        assert status == 422, answer[:300]
        (item,) = orjson.loads(answer)["rejected"]
        assert item["reason"] == "too_large" and "TANGGAP_MAX_MESSAGE_BYTES" in item["detail"]
        assert door.published == []
        fitting = {**post, "post_id": "fits", "text": "🙏" * 16_000}  # 64,000 bytes of text: under the limit
        status, answer = door.post("/ingest", orjson.dumps(fitting))
        assert status == 202, answer[:300]
        assert len(door.published) == 1 and len(door.published[0][1]) <= 65536
    finally:
        door.close()


def test_items_per_request_and_the_rejected_list_are_bounded(door):
    import time

    flood = b"[" + b",".join([b"{}"] * 349_000) + b"]"  # ~1 MB of empty objects
    started = time.perf_counter()
    status, answer = door.post("/ingest", flood)
    assert status == 413 and orjson.loads(answer)["error"] == "too_many_items", answer[:300]
    assert len(answer) < 1000 and time.perf_counter() - started < 2.0
    lines = b"\n".join([b'{"a": 1}'] * 1001)
    status, answer = door.post("/ingest/tiktok", lines)
    assert status == 413 and orjson.loads(answer)["error"] == "too_many_items", answer[:300]
    status, answer = door.post("/ingest", b"[" + b",".join([b"{}"] * 1000) + b"]")
    result = orjson.loads(answer)
    assert status == 422 and result["rejected_total"] == 1000 and len(result["rejected"]) == 100
    assert len(answer) < 20_000


def test_a_broker_that_does_not_acknowledge_gets_the_client_a_503_with_retry_after_in_bounded_time():
    import time

    door = Door(TANGGAP_INGEST_PUBLISH_TIMEOUT_SECONDS="0.5")

    async def hanging(messages) -> None:
        await asyncio.sleep(3600)

    door.ingest.publish = hanging
    try:
        post = {"platform": "web", "post_id": "p1", "text": "jalan rusak", "created_at": "2026-11-02T08:00:00+07:00",
                "author": {"id": "u"}}

        async def call():
            async with door.client.post("/ingest", data=orjson.dumps(post),
                                        headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                return r.status, r.headers.get("Retry-After"), await r.read()

        started = time.perf_counter()
        status, retry_after, answer = door.loop.run_until_complete(call())
        assert status == 503 and retry_after == "1", answer
        assert orjson.loads(answer)["error"] == "broker_unavailable" and "resend" in orjson.loads(answer)["detail"]
        assert time.perf_counter() - started < 2.0
    finally:
        door.close()


def test_a_bug_is_a_counted_500_whose_log_does_not_quote_the_request(door, monkeypatch, caplog):
    import streams.ingest as ingest_module

    def broken(posts):
        raise RuntimeError(f"failed on {posts[0]['text']}")

    monkeypatch.setattr(ingest_module, "validate", broken)
    before = ingest_module.ingest_requests.labels("raw", "500")._value.get()
    post = {"platform": "web", "post_id": "bug", "text": "secret-body-text", "created_at": "2026-11-02T08:00:00+07:00",
            "author": {"id": "u"}}
    with caplog.at_level("ERROR", logger="streams.ingest"):
        status, answer = door.post("/ingest", orjson.dumps(post))
    assert status == 500 and orjson.loads(answer)["error"] == "internal_error"
    assert ingest_module.ingest_requests.labels("raw", "500")._value.get() == before + 1
    assert "RuntimeError" in caplog.text and "secret-body-text" not in caplog.text
