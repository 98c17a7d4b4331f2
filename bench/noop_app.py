"""The faust no-op baseline: consume a topic and produce every message unchanged to another,
with the same faust settings a Tanggap worker uses. Configured by environment variables:
BENCH_BROKER, BENCH_APP_ID, BENCH_IN, BENCH_OUT, BENCH_PARTITIONS, BENCH_WEB_PORT,
BENCH_MAX_BATCH (optional), and any TANGGAP_ tuning variable."""

from __future__ import annotations

import os

import faust

from streams.app import faust_settings
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
    app = faust.App(settings.app_id, **faust_settings(settings))
    source = app.topic(os.environ["BENCH_IN"], key_type=bytes, value_type=bytes)
    sink = app.topic(os.environ["BENCH_OUT"], key_type=bytes, value_type=bytes)

    @app.agent(source, name="noop")
    async def noop(stream):
        async for event in stream.events():
            await sink.send(key=event.key, value=event.value)

    return app


if __name__ == "__main__":
    from streams.hugepages import reexec_with_huge_pages

    reexec_with_huge_pages()  # as `tanggap worker` does: the same malloc as the pipeline it is compared with
    worker = faust.Worker(build(), loglevel="WARNING", quiet=True)
    worker.spinner = None  # as in `tanggap worker`: the spinner turns on every debug record
    worker.execute_from_commandline()
