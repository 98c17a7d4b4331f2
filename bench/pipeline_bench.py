"""End-to-end benchmark of the Tanggap pipeline against two baselines measured in the same run.

    python -m bench.pipeline_bench [--posts 20000] [--runs 3] [--json bench/results.json]

On one embedded broker and the same generated posts it measures:

- the raw-client ceiling: aiokafka consume -> orjson parse -> produce, in this process;
- the faust no-op: a faust worker that consumes and produces every message unchanged;
- the pipeline: a real `tanggap worker` (intake -> triage -> sla), posts in -> decisions out;

for 1, 2 and 4 partitions with one worker and 4 partitions with two workers, then the
end-to-end latency of the pipeline at a fixed rate. Throughput is counted from the output
records' own timestamps (first to last), so worker start-up and group joins are excluded; CPU
seconds and peak RSS come from /proc. Every pipeline figure is reported as a ratio to both
baselines of the same partition count.

Producer batching: the workers run with the producer's default batching. Against this broker,
table recovery needs one record per batch (TANGGAP_PRODUCER_MAX_BATCH_BYTES=64, see README);
`--tansu-safe` runs the pipeline with that setting instead, to show what it costs. Real Kafka
needs neither.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.generate import Mix, encoded, generate_posts
from streams.broker import EmbeddedBroker, free_port
from streams.demo import stop_process

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    system: str
    partitions: int
    workers: int
    posts: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    @property
    def per_second(self) -> float:
        return self.posts / self.seconds if self.seconds > 0 else float("inf")

    @property
    def cpu_per_100k(self) -> float:
        return self.cpu_seconds / self.posts * 100_000


@dataclass
class Report:
    machine: str
    posts: int
    runs: int
    batching: str
    throughput: list[dict] = field(default_factory=list)
    latency: dict = field(default_factory=dict)


# --- Kafka helpers ---------------------------------------------------------------------------

async def create(bootstrap: str, topics: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], rate: float | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20, acks=1)
    await producer.start()
    try:
        started = time.monotonic()
        for i, (key, value) in enumerate(messages):
            if rate is not None:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def collect(bootstrap: str, topic: str, count: int, timeout: float) -> list:
    """Read `count` records of `topic` from the beginning (or fail after `timeout`)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_bytes=16 << 20, max_poll_records=5000)
    await consumer.start()
    records = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {len(records)} of {count} records after {timeout:.0f}s")
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


def span_seconds(records: list) -> float:
    stamps = [r.timestamp for r in records]
    return (max(stamps) - min(stamps)) / 1000.0


# --- process accounting ----------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the three systems -----------------------------------------------------------------------

async def raw_ceiling(bootstrap: str, messages: list[tuple[bytes, bytes]], partitions: int, tag: str) -> Measurement:
    source, sink = f"{tag}.raw.in", f"{tag}.raw.out"
    await create(bootstrap, [source, sink], partitions)
    await produce(bootstrap, source, messages)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_bytes=16 << 20, max_poll_records=5000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20, acks=1)
    await consumer.start()
    await producer.start()
    consumer.assign([TopicPartition(source, p) for p in range(partitions)])
    await consumer.seek_to_beginning()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    done = 0
    try:
        while done < len(messages):
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    value = orjson.loads(record.value)
                    await producer.send(sink, key=record.key, value=orjson.dumps(value))
                    done += 1
        await producer.flush()
    finally:
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        await producer.stop()
        await consumer.stop()
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return Measurement("raw aiokafka", partitions, 1, len(messages), elapsed, cpu, after.ru_maxrss / 1024)


def _wait_http(port: int, timeout: float = 60) -> None:
    """Until the worker's web server answers at all (the no-op baseline serves no pages)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"worker web port {port} never answered")


async def run_workers(bootstrap: str, messages: list[tuple[bytes, bytes]], partitions: int, workers: int, *,
                      system: str, tag: str, tansu_safe: bool, workdir: Path) -> Measurement:
    """Start `workers` processes, warm them up with one message, then time `messages`."""
    if system == "faust no-op":
        source, first_out, last_out = f"{tag}.in", f"{tag}.out", f"{tag}.out"
        await create(bootstrap, [source, first_out], partitions)
    else:
        source, first_out, last_out = f"{tag}.posts.raw", f"{tag}.posts.threads", f"{tag}.posts.triaged"
    processes = []
    for n in range(workers):
        port = free_port()
        env = dict(os.environ, PYTHONPATH=str(REPO))
        if system == "faust no-op":
            env.update(BENCH_BROKER=bootstrap, BENCH_APP_ID=f"{tag}-noop", BENCH_IN=source, BENCH_OUT=first_out,
                       BENCH_PARTITIONS=str(partitions), BENCH_WEB_PORT=str(port),
                       BENCH_DATA_DIR=str(workdir / f"{tag}-{n}"))
            command = [sys.executable, "-m", "bench.noop_app"]
        else:
            env.update(TANGGAP_BROKER=bootstrap, TANGGAP_APP_ID=f"{tag}-tanggap", TANGGAP_TOPIC_PREFIX=f"{tag}.",
                       TANGGAP_PARTITIONS=str(partitions), TANGGAP_WEB_PORT=str(port),
                       TANGGAP_DATA_DIR=str(workdir / f"{tag}-{n}"), TANGGAP_LOG_LEVEL="warning",
                       TANGGAP_REBALANCE_TIMEOUT="5", TANGGAP_SESSION_TIMEOUT="10", TANGGAP_HEARTBEAT_INTERVAL="1",
                       TANGGAP_PRODUCER_MAX_BATCH_BYTES="64" if tansu_safe else "")
            command = [sys.executable, "-m", "streams.cli", "worker"]
        log = open(workdir / f"{tag}-{n}.log", "wb")
        processes.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                           start_new_session=True), port))
    try:
        for n, (process, port) in enumerate(processes):
            try:
                _wait_http(port)
            except TimeoutError:
                tail = (workdir / f"{tag}-{n}.log").read_text(errors="replace")[-3000:]
                raise TimeoutError(f"{system} worker did not start:\n{tail}") from None
        # Warm-up: one message through, so the group has joined and every worker has partitions.
        warm = [messages[0][0] + b"-warmup", messages[0][1].replace(b'"post_id":"', b'"post_id":"warmup-', 1)]
        await produce(bootstrap, source, [tuple(warm)])
        await collect(bootstrap, last_out, 1, timeout=120)
        await asyncio.sleep(2)  # let a second worker finish its join before the clock starts
        cpu_before = sum(cpu_seconds(p.pid) for p, _ in processes)
        await produce(bootstrap, source, messages)
        outputs = await collect(bootstrap, last_out, len(messages) + 1, timeout=600)
        firsts = await collect(bootstrap, first_out, len(messages) + 1, timeout=60)
        cpu_after = sum(cpu_seconds(p.pid) for p, _ in processes)
        rss = max(peak_rss_mb(p.pid) for p, _ in processes)
    finally:
        for process, _ in processes:
            stop_process(process)
    start = min(r.timestamp for r in firsts[1:] or firsts)
    end = max(r.timestamp for r in outputs)
    return Measurement(system, partitions, workers, len(messages), (end - start) / 1000.0, cpu_after - cpu_before, rss)


async def pipeline_latency(bootstrap: str, posts: int, rate: float, tag: str, workdir: Path) -> dict:
    """p50/p99 from a post's produce timestamp to its decision's, at a fixed input rate."""
    messages = encoded(generate_posts(posts, seed=11, mix=Mix(redelivery=0.0)))
    source, sink = f"{tag}.posts.raw", f"{tag}.posts.triaged"
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), TANGGAP_BROKER=bootstrap, TANGGAP_APP_ID=f"{tag}-tanggap",
               TANGGAP_TOPIC_PREFIX=f"{tag}.", TANGGAP_PARTITIONS="4", TANGGAP_WEB_PORT=str(port),
               TANGGAP_DATA_DIR=str(workdir / tag), TANGGAP_LOG_LEVEL="warning", TANGGAP_REBALANCE_TIMEOUT="5",
               TANGGAP_SESSION_TIMEOUT="10", TANGGAP_HEARTBEAT_INTERVAL="1")
    log = open(workdir / f"{tag}.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
    try:
        try:
            _wait_http(port)
        except TimeoutError:
            raise TimeoutError("latency worker did not start:\n" + (workdir / f"{tag}.log").read_text()[-3000:]) from None
        await produce(bootstrap, source, [(b"warmup", messages[0][1].replace(b'"post_id":"', b'"post_id":"w-', 1))])
        await collect(bootstrap, sink, 1, timeout=120)
        await produce(bootstrap, source, messages, rate=rate)
        decisions = await collect(bootstrap, sink, len(messages) + 1, timeout=300)
        inputs = await collect(bootstrap, source, len(messages) + 1, timeout=60)
    finally:
        stop_process(process)
    sent = {r.key: r.timestamp for r in inputs}
    latencies = sorted(d.timestamp - sent[d.key] for d in decisions
                       if d.key in sent and orjson.loads(d.value)["outcome"] not in ("reply_pending", "response_pending"))
    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return {"rate_per_second": rate, "posts": len(latencies), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": latencies[-1]}


# --- report ----------------------------------------------------------------------------------

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"


def table(rows: list[dict]) -> str:
    header = f"{'system':<14}{'parts':>6}{'workers':>8}{'posts/s':>10}{'spread':>9}{'vs raw':>8}{'vs noop':>9}{'CPU s/100k':>11}{'RSS MB':>8}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row['system']:<14}{row['partitions']:>6}{row['workers']:>8}{row['posts_per_second']:>10.0f}"
                     f"{row['spread']:>9.0f}{row.get('vs_raw', float('nan')):>8.2f}{row.get('vs_noop', float('nan')):>9.2f}"
                     f"{row['cpu_seconds_per_100k']:>11.1f}{row['peak_rss_mb']:>8.0f}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> Report:
    messages = encoded(generate_posts(args.posts, seed=args.seed))
    report = Report(machine(), args.posts, args.runs,
                    "one record per batch (TANGGAP_PRODUCER_MAX_BATCH_BYTES=64)" if args.tansu_safe
                    else "producer defaults (not safe for table recovery on Tansu)")
    configurations = [(1, 1), (2, 1), (4, 1), (4, 2)]
    with tempfile.TemporaryDirectory(prefix="tanggap-bench-") as tmp, EmbeddedBroker() as broker:
        workdir = Path(tmp)
        run_id = 0
        for partitions, workers in configurations:
            by_system: dict[str, list[Measurement]] = {}
            for _ in range(args.runs):
                for system in ("raw aiokafka", "faust no-op", "tanggap"):
                    if system == "raw aiokafka" and workers > 1:
                        continue
                    run_id += 1
                    tag = f"b{run_id}"
                    if system == "raw aiokafka":
                        measured = await raw_ceiling(broker.bootstrap, messages, partitions, tag)
                    else:
                        measured = await run_workers(broker.bootstrap, messages, partitions, workers, system=system,
                                                     tag=tag, tansu_safe=args.tansu_safe and system == "tanggap",
                                                     workdir=workdir)
                    by_system.setdefault(system, []).append(measured)
                    print(f"  {system:<13} {partitions}p x{workers}: {measured.per_second:8.0f} posts/s", file=sys.stderr)
            medians = {s: statistics.median(m.per_second for m in ms) for s, ms in by_system.items()}
            raw = statistics.median(m.per_second for m in (by_system.get("raw aiokafka") or [])) if "raw aiokafka" in by_system else None
            for system, ms in by_system.items():
                rates = [m.per_second for m in ms]
                row = {"system": system, "partitions": partitions, "workers": workers,
                       "posts_per_second": medians[system], "spread": max(rates) - min(rates),
                       "runs": rates, "cpu_seconds_per_100k": statistics.median(m.cpu_per_100k for m in ms),
                       "peak_rss_mb": max(m.peak_rss_mb for m in ms)}
                if raw:
                    row["vs_raw"] = medians[system] / raw
                row["vs_noop"] = medians[system] / medians["faust no-op"]
                report.throughput.append(row)
        if args.latency_posts:
            report.latency = await pipeline_latency(broker.bootstrap, args.latency_posts, args.rate, "lat", workdir)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per system and configuration (median and spread)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=500.0, help="input rate of the latency run (posts/s)")
    parser.add_argument("--latency-posts", type=int, default=5_000, help="posts in the latency run (0 skips it)")
    parser.add_argument("--tansu-safe", action="store_true", help="pipeline with one record per batch")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results.json")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    print(f"\nTanggap pipeline benchmark: {report.posts} posts, median of {report.runs} runs, {report.machine}")
    print(f"pipeline producer batching: {report.batching}\n")
    print(table(report.throughput))
    if report.latency:
        lat = report.latency
        print(f"\nlatency at {lat['rate_per_second']:.0f} posts/s over {lat['posts']} posts: "
              f"p50 {lat['p50_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms")
    args.json.write_bytes(orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
