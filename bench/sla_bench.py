"""SLA clocks at scale: one worker's state with 1,000,000 open clocks.

Run from the repository root (not by pytest; a few minutes, ~1 GB of RAM and disk in a temp dir):

    .venv/bin/python -m bench.sla_bench                 # 1,000,000 clocks
    .venv/bin/python -m bench.sla_bench --clocks 100000 # a quick look

What it drives, exactly: the code the `sla` agent and its timer run (agents/domain/sla.py:
open_clock, index_entry, DeadlineIndex, due_levels, sla_event) over the store faust uses for the
`clocks` table (rocksdict, one RocksDB per partition, values as orjson bytes as faust's JSON codec
writes them). It does NOT go through Kafka: a tick's message to `sla.timeline` and the breach's
produce are replaced by serializing the event, so "lateness" is the timer/index/agent part of
the path (a Kafka hop adds a few milliseconds on a real broker). Loading 1M clocks through the
embedded broker would take many minutes.

Figures (each also printed as a ratio against a baseline measured in the same run):
- calendar: deadline computations per second (WorkingCalendar.add of 4 working hours, and a
  whole open_clock: two stages, three calendar calls); baseline RoundTheClock.add;
- rebuild: seconds to rebuild the deadline index from the store after a restart (read every
  clock of 4 partitions, decode, heapify);
- tick with nothing due: the timer's cost per tick (median, p99) against a full scan of
  every open clock (the baseline: the design the heap replaced);
- lateness: K clocks fall due during a window of real time while the timer ticks every
  `--tick` seconds; lateness = wall time the event was built minus its due instant; p50/p99/max;
- memory: RSS of this process, and the index's bytes per open clock (RSS growth while building
  it, with the clocks themselves in RocksDB as in a worker).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from rocksdict import Options, Rdict

from agents.domain.config import load_config
from agents.domain.sla import DeadlineIndex, due_levels, index_entry, mark_emitted, open_clock, sla_event
from agents.domain.state import Clock
from schemas.events import format_time

REPO = Path(__file__).resolve().parent.parent
PARTITIONS = 4
PRIORITIES = ("tinggi", "normal", "rendah")
OPDS = ("dpupr", "dishub", "pdam", "dlh", "dinkes", "disdik", "disdukcapil", "diskominfo")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def opened_event(complaint_id: str, priority: str, opd: str, at: float, tz) -> dict:
    return {"type": "opened", "complaint_id": complaint_id, "occurred_at": format_time(at, tz), "kind": "pengaduan",
            "category": "jalan", "priority": priority, "opd": opd, "kecamatan": "Wedi", "desa": None,
            "mentions": 1, "platforms": ["twitter"],
            "first_post": {"key": f"twitter:{complaint_id}", "platform": "twitter", "post_id": complaint_id,
                           "url": f"https://x.com/warga/status/{complaint_id}", "author_handle": "warga"},
            "excerpt": "Jalan di kecamatan Wedi rusak parah dan berlubang, mohon segera diperbaiki"}


def rate(calls: int, seconds: float) -> str:
    return f"{calls / seconds:>12,.0f}/s"


def bench_calendar(sla, tz) -> None:
    rng = random.Random(5)
    base = time.time()
    starts = [base + rng.random() * 365 * 86400 for _ in range(200_000)]
    working, wall = sla.working, sla.round_the_clock
    working.add(min(starts), 0.0)
    working.add(max(starts), 30 * 86400.0)

    def timed(call) -> float:
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for s in starts:
                call(s, 4 * 3600.0)
            best = min(best, time.perf_counter() - t0)
        return best

    baseline = timed(wall.add)
    exact = timed(working.add)
    events = [opened_event(f"c{i}", PRIORITIES[i % 3], OPDS[i % len(OPDS)], starts[i], tz) for i in range(20_000)]
    t0 = time.perf_counter()
    for event in events:
        open_clock(event, sla)
    whole = time.perf_counter() - t0
    print("calendar")
    print(f"  WorkingCalendar.add(start, 4 h)   {rate(len(starts), exact)}   "
          f"(baseline RoundTheClock.add {rate(len(starts), baseline)}, ratio {exact / baseline:.1f}x slower)")
    print(f"  open_clock (2 stages, 3 calls)    {rate(len(events), whole)}")


def fill_store(root: Path, clocks: int, due_after: float, due_window: float, due_count: int, sla,
               tz) -> tuple[list[Rdict], dict]:
    """`clocks` open clocks; `due_count` of them have their next level (at_risk of a darurat
    hour) fall due at a random instant `due_after` .. `due_after + due_window` seconds from now
    (after the setup), the rest hours or days away."""
    dbs = [Rdict(str(root / f"clocks-{p}.db"), Options(raw_mode=True)) for p in range(PARTITIONS)]
    rng = random.Random(11)
    now = time.time()
    due_at: dict[str, float] = {}
    # open_clock is the expensive part; a few templates per priority/OPD, then per-clock times
    # shifted by whole weeks keep working-time deadlines exact (same weekday and hour).
    templates = {}
    for priority in PRIORITIES:
        for opd in OPDS:
            templates[(priority, opd)] = open_clock(opened_event("t", priority, opd, now, tz), sla)
    darurat = open_clock(opened_event("t", "darurat", "bpbd", now, tz), sla)
    t0 = time.perf_counter()
    for i in range(clocks):
        complaint_id = f"cmp-{i:07d}"
        if i < due_count:
            offset = due_after + rng.random() * due_window
            clock = Clock.from_json(orjson.loads(orjson.dumps(darurat.to_json())))
            shift = offset - 0.75 * 3600.0  # at_risk (45 min of the hour) falls due at now + offset
            clock.opened_at += shift
            stage = clock.stages["first_response"]
            stage.anchor += shift
            stage.deadline += shift
            due_at[complaint_id] = now + offset
        else:
            template = templates[(PRIORITIES[i % 3], OPDS[i % len(OPDS)])]
            clock = Clock.from_json(orjson.loads(orjson.dumps(template.to_json())))
        clock.complaint_id = complaint_id
        index_entry(clock, sla)
        dbs[i % PARTITIONS][complaint_id.encode()] = orjson.dumps(clock.to_json())
    for db in dbs:
        db.flush()
    print(f"  wrote {clocks:,} clocks to {PARTITIONS} RocksDB partitions in {time.perf_counter() - t0:.1f} s")
    return dbs, due_at


def rebuild(dbs: list[Rdict], index: DeadlineIndex) -> float:
    t0 = time.perf_counter()
    loads = orjson.loads

    def entries():
        for db in dbs:
            for key, value in db.items():
                state = Clock.from_json(loads(value))  # as the agent's rebuild reads it
                yield key.decode(), state.next_due, state.opd, state.gauge or 0

    index.rebuild(entries())
    return time.perf_counter() - t0


def full_scan(dbs: list[Rdict], now: float) -> tuple[float, int]:
    """The baseline timer: look at every open clock each tick."""
    t0 = time.perf_counter()
    due = 0
    for db in dbs:
        for _, value in db.items():
            state = orjson.loads(value)  # the raw stored shape: this baseline decodes no types
            if state["stages"]["first_response"]["stopped_at"] is None and now > state["deadline"]:
                due += 1
    return time.perf_counter() - t0, due


def lateness_run(dbs: list[Rdict], index: DeadlineIndex, due_at: dict[str, float], window: float,
                 tick: float, sla, tz) -> list[float]:
    late: list[float] = []
    by_key = {}
    for p, db in enumerate(dbs):
        by_key[p] = db
    end = time.time() + window + 2 * tick
    while time.time() < end:
        started = time.time()
        for complaint_id in index.pop_due(started, retry_at=started + 5.0):
            # What the agent does with the tick: read, decide, emit, write back, re-index.
            db = by_key[int(complaint_id[4:]) % PARTITIONS]
            key = complaint_id.encode()
            state = Clock.from_json(orjson.loads(db[key]))
            emitted_at = time.time()
            for stage, level, at in due_levels(state, emitted_at, sla):
                mark_emitted(state, stage, level.name)
                orjson.dumps(sla_event(state, stage, level.name, emitted_at=emitted_at, due_at=at, policies=sla,
                                       source="tanggap/bench", tz=tz))
                late.append(time.time() - at)
            due, opd, gauge = index_entry(state, sla)
            db[key] = orjson.dumps(state.to_json())
            index.set(complaint_id, due, opd, gauge)
        time.sleep(max(0.0, tick - (time.time() - started)))
    missing = sum(1 for cid in due_at if index._due.get(cid, (None,))[0] == due_at[cid])
    assert missing == 0, f"{missing} due clocks were never emitted"
    return late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clocks", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=20_000, help="clocks falling due during the lateness window")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of the lateness window")
    parser.add_argument("--tick", type=float, default=0.2, help="timer interval (TANGGAP_SLA_TICK_SECONDS)")
    args = parser.parse_args()

    config = load_config(REPO / "deploy" / "config" / "klaten")
    sla, tz = config.sla, config.timezone
    print(f"SLA bench: {args.clocks:,} open clocks, {args.due:,} falling due within {args.window:g} s, "
          f"tick {args.tick:g} s, {os.cpu_count()} CPUs")
    bench_calendar(sla, tz)

    root = Path(tempfile.mkdtemp(prefix="sla-bench-"))
    try:
        print("store")
        # Setup (filling, rebuild, the full-scan baseline) must end before the first clock falls due.
        allowance = 20.0 + 100.0 * args.clocks / 1_000_000
        dbs, due_at = fill_store(root, args.clocks, allowance, args.window, args.due, sla, tz)
        gc.collect()
        rss_before = rss_mb()
        index = DeadlineIndex()
        seconds = rebuild(dbs, index)
        gc.collect()
        rss_after = rss_mb()
        print("rebuild after restart")
        print(f"  {len(index):,} clocks indexed in {seconds:.2f} s ({rate(len(index), seconds)})")
        print("memory")
        print(f"  process RSS {rss_after:,.0f} MB; index {rss_after - rss_before:,.0f} MB = "
              f"{(rss_after - rss_before) * 1024 * 1024 / max(1, len(index)):,.0f} bytes per open clock")

        now = time.time()
        samples = []
        for _ in range(2_000):
            t0 = time.perf_counter()
            assert index.pop_due(now, retry_at=now + 5) == []
            samples.append(time.perf_counter() - t0)
        samples.sort()
        scan_seconds, _ = full_scan(dbs, now)
        median, p99 = statistics.median(samples), samples[int(len(samples) * 0.99)]
        print("tick with nothing due")
        print(f"  index: median {median * 1e6:.1f} us, p99 {p99 * 1e6:.1f} us; "
              f"baseline full scan {scan_seconds * 1000:,.0f} ms per tick "
              f"(index {scan_seconds / median:,.0f}x cheaper)")

        wait = min(due_at.values()) - time.time() - 1.0
        if wait < 0:
            print(f"  WARNING: setup overran the allowance by {-wait:.0f} s: lateness below is inflated")
        time.sleep(max(0.0, wait))
        late = lateness_run(dbs, index, due_at, max(due_at.values()) - time.time(), args.tick, sla, tz)
        late.sort()
        print(f"lateness ({len(late):,} events, tick {args.tick:g} s, no Kafka hop)")
        print(f"  p50 {statistics.median(late) * 1000:.0f} ms, p99 {late[int(len(late) * 0.99)] * 1000:.0f} ms, "
              f"max {late[-1] * 1000:.0f} ms (baseline: the tick interval, {args.tick * 1000:.0f} ms)")
        print(f"final process RSS {rss_mb():,.0f} MB")
        for db in dbs:
            db.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
