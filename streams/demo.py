"""`tanggap demo`: the whole pipeline on the embedded broker, with the bundled sample posts.

It starts a Tansu broker on a free port and a worker process with a simulated clock, publishes
the sample (citizen posts, reposts, redeliveries, official replies), waits until every complaint
has either been answered or breached, prints a summary and stops everything it started.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from importlib import resources
from pathlib import Path

import orjson

from schemas.events import parse_time
from streams.broker import EmbeddedBroker, free_port
from streams.kafka import consume, create_topics, produce
from streams.settings import EMBEDDED_TUNING, Settings
from streams.topics import TopicNames

DEMO_GRACE_SECONDS = "1"
PENDING_OUTCOMES = ("response_pending", "reply_pending")


def bundled_sample() -> Path:
    return Path(str(resources.files("streams").joinpath("demo", "sample_posts.jsonl")))


def worker_environment(settings: Settings, bootstrap: str, data_dir: Path, web_port: int, speed: float) -> dict[str, str]:
    env = dict(os.environ)
    env.update(EMBEDDED_TUNING)
    env.update({
        "TANGGAP_BROKER": bootstrap,
        "TANGGAP_CONFIG": str(settings.config_dir),
        "TANGGAP_DATA_DIR": str(data_dir),
        "TANGGAP_WEB_PORT": str(web_port),
        "TANGGAP_WEB_HOST": "127.0.0.1",
        "TANGGAP_CLOCK_SPEED": str(speed),
        "TANGGAP_SLA_TICK_SECONDS": "0.2",
        "TANGGAP_SLA_GRACE_SECONDS": DEMO_GRACE_SECONDS,
        "TANGGAP_ORPHAN_WAIT_SECONDS": "3",
        "TANGGAP_LOG_LEVEL": "warning",
    })
    return env


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def fetch(url: str, timeout: float = 2.0) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except OSError:
        return None


def wait_until(predicate, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class Outcome:
    """What the pipeline published, read back from its output topics."""

    def __init__(self) -> None:
        self.triaged: list[dict] = []
        self.complaints: list[dict] = []
        self.breaches: list[dict] = []
        self.dead_letters: list[dict] = []

    @classmethod
    async def read(cls, settings: Settings) -> Outcome:
        names = TopicNames.from_settings(settings)
        outcome = cls()
        targets = {names.triaged: outcome.triaged, names.complaints: outcome.complaints,
                   names.breaches: outcome.breaches, names.deadletter: outcome.dead_letters}
        async for record in consume(settings, list(targets), idle_timeout=1.0):
            targets[record.topic].append(orjson.loads(record.value))
        return outcome

    def final_records(self) -> dict[str, dict]:
        """The decision that stands for each post: a pending reply's record is superseded once
        the post it waited for arrives, and a redelivery repeats an earlier decision."""
        final: dict[str, dict] = {}
        for record in self.triaged:
            key = record["post_key"]
            superseded = key in final and record["outcome"] in ("redelivery", *PENDING_OUTCOMES)
            if not superseded:
                final[key] = record
        return final

    def opened(self) -> dict[str, dict]:
        return {e["complaint_id"]: e for e in self.complaints if e["type"] == "opened"}

    def first_responses(self) -> dict[str, dict]:
        first: dict[str, dict] = {}
        for event in self.complaints:
            if event["type"] in ("responded", "resolved"):
                current = first.get(event["complaint_id"])
                if current is None or parse_time(event["response"]["at"]) < parse_time(current["response"]["at"]):
                    first[event["complaint_id"]] = event
        return first

    def breached(self) -> set[str]:
        """Complaints whose first-response deadline was missed (the topic also carries at_risk,
        escalations, met/answered_late and resolution-stage events)."""
        return {b["data"]["complaint_id"] for b in self.breaches
                if b["type"] == "id.tanggap.sla.breached" and b["data"]["stage"] == "first_response"}

    def settled(self) -> bool:
        """Every complaint answered or breached."""
        opened = set(self.opened())
        return bool(opened) and opened <= set(self.first_responses()) | self.breached()


def summary(outcome: Outcome, answered_in_histogram: int | None) -> str:
    opened = outcome.opened()
    responses = outcome.first_responses()
    breached = outcome.breached()
    lines = ["", "Tanggap demo: what the pipeline did with the sample", ""]
    final = outcome.final_records()
    outcomes = Counter(r["outcome"] for r in final.values())
    redeliveries = sum(r["outcome"] == "redelivery" for r in outcome.triaged)
    lines.append(f"posts {len(final)} (+{redeliveries} redelivered): "
                 + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    lines.append(f"dead letters  {len(outcome.dead_letters)}")
    lines.append("")
    lines.append(f"{'OPD':<20}{'complaints':>11}{'answered':>10}{'in time':>9}{'breached':>10}")
    per_opd = Counter(e["opd"] for e in opened.values())
    for opd, count in per_opd.most_common():
        ids = [cid for cid, e in opened.items() if e["opd"] == opd]
        answered = [cid for cid in ids if cid in responses]
        late = [cid for cid in ids if cid in breached]
        in_time = [cid for cid in answered if cid not in breached]
        lines.append(f"{opd:<20}{count:>11}{len(answered):>10}{len(in_time):>9}{len(late):>10}")
    lines.append(f"{'total':<20}{len(opened):>11}{len(responses):>10}"
                 f"{len([c for c in responses if c not in breached]):>9}{len(breached):>10}")
    lines.append("")
    ignored = Counter(r["ignored_reason"] for r in final.values() if r["outcome"] == "ignored")
    lines.append("ignored: " + ", ".join(f"{reason} {count}" for reason, count in ignored.most_common()))
    review = [e for e in opened.values() if e.get("needs_review")]
    lines.append(f"needs_review (opened for the triage desk to read and route): {len(review)}")
    for event in review[:3]:
        why = next((r for r in event["reasons"] if r.startswith(("needs_review[", "place_outside_regency["))), "")
        lines.append(f"  {event['kind']:<20} {why[:70]:<72} {(event.get('excerpt') or '')[:50]!r}")
    latencies = sorted(
        (parse_time(r["response"]["at"]) - parse_time(opened[cid]["occurred_at"])) / 60.0
        for cid, r in responses.items() if cid in opened
    )
    if latencies:
        p50 = statistics.median(latencies)
        p90 = latencies[min(len(latencies) - 1, int(round(0.9 * (len(latencies) - 1))))]
        lines.append(f"first-response latency: p50 {p50:.0f} min, p90 {p90:.0f} min over {len(latencies)} answered")
    if answered_in_histogram is not None:
        lines.append(f"worker's tanggap_response_latency_seconds count: {answered_in_histogram}")
    return "\n".join(lines)


def histogram_count(metrics_text: bytes | None) -> int | None:
    if metrics_text is None:
        return None
    total = 0.0
    for line in metrics_text.decode().splitlines():
        if line.startswith("tanggap_response_latency_seconds_count"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def run_demo(settings: Settings, *, sample: str | None, speed: float, timeout: float, via_http: bool = False) -> int:
    sample_path = Path(sample) if sample else bundled_sample()
    from streams.cli import read_jsonl, strip_expectation

    messages = [strip_expectation(line) for _, line in read_jsonl(sample_path)]
    workdir = Path(tempfile.mkdtemp(prefix="tanggap-demo-"))
    started = time.monotonic()
    worker: subprocess.Popen | None = None
    try:
        with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
            print(f"[demo] embedded broker on {broker.bootstrap}", file=sys.stderr)
            web_port = free_port()
            env = worker_environment(settings, broker.bootstrap, workdir / "data", web_port, speed)
            ingest_token = secrets.token_urlsafe(24)
            if via_http:
                env["TANGGAP_INGEST_TOKENS"] = ingest_token
            run_settings = Settings.from_env(env)
            asyncio.run(create_topics(run_settings))
            worker = start_worker(env, workdir / "worker.log")
            metrics_url = f"http://127.0.0.1:{web_port}/metrics"
            if not wait_until(lambda: fetch(metrics_url) is not None, 30):
                raise RuntimeError(f"worker did not start; see {workdir / 'worker.log'}")
            if via_http:
                from streams.ingest import post_batches

                sent = post_batches(f"http://127.0.0.1:{web_port}/ingest", ingest_token, [v for _, v in messages])
            else:
                sent = asyncio.run(produce(run_settings, run_settings.topic("posts.raw"), messages))
            print(f"[demo] worker up, published {sent} sample posts from {sample_path.name}; "
                  f"simulated clock runs {speed:g}x", file=sys.stderr)
            outcome = Outcome()

            def settled() -> bool:
                nonlocal outcome
                outcome = asyncio.run(Outcome.read(run_settings))
                return len(outcome.triaged) >= len(messages) - len(outcome.dead_letters) and outcome.settled()

            remaining = timeout - (time.monotonic() - started)
            done = wait_until(settled, max(remaining, 1.0), interval=1.0)
            print(summary(outcome, histogram_count(fetch(metrics_url))))
            print(f"\n[demo] {'finished' if done else 'TIMED OUT'} in {time.monotonic() - started:.1f}s", file=sys.stderr)
            stop_process(worker)
            return 0 if done else 1
    finally:
        if worker is not None:
            stop_process(worker)
        shutil.rmtree(workdir, ignore_errors=True)
