"""The faust baselines: consume a topic and produce every message unchanged to another, with the
same faust settings a Tanggap worker uses.

- `BENCH_SHAPE=noop` (the default): that and nothing else, the faust no-op;
- `BENCH_SHAPE=skeleton`: per message also a write to a changelogged table (RocksDB) and a second
  output (`BENCH_OUT` + "2"), in faust's own way: the least record work a pipeline with durable
  state and two outputs does per post (one consume, three produces), with no domain logic at all.
  Its share of the no-op bounds what any topology of such a pipeline could reach on faust
  (docs/performance.md).

Configured by environment variables: BENCH_BROKER, BENCH_APP_ID, BENCH_IN, BENCH_OUT,
BENCH_PARTITIONS, BENCH_WEB_PORT, BENCH_MAX_BATCH (optional), BENCH_SHAPE (optional), and any
TANGGAP_ tuning variable."""

from __future__ import annotations

import os

import faust

from streams.app import faust_settings, install_faust_fixes
from streams.settings import Settings


def build() -> faust.App:
    # Tuning variables (TANGGAP_PRODUCER_LINGER_MS, ...) pass through, so the no-op runs with the
    # same faust settings as the pipeline it is compared with.
    settings = Settings.from_env({
        **{k: v for k, v in os.environ.items() if k.startswith("TANGGAP_")},
        "TANGGAP_BROKER": os.environ["BENCH_BROKER"],
        "TANGGAP_APP_ID": os.environ["BENCH_APP_ID"],
        "TANGGAP_PARTITIONS": os.environ["BENCH_PARTITIONS"],
        "TANGGAP_WEB_PORT": os.environ["BENCH_WEB_PORT"],
        "TANGGAP_DATA_DIR": os.environ.get("BENCH_DATA_DIR", "var/bench"),
        "TANGGAP_PRODUCER_MAX_BATCH_BYTES": os.environ.get("BENCH_MAX_BATCH", ""),
        "TANGGAP_REBALANCE_TIMEOUT": "5", "TANGGAP_SESSION_TIMEOUT": "10", "TANGGAP_HEARTBEAT_INTERVAL": "1",
    })
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    install_faust_fixes(settings)
    app = faust.App(settings.app_id, **faust_settings(settings))
    source = app.topic(os.environ["BENCH_IN"], key_type=bytes, value_type=bytes)
    sink = app.topic(os.environ["BENCH_OUT"], key_type=bytes, value_type=bytes)

    shape = os.environ.get("BENCH_SHAPE", "noop")
    if shape == "noop":
        @app.agent(source, name="noop")
        async def noop(stream):
            async for event in stream.events():
                await sink.send(key=event.key, value=event.value)
    elif shape == "skeleton":
        partitions = int(os.environ["BENCH_PARTITIONS"])
        second = app.topic(os.environ["BENCH_OUT"] + "2", key_type=bytes, value_type=bytes, partitions=partitions)
        table = app.Table("skeleton", partitions=partitions, key_type=bytes, value_type=bytes)

        @app.agent(source, name="skeleton")
        async def skeleton(stream):
            async for event in stream.events():
                table[event.key] = event.value
                await second.send(key=event.key, value=event.value)
                await sink.send(key=event.key, value=event.value)
    else:
        raise SystemExit(f"BENCH_SHAPE={shape!r}: use noop or skeleton")

    return app


if __name__ == "__main__":
    worker = faust.Worker(build(), loglevel="WARNING", quiet=True)
    worker.spinner = None  # as in `tanggap worker`: the spinner turns on every debug record
    worker.execute_from_commandline()
