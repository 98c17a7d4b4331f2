"""The shipped Alertmanager configuration: routes by the `opd` label, and its commented examples
(Telegram, e-mail, a webhook) valid once uncommented, checked by Alertmanager's own amtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
EXAMPLE_PREFIX = "#~ "

needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="needs amtool (Debian prometheus-alertmanager)")


def uncommented() -> str:
    """The configuration with every example line (`#~ `) uncommented, indentation kept."""
    return "".join(line.replace(EXAMPLE_PREFIX, "", 1) if line.lstrip().startswith(EXAMPLE_PREFIX) else line
                   for line in CONFIG.read_text().splitlines(keepends=True))


def amtool(*args: str) -> str:
    done = subprocess.run(["amtool", *args], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    path.write_text(uncommented())
    return path


@needs_amtool
def test_the_shipped_config_and_its_uncommented_examples_pass_amtool(live):
    assert "SUCCESS" in amtool("check-config", str(CONFIG))
    assert "SUCCESS" in amtool("check-config", str(live))


def test_the_examples_cover_telegram_email_and_a_webhook_and_every_opd_has_a_receiver(live, config):
    shipped = yaml.safe_load(CONFIG.read_text())
    examples = yaml.safe_load(live.read_text())
    receivers = {r["name"]: r for r in examples["receivers"]}
    for opd in config.directory.opds:
        if opd.startswith("kec_"):
            continue
        assert f"opd-{opd}" in receivers, opd
        assert not {k for k in next(r for r in shipped["receivers"] if r["name"] == f"opd-{opd}") if k != "name"}, \
            "an office's integrations ship commented out"
    kinds = {kind for r in receivers.values() for kind in r if kind.endswith("_configs")}
    assert {"telegram_configs", "email_configs", "webhook_configs"} <= kinds
    telegram = [c for r in receivers.values() for c in r.get("telegram_configs", [])]
    assert all(isinstance(c["chat_id"], int) and c["chat_id"] < 0 for c in telegram)
    assert examples["global"]["smtp_smarthost"] and examples["global"]["smtp_from"]


ROUTES = [
    ({"opd": "dpupr", "level": "breached"}, "desk,opd-dpupr"),
    ({"opd": "dlh", "level": "at_risk"}, "desk,opd-dlh"),
    ({"opd": "pdam", "level": "escalated_opd_head"}, "desk,pimpinan,opd-pdam"),
    ({"opd": "kec_wedi", "level": "escalated_sekda"}, "desk,pimpinan,kecamatan"),
    ({"opd": "dinas_baru", "level": "breached"}, "desk,desk-unrouted"),
]


@needs_amtool
@pytest.mark.parametrize("labels, receivers", ROUTES)
def test_complaint_alerts_route_by_opd(live, labels, receivers):
    args = [f"{name}={value}" for name, value in {"alertname": "TanggapComplaintBreach", **labels}.items()]
    for path in (CONFIG, live):
        amtool("config", "routes", "test", f"--config.file={path}", f"--verify.receivers={receivers}", *args)


@needs_amtool
def test_platform_alerts_still_go_to_the_platform_team():
    amtool("config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=platform",
           "alertname=TanggapConsumerLagHigh")
