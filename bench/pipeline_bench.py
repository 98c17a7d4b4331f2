"""End-to-end benchmark of the Tanggap pipeline against two baselines measured in the same run.

    python -m bench.pipeline_bench [--posts 20000] [--runs 3] [--configs 1x1,2x1,4x1,4x2]
                                   [--batching default|tansu-safe|both] [--variant LABEL:KEY=VALUE,...]
                                   [--skeleton]

On one embedded broker and the same generated posts (fixed seed) it measures:

- the raw-client ceiling: aiokafka consume -> orjson parse -> produce, in this process;
- the faust no-op: a faust worker that consumes and produces every message unchanged, with the
  same faust settings as a Tanggap worker;
- with `--skeleton`, the faust skeleton: the no-op plus a changelogged table write and a second
  output per message (bench/noop_app.py), the least a pipeline with durable state and two
  outputs can do on faust, without any domain logic;
- the pipeline: a real `tanggap worker` (triage -> cluster -> sla), posts in -> decisions out on
  `posts.triaged`;

for each configuration PARTITIONSxWORKERS, then the end-to-end latency of the pipeline at a fixed
input rate. Each system runs `--runs` times, interleaved (raw, no-op, pipeline, raw, ...) so
drift of a shared machine hits all of them alike; figures are medians with the min-max spread.
Every run first pushes `--warmup` posts through (group joined, partitions assigned, tables
opened, code paths warm) and starts the clock after them. Throughput is counted from the output
records' own timestamps (first hop's first record to last decision), so start-up and group
joins are excluded. CPU seconds are read from /proc once the workers have gone idle (SLA and
commits included, not only the decision path); peak RSS is VmHWM.

Producer batching (column `batching`): `default` runs the workers with Tanggap's producer
defaults; `tansu-safe` with one record per batch (TANGGAP_PRODUCER_MAX_BATCH_BYTES=64), which
table recovery needs against this embedded broker only (see README). Real Kafka needs neither
cap: its high watermark is right for any batch size. The no-op has no tables, so it always runs
with the default batching. `--variant` adds pipeline rows with extra worker environment
variables, to compare a setting against the defaults within one run.
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
from datetime import datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.generate import WIB, Mix, encoded, generate_posts
from streams.broker import EmbeddedBroker, free_port
from streams.demo import stop_process
from streams.settings import EMBEDDED_TUNING

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
    copies: float
    batching: str
    throughput: list[dict] = field(default_factory=list)
    latency: list[dict] = field(default_factory=list)
    messages_per_post: dict = field(default_factory=dict)


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


# Posts are dated from the start of the bench, a few milliseconds apart: the worker runs on the
# wall clock, so posts dated weeks ago would all be past their deadlines and every complaint
# would cost an SLA breach at once, which no steady state does.
BENCH_START = datetime.now(WIB).replace(microsecond=0)


DEFAULT_COPIES = 0.2
"""Share of new complaints that copy an open one (bench.generate.Mix.copies): a desk's steady
state, where most complaints are their own and some are posted again by others."""


def bench_posts(count: int, seed: int, mix: Mix = Mix(copies=DEFAULT_COPIES)) -> list[tuple[bytes, bytes]]:
    return encoded(generate_posts(count, seed=seed, mix=mix, start=BENCH_START, mean_gap_seconds=0.005))


def warmup_messages(count: int, seed: int, copies: float = DEFAULT_COPIES) -> list[tuple[bytes, bytes]]:
    """Posts of another seed (so other ids) for the warm-up, with the same mix as the run."""
    return bench_posts(max(1, count), seed + 1000, Mix(copies=copies))


# Both kinds of worker fetch as Tanggap does against the embedded broker (`tanggap run`, tests).
EMBEDDED_CONSUMER_TUNING = {"TANGGAP_FETCH_MAX_WAIT_MS": EMBEDDED_TUNING["TANGGAP_FETCH_MAX_WAIT_MS"]}


def _worker_env(system: str, bootstrap: str, tag: str, partitions: int, port: int, data_dir: Path,
                source: str, sink: str, extra: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **EMBEDDED_CONSUMER_TUNING)
    if system == "faust no-op":
        env.update(BENCH_BROKER=bootstrap, BENCH_APP_ID=f"{tag}-noop", BENCH_IN=source, BENCH_OUT=sink,
                   BENCH_PARTITIONS=str(partitions), BENCH_WEB_PORT=str(port), BENCH_DATA_DIR=str(data_dir))
        command = [sys.executable, "-m", "bench.noop_app"]
    else:
        env.update(TANGGAP_BROKER=bootstrap, TANGGAP_APP_ID=f"{tag}-tanggap", TANGGAP_TOPIC_PREFIX=f"{tag}.",
                   TANGGAP_PARTITIONS=str(partitions), TANGGAP_WEB_PORT=str(port), TANGGAP_DATA_DIR=str(data_dir),
                   TANGGAP_LOG_LEVEL="warning", TANGGAP_REBALANCE_TIMEOUT="5", TANGGAP_SESSION_TIMEOUT="10",
                   TANGGAP_HEARTBEAT_INTERVAL="1", TANGGAP_PRODUCER_MAX_BATCH_BYTES="")
        command = [sys.executable, "-m", "streams.cli", "worker"]
    env.update(extra)
    return env, command


def settled_cpu_seconds(pids: list[int], quiet: float = 0.02, step: float = 0.5, limit: float = 60.0) -> float:
    """CPU of `pids` once they have gone idle (less than `quiet` CPU-seconds per `step`), so work
    after the last measured output (the SLA stage, commits) is counted too."""
    deadline = time.monotonic() + limit
    last = sum(cpu_seconds(pid) for pid in pids)
    while time.monotonic() < deadline:
        time.sleep(step)
        now = sum(cpu_seconds(pid) for pid in pids)
        if now - last < quiet:
            return now
        last = now
    return last


async def run_workers(bootstrap: str, messages: list[tuple[bytes, bytes]], partitions: int, workers: int, *,
                      system: str, label: str, tag: str, extra_env: dict[str, str], warmup: int,
                      seed: int, workdir: Path, copies: float = DEFAULT_COPIES) -> Measurement:
    """Start `workers` processes, warm them up, then time `messages`."""
    if system == "faust no-op":
        source, first_out, last_out = f"{tag}.in", f"{tag}.out", f"{tag}.out"
        await create(bootstrap, [source, first_out, f"{first_out}2"], partitions)  # out2: the skeleton's
    else:
        # Posts are keyed by thread key, so most never touch posts.threads: the clock starts
        # at the first measured post's own produce timestamp (stricter than a first output).
        source, first_out, last_out = f"{tag}.posts.raw", f"{tag}.posts.raw", f"{tag}.posts.triaged"
    processes = []
    for n in range(workers):
        port = free_port()
        env, command = _worker_env(system, bootstrap, tag, partitions, port, workdir / f"{tag}-{n}", source,
                                   first_out, extra_env)
        log = open(workdir / f"{tag}-{n}.log", "wb")
        processes.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                           start_new_session=True), port))
    pids = [p.pid for p, _ in processes]
    try:
        for n, (process, port) in enumerate(processes):
            try:
                _wait_http(port)
            except TimeoutError:
                tail = (workdir / f"{tag}-{n}.log").read_text(errors="replace")[-3000:]
                raise TimeoutError(f"{system} worker did not start:\n{tail}") from None
        # Warm-up: the group has joined, every worker has partitions and has run the code paths.
        warm = warmup_messages(warmup, seed, copies)
        await produce(bootstrap, source, warm)
        warm_out = await collect(bootstrap, last_out, len(warm), timeout=180)
        await asyncio.sleep(2)  # let a second worker finish its join before the clock starts
        cpu_before = settled_cpu_seconds(pids)
        await produce(bootstrap, source, messages)
        outputs = await collect(bootstrap, last_out, len(warm_out) + len(messages), timeout=600)
        firsts = await collect(bootstrap, first_out, len(warm) + len(messages), timeout=60)
        cpu_after = settled_cpu_seconds(pids)
        rss = max(peak_rss_mb(pid) for pid in pids)
    finally:
        for process, _ in processes:
            stop_process(process)
    # The warm-up's records all precede the pause before the measured posts.
    cutoff = max(r.timestamp for r in warm_out)
    start = min(r.timestamp for r in firsts if r.timestamp > cutoff)
    end = max(r.timestamp for r in outputs)
    return Measurement(label, partitions, workers, len(messages), (end - start) / 1000.0, cpu_after - cpu_before, rss)


async def pipeline_latency(bootstrap: str, posts: int, rate: float, tag: str, workdir: Path, warmup: int,
                           extra_env: dict[str, str], copies: float = DEFAULT_COPIES) -> dict:
    """p50/p99 from a post's produce timestamp to its decision's, at a fixed input rate."""
    messages = bench_posts(posts, 11, Mix(redelivery=0.0, copies=copies))
    source, sink = f"{tag}.posts.raw", f"{tag}.posts.triaged"
    port = free_port()
    env, command = _worker_env("tanggap", bootstrap, tag, 4, port, workdir / tag, source, sink, extra_env)
    log = open(workdir / f"{tag}.log", "wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                               start_new_session=True)
    try:
        try:
            _wait_http(port)
        except TimeoutError:
            raise TimeoutError("latency worker did not start:\n" + (workdir / f"{tag}.log").read_text()[-3000:]) from None
        warm = warmup_messages(warmup, 11, copies)
        await produce(bootstrap, source, warm)
        await collect(bootstrap, sink, len(warm), timeout=180)
        await asyncio.sleep(1)
        await produce(bootstrap, source, messages, rate=rate)
        decisions = await collect(bootstrap, sink, len(warm) + len(messages), timeout=300)
        inputs = await collect(bootstrap, source, len(warm) + len(messages), timeout=60)
    finally:
        stop_process(process)
    warm_keys = {key for key, _ in warm}
    sent = {r.key: r.timestamp for r in inputs if r.key not in warm_keys}
    latencies = sorted(d.timestamp - sent[d.key] for d in decisions
                       if d.key in sent and orjson.loads(d.value)["outcome"] not in ("reply_pending", "response_pending"))
    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    return {"rate_per_second": rate, "posts": len(latencies), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "max_ms": latencies[-1]}


async def count_all(bootstrap: str, topics: list[str], idle_polls: int = 3) -> dict[str, int]:
    """Records per topic, read to the end (not end offsets: the embedded broker's are unreliable
    with multi-record batches)."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_bytes=16 << 20, max_poll_records=5000)
    await consumer.start()
    counts = dict.fromkeys(topics, 0)
    idle = 0
    try:
        while idle < idle_polls:
            batch = await consumer.getmany(timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                counts[tp.topic] += len(records)
    finally:
        await consumer.stop()
    return counts


async def messages_per_post(bootstrap: str, messages: list[tuple[bytes, bytes]], tag: str, workdir: Path) -> dict:
    """How many records one post costs on every topic (inputs, hops, outputs, table changelogs):
    each is a produce and, except for outputs, a consume of some faust worker."""
    await run_workers(bootstrap, messages, 4, 1, system="tanggap", label="tanggap", tag=tag, extra_env={},
                      warmup=1, seed=0, workdir=workdir)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith(f"{tag}.") or t.startswith(f"{tag}-"))
    finally:
        await admin.close()
    counts = await count_all(bootstrap, topics)
    posts = len(messages) + 1
    return {topic.split(".", 1)[1] if topic.startswith(f"{tag}.") else topic.split("-", 2)[-1]:
            round(count / posts, 3) for topic, count in counts.items() if count}


# --- report ----------------------------------------------------------------------------------

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"


def table(rows: list[dict]) -> str:
    header = (f"{'system':<26}{'batching':>11}{'parts':>6}{'workers':>8}{'posts/s':>9}{'spread':>13}"
              f"{'vs raw':>8}{'vs noop':>8}{'CPU s/100k':>11}{'vs noop':>8}{'RSS MB':>7}")
    lines = [header, "-" * len(header)]
    for row in rows:
        spread = f"{min(row['runs']):.0f}-{max(row['runs']):.0f}"
        lines.append(f"{row['system']:<26}{row['batching']:>11}{row['partitions']:>6}{row['workers']:>8}"
                     f"{row['posts_per_second']:>9.0f}{spread:>13}{row.get('vs_raw', float('nan')):>8.2f}"
                     f"{row.get('vs_noop', float('nan')):>8.2f}{row['cpu_seconds_per_100k']:>11.1f}"
                     f"{row.get('cpu_vs_noop', float('nan')):>8.2f}{row['peak_rss_mb']:>7.0f}")
    return "\n".join(lines)


TANSU_SAFE = {"TANGGAP_PRODUCER_MAX_BATCH_BYTES": "64"}


def parse_configs(text: str) -> list[tuple[int, int]]:
    configs = []
    for item in text.split(","):
        partitions, _, workers = item.strip().partition("x")
        configs.append((int(partitions), int(workers or 1)))
    return configs


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    label, _, assignments = text.partition(":")
    env = dict(item.split("=", 1) for item in assignments.split(",") if item)
    return label, env


def pipeline_variants(args: argparse.Namespace) -> list[tuple[str, str, dict[str, str]]]:
    """(label, batching, extra worker environment) of every pipeline row."""
    variants = []
    if args.batching in ("default", "both"):
        variants.append(("tanggap", "default", {}))
    if args.batching in ("tansu-safe", "both"):
        variants.append(("tanggap", "tansu-safe", dict(TANSU_SAFE)))
    for text in args.variant:
        label, env = parse_variant(text)
        variants.append((f"tanggap {label}", "tansu-safe" if env.get("TANGGAP_PRODUCER_MAX_BATCH_BYTES") == "64"
                         else "default", env))
    return variants


async def main_async(args: argparse.Namespace) -> Report:
    messages = bench_posts(args.posts, args.seed, Mix(copies=args.copies))
    variants = pipeline_variants(args)
    report = Report(machine(), args.posts, args.runs, args.copies,
                    "default: Tanggap's producer defaults (see streams/settings.py); tansu-safe: one record per "
                    "batch (TANGGAP_PRODUCER_MAX_BATCH_BYTES=64), needed for table recovery on the embedded broker only")
    with tempfile.TemporaryDirectory(prefix="tanggap-bench-") as tmp, EmbeddedBroker() as broker:
        workdir = Path(tmp)
        run_id = 0
        for partitions, workers in parse_configs(args.configs):
            by_row: dict[tuple[str, str], list[Measurement]] = {}
            for _ in range(args.runs):
                systems = ([("raw aiokafka", "raw aiokafka", "default", {})] if workers == 1 else []) + \
                          [("faust no-op", "faust no-op", "default", {})] + \
                          ([("faust no-op", "faust skeleton", "default", {"BENCH_SHAPE": "skeleton"})]
                           if args.skeleton else []) + \
                          [("tanggap", label, batching, env) for label, batching, env in variants]
                for system, label, batching, env in systems:
                    run_id += 1
                    tag = f"b{run_id}"
                    if system == "raw aiokafka":
                        measured = await raw_ceiling(broker.bootstrap, messages, partitions, tag)
                    else:
                        measured = await run_workers(broker.bootstrap, messages, partitions, workers, system=system,
                                                     label=label, tag=tag, extra_env=env, warmup=args.warmup,
                                                     seed=args.seed, workdir=workdir, copies=args.copies)
                    by_row.setdefault((label, batching), []).append(measured)
                    print(f"  {label:<24} {batching:<10} {partitions}p x{workers}: {measured.per_second:8.0f} posts/s "
                          f"{measured.cpu_per_100k:6.1f} CPU-s/100k", file=sys.stderr, flush=True)
            medians = {row: statistics.median(m.per_second for m in ms) for row, ms in by_row.items()}
            cpu = {row: statistics.median(m.cpu_per_100k for m in ms) for row, ms in by_row.items()}
            raw = medians.get(("raw aiokafka", "default"))
            noop = ("faust no-op", "default")
            for (label, batching), ms in by_row.items():
                row = {"system": label, "batching": batching, "partitions": partitions, "workers": workers,
                       "posts_per_second": medians[(label, batching)], "runs": [m.per_second for m in ms],
                       "cpu_seconds_per_100k": cpu[(label, batching)],
                       "cpu_runs": [m.cpu_per_100k for m in ms], "peak_rss_mb": max(m.peak_rss_mb for m in ms)}
                if raw:
                    row["vs_raw"] = medians[(label, batching)] / raw
                row["vs_noop"] = medians[(label, batching)] / medians[noop]
                row["cpu_vs_noop"] = cpu[(label, batching)] / cpu[noop]
                report.throughput.append(row)
        if args.count_messages:
            run_id += 1
            report.messages_per_post = await messages_per_post(broker.bootstrap, messages[:args.count_messages],
                                                               f"c{run_id}", workdir)
        if args.latency_posts:
            for (label, batching, env), rate in [(v, float(r)) for v in variants for r in args.rate.split(",")]:
                runs = []
                for _ in range(args.runs):
                    run_id += 1
                    runs.append(await pipeline_latency(broker.bootstrap, args.latency_posts, rate,
                                                       f"lat{run_id}", workdir, args.warmup, env, args.copies))
                report.latency.append({
                    "system": label, "batching": batching, "rate_per_second": rate, "posts": runs[0]["posts"],
                    "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                    "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                    "max_ms": max(r["max_ms"] for r in runs), "runs": runs})
                print(f"  latency {label} {batching}: p99 runs {[r['p99_ms'] for r in runs]}", file=sys.stderr,
                      flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per system and configuration (median and spread)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--copies", type=float, default=DEFAULT_COPIES,
                        help="share of new complaints that copy an open one, place included (1.0: every post "
                             "repeats one of ~150 sample texts, the clustering stage's worst case)")
    parser.add_argument("--warmup", type=int, default=500, help="posts pushed through before each run's clock starts")
    parser.add_argument("--configs", default="1x1,2x1,4x1,4x2", help="PARTITIONSxWORKERS, comma-separated")
    parser.add_argument("--rate", default="500", help="input rates of the latency runs (posts/s), comma-separated")
    parser.add_argument("--latency-posts", type=int, default=5_000, help="posts in the latency run (0 skips it)")
    parser.add_argument("--batching", choices=("default", "tansu-safe", "both"), default="default",
                        help="producer batching of the pipeline rows (see above)")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:KEY=VALUE,...",
                        help="an extra pipeline row with these worker environment variables")
    parser.add_argument("--skeleton", action="store_true",
                        help="also run the faust skeleton: the no-op plus a table write and a second output per "
                             "message (bench/noop_app.py), the least a pipeline with durable state can do")
    parser.add_argument("--count-messages", type=int, default=2_000,
                        help="posts of a run whose records are counted on every topic (0 skips it)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results.json")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    print(f"\nTanggap pipeline benchmark: {report.posts} posts, median of {report.runs} runs, {report.machine}")
    print(f"producer batching: {report.batching}\n")
    print(table(report.throughput))
    if report.messages_per_post:
        print("\nrecords per post, by topic: " + ", ".join(f"{t} {n:.2f}" for t, n in report.messages_per_post.items())
              + f"; total {sum(report.messages_per_post.values()):.2f}")
    for lat in report.latency:
        p99_runs = ", ".join(f"{r['p99_ms']:.0f}" for r in lat["runs"])
        print(f"\nlatency of {lat['system']} ({lat['batching']}) at {lat['rate_per_second']:.0f} posts/s, "
              f"{lat['posts']} posts, median of {len(lat['runs'])} runs: p50 {lat['p50_ms']:.0f} ms, "
              f"p99 {lat['p99_ms']:.0f} ms (runs {p99_runs}), "
              f"max {lat['max_ms']:.0f} ms")
    args.json.write_bytes(orjson.dumps(asdict(report), option=orjson.OPT_INDENT_2))
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
