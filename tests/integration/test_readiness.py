"""Readiness without traffic: an idle worker whose broker stops answering turns not ready.

A real `tanggap worker` on the real embedded broker, with nothing to read or send. The broker is
frozen (SIGSTOP: its sockets stay open, nothing answers, as with a hung broker or a network
partition that drops packets), and `/ready` must turn 503 with the reason within
TANGGAP_BROKER_UNREACHABLE_SECONDS, then 200 again once the broker is resumed (SIGCONT). Before
this, such a worker said ready until it next tried to send.
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.error
import urllib.request

import orjson
import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.integration

LIMIT_SECONDS = 3.0


def answer(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:  # not listening yet
        return 0, b""


def ready(port: int) -> tuple[int, dict]:
    status, body = answer(port, "/ready")
    return status, (orjson.loads(body) if body else {})


def metric(port: int, name: str) -> float:
    status, body = answer(port, "/metrics")
    assert status == 200
    found = re.search(rf"^{name} (\S+)$", body.decode(), re.M)
    assert found, f"{name} not exposed"
    return float(found.group(1))


def test_an_idle_worker_whose_broker_freezes_is_not_ready_within_the_limit_and_ready_again_after(
        deployment_factory, broker):
    deployment = deployment_factory(TANGGAP_BROKER_UNREACHABLE_SECONDS=f"{LIMIT_SECONDS:g}")
    worker = deployment.worker()
    port = worker.web_port

    def alive_and(predicate):
        def check():
            if not worker.alive():
                pytest.fail(f"the worker exited:\n{worker.log()[-3000:]}")
            return predicate()
        return check

    wait_for(alive_and(lambda: ready(port)[0] == 200), timeout=180, interval=1, message="the worker to be ready")

    # Idle is not unreachable: with no record read or sent, the consumer's fetches and heartbeats
    # keep the broker's answers fresh. Ready throughout twice the limit, and the age stays low.
    idle_until = time.monotonic() + 2 * LIMIT_SECONDS
    while time.monotonic() < idle_until:
        status, detail = ready(port)
        assert status == 200, f"an idle worker on a healthy broker turned not ready: {detail}"
        time.sleep(0.5)
    assert metric(port, "tanggap_broker_last_contact_age_seconds") < LIMIT_SECONDS
    assert metric(port, "tanggap_worker_ready") == 1

    os.kill(broker.process.pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    try:
        def unreachable():
            status, detail = ready(port)
            reasons = [r for r in detail.get("reasons", []) if r.startswith("broker unreachable for")]
            return (status, detail, reasons) if status == 503 and reasons else None

        # A generous polling deadline (a loaded 2-core machine); the time it took is asserted below.
        status, detail, reasons = wait_for(alive_and(unreachable), timeout=LIMIT_SECONDS + 60, interval=0.25,
                                           message="/ready to say the broker is unreachable")
        took = time.monotonic() - frozen_at
        print(f"\n[idle freeze] limit={LIMIT_SECONDS:g}s not_ready_after={took:.1f}s reason={reasons[0]!r}")
        assert detail["ready"] is False and detail["stalled_partitions"] == [], detail
        # Not before the limit (nothing answers the idle worker, so nothing else can explain it)
        # and within it plus the slack of a loaded machine: the answer is computed per request.
        assert LIMIT_SECONDS - 0.5 <= took <= LIMIT_SECONDS + 15, took
        assert metric(port, "tanggap_worker_ready") == 0
        assert metric(port, "tanggap_broker_last_contact_age_seconds") >= LIMIT_SECONDS
        # Liveness is not readiness: the process is fine, a restart would not bring the broker back.
        assert answer(port, "/live")[0] == 200
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
    resumed_at = time.monotonic()

    wait_for(alive_and(lambda: ready(port)[0] == 200), timeout=120, interval=0.5,
             message="the worker ready again once the broker answers")
    print(f"[idle freeze] ready again {time.monotonic() - resumed_at:.1f}s after the broker resumed")
    assert metric(port, "tanggap_broker_last_contact_age_seconds") < LIMIT_SECONDS
    assert worker.alive()
    deployment.close()
