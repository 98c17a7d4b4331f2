"""Process settings, from environment variables (12-factor), with documented defaults.

Settings say how a process runs (broker, ports, tuning); the deployment's configuration
directory (TANGGAP_CONFIG) says what the pipeline decides. `tanggap settings` prints both the
effective values and this table.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
import sys
from pathlib import Path
from typing import Any

from streams.security import KafkaSecurity, SecurityError


class SettingsError(Exception):
    pass


def _repo_config_dir() -> Path | None:
    candidates = [
        Path(__file__).resolve().parent.parent / "deploy" / "config" / "klaten",
        Path(sys.prefix) / "share" / "tanggap" / "config" / "klaten",
    ]
    return next((c for c in candidates if c.is_dir()), None)


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str
    secret: bool = False
    """Never printed: `tanggap settings` shows whether it is set, not its value."""


SETTINGS: tuple[Setting, ...] = (
    Setting("TANGGAP_BROKER", "", "Kafka bootstrap servers, e.g. kafka-1:9092,kafka-2:9092. Empty: `tanggap run` starts the embedded broker."),
    Setting("TANGGAP_CONFIG", "", "Configuration directory (taxonomy, lexicon, gazetteer, OPDs, SLA). Empty: the bundled Klaten configuration."),
    Setting("TANGGAP_APP_ID", "tanggap", "Faust application id: the consumer group and the prefix of internal topics."),
    Setting("TANGGAP_TOPIC_PREFIX", "tanggap.", "Prefix of every topic name."),
    Setting("TANGGAP_PARTITIONS", "4", "Partitions of the topics Tanggap creates. Fixed once created: it bounds the worker count."),
    Setting("TANGGAP_REPLICATION", "1", "Replication factor of the topics Tanggap creates (3 on a production cluster)."),
    Setting("TANGGAP_DATA_DIR", "var/tanggap", "Where RocksDB table state lives; keep it on a persistent volume."),
    Setting("TANGGAP_STORE", "rocksdb://", "Faust table store: rocksdb:// (durable, default) or memory:// (tests of stateless parts only)."),
    Setting("TANGGAP_STORE_WAL", "false", "true keeps RocksDB's write-ahead log on the table stores: a system call per write, to replay less of the changelog after a crash. Off, a crash loses no table change either (streams/stores.py)."),
    Setting("TANGGAP_WEB_HOST", "127.0.0.1", "Interface of the worker's web server (/metrics, /health). Use 0.0.0.0 in containers."),
    Setting("TANGGAP_WEB_PORT", "6066", "Port of the worker's web server: Prometheus scrapes /metrics here."),
    Setting("TANGGAP_LOG_LEVEL", "info", "Log level: debug, info, warning, error."),
    Setting("TANGGAP_LOG_FORMAT", "json", "Worker and alert-bridge log lines: json (one object per line, for collectors) or text. Both redact phone numbers, NIK and e-mail."),
    Setting("TANGGAP_ALERTMANAGER_URL", "http://127.0.0.1:9093", "Alertmanager base URL that `tanggap alert-bridge` posts breach alerts to (/api/v2/alerts)."),
    Setting("TANGGAP_ALERT_TTL_HOURS", "168", "How long a forwarded breach alert stays firing if the bridge never sees the complaint answered (Alertmanager's endsAt)."),
    Setting("TANGGAP_ALERT_RETRIES", "8", "Attempts of one Alertmanager POST (exponential back-off, at most 30 s apart) before the bridge exits non-zero, uncommitted, to be restarted."),
    Setting("TANGGAP_SLA_TICK_SECONDS", "0.25", "How often each worker pops due clocks from its deadline index (a tick with nothing due costs microseconds)."),
    Setting("TANGGAP_SLA_GRACE_SECONDS", "5.0", "Wall-clock seconds a deadline check waits for responses still in flight."),
    Setting("TANGGAP_ORPHAN_WAIT_SECONDS", "60", "How long a reply waits for the post it answers (posts of one thread can arrive out of order) before it is decided on its own."),
    Setting("TANGGAP_MAX_WAITING_REPLIES", "100", "Most citizen replies that wait for one missing post; further ones are decided at once on their own (reason too_many_waiting_replies), so a flood of replies to a post that never arrives cannot grow state without bound. Official replies always wait."),
    Setting("TANGGAP_DEDUPE_WINDOW_HOURS", "72", "Near-duplicate window: a copy of a complaint opened at most this long before (or after) it joins that complaint (docs/dedupe.md)."),
    Setting("TANGGAP_DEDUPE_JACCARD", "0.5", "Near-duplicate confirmation: least exact Jaccard similarity of the character shingles of two normalized texts."),
    Setting("TANGGAP_DEDUPE_CONTAINMENT", "0.8", "Near-duplicate confirmation for truncated copies: least share of the shorter text's shingles found in the longer."),
    Setting("TANGGAP_DEDUPE_MAX_MEMBERS", "200", "Copies of one complaint whose counts the clustering stage keeps one by one; further copies are folded into one aggregate member (counts and platforms stay right), so one flood cannot grow a complaint's state without bound."),
    Setting("TANGGAP_VIRAL_MENTIONS", "5", "A complaint with at least this many mentions (copies, reposts, replies) is raised one priority level, once."),
    Setting("TANGGAP_VIRAL_PLATFORMS", "2", "A complaint posted on at least this many platforms is raised one priority level, once."),
    Setting("TANGGAP_CLOCK_SPEED", "", "Simulated clock for demos and replays: starts at the event time of the first post processed and runs this many times faster than real time. Empty: real time."),
    Setting("TANGGAP_PRODUCER_MAX_BATCH_BYTES", "", "Producer batch size cap in bytes. The embedded broker needs 64 (one record per batch, see README); never set it against real Kafka."),
    Setting("TANGGAP_PRODUCER_LINGER_MS", "5", "How long the producer waits to fill a batch before sending (ms). Fewer, larger produce requests for at most this much latency per hop; delivery guarantees are unchanged (offsets are committed after the producer flushed). Kafka 4's own default."),
    Setting("TANGGAP_BATCH_MAX", "500", "Most messages a stateful agent (triage, cluster, sla) processes as one batch: whatever has arrived, up to this many. A batch's outputs are on the broker before its table writes, with one changelog record per key per batch (streams/batches.py); 1 processes message by message."),
    Setting("TANGGAP_FETCH_MAX_WAIT_MS", "500", "Longest a consumer fetch waits at the broker for new data (ms). Kafka answers as soon as data arrives; the embedded broker waits the whole time, so it uses 20 (latency), see docs/performance.md."),
    Setting("TANGGAP_STALL_SECONDS", "120", "A partition this worker is assigned whose lag is above zero and whose committed offset has not moved this long makes the worker not ready (/ready says which; tanggap_partition_stalled, alert TanggapPartitionStalled)."),
    Setting("TANGGAP_BROKER_UNREACHABLE_SECONDS", "20", "A worker that has had no answer from any broker this long (to a fetch, which an idle consumer keeps making, a group heartbeat, a metadata or produce request) is not ready, traffic or not (/ready: broker unreachable for N s; tanggap_broker_last_contact_age_seconds). Ready again with the first answer. Keep it above the heartbeat interval and the fetch wait."),
    Setting("TANGGAP_FETCH_WAIT_ADAPTIVE", "false", "Embedded broker only (tanggap run and the demo set it): the fetch wait doubles, up to 2 s, while records wait and only a trickle is read, halves while they flow, and returns to TANGGAP_FETCH_MAX_WAIT_MS once caught up (the embedded broker's fetches of a deep partition take longer than 20 ms; streams/fetchwait.py). Never needed on Kafka."),
    Setting("TANGGAP_REBALANCE_TIMEOUT", "", "Consumer group rebalance timeout in seconds (faust default when empty)."),
    Setting("TANGGAP_SESSION_TIMEOUT", "", "Consumer group session timeout in seconds (faust default when empty)."),
    Setting("TANGGAP_HEARTBEAT_INTERVAL", "", "Consumer group heartbeat interval in seconds (faust default when empty)."),
    Setting("TANGGAP_EMBEDDED_PORT", "9092", "Port of the embedded broker started by `tanggap broker` and `tanggap run`."),
    Setting("TANGGAP_INGEST_TOKENS", "", "Bearer tokens accepted by POST /ingest (comma-separated, so a token can be rotated). Empty: ingest answers 503, except Meta webhooks signed with the app secret.", secret=True),
    Setting("TANGGAP_INGEST_MAX_BODY_BYTES", "1048576", "Largest ingest request body; larger ones get 413."),
    Setting("TANGGAP_INGEST_PUBLISH_TIMEOUT_SECONDS", "5", "Longest an ingest request waits for the broker to acknowledge its posts; then 503 with Retry-After. A 503 may have published part of the batch: clients resend the whole batch, and post keys dedupe."),
    Setting("TANGGAP_HTTP_IDLE_TIMEOUT_SECONDS", "10", "Web servers (worker, ingest server): a connection that has not sent a complete request head this long after opening or after its previous response is closed (slow headers, idle keep-alive)."),
    Setting("TANGGAP_HTTP_BODY_TIMEOUT_SECONDS", "30", "Ingest: longest a request body may take to arrive; then 408."),
    Setting("TANGGAP_INGEST_MAX_ITEMS", "1000", "Most items (posts, or native items an adapter reads) one ingest request may carry; more get 413 too_many_items before any validation."),
    Setting("TANGGAP_INGEST_META_APP_SECRET", "", "Meta app secret: /ingest/meta and /ingest/whatsapp accept bodies whose X-Hub-Signature-256 matches it.", secret=True),
    Setting("TANGGAP_INGEST_META_VERIFY_TOKEN", "", "The verify token entered in Meta's webhook setup, echoed back by the hub.challenge handshake. Empty: verification fails.", secret=True),
    Setting("TANGGAP_INGEST_X_CONSUMER_SECRET", "", "The X app's API key secret (consumer secret): answers X's CRC check (GET /ingest/x?crc_token=...) when a webhook is registered and about hourly after. Empty: the check fails (503).", secret=True),
    Setting("TANGGAP_INGEST_WHATSAPP_HASH_KEY", "", "Key of the HMAC that turns a WhatsApp sender's number into author.id. Keep it stable (ids change with it). Empty: /ingest/whatsapp answers 503.", secret=True),
    Setting("TANGGAP_INGEST_ACCOUNTS", "", "Platform account ids that webhooks name only by id (Page id, Instagram account id, WhatsApp phone_number_id, YouTube channel id) mapped to OPD directory handles: id=handle,id=handle."),
    Setting("TANGGAP_INGEST_PORT", "6067", "Port of the standalone `tanggap ingest-server`."),
    Setting("TANGGAP_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "Kafka client security of workers and tools: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."),
    Setting("TANGGAP_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (PLAIN only over SASL_SSL in production)."),
    Setting("TANGGAP_KAFKA_USERNAME", "", "SASL user name."),
    Setting("TANGGAP_KAFKA_PASSWORD", "", "SASL password.", secret=True),
    Setting("TANGGAP_KAFKA_CA_FILE", "", "PEM file of the CA that signed the brokers' certificates (empty: the system trust store)."),
    Setting("TANGGAP_KAFKA_CERT_FILE", "", "PEM client certificate for mutual TLS (with TANGGAP_KAFKA_KEY_FILE)."),
    Setting("TANGGAP_KAFKA_KEY_FILE", "", "PEM private key of the client certificate."),
    Setting("TANGGAP_KAFKA_KEY_PASSWORD", "", "Password of an encrypted client key.", secret=True),
    Setting("TANGGAP_WEB_INTROSPECTION", "false", "true serves faust's own views (/router, /table, /graph, statistics) next to /metrics and the health endpoints: they expose table contents, so only for debugging."),
    Setting("TANGGAP_MAX_MESSAGE_BYTES", "65536", "Largest posts.raw, responses or threads message a worker parses; larger ones go to the dead-letter topic as too_large."),
    Setting("TANGGAP_MAX_TEXT_CHARS", "20000", "Longest post text accepted (at most the schema's 20000); longer ones go to the dead-letter topic as too_large."),
)

# Group-membership timings that make the embedded broker join in seconds, not half a minute.
EMBEDDED_TUNING = {
    "TANGGAP_PRODUCER_MAX_BATCH_BYTES": "64",
    "TANGGAP_REBALANCE_TIMEOUT": "5",
    "TANGGAP_SESSION_TIMEOUT": "10",
    "TANGGAP_HEARTBEAT_INTERVAL": "1",
    "TANGGAP_FETCH_MAX_WAIT_MS": "20",
    "TANGGAP_FETCH_WAIT_ADAPTIVE": "true",
}


def _number(env: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{env}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise SettingsError(f"{env}={value!r} must be a finite number")
    return number


def _float(env: str, value: str) -> float | None:
    if value == "":
        return None
    number = _number(env, value)
    if number <= 0:
        raise SettingsError(f"{env}={value!r} must be positive")
    return number


def _int(env: str, value: str) -> int | None:
    number = _float(env, value)
    if number is None:
        return None
    if number != int(number):
        raise SettingsError(f"{env}={value!r} must be a whole number")
    return int(number)


def _brokers(env: str, value: str) -> str:
    """Bootstrap servers as `host[:port]` items separated by commas (an optional `kafka://`
    in front, IPv6 hosts in brackets). Checked here because aiokafka's own error for a bad
    port is a traceback from deep inside the first connection attempt."""
    for item in value.split(","):
        address = item.strip().removeprefix("kafka://")
        if not address:
            raise SettingsError(f"{env}={value!r}: an empty server in the list")
        host, port = address, None
        if address.startswith("["):
            host, _, rest = address.partition("]")
            if rest and not rest.startswith(":"):
                raise SettingsError(f"{env}={value!r}: {item.strip()!r} is not [ipv6]:port")
            port = rest[1:] if rest else None
        elif ":" in address:
            host, _, port = address.rpartition(":")
        if not host.strip("[") or any(c.isspace() or c in "/@" for c in host):
            raise SettingsError(f"{env}={value!r}: {item.strip()!r} has no valid host")
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise SettingsError(f"{env}={value!r}: port {port!r} of {item.strip()!r} is not a number from 1 to 65535")
    return value


@dataclass(frozen=True)
class Settings:
    broker: str
    config_dir: Path
    app_id: str
    topic_prefix: str
    partitions: int
    replication: int
    data_dir: Path
    store: str
    web_host: str
    web_port: int
    log_level: str
    log_format: str
    alertmanager_url: str
    alert_ttl_hours: float
    alert_retries: int
    sla_tick_seconds: float
    sla_grace_seconds: float
    orphan_wait_seconds: float
    clock_speed: float | None
    producer_max_batch_bytes: int | None
    rebalance_timeout: float | None
    session_timeout: float | None
    heartbeat_interval: float | None
    embedded_port: int
    ingest_tokens: tuple[str, ...] = field(repr=False)
    ingest_max_body_bytes: int
    ingest_max_items: int
    http_idle_timeout_seconds: float
    http_body_timeout_seconds: float
    ingest_publish_timeout_seconds: float
    ingest_meta_app_secret: str = field(repr=False)
    ingest_meta_verify_token: str = field(repr=False)
    ingest_whatsapp_hash_key: str = field(repr=False)
    ingest_x_consumer_secret: str = field(repr=False)
    ingest_accounts: Mapping[str, str]
    ingest_port: int
    kafka_security: KafkaSecurity
    web_introspection: bool
    max_message_bytes: int
    max_text_chars: int
    max_waiting_replies: int
    dedupe_window_hours: float
    dedupe_jaccard: float
    dedupe_containment: float
    dedupe_max_members: int
    viral_mentions: int
    viral_platforms: int
    producer_linger_ms: int
    fetch_max_wait_ms: int
    batch_max: int
    stall_seconds: float
    broker_unreachable_seconds: float
    fetch_wait_adaptive: bool
    store_wal: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw = {s.env: env.get(s.env, s.default).strip() for s in SETTINGS}
        config = raw["TANGGAP_CONFIG"]
        if config:
            config_dir = Path(config)
        else:
            bundled = _repo_config_dir()
            if bundled is None:
                raise SettingsError("TANGGAP_CONFIG is not set and no bundled configuration was found")
            config_dir = bundled
        log_level = raw["TANGGAP_LOG_LEVEL"].lower()
        if log_level not in ("debug", "info", "warning", "error"):
            raise SettingsError(f"TANGGAP_LOG_LEVEL={log_level!r}: use debug, info, warning or error")
        log_format = raw["TANGGAP_LOG_FORMAT"].lower()
        if log_format not in ("json", "text"):
            raise SettingsError(f"TANGGAP_LOG_FORMAT={log_format!r}: use json or text")
        store = raw["TANGGAP_STORE"]
        if store not in ("rocksdb://", "memory://"):
            raise SettingsError(f"TANGGAP_STORE={store!r}: use rocksdb:// or memory://")
        return cls(config_dir=config_dir, log_level=log_level, log_format=log_format, store=store,
                   **_process_settings(raw), **_ingest_settings(raw), **_stage_settings(raw))

    def with_changes(self, **changes) -> Settings:
        return replace(self, **changes)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def _process_settings(raw: Mapping[str, str]) -> dict[str, Any]:
    """How the process runs: broker, topics, state, web server, alerting, Kafka clients."""
    return dict(
        broker=_brokers("TANGGAP_BROKER", raw["TANGGAP_BROKER"]) if raw["TANGGAP_BROKER"] else "",
        app_id=raw["TANGGAP_APP_ID"] or DEFAULTS["TANGGAP_APP_ID"],
        topic_prefix=raw["TANGGAP_TOPIC_PREFIX"],
        partitions=_int_or_default(raw, "TANGGAP_PARTITIONS"),
        replication=_int_or_default(raw, "TANGGAP_REPLICATION"),
        data_dir=Path(raw["TANGGAP_DATA_DIR"]),
        web_host=raw["TANGGAP_WEB_HOST"],
        web_port=_int_or_default(raw, "TANGGAP_WEB_PORT"),
        alertmanager_url=(raw["TANGGAP_ALERTMANAGER_URL"] or DEFAULTS["TANGGAP_ALERTMANAGER_URL"]).rstrip("/"),
        alert_ttl_hours=_float_or_default(raw, "TANGGAP_ALERT_TTL_HOURS"),
        alert_retries=_int_or_default(raw, "TANGGAP_ALERT_RETRIES"),
        sla_tick_seconds=_float_or_default(raw, "TANGGAP_SLA_TICK_SECONDS"),
        sla_grace_seconds=_non_negative("TANGGAP_SLA_GRACE_SECONDS", raw["TANGGAP_SLA_GRACE_SECONDS"]),
        orphan_wait_seconds=_float_or_default(raw, "TANGGAP_ORPHAN_WAIT_SECONDS"),
        clock_speed=_float("TANGGAP_CLOCK_SPEED", raw["TANGGAP_CLOCK_SPEED"]),
        producer_max_batch_bytes=_int("TANGGAP_PRODUCER_MAX_BATCH_BYTES", raw["TANGGAP_PRODUCER_MAX_BATCH_BYTES"]),
        rebalance_timeout=_float("TANGGAP_REBALANCE_TIMEOUT", raw["TANGGAP_REBALANCE_TIMEOUT"]),
        session_timeout=_float("TANGGAP_SESSION_TIMEOUT", raw["TANGGAP_SESSION_TIMEOUT"]),
        heartbeat_interval=_float("TANGGAP_HEARTBEAT_INTERVAL", raw["TANGGAP_HEARTBEAT_INTERVAL"]),
        embedded_port=_int_or_default(raw, "TANGGAP_EMBEDDED_PORT"),
        kafka_security=_kafka_security(raw),
        web_introspection=_flag("TANGGAP_WEB_INTROSPECTION", raw["TANGGAP_WEB_INTROSPECTION"]),
        store_wal=_flag("TANGGAP_STORE_WAL", raw["TANGGAP_STORE_WAL"]),
        producer_linger_ms=int(_non_negative("TANGGAP_PRODUCER_LINGER_MS", raw["TANGGAP_PRODUCER_LINGER_MS"])),
        fetch_max_wait_ms=_int_or_default(raw, "TANGGAP_FETCH_MAX_WAIT_MS"),
        fetch_wait_adaptive=_flag("TANGGAP_FETCH_WAIT_ADAPTIVE", raw["TANGGAP_FETCH_WAIT_ADAPTIVE"]),
        stall_seconds=_float_or_default(raw, "TANGGAP_STALL_SECONDS"),
        broker_unreachable_seconds=_float_or_default(raw, "TANGGAP_BROKER_UNREACHABLE_SECONDS"),
    )


def _ingest_settings(raw: Mapping[str, str]) -> dict[str, Any]:
    """The ingest door's: tokens, platform secrets, limits and timeouts."""
    return dict(
        ingest_tokens=tuple(t.strip() for t in raw["TANGGAP_INGEST_TOKENS"].split(",") if t.strip()),
        ingest_max_body_bytes=_int_or_default(raw, "TANGGAP_INGEST_MAX_BODY_BYTES"),
        ingest_max_items=_int_or_default(raw, "TANGGAP_INGEST_MAX_ITEMS"),
        http_idle_timeout_seconds=_float_or_default(raw, "TANGGAP_HTTP_IDLE_TIMEOUT_SECONDS"),
        http_body_timeout_seconds=_float_or_default(raw, "TANGGAP_HTTP_BODY_TIMEOUT_SECONDS"),
        ingest_publish_timeout_seconds=_float_or_default(raw, "TANGGAP_INGEST_PUBLISH_TIMEOUT_SECONDS"),
        ingest_meta_app_secret=raw["TANGGAP_INGEST_META_APP_SECRET"],
        ingest_meta_verify_token=raw["TANGGAP_INGEST_META_VERIFY_TOKEN"],
        ingest_whatsapp_hash_key=raw["TANGGAP_INGEST_WHATSAPP_HASH_KEY"],
        ingest_x_consumer_secret=raw["TANGGAP_INGEST_X_CONSUMER_SECRET"],
        ingest_accounts=_account_map(raw["TANGGAP_INGEST_ACCOUNTS"]),
        ingest_port=_int_or_default(raw, "TANGGAP_INGEST_PORT"),
        max_message_bytes=_int_or_default(raw, "TANGGAP_MAX_MESSAGE_BYTES"),
        max_text_chars=_int_or_default(raw, "TANGGAP_MAX_TEXT_CHARS"),
    )


def _stage_settings(raw: Mapping[str, str]) -> dict[str, Any]:
    """The stages': batching, orphan replies, near-duplicates, the SLA timer and clock."""
    return dict(
        max_waiting_replies=_int_or_default(raw, "TANGGAP_MAX_WAITING_REPLIES"),
        dedupe_window_hours=_float_or_default(raw, "TANGGAP_DEDUPE_WINDOW_HOURS"),
        dedupe_jaccard=_float_or_default(raw, "TANGGAP_DEDUPE_JACCARD"),
        dedupe_containment=_float_or_default(raw, "TANGGAP_DEDUPE_CONTAINMENT"),
        dedupe_max_members=_int_or_default(raw, "TANGGAP_DEDUPE_MAX_MEMBERS"),
        viral_mentions=_int_or_default(raw, "TANGGAP_VIRAL_MENTIONS"),
        viral_platforms=_int_or_default(raw, "TANGGAP_VIRAL_PLATFORMS"),
        batch_max=_int_or_default(raw, "TANGGAP_BATCH_MAX"),
    )


DEFAULTS: dict[str, str] = {setting.env: setting.default for setting in SETTINGS}
"""Each setting's default, declared once in SETTINGS."""


def _int_or_default(raw: Mapping[str, str], env: str) -> int:
    """An integer setting; empty means its declared default."""
    value = _int(env, raw[env])
    return value if value is not None else _int(env, DEFAULTS[env])


def _float_or_default(raw: Mapping[str, str], env: str) -> float:
    """A positive number setting; empty means its declared default."""
    value = _float(env, raw[env])
    return value if value is not None else _float(env, DEFAULTS[env])


def _non_negative(env: str, value: str) -> float:
    """Like _float, but zero is allowed and empty means zero."""
    if value == "":
        return 0.0
    number = _number(env, value)
    if number < 0:
        raise SettingsError(f"{env}={value!r} must not be negative")
    return number


def _flag(env: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("", "0", "false", "no", "off"):
        return False
    raise SettingsError(f"{env}={value!r}: use true or false")


def _kafka_security(raw: Mapping[str, str]) -> KafkaSecurity:
    security = KafkaSecurity(
        protocol=raw["TANGGAP_KAFKA_SECURITY_PROTOCOL"].upper() or "PLAINTEXT",
        sasl_mechanism=raw["TANGGAP_KAFKA_SASL_MECHANISM"].upper() or "SCRAM-SHA-512",
        username=raw["TANGGAP_KAFKA_USERNAME"], password=raw["TANGGAP_KAFKA_PASSWORD"],
        ca_file=raw["TANGGAP_KAFKA_CA_FILE"], cert_file=raw["TANGGAP_KAFKA_CERT_FILE"],
        key_file=raw["TANGGAP_KAFKA_KEY_FILE"], key_password=raw["TANGGAP_KAFKA_KEY_PASSWORD"],
    )
    try:
        return security.validate()
    except SecurityError as exc:
        raise SettingsError(str(exc)) from None


def _account_map(value: str) -> dict[str, str]:
    """`id=handle,id=handle` to a mapping; handles lose a leading @."""
    accounts: dict[str, str] = {}
    for pair in (p.strip() for p in value.split(",")):
        if not pair:
            continue
        account_id, sep, handle = (part.strip() for part in pair.partition("="))
        if not sep or not account_id or not handle.lstrip("@"):
            raise SettingsError(f"TANGGAP_INGEST_ACCOUNTS: {pair!r} is not id=handle")
        accounts[account_id] = handle.lstrip("@")
    return accounts


def effective_value(setting: Setting, env: Mapping[str, str] | None = None) -> str:
    """What `tanggap settings` prints: a secret shows only whether it is set."""
    env = os.environ if env is None else env
    value = env.get(setting.env, setting.default)
    if setting.secret:
        return "(set, hidden)" if value.strip() else "(empty)"
    return value


def describe() -> str:
    width = max(len(s.env) for s in SETTINGS)
    return "\n".join(f"{s.env:<{width}}  default {s.default or '(empty)'!s:<12} {s.help}" for s in SETTINGS)


