"""The Prometheus and Alertmanager assets in deploy/, checked by the servers' own tools.

promtool and amtool come with Debian's prometheus and prometheus-alertmanager packages, which
.ci/run installs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (Debian prometheus)")


def run(*command: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(command, input=stdin, capture_output=True, cwd=REPO)
    output = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, output
    return output


@needs_promtool
def test_rules_are_valid():
    assert "SUCCESS" in run("promtool", "check", "rules", str(RULES))


@needs_promtool
def test_rule_unit_tests_pass():
    assert "SUCCESS" in run("promtool", "test", "rules", str(PROMETHEUS / "tests" / "rules_test.yml"))


@needs_promtool
def test_example_prometheus_config_is_valid():
    assert "SUCCESS" in run("promtool", "check", "config", str(PROMETHEUS / "prometheus.yml"))


@pytest.mark.skipif(shutil.which("amtool") is None, reason="needs amtool (Debian prometheus-alertmanager)")
def test_example_alertmanager_config_is_valid():
    assert "SUCCESS" in run("amtool", "check-config", str(REPO / "deploy" / "alertmanager" / "alertmanager.yml"))


@needs_promtool
def test_every_metric_name_and_label_set_passes_promtool_check_metrics():
    from prometheus_client import generate_latest

    from streams import metrics

    # Touch every labelled metric once, so each family is exposed with its label set.
    metrics.posts.labels("twitter", "pengaduan").inc()
    metrics.ignored.labels("politik").inc()
    metrics.duplicates.labels("redelivery").inc()
    metrics.complaints_opened.labels("dpupr", "jalan", "normal").inc()
    metrics.dead_letters.labels("intake", "invalid_json").inc()
    metrics.response_latency.labels("dpupr", "jalan", "twitter", "normal").observe(600)
    metrics.response_working_latency.labels("dpupr", "jalan", "twitter", "normal").observe(300)
    metrics.sla_outcomes.labels("dpupr", "first_response", "met").inc()
    metrics.open_clocks.labels("dpupr").set(2)
    metrics.stage_seconds.labels("triage").observe(0.001)
    metrics.consumer_lag.labels("posts.raw", "0").set(3)
    metrics.messages_consumed.labels("posts.raw").inc()
    metrics.build_info.info({"version": "test", "regency": "klaten"})
    body = generate_latest()
    output = run("promtool", "check", "metrics", stdin=body)
    assert output.strip() == "", output  # promtool prints nothing when it has no complaint


def test_every_alert_has_a_runbook_section_in_the_operations_guide():
    alerts = re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), flags=re.M)
    runbooks = re.findall(r"#tanggap\w+", RULES.read_text())
    guide = (REPO / "docs" / "operations.md").read_text()
    headings = {heading.strip() for heading in re.findall(r"^### (\w+)", guide, flags=re.M)}
    assert alerts and set(alerts) <= headings, set(alerts) - headings
    assert {f"#{alert.lower()}" for alert in alerts} == set(runbooks)
