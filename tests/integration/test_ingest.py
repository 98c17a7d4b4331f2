"""POST /ingest on a real worker's web server, through the real broker: authentication, size
limit, bad JSON, contract violations, Meta's handshake and signature, and a burst of 10,000 posts
of which none may be lost on `posts.raw` or `posts.triaged`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from schemas.events import message_key
from tests.conftest import wait_for

pytestmark = pytest.mark.integration

TOKEN = "test-ingest-token"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "platform_payloads"
MAX_BODY = 400_000
BURST = 10_000
BATCH = 500
IDLE_TIMEOUT = 2
BODY_TIMEOUT = 3


@pytest.fixture(scope="module")
def ingest(deployment_factory):
    deployment = deployment_factory(
        TANGGAP_INGEST_TOKENS=f"old-token,{TOKEN}", TANGGAP_INGEST_META_APP_SECRET=APP_SECRET,
        TANGGAP_INGEST_META_VERIFY_TOKEN=VERIFY_TOKEN, TANGGAP_INGEST_WHATSAPP_HASH_KEY="test-hash-key",
        TANGGAP_INGEST_ACCOUNTS="106540352242922=lapor.klaten,17841400000000001=pemkabklaten",
        TANGGAP_INGEST_MAX_BODY_BYTES=str(MAX_BODY), TANGGAP_LOG_LEVEL="info",
        TANGGAP_HTTP_IDLE_TIMEOUT_SECONDS=str(IDLE_TIMEOUT), TANGGAP_HTTP_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT))
    worker = deployment.worker()
    base = f"http://127.0.0.1:{worker.web_port}"

    def healthy():
        assert worker.alive(), worker.log()[-3000:]
        try:
            with urllib.request.urlopen(base + "/health", timeout=2):
                return True
        except OSError:
            return False

    wait_for(healthy, timeout=60, message="worker web server")
    return deployment, worker, base


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def post(post_id: str, text: str, minutes: int = 0) -> dict:
    at = datetime(2026, 11, 2, 8, 0, tzinfo=timezone(timedelta(hours=7))) + timedelta(minutes=minutes)
    return {"platform": "web", "post_id": post_id, "text": text, "created_at": at.isoformat(),
            "author": {"id": f"u-{post_id}", "handle": None, "name": None}}


async def read_keys(settings, topic: str, prefix: bytes, want: int, timeout: float) -> dict[bytes, bytes]:
    """Values by key of the records on `topic` whose key starts with `prefix` (last value wins),
    read until `want` distinct keys or `timeout` seconds."""
    consumer = AIOKafkaConsumer(settings.topic(topic), bootstrap_servers=settings.broker, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=5000)
    await consumer.start()
    found: dict[bytes, bytes] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(found) < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    if record.key and record.key.startswith(prefix):
                        found[record.key] = record.value
    finally:
        await consumer.stop()
    return found


def test_requests_without_a_valid_token_are_refused(ingest):
    _, _, base = ingest
    body = orjson.dumps(post("auth-1", "jalan rusak"))
    for headers in ({}, bearer("wrong"), {"Authorization": f"Basic {TOKEN}"}):
        status, answer = call(base + "/ingest", body, headers)
        assert status == 401, answer
        assert orjson.loads(answer)["error"] == "unauthorized"
    status, answer = call(base + "/ingest", body, bearer("old-token"))  # a second token during rotation
    assert status == 202, answer


def test_oversize_bad_json_and_contract_violations_are_4xx_with_reasons(ingest):
    deployment, _, base = ingest
    status, answer = call(base + "/ingest", b"[" + b" " * MAX_BODY + b"]", bearer())
    assert status == 413 and orjson.loads(answer)["error"] == "body_too_large"
    status, answer = call(base + "/ingest", b'{"platform": "web", "post_id": ', bearer())
    assert status == 400 and orjson.loads(answer)["error"] == "invalid_json"
    batch = [post("bad-ok", "lampu mati"), {**post("bad-platform", "x"), "platform": "friendster"},
             {**post("bad-time", "x"), "created_at": "2026-11-02T08:00:00"}, 42]
    status, answer = call(base + "/ingest", orjson.dumps(batch), bearer())
    assert status == 422, answer
    reasons = {item["index"]: item["reason"] for item in orjson.loads(answer)["rejected"]}
    assert reasons == {1: "schema_violation", 2: "schema_violation", 3: "not_an_object"}
    status, _ = call(base + "/ingest/friendster", b"{}", bearer())
    assert status == 404
    # All or nothing: the valid post of the rejected batch was not published.
    published = asyncio.run(read_keys(deployment.settings, "posts.raw", b"web:bad-", 1, timeout=3))
    assert published == {}


def test_meta_handshake_and_signed_webhooks(ingest):
    deployment, _, base = ingest
    status, answer = call(base + f"/ingest/meta?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444",
                          method="GET")
    assert (status, answer) == (200, b"1158201444")
    status, _ = call(base + "/ingest/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1", method="GET")
    assert status == 403

    body = (PAYLOADS / "meta_instagram_comments.json").read_bytes()
    good = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    status, answer = call(base + "/ingest/meta", body, {"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert status == 401 and orjson.loads(answer)["error"] == "bad_signature"
    status, answer = call(base + "/ingest/meta", body, {"X-Hub-Signature-256": good})
    assert status == 200, answer
    result = orjson.loads(answer)
    assert result["accepted"] == ["instagram:17900000000000001", "instagram:17900000000000002"]
    assert [s["reason"] for s in result["skipped"]] == ["needs_graph_fetch"]

    body = (PAYLOADS / "whatsapp_messages.json").read_bytes()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    status, answer = call(base + "/ingest/whatsapp", body, {"X-Hub-Signature-256": signature})
    assert status == 200, answer
    keys = orjson.loads(answer)["accepted"]
    assert len(keys) == 4
    published = asyncio.run(read_keys(deployment.settings, "posts.raw", b"whatsapp:", len(keys), timeout=20))
    posts = {key: orjson.loads(value) for key, value in published.items()}
    assert sorted(f"{p['platform']}:{p['post_id']}" for p in posts.values()) == sorted(keys)
    # Published under the thread key: the reply (WhatsApp `context`) under the message it answers.
    assert all(key == message_key(post) for key, post in posts.items())
    assert sum(1 for post in posts.values() if post.get("reply_to")) == 1
    for value in published.values():
        assert b"6281234567890" not in value and b"Siti" not in value


def test_a_burst_of_ten_thousand_posts_loses_none(ingest):
    deployment, worker, base = ingest
    texts = ["Jalan di kecamatan Wedi rusak parah, mohon diperbaiki 🙏", "Lampu PJU di Jogosetran mati 💡❌",
             "Sampah di pasar Delanggu belum diangkut 🤢", "Air PDAM di Ceper mati sejak pagi 😭",
             "Terima kasih Pemkab Klaten, pelayanannya cepat 👍"]
    posts = [post(f"burst-{i:05d}", texts[i % len(texts)], minutes=i % 600) for i in range(BURST)]
    accepted: list[str] = []
    for start in range(0, BURST, BATCH):
        status, answer = call(base + "/ingest", orjson.dumps(posts[start:start + BATCH]), bearer())
        assert status == 202, answer
        accepted.extend(orjson.loads(answer)["accepted"])
    assert len(set(accepted)) == BURST

    raw = asyncio.run(read_keys(deployment.settings, "posts.raw", b"web:burst-", BURST, timeout=120))
    assert len(raw) == BURST
    triaged = asyncio.run(read_keys(deployment.settings, "posts.triaged", b"web:burst-", BURST, timeout=300))
    assert worker.alive(), worker.log()[-3000:]
    assert len(triaged) == BURST, f"{BURST - len(triaged)} posts never triaged"


async def read_everything(settings, idle_ms: int = 3000) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of every record on the deployment's topics and table changelogs."""
    probe = AIOKafkaConsumer(bootstrap_servers=settings.broker, group_id=None)
    await probe.start()
    try:
        topics = sorted(t for t in await probe.topics()
                        if t.startswith(settings.topic_prefix) or t.startswith(f"{settings.app_id}-"))
    finally:
        await probe.stop()
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=settings.broker, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=5000)
    await consumer.start()
    records = []
    try:
        while batch := await consumer.getmany(timeout_ms=idle_ms):
            records.extend((r.topic, r.key or b"", r.value or b"") for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return records


def test_no_record_of_any_topic_holds_a_whatsapp_senders_number(ingest):
    import base64

    deployment, _, base = ingest
    body = (PAYLOADS / "whatsapp_messages.json").read_bytes()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    status, answer = call(base + "/ingest/whatsapp", body, {"X-Hub-Signature-256": signature})
    assert status == 200, answer
    keys = orjson.loads(answer)["accepted"]
    assert keys and all(key.startswith("whatsapp:wamid-") for key in keys)
    triaged = asyncio.run(read_keys(deployment.settings, "posts.triaged", b"whatsapp:", len(keys), timeout=120))
    assert len(triaged) >= len(keys)
    time.sleep(3)  # the complaints, clocks and changelogs of those posts
    records = asyncio.run(read_everything(deployment.settings))
    topics = {topic for topic, _, _ in records}
    assert {deployment.settings.topic(t) for t in ("posts.raw", "posts.triaged", "complaints")} <= topics
    number = b"6281234567890"
    # The number as it appears in a wamid (base64 of a structure holding it), in three alignments.
    encoded = {base64.b64encode(pad + number)[4:16] for pad in (b"", b"\x00", b"\x00\x00")}
    for topic, key, value in records:
        for field in (key, value):
            assert number not in field and b"wamid." not in field, (topic, key)
            assert not any(fragment in field for fragment in encoded), (topic, key)


SECRET_TOKEN = "tok-SECRET-4f1c9e"
SECRET_VERIFY = "verify-SECRET-77ab"
BODY_MARKER = "body-SECRET-d00d"
PERSONAL = ("081234567890", "3310011234560001", "3310 0112 3456 0001", "warga.secret@example.org")


def hostile_requests(port: int) -> None:
    """The malformed requests aiohttp logs with their bytes: headers with a token, bodies."""
    import socket

    post_body = orjson.dumps({"platform": "web", "post_id": "leak", "created_at": "2026-11-02T08:00:00+07:00",
                              "author": {"id": "u"}, "text": f"{BODY_MARKER} hubungi {PERSONAL[0]} NIK {PERSONAL[1]} "
                              f"atau {PERSONAL[2]} email {PERSONAL[3]}"})
    requests = [
        b"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET_TOKEN.encode() + b"\x01\r\n"
        b"Content-Length: 2\r\n\r\n{}",
        b"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET_TOKEN.encode() + b"x" * 9000 + b"\r\n"
        b"Content-Length: 2\r\n\r\n{}",
        b"GET /ingest/meta?hub.mode=subscribe&hub.verify_token=" + SECRET_VERIFY.encode() + b" x&hub.challenge=1 HTTP/1.1\r\n"
        b"Host: x\r\n\r\n",
        b"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SECRET_TOKEN.encode() + b"\r\n"
        b"Content-Length: 5\r\n\r\n" + post_body,
        b"POST /ingest?hub.verify_token=" + SECRET_VERIFY.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + SECRET_TOKEN.encode() + b"\r\nContent-Length: " + str(len(post_body)).encode() + b"\r\n\r\n" + post_body,
    ]
    for request in requests:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass


def assert_no_secret_in(log: str) -> None:
    for secret in (SECRET_TOKEN, SECRET_VERIFY, BODY_MARKER, *PERSONAL):
        assert secret not in log, f"{secret!r} in the log: ...{log[max(0, log.find(secret) - 300):log.find(secret) + 100]}"


def test_hostile_requests_leave_no_secret_or_personal_data_in_the_worker_log(ingest):
    _, worker, base = ingest
    hostile_requests(worker.web_port)
    time.sleep(1)
    assert worker.alive()
    assert_no_secret_in(worker.log())


def test_the_standalone_ingest_server_logs_json_and_redacts_like_the_worker(ingest, tmp_path):
    import subprocess
    import sys

    from streams.broker import free_port
    from tests.conftest import REPO

    deployment, _, _ = ingest
    port = free_port()
    env = {**deployment.env, "TANGGAP_INGEST_TOKENS": SECRET_TOKEN, "TANGGAP_INGEST_META_VERIFY_TOKEN": SECRET_VERIFY,
           "TANGGAP_LOG_LEVEL": "debug"}
    log_path = tmp_path / "ingest-server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "streams.cli", "ingest-server", "--port", str(port)], env=env,
                                  cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def up():
            assert server.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    return True
            except OSError:
                return False

        wait_for(up, timeout=60, message="ingest server")
        hostile_requests(port)
        time.sleep(1)
    finally:
        from streams.demo import stop_process

        stop_process(server)
    text = log_path.read_text()
    assert_no_secret_in(text)
    lines = [line for line in text.splitlines() if line.startswith("{")]
    assert lines and all(orjson.loads(line)["level"] for line in lines), text[-2000:]
    assert "ingest raw" in text or "ingest unknown" in text or "aiohttp" in text  # it did log the requests


def test_a_frozen_broker_gets_ingest_clients_a_503_with_retry_after_from_the_worker_and_the_server(
        deployment_factory, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from streams.broker import EmbeddedBroker, free_port
    from streams.demo import stop_process
    from tests.conftest import REPO

    with EmbeddedBroker() as private:
        deployment = deployment_factory(TANGGAP_BROKER=private.bootstrap, TANGGAP_INGEST_TOKENS=TOKEN,
                                        TANGGAP_INGEST_PUBLISH_TIMEOUT_SECONDS="2")
        worker = deployment.worker()
        port = free_port()
        with open(tmp_path / "server.log", "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "streams.cli", "ingest-server", "--port", str(port)],
                                      env=deployment.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        try:
            bases = {"worker": f"http://127.0.0.1:{worker.web_port}", "server": f"http://127.0.0.1:{port}"}

            def answering(base: str) -> bool:
                try:
                    return call(base + "/ingest", orjson.dumps(post("warm-" + base[-5:], "jalan rusak")), bearer())[0] == 202
                except OSError:
                    return False

            for base in bases.values():
                wait_for(lambda: answering(base), timeout=90, message=f"{base} publishing")
            os.kill(private.process.pid, signal.SIGSTOP)
            try:
                for name, base in bases.items():
                    started = time.monotonic()
                    request = urllib.request.Request(base + "/ingest", method="POST", headers=bearer(),
                                                     data=orjson.dumps([post(f"frozen-{name}-{i}", "lampu mati")
                                                                        for i in range(50)]))
                    with pytest.raises(urllib.error.HTTPError) as refused:
                        urllib.request.urlopen(request, timeout=30)
                    waited = time.monotonic() - started
                    assert refused.value.code == 503 and refused.value.headers["Retry-After"] == "2", name
                    assert orjson.loads(refused.value.read())["error"] == "broker_unavailable"
                    assert waited < 5, f"{name} answered after {waited:.1f} s"
                # The worker that cannot publish says so on /ready (its posts still wait there).
                with pytest.raises(urllib.error.HTTPError) as not_ready:
                    urllib.request.urlopen(bases["worker"] + "/ready", timeout=10)
                assert not_ready.value.code == 503
                detail = orjson.loads(not_ready.value.read())
                assert detail["ready"] is False and any("broker" in reason for reason in detail["reasons"]), detail
            finally:
                os.kill(private.process.pid, signal.SIGCONT)
            for base in bases.values():
                wait_for(lambda: answering(base), timeout=90, message=f"{base} publishing again")
            wait_for(lambda: call(bases["worker"] + "/ready", method="GET")[0] == 200, timeout=60,
                     message="the worker ready again")
        finally:
            stop_process(server)
            worker.stop()


def closed_after(port: int, send: list[bytes], pause: float, limit: float) -> tuple[float, bytes]:
    """Open a connection, send `send` piece by piece `pause` seconds apart (while it is open), and
    return how long the server kept it open and what it answered (b"" when it just closed)."""
    import socket

    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        try:
            for piece in send:
                sock.sendall(piece)
                time.sleep(pause)
            while time.monotonic() - started < limit:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
    return time.monotonic() - started, answer


def assert_client_timeouts(port: int) -> None:
    # An idle connection, and one that sends nothing after the request line.
    waited, _ = closed_after(port, [], 0, limit=20)
    assert waited < IDLE_TIMEOUT + 2, f"idle connection held {waited:.1f} s"
    # Slow headers: a header line every second, never finishing the head.
    trickle = [b"POST /ingest HTTP/1.1\r\n"] + [b"X-Slow-%d: x\r\n" % i for i in range(15)]
    waited, _ = closed_after(port, trickle, 1.0, limit=30)
    assert waited < IDLE_TIMEOUT + 3, f"slow headers held {waited:.1f} s"
    # A slow body: the head announces 100 bytes, 10 arrive.
    head = (b"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
            + b"\r\nContent-Length: 100\r\n\r\n")
    waited, answer = closed_after(port, [head, b"[" * 10], 0, limit=30)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert waited < BODY_TIMEOUT + 3, f"slow body held {waited:.1f} s"
    # A keep-alive connection is closed once idle after its response.
    ok = b"GET /ingest/meta?hub.mode=x HTTP/1.1\r\nHost: x\r\n\r\n"
    waited, answer = closed_after(port, [ok], 0, limit=20)
    assert answer.startswith(b"HTTP/1.1 403") and waited < IDLE_TIMEOUT + 2, (waited, answer[:200])


def test_slow_and_idle_clients_are_cut_off_by_the_worker_and_the_server(ingest, tmp_path):
    import subprocess
    import sys

    from streams.broker import free_port
    from streams.demo import stop_process
    from tests.conftest import REPO

    deployment, worker, _ = ingest
    assert_client_timeouts(worker.web_port)
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "streams.cli", "ingest-server", "--port", str(port)],
                                  env=deployment.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    return True
            except OSError:
                return False

        wait_for(up, timeout=60, message="ingest server")
        assert_client_timeouts(port)
    finally:
        stop_process(server)


def test_answers_name_no_server_software_and_the_challenge_echo_is_not_sniffed(ingest):
    _, worker, base = ingest
    url = base + f"/ingest/meta?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=%3Cscript%3E"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"<script>"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.headers["Server"] == "tanggap"
    for path in ("/health", "/metrics", "/ready", "/nope"):
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                headers = response.headers
        except urllib.error.HTTPError as error:
            headers = error.headers
        assert headers["Server"] == "tanggap" and headers["X-Content-Type-Options"] == "nosniff", path
    status, answer = call(base + "/ingest", orjson.dumps(post("line\nbreak", "jalan rusak")), bearer())
    assert status == 422 and orjson.loads(answer)["rejected"][0]["reason"] == "schema_violation"
