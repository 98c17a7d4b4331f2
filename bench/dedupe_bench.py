"""Benchmark of the near-duplicate clustering stage alone, one core, no Kafka.

    .venv/bin/python bench/dedupe_bench.py                      # 1,000,000 fingerprints, 50,000 posts
    .venv/bin/python bench/dedupe_bench.py --window 100000      # quicker

What it measures, in one run:
1. memory per fingerprint: process RSS growth while the in-memory LSH index (`LshIndex`) is
   rebuilt from the table of N fingerprints (as after a restart), and the stored size of a
   table entry (key + JSON value, what faust's RocksDB store keeps on disk);
2. posts/s of `Clusterer.process` (exactly what the `cluster` agent runs per message, minus the
   Kafka I/O) with N fingerprints in the window. The table is a real RocksDB database, opened as
   a worker opens a table partition's store (streams/stores.py: faust's options, no
   write-ahead log), with keys and values encoded as the worker's table reads and writes encode
   them (`--table serialized`: the alternative, a dict of JSON values).
   30% of the posts are copies of indexed complaints (changed like citizens change them), 70% new
   complaints in the same kecamatan and categories. The window
   slides: each post pushes about one old fingerprint out, whose table entry the stage settles
   (text dropped or entry deleted), as in a long-running worker (`--fixed-window`: nothing
   expires during the run); an expired fingerprint leaves its
   bucket's LSH at once;
3. the same posts against an empty window, and `Triage.process` (the existing triage stage) on
   posts of the same shape, as baselines: the figures are reported as ratios against them.

Synthetic texts: words drawn from a 3,000-word vocabulary with Zipf frequencies plus the category
and place words, so posts of one kecamatan and category share words the way real complaints do.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os

import orjson
from itertools import accumulate, count
import random
import resource
import string
import tempfile
import time
from pathlib import Path

from agents.domain.cluster import Clusterer, ClusterPolicy
from agents.domain.config import load_config
from agents.domain.state import ClusterEntry
from agents.domain.triage import Triage
from faust.serializers import codecs
from schemas.events import RawPost, format_time, stable_id
from streams.batches import JSON_OPTIONS, stored_key
from streams.stores import open_table_store

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "config" / "klaten"
CATEGORIES = ["jalan", "drainase", "penerangan_jalan", "air_bersih", "lingkungan", "kesehatan", "pendidikan",
              "lalu_lintas", "bencana", "sosial", "ketertiban", "adminduk"]
KECAMATAN = [f"kec{i:02d}" for i in range(26)]
START = 1_793_000_000.0


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system, so that the index cannot grow into memory
    freed earlier (the bytes read from RocksDB) without showing in the process's RSS."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figure may come out low
        pass


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


VOCABULARY = 3000
ZIPF = list(accumulate(1.0 / rank for rank in range(1, VOCABULARY + 1)))
"""Word frequencies of natural language: a few words ("jalan", "sudah", "rusak") in most posts."""


FUNCTION_WORDS = ("di yang dan ini itu ada tidak sudah ke dari untuk dengan juga sama bisa belum masih lagi "
                  "karena jadi kalau saja sangat mau harus pada dalam buat kita kami saya warga banget akan "
                  "sedang oleh kan pun aja").split()
"""The top of the Zipf ranking is made of real function words, as in real posts (about half the
tokens); the clustering stage drops them (agents.domain.cluster.STOP_WORDS)."""


def vocabulary(rng: random.Random, size: int = VOCABULARY) -> list[str]:
    content = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9)))
               for _ in range(size - len(FUNCTION_WORDS))]
    return [*FUNCTION_WORDS, *content]


def new_text(rng: random.Random, words: list[str], category: str, kecamatan: str) -> str:
    body = rng.choices(words, cum_weights=ZIPF, k=rng.randint(10, 22))
    body.insert(rng.randrange(len(body)), f"kecamatan {kecamatan}")
    body.insert(rng.randrange(len(body)), category.replace("_", " "))
    return " ".join(body)


def copy_of(rng: random.Random, text: str, words: list[str]) -> str:
    tokens = text.split()
    change = rng.random()
    if change < 0.3:
        tokens = tokens[:max(8, int(len(tokens) * 0.75))]  # truncated
    elif change < 0.6:
        tokens = ["mohon", "min", *tokens, "tolong", "segera"]  # greetings (filler words)
    else:
        tokens = [*tokens[:-2], *rng.choices(words, k=2)]  # another ending
    return " ".join(tokens)


def envelope(number: int, text: str, category: str, kecamatan: str, at: float) -> dict:
    key = f"twitter:{number}"
    complaint_id = stable_id("cmp", key)
    post = {"key": key, "platform": "twitter", "post_id": str(number), "url": None, "author_handle": "warga",
            "created_at": format_time(at)}
    snapshot = {"complaint_id": complaint_id, "kind": "pengaduan", "category": category, "priority": "normal",
                "opd": "dpupr", "kecamatan": kecamatan, "desa": None}
    event = {"event_id": stable_id("evt", complaint_id, "opened", key), "type": "opened",
             "occurred_at": format_time(at), **snapshot, "mentions": 1, "platforms": ["twitter"], "first_post": post,
             "post": post, "excerpt": text[:280], "response": None, "reasons": []}
    record = {"event_id": stable_id("tri", key, "opened"), "post_key": key, "platform": "twitter",
              "post_id": str(number), "created_at": format_time(at), "outcome": "opened", **snapshot,
              "duplicate_of": None, "duplicate_via": None, "ignored_reason": None, "reasons": []}
    return {"records": [record], "events": [event], "fingerprints": {key: text}}


class StoredTable:
    """The cluster table as a worker has it: a RocksDB database opened as faust opens a table
    partition's store (streams/stores.py), keys and values encoded as `StagedTable` encodes them
    (the bytes of faust's json codec, made by orjson), every read decoded. Deletes are writes,
    as in faust's store. Iterating decodes keys with faust's codec, as faust's store does."""

    def __init__(self, directory: Path) -> None:
        self.db = open_table_store(directory)
        self.written = 0
        """Bytes of keys and values written (deletes count their key)."""

    def get(self, key, default=None):
        raw = self.db.get(stored_key(key))
        return default if raw is None else ClusterEntry.from_json(orjson.loads(raw))

    def __getitem__(self, key):
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def update(self, entries):
        db = self.db
        for key, value in entries.items():
            encoded = stored_key(key)
            if value is None:  # expired with the window: the agent pops it
                db.delete(encoded)
                self.written += len(encoded)
            else:
                raw = orjson.dumps(value.to_json(), option=JSON_OPTIONS)
                db.put(encoded, raw)
                self.written += len(encoded) + len(raw)

    def settle(self) -> float:
        """Flush the memtable and wait until RocksDB has no flush or compaction left to do;
        returns the CPU seconds its threads spent meanwhile."""
        process_started, thread_started = time.process_time(), time.thread_time()
        self.db.flush()
        pending = ("rocksdb.mem-table-flush-pending", "rocksdb.num-running-flushes", "rocksdb.compaction-pending",
                   "rocksdb.num-running-compactions")
        while any(self.db.property_int_value(name) for name in pending):
            time.sleep(0.05)
        return (time.process_time() - process_started) - (time.thread_time() - thread_started)

    def items(self):
        return ((codecs.loads("json", key), ClusterEntry.from_json(orjson.loads(raw))) for key, raw in self.db.items())

    def stored(self) -> tuple[int, int]:
        """Entries, and bytes of keys and values (what RocksDB keeps, before compression)."""
        entries = size = 0
        for key, raw in self.db.items():
            entries += 1
            size += len(key) + len(raw)
        return entries, size


class SerializedTable(dict):
    """The alternative model of the cluster table (`--table serialized`): JSON values in a dict,
    decoded on every read. Faster than the real store at a million entries, and slower than it
    should be as well: the million live values fragment the C heap, and every encoding's
    1 KiB buffer then takes malloc's slow path (measured: the empty-window baseline at half the
    rate of the same run in a process without them)."""

    written = 0
    """No RocksDB behind it: nothing is owed for its writes."""

    def settle(self) -> float:
        return 0.0

    def get(self, key, default=None):
        raw = dict.get(self, key)
        return default if raw is None else ClusterEntry.from_json(orjson.loads(raw))

    def __getitem__(self, key):
        return ClusterEntry.from_json(orjson.loads(dict.__getitem__(self, key)))

    def update(self, entries):
        for key, value in entries.items():
            if value is None:  # expired with the window: the agent pops it
                dict.pop(self, key, None)
            else:
                dict.__setitem__(self, key, orjson.dumps(value.to_json()))

    def items(self):
        return ((key, ClusterEntry.from_json(orjson.loads(raw))) for key, raw in dict.items(self))

    def stored(self) -> tuple[int, int]:
        return len(self), sum(len(key) + len(raw) for key, raw in dict.items(self))


GC_SECONDS = [0.0]
_GC_STARTED = [0.0]


def _gc_timer(phase: str, info: dict) -> None:
    if phase == "start":
        _GC_STARTED[0] = time.perf_counter()
    else:
        GC_SECONDS[0] += time.perf_counter() - _GC_STARTED[0]


BACKGROUND_SECONDS = [0.0]
"""CPU of the other threads during the last run_stage: RocksDB's flushes and compactions, which
share the one core with the stage (the benchmark is pinned to one)."""


def owed_to_store(written: int, seconds_per_byte: float) -> float:
    """What RocksDB's threads owe for the bytes the last run_stage wrote, beyond what they did
    during it."""
    return max(0.0, written * seconds_per_byte - BACKGROUND_SECONDS[0])


def run_stage(clusterer: Clusterer, table: dict, envelopes: list[dict]) -> tuple[float, int]:
    merged = 0
    gc.collect()
    GC_SECONDS[0] = 0.0
    process_started, thread_started = time.process_time(), time.thread_time()
    started = time.perf_counter()
    for item in envelopes:
        result = clusterer.process(item, table)
        table.update(result.updates)
        merged += result.records[0]["outcome"] == "mention"
    seconds = time.perf_counter() - started
    # Clamped: the two clocks tick at different resolutions, and an idle RocksDB printed "-0.0".
    BACKGROUND_SECONDS[0] = max(0.0, (time.process_time() - process_started) - (time.thread_time() - thread_started))
    return seconds, merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=1_000_000, help="fingerprints in the window (default 1,000,000)")
    parser.add_argument("--posts", type=int, default=50_000, help="posts pushed through the stage (default 50,000)")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--fixed-window", action="store_true",
                        help="no fingerprint leaves the window during the run")
    parser.add_argument("--table", choices=("rocksdb", "serialized"), default="rocksdb",
                        help="the cluster table: a RocksDB store as the worker's (default), or the alternative, "
                             "a dict of JSON values")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tanggap-dedupe-bench-") as scratch:
        run(args, Path(scratch))


def run(args: argparse.Namespace, scratch: Path) -> None:
    numbers = count()

    def new_table() -> StoredTable | SerializedTable:
        return StoredTable(scratch / f"table{next(numbers)}") if args.table == "rocksdb" else SerializedTable()

    huge = "glibc.malloc.hugetlb=1" in os.environ.get("GLIBC_TUNABLES", "")
    print(f"malloc heap on transparent huge pages: {'yes' if huge else 'no'} (GLIBC_TUNABLES, as in the image)")
    rng = random.Random(args.seed)
    words = vocabulary(rng)
    policy = ClusterPolicy()
    span = policy.window_seconds * 0.9

    # 1. the window: N complaints opened in the last 72 hours
    print(f"generating {args.window:,} window posts ...", flush=True)
    window = []
    for number in range(args.window):
        category, kecamatan = rng.choice(CATEGORIES), rng.choice(KECAMATAN)
        window.append((number, new_text(rng, words, category, kecamatan), category, kecamatan,
                       START + span * number / args.window))
    if args.fixed_window:
        def time_of(i: int) -> float:
            return START + span + i * 0.01
    else:
        # Steady state: post i comes when window post i leaves the window, so every post pushes
        # one fingerprint out and the stage settles its table entry, as a long-running worker does.
        def time_of(i: int) -> float:
            return START + policy.window_seconds + span * (i + 0.5) / args.window
    posts = []
    for i in range(args.posts):
        number = args.window + i
        if rng.random() < 0.3:
            _, text, category, kecamatan, _ = window[rng.randrange(args.window)]
            posts.append(envelope(number, copy_of(rng, text, words), category, kecamatan, time_of(i)))
        else:
            category, kecamatan = rng.choice(CATEGORIES), rng.choice(KECAMATAN)
            posts.append(envelope(number, new_text(rng, words, category, kecamatan), category, kecamatan,
                                  time_of(i)))

    gc.collect()
    gc.callbacks.append(_gc_timer)
    loaded = Clusterer(policy)
    table = new_table()
    process_started, thread_started = time.process_time(), time.thread_time()
    started = time.perf_counter()
    for number, text, category, kecamatan, at in window:
        result = loaded.process(envelope(number, text, category, kecamatan, at), table)
        table.update(result.updates)
    load_seconds = time.perf_counter() - started
    # RocksDB's cost of a written byte (memtable flushes and compactions, in its own threads),
    # measured over the load and charged to the run by the bytes it writes: the run is too short
    # to fill a memtable, and what RocksDB still owes the load must not be charged to it.
    load_background = (time.process_time() - process_started) - (time.thread_time() - thread_started)
    store_seconds_per_byte = (load_background + table.settle()) / table.written if table.written else 0.0
    gc.collect()
    table_only = Clusterer(policy)  # the index rebuilt from the table, as after a restart
    started = time.perf_counter()
    # Read before the memory is measured: reading RocksDB fills its block cache, which is not
    # the index's memory.
    stored_entries = list(table.items())
    read_seconds = time.perf_counter() - started
    gc.collect()
    release_free_memory()
    before_index = rss_bytes()
    started = time.perf_counter()
    table_only.rebuild(stored_entries)
    rebuild_seconds = read_seconds + time.perf_counter() - started
    gc.collect()
    # Measured while the first index and the entries read still exist, so freed memory is not
    # reused and hidden.
    index_bytes = rss_bytes() - before_index
    del loaded, stored_entries
    gc.collect()
    entries_before, table_bytes = table.stored()
    print(f"window: {len(table_only.index):,} fingerprints; loading {args.window / load_seconds:,.0f} posts/s; "
          f"index rebuild from the table {rebuild_seconds:.1f} s, reading it {read_seconds:.1f} s of them")
    print(f"memory per fingerprint: LSH index {index_bytes / args.window:,.0f} B in RAM; "
          f"table entry {table_bytes / args.window:,.0f} B of key + JSON value (what RocksDB stores, on disk, "
          f"before compression)")

    # 2. the stage with the full window
    indexed_before = len(table_only.index)
    written_before = table.written
    seconds, merged = run_stage(table_only, table, posts)
    gc_seconds, background_seconds = GC_SECONDS[0], BACKGROUND_SECONDS[0]
    store_owed = owed_to_store(table.written - written_before, store_seconds_per_byte)
    measured_rate = len(posts) / seconds
    seconds += store_owed
    full_rate = len(posts) / seconds
    print(f"window after the run: {len(table_only.index):,} fingerprints; table {entries_before:,} -> {table.stored()[0]:,} "
          f"entries (unresolved complaints stay when their fingerprints leave the window)")
    print(f"stage, {args.window:,} fingerprints in the window, {args.table} table: {full_rate:,.0f} posts/s "
          f"({seconds * 1e6 / len(posts):.1f} µs/post, of which {gc_seconds * 1e6 / len(posts):.1f} in Python's "
          f"garbage collector, {background_seconds * 1e6 / len(posts):.1f} in RocksDB's threads during the run, "
          f"{store_owed * 1e6 / len(posts):.1f} owed to them for its writes ({store_seconds_per_byte * 1e9:.0f} ns "
          f"per byte written, measured over the load); {measured_rate:,.0f} posts/s without that debt; "
          f"{merged:,} of {len(posts):,} merged as copies)")

    # 3. baselines in the same run
    empty_table = new_table()
    empty_seconds, _ = run_stage(Clusterer(policy), empty_table, posts)
    empty_seconds += owed_to_store(empty_table.written, store_seconds_per_byte)
    empty_rate = len(posts) / empty_seconds
    config = load_config(CONFIG)
    triage = Triage(config)
    raw = [RawPost.parse({"platform": "twitter", "post_id": str(i), "text": f"jalan rusak di kec wedi {t}",
                          "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": "u", "handle": "w"}})
           for i, t in enumerate(item["fingerprints"][next(iter(item["fingerprints"]))] for item in posts[:20_000])]
    state: dict = {}
    gc.collect()
    started = time.perf_counter()
    for post in raw:
        state.update(triage.process(post, state).state_updates)
    triage_rate = len(raw) / (time.perf_counter() - started)
    print(f"baseline, empty window: {empty_rate:,.0f} posts/s -> full window runs at {full_rate / empty_rate:.2f}x")
    print(f"baseline, triage stage (Triage.process): {triage_rate:,.0f} posts/s -> clustering is "
          f"{full_rate / triage_rate:.2f}x the triage rate")


if __name__ == "__main__":
    main()
