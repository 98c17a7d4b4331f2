"""Fixtures shared by the whole suite: the real Kafka-protocol broker (Tansu) and workers.

The broker starts once per test session on a free loopback port. Each test module gets its own
topic prefix and consumer group, so modules never see each other's data.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.kafka import create_topics
from streams.settings import EMBEDDED_TUNING, Settings

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CONFIG = REPO / "deploy" / "config" / "klaten"
_namespaces = itertools.count(1)


@pytest.fixture(scope="session")
def config():
    """The bundled (Klaten) configuration, loaded once for the whole suite."""
    from agents.domain.config import load_config

    return load_config(BUNDLED_CONFIG)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


class Worker:
    """A real `tanggap worker` process with its own settings, data dir and web port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def web_port(self) -> int:
        return int(self.env["TANGGAP_WEB_PORT"])

    def start(self) -> Worker:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit, no flush."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def stop(self) -> None:
        from streams.demo import stop_process

        if self.process:
            stop_process(self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Deployment:
    """One namespace (topic prefix, app id) on the session broker, and its workers."""

    def __init__(self, broker: EmbeddedBroker, root: Path, config_dir: Path, **overrides: str) -> None:
        namespace = f"t{next(_namespaces)}x{os.getpid()}"
        self.root = root
        self.env = dict(os.environ)
        self.env.update(EMBEDDED_TUNING)
        # The adaptive fetch wait is tested on its own (test_restart.py); the other tests keep
        # the fixed 20 ms wait their figures were measured with.
        self.env["TANGGAP_FETCH_WAIT_ADAPTIVE"] = "false"
        self.env.update({
            "TANGGAP_BROKER": broker.bootstrap,
            "TANGGAP_CONFIG": str(config_dir),
            "TANGGAP_APP_ID": f"tanggap-{namespace}",
            "TANGGAP_TOPIC_PREFIX": f"{namespace}.",
            "TANGGAP_PARTITIONS": "4",
            "TANGGAP_DATA_DIR": str(root / "data"),
            "TANGGAP_WEB_HOST": "127.0.0.1",
            "TANGGAP_LOG_LEVEL": "info",
            "TANGGAP_SLA_TICK_SECONDS": "0.2",
            "PYTHONPATH": str(REPO),
        })
        self.env.update(overrides)
        self.settings = Settings.from_env(self.env)
        self.workers: list[Worker] = []
        # Create the topics before any test client touches them: the broker auto-creates a
        # topic that a producer or consumer names first, with its default partition count,
        # and a worker that starts later would find co-partitioned topics that do not match.
        asyncio.run(create_topics(self.settings))

    def worker(self, **overrides: str) -> Worker:
        env = dict(self.env)
        env["TANGGAP_WEB_PORT"] = str(free_port())
        env.update(overrides)
        worker = Worker(env, self.root / f"worker-{len(self.workers) + 1}.log")
        self.workers.append(worker)
        return worker.start()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture(scope="module")
def deployment_factory(broker, tmp_path_factory):
    created: list[Deployment] = []

    def make(config_dir: Path = BUNDLED_CONFIG, **overrides: str) -> Deployment:
        deployment = Deployment(broker, tmp_path_factory.mktemp("deployment"), config_dir, **overrides)
        created.append(deployment)
        return deployment

    yield make
    for deployment in created:
        deployment.close()


def wait_for(predicate, timeout: float, interval: float = 0.5, message: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message} (last: {last!r})")


def copy_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(BUNDLED_CONFIG, target)
    return target
