"""Throughput of POST /ingest against a direct producer, on the embedded broker, in one run.

    .venv/bin/python bench/ingest_http.py [--posts 10000] [--batch 500]

Starts a Tansu broker and one `tanggap worker` (its web server carries /ingest), then publishes
the same number of raw posts twice to `posts.raw`: first with a plain aiokafka producer (the
baseline: what `tanggap replay` does), then as JSON arrays POSTed to the worker's /ingest (which
validates every post and waits for the broker's acknowledgements before answering 202). Both use
the embedded broker's one-record batches. Prints messages/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.demo import fetch, start_worker, stop_process, wait_until, worker_environment  # noqa: E402
from streams.ingest import post_batches  # noqa: E402
from streams.kafka import create_topics, produce  # noqa: E402
from streams.settings import Settings  # noqa: E402


def posts(prefix: str, count: int) -> list[bytes]:
    return [orjson.dumps({"platform": "web", "post_id": f"{prefix}-{i}", "text": "Lampu PJU di Jogosetran mati 💡❌",
                          "created_at": "2026-11-02T08:00:00+07:00", "author": {"id": f"u-{i}"}}) for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tanggap-bench-ingest-"))
    token = secrets.token_urlsafe(16)
    worker = None
    try:
        with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
            port = free_port()
            env = worker_environment(Settings.from_env({}), broker.bootstrap, workdir / "data", port, 1.0)
            env.update({"TANGGAP_INGEST_TOKENS": token, "TANGGAP_CLOCK_SPEED": ""})
            settings = Settings.from_env(env)
            asyncio.run(create_topics(settings))
            worker = start_worker(env, workdir / "worker.log")
            if not wait_until(lambda: fetch(f"http://127.0.0.1:{port}/health") is not None, 60):
                raise SystemExit(f"worker did not start; see {workdir / 'worker.log'}")

            direct = [(f"web:direct-{i}".encode(), value) for i, value in enumerate(posts("direct", args.posts))]
            started = time.perf_counter()
            asyncio.run(produce(settings, settings.topic("posts.raw"), direct))
            direct_rate = args.posts / (time.perf_counter() - started)

            values = posts("http", args.posts)
            started = time.perf_counter()
            accepted = post_batches(f"http://127.0.0.1:{port}/ingest", token, values, batch_size=args.batch)
            http_rate = accepted / (time.perf_counter() - started)
            assert accepted == args.posts, accepted

            print(f"posts {args.posts}, HTTP batches of {args.batch}, embedded broker (one record per batch)")
            print(f"direct producer (baseline) {direct_rate:8.0f} posts/s")
            print(f"POST /ingest on the worker {http_rate:8.0f} posts/s  ({http_rate / direct_rate:.2f}x the baseline)")
            return 0
    finally:
        if worker is not None:
            stop_process(worker)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
