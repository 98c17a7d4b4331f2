"""`tanggap alert-bridge` against a real Alertmanager (Debian's prometheus-alertmanager).

SLA events are produced to the `breaches` topic of a fresh namespace on the session broker (no
worker is needed: the bridge reads only that topic); the bridge process forwards them, and the
test reads the alerts back from Alertmanager's v2 API.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from schemas import validator
from streams.broker import free_port
from streams.demo import stop_process
from streams.kafka import create_topics, produce
from tests.conftest import REPO, wait_for

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(ALERTMANAGER is None, reason="needs Debian's prometheus-alertmanager package")]


def sla_event(complaint: str, stage: str, level: str, *, kecamatan: str | None = "Wedi") -> dict:
    answered = level in ("met", "answered_late")
    return {
        "specversion": "1.0", "id": f"brc-{abs(hash((complaint, stage, level))):x}", "source": "tanggap/klaten",
        "type": f"id.tanggap.sla.{level}", "subject": complaint, "time": "2026-11-03T02:00:00+00:00",
        "datacontenttype": "application/json",
        "data": {
            "complaint_id": complaint, "stage": stage, "level": level, "policy": "normal", "opd": "dpupr",
            "kecamatan": kecamatan, "category": "jalan", "priority": "normal", "platform": "twitter",
            "opened": "2026-11-02T07:12:00+07:00", "deadline": "2026-11-03T07:12:00+07:00",
            "emitted": "2026-11-03T09:00:00+07:00", "overdue_wall_seconds": 6480.0,
            "overdue_working_seconds": 6480.0, "lateness_seconds": 0.5,
            "escalation_target": "Kepala DPUPR" if level == "escalated_opd_head" else None,
            "responded_at": "2026-11-03T10:00:00+07:00" if answered else None,
            "latency_wall_seconds": 96480.0 if answered else None,
            "latency_working_seconds": 30000.0 if answered else None,
            "mentions": 1, "post_urls": ["https://x.com/warga_wedi/status/1"],
            "excerpt": "Jln di kec. Wedi rusak parahhh",
        },
    }


class Alertmanager:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        (root / "alertmanager.yml").write_text("route: {receiver: none}\nreceivers: [{name: none}]\n")
        self.log = open(root / "alertmanager.log", "wb")
        self.process = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={root / 'alertmanager.yml'}", f"--storage.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def alerts(self) -> list[dict] | None:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as response:
                return [a for a in json.loads(response.read()) if a["labels"].get("alertname") == "TanggapComplaintBreach"]
        except OSError:
            return None

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


@pytest.fixture(scope="module")
def setup(deployment_factory, tmp_path_factory):
    deployment = deployment_factory()
    asyncio.run(create_topics(deployment.settings))
    alertmanager = Alertmanager(tmp_path_factory.mktemp("alertmanager"))
    wait_for(lambda: alertmanager.alerts() is not None, timeout=30, message="alertmanager answering")
    yield deployment, alertmanager
    alertmanager.stop()


def publish(deployment, *events: dict) -> None:
    settings = deployment.settings
    asyncio.run(produce(settings, settings.topic("breaches"),
                        [(event["data"]["complaint_id"].encode(), orjson.dumps(event)) for event in events]))


def bridge(deployment, alertmanager_url: str, log: Path, **env: str) -> subprocess.Popen:
    environment = {**deployment.env, "TANGGAP_ALERTMANAGER_URL": alertmanager_url, **env}
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "alert-bridge"], env=environment, cwd=REPO,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def by_complaint(alerts: list[dict]) -> dict[tuple[str, str], dict]:
    return {(a["labels"]["complaint_id"], a["labels"]["level"]): a for a in alerts}


def test_the_sample_events_match_the_published_schema():
    for level in ("at_risk", "breached", "escalated_opd_head", "met", "answered_late"):
        validator("breach_event")(sla_event("cmp-1", "first_response", level))


def test_breaches_fire_alerts_with_routing_labels_and_answers_resolve_them(setup, tmp_path):
    deployment, alertmanager = setup
    # An Alertmanager that is down: the bridge retries, gives up, exits non-zero, commits nothing.
    down = bridge(deployment, f"http://127.0.0.1:{free_port()}", tmp_path / "down.log", TANGGAP_ALERT_RETRIES="2")
    publish(deployment,
            sla_event("cmp-aaa", "first_response", "breached"),
            sla_event("cmp-aaa", "first_response", "breached"),  # redelivered: the same alert
            sla_event("cmp-bbb", "first_response", "at_risk", kecamatan=None),
            sla_event("cmp-bbb", "first_response", "breached", kecamatan=None),
            sla_event("cmp-bbb", "first_response", "escalated_opd_head", kecamatan=None),
            sla_event("cmp-ccc", "first_response", "breached"))
    assert down.wait(timeout=60) == 1, (tmp_path / "down.log").read_text()
    assert "failed 2 times" in (tmp_path / "down.log").read_text()

    running = bridge(deployment, alertmanager.url, tmp_path / "bridge.log")
    try:
        alerts = wait_for(lambda: (a := alertmanager.alerts()) and len(a) >= 5 and a, timeout=60,
                          message="the alerts of the events the failed bridge did not commit")
        found = by_complaint(alerts)
        assert set(found) == {("cmp-aaa", "breached"), ("cmp-bbb", "at_risk"), ("cmp-bbb", "breached"),
                              ("cmp-bbb", "escalated_opd_head"), ("cmp-ccc", "breached")}
        breached = found[("cmp-aaa", "breached")]["labels"]
        assert breached == {"alertname": "TanggapComplaintBreach", "complaint_id": "cmp-aaa", "stage": "first_response",
                            "level": "breached", "severity": "critical", "opd": "dpupr", "kecamatan": "Wedi",
                            "category": "jalan", "priority": "normal", "source": "tanggap/klaten"}
        assert "kecamatan" not in found[("cmp-bbb", "breached")]["labels"]
        assert found[("cmp-bbb", "at_risk")]["labels"]["severity"] == "warning"
        assert found[("cmp-bbb", "escalated_opd_head")]["annotations"]["escalation_target"] == "Kepala DPUPR"
        assert len([a for a in alerts if a["labels"]["complaint_id"] == "cmp-aaa"]) == 1

        # Answered (late) complaints: every alert of that complaint and stage resolves.
        publish(deployment, sla_event("cmp-aaa", "first_response", "answered_late"),
                sla_event("cmp-bbb", "first_response", "answered_late"))
        remaining = wait_for(lambda: (a := alertmanager.alerts()) is not None and len(a) == 1 and a, timeout=60,
                             message="the answered complaints' alerts resolved")
        assert remaining[0]["labels"]["complaint_id"] == "cmp-ccc"
        assert running.poll() is None
    finally:
        stop_process(running)
