"""How the workers' RocksDB table stores are opened: faust's options, and the write-ahead log.

A faust table is its changelog topic; the RocksDB store is a local copy of it that spares a
restarted worker replaying the whole changelog. RocksDB's write-ahead log makes every single
write durable in the copy by itself, at the price of a `write()` system call per put: a
table write per changelog record and a persisted-offset write per changelog batch, which was
~15% of the clustering stage at 1,000,000 fingerprints with a persisted-offset write per record
(`bench/dedupe_bench.py`, docs/dedupe.md).

Without the log (`TANGGAP_STORE_WAL=false`, the default; Kafka Streams runs its RocksDB stores
the same way) a crash loses the writes still in RocksDB's memtable, never a change of the table:

- RocksDB flushes memtables in write order, so what survives a crash is a prefix of the writes;
- the offset of each changelog batch's last record goes into the same database (through
  faust's own callback, `Pipeline.produce_changelog`) after the batch is acknowledged, after
  the table writes it carries, so the surviving offset never runs ahead of the surviving table
  writes;
- on start faust replays the changelog from that offset: the lost writes come back from the
  topic, and writes replayed twice are idempotent (the same values in the same order).

A crash costs a longer replay instead. A stop flushes the memtable (RocksDB does when a database
without a log is closed), so a restart after a clean stop replays nothing more than before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _faust_open() -> Any:
    """faust's own `RocksDBOptions.open`, whether streams/faust_fixes.py wrapped it or not."""
    from faust.stores.rocksdb import RocksDBOptions

    opener = RocksDBOptions.open
    return getattr(opener, "__wrapped__", opener)


def configure_writes(db: Any, write_ahead_log: bool) -> None:
    import rocksdict

    # Compression stays RocksDB's default (Snappy): turned off, the clustering stage ran no
    # faster at 1,000,000 entries (bench/dedupe_bench.py, docs/dedupe.md), with twice the disk.
    if not write_ahead_log:
        options = rocksdict.WriteOptions()
        options.disable_wal = True
        db.set_write_options(options)


def open_table_store(path: Path, *, write_ahead_log: bool = False) -> Any:
    """A RocksDB database opened exactly as a worker opens a table partition's store (faust's
    default options, raw bytes), for benchmarks and tests that need the real store without an
    app."""
    from faust.stores.rocksdb import RocksDBOptions

    db = _faust_open()(RocksDBOptions(use_rocksdict=True), path)
    configure_writes(db, write_ahead_log)
    return db
