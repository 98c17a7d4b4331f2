"""Local table state against the broker: is the RocksDB copy ahead of the changelogs it copies?

A worker's tables live in RocksDB under TANGGAP_DATA_DIR, each partition's store remembering the
offset of the last changelog record it applied. faust checks at recovery that this offset is not
past the end of the changelog, and raises `ConsistencyError` (a traceback, a dead worker) when it
is. That happens when the broker lost the changelog: always after a restart of the embedded
broker (it keeps nothing across restarts), and on a real cluster after a topic was deleted or the
data directory was copied from another cluster.

`check` finds it before the worker starts: `tanggap run` on the embedded broker moves the state
aside and says in one line what was lost; a worker against a real broker stops with one line and
the recovery command (`tanggap reset-state`).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from agents.domain.state import Clock

TABLES = ("threads", "orphans", "clusters", "clocks")
"""The tables of the pipeline (agents/triage.py, agents/cluster.py, agents/sla.py)."""
OFFSET_KEY = b"__faust\0offset__"
"""Where faust's RocksDB store keeps the offset of the last changelog record applied."""
_STORE = re.compile(r"^(?P<table>.+)-(?P<partition>\d+)\.db$")
SET_ASIDE = "previous-state"
"""Where reset-state and `tanggap run` move state the broker no longer backs (one, the latest)."""


@dataclass
class Ahead:
    table: str
    partition: int
    stored: int
    end: int
    """The changelog partition's end offset on the broker (0: empty or missing)."""


@dataclass
class StateReport:
    directory: Path
    stores: dict[tuple[str, int], int] = field(default_factory=dict)
    """Persisted changelog offset of every table partition store found."""
    ahead: list[Ahead] = field(default_factory=list)

    def describe_ahead(self) -> str:
        first = self.ahead[0]
        more = f" and {len(self.ahead) - 1} more partitions" if len(self.ahead) > 1 else ""
        return (f"table {first.table} partition {first.partition} has applied changelog offset {first.stored}, "
                f"the broker's changelog ends at {first.end}{more}")


def state_root(settings) -> Path:
    """faust's application directory under the data directory (`v1`: app version 1)."""
    return Path(settings.data_dir) / "v1"


def table_dir(settings) -> Path:
    return state_root(settings) / "tables"


def _open_read_only(path: Path) -> Any:
    from faust.stores.rocksdb import RocksDBOptions

    from streams.stores import _faust_open

    return _faust_open()(RocksDBOptions(use_rocksdict=True), path, read_only=True)


def stored_offsets(settings) -> dict[tuple[str, int], int]:
    """(table, partition) -> the changelog offset its local store has applied."""
    found: dict[tuple[str, int], int] = {}
    directory = table_dir(settings)
    if not directory.is_dir():
        return found
    for path in sorted(directory.iterdir()):
        match = _STORE.match(path.name)
        if not match or match["table"] not in TABLES:
            continue
        try:
            db = _open_read_only(path)
        except Exception:  # noqa: BLE001 - rocksdict raises a bare Exception for a held lock
            # Another worker on this data directory holds the store: it is running, so this is
            # no restart after a lost broker, and its state is its own to check.
            continue
        try:
            raw = db.get(OFFSET_KEY)
        finally:
            db.close()
        if raw is not None:
            found[(match["table"], int(match["partition"]))] = int(raw)
    return found


def open_clocks(settings) -> tuple[int, int]:
    """(complaints with a running SLA clock, complaints with any clock) in the local `clocks`
    table: what the operator loses with it."""
    running = total = 0
    directory = table_dir(settings)
    if not directory.is_dir():
        return 0, 0
    for path in directory.glob("clocks-*.db"):
        db = _open_read_only(path)
        try:
            for key, value in db.items():
                if key == OFFSET_KEY:
                    continue
                total += 1
                try:
                    clock = Clock.from_json(orjson.loads(value))
                except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                    continue
                running += any(stage.stopped_at is None for stage in (clock.stages or {}).values())
        finally:
            db.close()
    return running, total


async def changelog_ends(settings, tables: set[str]) -> dict[tuple[str, int], int]:
    """(table, partition) -> end offset of the table's changelog on the broker; a changelog
    the broker does not have ends at 0."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.kafka import client_options, start

    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None, enable_auto_commit=False)
    await start(consumer)
    try:
        existing = await consumer.topics()
        ends: dict[tuple[str, int], int] = {}
        partitions = []
        for table in tables:
            topic = f"{settings.app_id}-{table}-changelog"
            if topic not in existing:
                ends.update({(table, p): 0 for p in range(settings.partitions)})
                continue
            for partition in consumer.partitions_for_topic(topic) or ():
                partitions.append(TopicPartition(topic, partition))
        if partitions:
            offsets = await consumer.end_offsets(partitions)
            prefix = f"{settings.app_id}-"
            for tp, end in offsets.items():
                ends[(tp.topic[len(prefix):-len("-changelog")], tp.partition)] = end
        return ends
    finally:
        await consumer.stop()


def check(settings) -> StateReport:
    """Compare every local store's applied offset with its changelog's end on the broker."""
    report = StateReport(table_dir(settings), stored_offsets(settings))
    if not report.stores:
        return report
    ends = asyncio.run(changelog_ends(settings, {table for table, _ in report.stores}))
    for (table, partition), stored in sorted(report.stores.items()):
        end = ends.get((table, partition), 0)
        if stored >= end:  # the record at `stored` was applied, so the changelog must hold it
            report.ahead.append(Ahead(table, partition, stored, end))
    return report


def set_aside(settings) -> Path | None:
    """Move the local table state to DATA_DIR/previous-state (replacing an older one); the
    worker then starts empty and recovers whatever the broker's changelogs hold."""
    root = state_root(settings)
    if not root.exists():
        return None
    target = Path(settings.data_dir) / SET_ASIDE
    if target.exists():
        shutil.rmtree(target)
    root.rename(target)
    (target / "MOVED_AT").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
    return target
