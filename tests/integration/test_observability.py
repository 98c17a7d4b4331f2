"""What Grafana and Prometheus see, checked against real servers.

One real worker processes the bundled sample (plus a malformed post, so dead letters exist), a
real Prometheus (Debian's package) scrapes it every second and loads deploy/prometheus/rules.yml.
Every query of the Grafana dashboard and every rule expression must then evaluate through the
Prometheus HTTP API, and the ones the desk and the platform team read first must return data.
The worker's health endpoints, JSON log lines and graceful shutdown are checked on the same worker.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import pytest

from streams.broker import free_port
from streams.cli import read_jsonl, strip_expectation
from streams.demo import Outcome, bundled_sample, stop_process
from streams.kafka import produce
from tests.conftest import REPO, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs Debian's prometheus package (.ci/run installs it)"),
]

DASHBOARD = REPO / "deploy" / "grafana" / "tanggap.json"
RULES = REPO / "deploy" / "prometheus" / "rules.yml"

# What Grafana substitutes before sending a query; "All" of a multi-value variable is `.*`.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "$opd": ".*", "$category": ".*"}

# Panels whose queries must return series once the sample is processed.
KEY_PANELS = (
    "SLA compliance per OPD (first response, last 24 h)",
    "First-response latency percentiles (wall clock)",
    "SLA outcomes",
    "Open complaints by OPD",
    "Posts by platform",
    "Consumer lag by topic",
    "Dead letters by stage and reason",
    "Workers up / ready",
)
KEY_RECORDS = ("opd:tanggap_sla_compliance:ratio1d", "opd:tanggap_sla_open_clocks:sum",
               "topic:tanggap_consumer_lag_messages:sum", "platform_kind:tanggap_posts:rate5m",
               "stage_reason:tanggap_dead_letters:increase15m")


def http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class Prometheus:
    def __init__(self, root: Path, target: str) -> None:
        self.port = free_port()
        self.root = root
        # The deployed rules, evaluated every second instead of every minute so recorded series
        # exist within the test.
        (root / "rules.yml").write_text(RULES.read_text().replace("    interval: 1m\n", ""))
        (root / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "rule_files: [rules.yml]\n"
            "scrape_configs:\n"
            f"  - job_name: tanggap\n    static_configs: [{{targets: ['{target}']}}]\n")
        self.log = open(root / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def api(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return http_json(f"http://127.0.0.1:{self.port}/api/v1/{path}{query}")

    def query(self, expr: str) -> dict:
        answer = self.api("query", query=expr)
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


@pytest.fixture(scope="module")
def observed(deployment_factory, tmp_path_factory):
    deployment = deployment_factory(TANGGAP_CLOCK_SPEED="60000", TANGGAP_SLA_GRACE_SECONDS="1",
                                    TANGGAP_ORPHAN_WAIT_SECONDS="3", TANGGAP_LOG_FORMAT="json")
    worker = deployment.worker()
    # Prometheus watches from before the first post, as in production: counters start at zero.
    prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{worker.web_port}")
    try:
        wait_for(lambda: worker_scraped(prometheus), timeout=90, interval=1.0,
                 message="prometheus scraping a ready worker")
        messages = [strip_expectation(line) for _, line in read_jsonl(bundled_sample())]
        messages.append((b"bad-1", b"not json, call 081234567890"))
        asyncio.run(produce(deployment.settings, deployment.settings.topic("posts.raw"), messages))

        def settled():
            outcome = asyncio.run(Outcome.read(deployment.settings))
            assert worker.alive(), worker.log()[-3000:]
            return outcome if len(outcome.triaged) >= len(messages) - 1 and outcome.settled() else None

        wait_for(settled, timeout=120, interval=1.0, message="every sample complaint answered or breached")
        wait_for(lambda: prometheus_ready(prometheus), timeout=60, interval=1.0,
                 message="prometheus scraped the processed sample and evaluated every rule")
        yield deployment, worker, prometheus
    finally:
        prometheus.stop()


def worker_scraped(prometheus: Prometheus) -> bool:
    try:
        return bool(prometheus.query('tanggap_worker_ready{job="tanggap"} == 1')["result"])
    except OSError:
        return False


def prometheus_ready(prometheus: Prometheus) -> bool:
    try:
        up = prometheus.query('count_over_time(up{job="tanggap"}[1m]) >= 3 and up{job="tanggap"} == 1')["result"]
        groups = prometheus.api("rules")["data"]["groups"]
    except OSError:
        return False
    evaluated = all(rule.get("lastEvaluation", "").startswith("20") for g in groups for rule in g["rules"])
    return (bool(up) and evaluated and bool(prometheus.query("opd:tanggap_sla_compliance:ratio1d")["result"])
            and bool(prometheus.query('ALERTS{alertname="TanggapDeadLetters"}')["result"]))


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown variable in {target['expr']}"
            queries.append((panel["title"], expr))
    return queries


def test_the_dashboard_is_importable_with_datasource_opd_and_category_variables():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["opd"]["type"] == variables["category"]["type"] == "query"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert set(KEY_PANELS) <= titles


def test_every_dashboard_query_evaluates_and_the_key_panels_have_data(observed):
    _, _, prometheus = observed
    empty = []
    for title, expr in dashboard_queries():
        result = prometheus.query(expr)["result"]
        if title in KEY_PANELS and not result:
            empty.append((title, expr))
    assert not empty, f"key panels without data: {empty}"
    for variable in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        if variable["type"] == "query":
            metric = variable["query"]["query"].split("(", 1)[1].split(",")[0]
            label = variable["query"]["query"].rsplit(",", 1)[1].strip(" )")
            values = prometheus.api(f"label/{label}/values", **{"match[]": metric})["data"]
            assert values, f"template variable {variable['name']} has no values"


def test_every_rule_loads_evaluates_without_error_and_key_records_have_data(observed):
    _, _, prometheus = observed
    rules = [rule for group in prometheus.api("rules")["data"]["groups"] for rule in group["rules"]]
    names = {rule["name"] for rule in rules}
    assert {"TanggapSLAComplianceLow", "TanggapBreachRateHigh", "TanggapConsumerLagHigh", "TanggapDeadLetters",
            "TanggapWorkerDown"} <= names
    for rule in rules:
        assert rule["health"] == "ok", rule
        prometheus.query(rule["query"])
    for record in KEY_RECORDS:
        assert prometheus.query(record)["result"], f"{record} recorded nothing"
    # A malformed post was sent: its alert fires; a worker that is up does not raise WorkerDown.
    firing = {alert["labels"]["alertname"] for alert in prometheus.api("alerts")["data"]["alerts"]}
    assert "TanggapDeadLetters" in firing
    assert "TanggapWorkerDown" not in firing and "TanggapWorkersAbsent" not in firing


def test_the_scraped_metrics_pass_promtool_and_have_no_unbounded_labels(observed):
    _, worker, _ = observed
    body = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics", timeout=5).read()
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    text = body.decode()
    for forbidden in ("complaint_id", "post_id", "author", "cmp-"):
        assert forbidden not in text
    assert 'tanggap_build_info{regency="klaten"' in text
    assert "tanggap_consumer_lag_messages{" in text and "tanggap_rebalances_total" in text


def test_ready_and_live_mean_something(observed):
    _, worker, _ = observed
    base = f"http://127.0.0.1:{worker.web_port}"
    ready = http_json(f"{base}/ready")
    assert ready["ready"] is True and ready["assigned_partitions"] > 0 and not ready["recovering"]
    assert http_json(f"{base}/live") == {"live": True}


def test_log_lines_are_json_with_personal_data_redacted(observed):
    _, worker, _ = observed
    entries = [orjson.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert entries and all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    letters = [e for e in entries if e["message"].startswith("dead letter")]
    assert letters and letters[0]["stage"] == "intake" and letters[0]["reason"] == "invalid_json"
    assert "081234567890" not in worker.log()


def test_sigterm_commits_and_stops_cleanly(observed):
    """Runs last in this module: it stops the worker."""
    _, worker, _ = observed
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=30) == 0
    lines = [orjson.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("shutting down") for line in lines)
