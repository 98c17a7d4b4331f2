"""SLA clocks survive a crash: a worker killed with SIGKILL while deadlines are pending is
restarted on the same RocksDB state (and then on an empty disk, recovering from the changelog),
and emits every breach that fell due while it was down, exactly once by event id.

Runs on the real clock with a test deployment whose SLA budgets are seconds long.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.domain.sla import sla_event_id
from streams.demo import Outcome
from streams.kafka import produce
from tests.conftest import copy_config, wait_for

pytestmark = pytest.mark.integration

BUDGET_SECONDS = 20.0
SHORT_SLA = f"""
[calendar]
timezone = "Asia/Jakarta"
working_hours = {{ mon = ["07:30", "16:00"], tue = ["07:30", "16:00"], wed = ["07:30", "16:00"], thu = ["07:30", "16:00"], fri = ["07:30", "16:00"] }}
holiday_country = "ID"

[alerts]
escalate_opd_head_at = 1.2
escalate_sekda_at = 1.4

[[policy]]
id = "seconds"
first_response = {{ hours = {BUDGET_SECONDS / 3600!r}, clock = "24x7" }}
"""


def post(post_id: str, text: str, at: datetime, **extra) -> tuple[bytes, bytes]:
    value = {"platform": "twitter", "post_id": post_id, "text": text, "created_at": at.isoformat(),
             "author": {"id": f"u-{post_id}", "handle": f"warga{post_id}"}, **extra}
    return f"twitter:{post_id}".encode(), orjson.dumps(value)


async def changelog_is_consistent(bootstrap: str, topic: str) -> tuple[int, int]:
    """(records read, sum of end offsets): equal unless the broker misreports its watermarks."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer.stop()
            consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
            await consumer.start()
            partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        else:
            consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        read = 0
        while True:
            batch = await consumer.getmany(timeout_ms=1500)
            if not batch:
                break
            read += sum(len(records) for records in batch.values())
        return read, sum(ends.values())
    finally:
        await consumer.stop()


def test_breaches_that_fell_due_while_the_worker_was_down_are_emitted_once_after_restart(deployment_factory, tmp_path):
    config = copy_config(tmp_path)
    (config / "sla.toml").write_text(SHORT_SLA)
    deployment = deployment_factory(config, TANGGAP_SLA_GRACE_SECONDS="0.5")
    settings = deployment.settings
    first = deployment.worker()

    now = datetime.now(timezone.utc)
    unanswered = post("9001", "Jalan di kecamatan Wedi rusak parah dan berlubang, mohon diperbaiki", now)
    answered = post("9002", "Lampu jalan di kecamatan Bayat mati total, mohon diperbaiki", now)
    reply = post("9003", "Terima kasih, laporan sudah kami teruskan ke petugas", now + timedelta(seconds=2),
                 reply_to="9002", author={"id": "o-dishub", "handle": "dishubklaten"})
    asyncio.run(produce(settings, settings.topic("posts.raw"), [unanswered, answered, reply]))

    def clocks_running():
        outcome = asyncio.run(Outcome.read(settings))
        types = [(e["type"], e["complaint_id"]) for e in outcome.complaints]
        return outcome if sum(t == "opened" for t, _ in types) == 2 and any(t == "responded" for t, _ in types) else None

    before = wait_for(clocks_running, timeout=60, message="both complaints opened and one answered")
    assert not [b for b in before.breaches if b["data"]["level"] == "breached"], \
        "nothing may breach before the budget is spent"
    time.sleep(3.5)  # let the worker commit its offsets and flush the table changelog
    first.kill()

    deadline = now.timestamp() + BUDGET_SECONDS
    time.sleep(max(0.0, deadline - time.time()) + 2)

    opened = {e["first_post"]["post_id"]: e["complaint_id"] for e in before.complaints if e["type"] == "opened"}
    expected = {sla_event_id(opened["9001"], "first_response", level)
                for level in ("at_risk", "breached", "escalated_opd_head", "escalated_sekda")}
    expected.add(sla_event_id(opened["9002"], "first_response", "met"))

    second = deployment.worker()
    wait_for(lambda: {b["id"] for b in asyncio.run(Outcome.read(settings)).breaches} >= expected, timeout=90,
             message="the breach that fell due during the outage and the escalations after it")
    time.sleep(3)  # room for a wrong extra emission to show up
    after = asyncio.run(Outcome.read(settings))
    assert {b["id"] for b in after.breaches} == expected
    breach = next(b["data"] for b in after.breaches if b["data"]["level"] == "breached")
    assert breach["overdue_wall_seconds"] >= 1.0, "emitted late, and says by how much"
    assert breach["lateness_seconds"] >= 1.0
    assert breach["complaint_id"] == opened["9001"]
    assert second.alive()

    # Lose the disk as well: the clocks come back from the changelog, and the breach already
    # emitted is not emitted again.
    second.kill()
    shutil.rmtree(settings.data_dir)
    third = deployment.worker()
    wait_for(lambda: b"tanggap_sla_overdue_clocks" in _metrics(third.web_port), timeout=60,
             message="the third worker to recover its clocks")
    time.sleep(4)
    final = asyncio.run(Outcome.read(settings))
    assert {b["id"] for b in final.breaches} == expected

    changelog = f"{settings.app_id}-clocks-changelog"
    read, end = asyncio.run(changelog_is_consistent(settings.broker, changelog))
    assert read == end > 0, f"changelog has {read} records but the broker reports end offsets summing to {end}"


def _metrics(port: int) -> bytes:
    import urllib.request

    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return b""


def _kill_broker_on(port: int) -> None:
    """Stop a Tansu left behind on `port` (it runs in its own session), by its process id."""
    import os
    import signal
    from pathlib import Path

    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"tcp://127.0.0.1:{port}".encode() in command and any(part.endswith(b"tansu") for part in command):
            os.kill(int(entry.name), signal.SIGKILL)


def _ready(port: int) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
            return response.status == 200
    except (urllib.error.HTTPError, OSError):
        return False


def test_tanggap_run_restarted_on_its_data_directory_starts_cleanly_and_says_what_was_lost(tmp_path):
    import os
    import subprocess
    import sys

    from streams.broker import free_port
    from streams.demo import stop_process
    from streams.settings import EMBEDDED_TUNING, Settings
    from tests.conftest import REPO

    broker_port, web_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TANGGAP_")}
    env.update({"TANGGAP_EMBEDDED_PORT": str(broker_port), "TANGGAP_WEB_PORT": str(web_port),
                "TANGGAP_DATA_DIR": str(tmp_path / "data"), "TANGGAP_LOG_LEVEL": "info", "PYTHONPATH": str(REPO)})
    settings = Settings.from_env({**env, **EMBEDDED_TUNING, "TANGGAP_BROKER": f"127.0.0.1:{broker_port}"})
    log_path = tmp_path / "run.log"

    def start() -> subprocess.Popen:
        with open(log_path, "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "streams.cli", "run"], env=env, cwd=REPO,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log() -> str:
        return log_path.read_text(errors="replace")

    first = start()
    try:
        wait_for(lambda: (first.poll() is None or pytest.fail(log()[-3000:])) and _ready(web_port), timeout=90,
                 message="the first run to be ready")
        now = datetime.now(timezone.utc)
        asyncio.run(produce(settings, settings.topic("posts.raw"), [
            post("7001", "Jalan di kecamatan Wedi rusak parah dan berlubang, mohon diperbaiki", now),
            post("7002", "Lampu jalan di kecamatan Bayat mati total, mohon diperbaiki", now)]))
        wait_for(lambda: len(asyncio.run(Outcome.read(settings)).opened()) == 2, timeout=60,
                 message="two complaints opened")
        time.sleep(3)  # the clocks' table writes reach RocksDB
        stop_process(first, timeout=30)
        assert first.returncode == 0, log()[-3000:]
        assert "for evaluation only" in log()

        second = start()
        try:
            wait_for(lambda: (second.poll() is None or pytest.fail(log()[-3000:])) and _ready(web_port), timeout=90,
                     message="the restarted run to be ready")
            text = log()
            assert "ConsistencyError" not in text and "Traceback" not in text, text[-3000:]
            lost = [line for line in text.splitlines() if "keeps nothing across restarts" in line]
            assert len(lost) == 1 and "2 open SLA clocks" in lost[0] and "Kafka or Redpanda" in lost[0], lost
            assert (tmp_path / "data" / "previous-state" / "tables").is_dir()
        finally:
            stop_process(second, timeout=30)
    finally:
        stop_process(first, timeout=5)
        _kill_broker_on(broker_port)


def test_a_worker_whose_state_is_ahead_of_a_real_broker_stops_with_the_recovery_command(deployment_factory, tmp_path):
    import subprocess
    import sys

    from streams.broker import EmbeddedBroker
    from tests.conftest import REPO

    deployment = deployment_factory()
    settings = deployment.settings
    first = deployment.worker()
    now = datetime.now(timezone.utc)
    asyncio.run(produce(settings, settings.topic("posts.raw"), [
        post("7101", "Jalan di kecamatan Wedi rusak parah dan berlubang, mohon diperbaiki", now)]))
    wait_for(lambda: len(asyncio.run(Outcome.read(settings)).opened()) == 1, timeout=90, message="a complaint opened")
    time.sleep(3)
    first.stop()

    # Another broker that never held this deployment's changelogs: the state is ahead of it.
    with EmbeddedBroker() as other:
        env = {**deployment.env, "TANGGAP_BROKER": other.bootstrap}
        result = subprocess.run([sys.executable, "-m", "streams.cli", "worker"], env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr[-3000:]
        lines = [line for line in result.stderr.splitlines() if line.startswith("tanggap: ")]
        assert len(lines) == 1 and "ahead of the broker" in lines[0] and "tanggap reset-state" in lines[0], result.stderr
        assert "Traceback" not in result.stderr

        reset = subprocess.run([sys.executable, "-m", "streams.cli", "reset-state"], env=env, cwd=REPO,
                               capture_output=True, text=True, timeout=60)
        assert reset.returncode == 0 and "previous-state" in reset.stdout, reset.stderr
        assert not (settings.data_dir / "v1").exists()


def test_a_backlog_in_a_deep_partition_of_the_embedded_broker_drains_and_a_stall_is_reported(deployment_factory):
    """The embedded broker's fetches of a deep partition outlast a 20 ms fetch wait: a backlog
    there was read by nobody, with /ready saying 200. A worker with a fixed 20 ms wait must now
    report the partition stalled; one with the adaptive wait (the embedded tuning) drains it."""
    import urllib.error
    import urllib.request

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    from streams.broker import EmbeddedBroker
    from tests.integration.test_ingest import read_keys

    depth, backlog = 37_000, 300
    with EmbeddedBroker() as private:
        deployment = deployment_factory(TANGGAP_BROKER=private.bootstrap, TANGGAP_STALL_SECONDS="10",
                                        TANGGAP_PARTITIONS="1")
        settings = deployment.settings
        topic = settings.topic("posts.raw")
        now = datetime.now(timezone.utc)

        async def fill() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=private.bootstrap, max_batch_size=64, linger_ms=0)
            await producer.start()
            try:
                futures = [await producer.send(topic, b'{"filler": true}', key=b"filler") for _ in range(depth - backlog)]
                for i in range(backlog):
                    key, value = post(f"deep-{i:04d}", "Jalan di kecamatan Wedi rusak parah, mohon diperbaiki", now)
                    futures.append(await producer.send(topic, value, key=key))
                await asyncio.gather(*futures)
            finally:
                await producer.stop()
            # The group has read everything but the backlog (a worker that read it before).
            consumer = AIOKafkaConsumer(bootstrap_servers=private.bootstrap, group_id=settings.app_id,
                                        enable_auto_commit=False)
            await consumer.start()
            try:
                consumer.assign([TopicPartition(topic, 0)])
                await consumer.commit({TopicPartition(topic, 0): OffsetAndMetadata(depth - backlog, "")})
            finally:
                await consumer.stop()

        asyncio.run(fill())

        def ready_detail(port: int) -> dict:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
                    return orjson.loads(response.read())
            except urllib.error.HTTPError as error:
                return orjson.loads(error.read())
            except OSError:
                return {}

        fixed = deployment.worker(TANGGAP_FETCH_WAIT_ADAPTIVE="false")
        stalled = wait_for(lambda: (fixed.alive() or pytest.fail(fixed.log()[-3000:]))
                           and ready_detail(fixed.web_port).get("stalled_partitions"), timeout=120,
                           message="the fixed-wait worker to report its stalled partition")
        assert [(p["topic"], p["partition"]) for p in stalled] == [(topic, 0)]
        fixed.stop()

        adaptive = deployment.worker(TANGGAP_FETCH_WAIT_ADAPTIVE="true")
        started = time.monotonic()
        triaged = asyncio.run(read_keys(settings, "posts.triaged", b"twitter:deep-", backlog, timeout=120))
        assert len(triaged) == backlog, f"{backlog - len(triaged)} of the backlog never triaged"
        print(f"backlog of {backlog} in a {depth}-record partition drained in {time.monotonic() - started:.1f} s")
        wait_for(lambda: ready_detail(adaptive.web_port).get("ready"), timeout=60, message="ready, nothing stalled")
        adaptive.stop()
