"""Plain aiokafka clients for the tools around the workers: topic creation, replay, tail."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streams import security
from streams.settings import Settings
from streams.topics import TopicNames


class BrokerUnavailable(Exception):
    """The configured Kafka cluster could not be reached."""


class KafkaAuthenticationFailed(BrokerUnavailable):
    """The cluster refused the SASL credentials (a BrokerUnavailable, so every entry point that
    reports an unreachable broker in one line reports this one too)."""


class _ConnectionFailures(logging.Handler):
    """aiokafka's bootstrap logs why each connection failed and then raises a generic "Unable to
    bootstrap": the SASL refusal of a real Kafka only appears in that log record."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.args, tuple):
            self.errors.extend(arg for arg in record.args if isinstance(arg, BaseException))


@contextlib.contextmanager
def _watching_connection_failures():
    handler = _ConnectionFailures()
    logger = logging.getLogger("aiokafka")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _sasl_identity(client: Any) -> tuple[str, str, str]:
    """(username, mechanism, password) of an aiokafka client, from its network client."""
    network = getattr(client, "_client", None) or getattr(client, "client", None) or client
    return (getattr(network, "_sasl_plain_username", None) or "",
            getattr(network, "_sasl_mechanism", None) or "",
            getattr(network, "_sasl_plain_password", None) or "")


def authentication_failure(error: BaseException, logged: Iterable[BaseException], client: Any
                           ) -> KafkaAuthenticationFailed | None:
    """The one-line error for a start-up failure caused by refused credentials, else None."""
    for candidate in (error, *logged):
        reason = security.authentication_refusal(candidate)
        if reason is not None:
            username, mechanism, password = _sasl_identity(client)
            return KafkaAuthenticationFailed(
                security.authentication_failed_message(username, mechanism, reason, password))
    return None


async def _start_client(client: Any, target: str) -> None:
    """Start an aiokafka client, turning every way the cluster can refuse it into one
    BrokerUnavailable line (KafkaAuthenticationFailed for refused credentials)."""
    with _watching_connection_failures() as failures:
        try:
            await client.start()
        except (KafkaConnectionError, KafkaError, asyncio.TimeoutError, OSError, KeyError, ValueError) as exc:
            refused = authentication_failure(exc, failures.errors, client)
            if refused is None and isinstance(exc, (KeyError, ValueError)):
                raise  # not the SCRAM exchange: a bug, keep its traceback
            release = client.close if isinstance(client, AIOKafkaAdminClient) else client.stop
            with contextlib.suppress(Exception):
                await release()  # no "Unclosed AIOKafkaProducer" warning under the one-line error
            if refused is not None:
                raise refused from None
            reason = next(filter(None, map(security.tls_refusal, (exc, *failures.errors))), None)
            raise BrokerUnavailable(f"cannot reach Kafka{target}: {reason or exc or type(exc).__name__}") from None


def _bootstrap(settings: Settings) -> str:
    if not settings.broker:
        raise BrokerUnavailable("no broker configured: set TANGGAP_BROKER (or use `tanggap run`, which starts one)")
    return settings.broker


def client_options(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers and TLS/SASL options shared by every aiokafka client of the tools."""
    return {"bootstrap_servers": _bootstrap(settings), **security.from_settings(settings).aiokafka_options()}


async def create_topics(settings: Settings, timeout: float = 15.0) -> list[str]:
    """Create every Tanggap topic that does not exist yet; returns the names created."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(_start_client(admin, f" at {settings.broker}"), timeout)
    except asyncio.TimeoutError:
        raise BrokerUnavailable(f"cannot reach Kafka at {settings.broker}: no answer in {timeout:g} s") from None
    try:
        existing = set(await admin.list_topics())
        wanted = [name for name in TopicNames.from_settings(settings).all() if name not in existing]
        if wanted:
            try:
                await admin.create_topics([
                    NewTopic(name, num_partitions=settings.partitions, replication_factor=settings.replication)
                    for name in wanted
                ])
            except TopicAlreadyExistsError:
                pass  # another process won the race
        return wanted
    finally:
        await admin.close()


_WORDS = [struct.Struct(f"<{count}I") for count in range(64)]
"""Little-endian 32-bit words, by count: a key's words in one call."""


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of a key (the Java client's ``Utils.murmur2``), as aiokafka's
    ``aiokafka.partitioner.murmur2`` computes it, a 32-bit word at a time: aiokafka's takes a
    byte at a time, ~7 µs for a 20-byte key."""
    length = len(data)
    m = 0x5BD1E995
    h = 0x9747B28C ^ length
    count = length >> 2
    words = _WORDS[count] if count < len(_WORDS) else struct.Struct(f"<{count}I")
    for k in words.unpack_from(data):
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ (((k ^ (k >> 24)) * m) & 0xFFFFFFFF)
    tail = length & 3
    if tail:
        end = length & ~3
        if tail >= 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


KEY_HASHES = 65536
"""Keys whose hash is remembered (the latest used): a complaint id is the key of its events on
two topics, a cluster key that of every envelope of its kecamatan."""


@lru_cache(maxsize=KEY_HASHES)
def key_hash(key: bytes) -> int:
    """The non-negative murmur2 hash a keyed record's partition is taken from."""
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java client, aiokafka, librdkafka's
    murmur2_random) gives a keyed record among `partitions`."""
    return key_hash(key) % partitions


class KeyPartitioner:
    """aiokafka's ``DefaultPartitioner`` (the same partition for every key; a record without a
    key goes to a random available partition) with :func:`key_hash` (the workers' producer:
    ``producer_partitioner``)."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[key_hash(key) % len(all_partitions)]


def producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    options.setdefault("partitioner", KeyPartitioner())
    if settings.producer_max_batch_bytes:
        options.setdefault("max_batch_size", settings.producer_max_batch_bytes)
    options.setdefault("acks", "all")
    options.setdefault("enable_idempotence", False)
    return AIOKafkaProducer(**client_options(settings), **options)


async def start(client) -> None:
    await _start_client(client, "")


async def produce(settings: Settings, topic: str, messages: Iterable[tuple[bytes | None, bytes]],
                  on_sent: Callable[[], None] | None = None) -> int:
    client = producer(settings)
    await start(client)
    sent = 0
    try:
        for key, value in messages:
            await client.send(topic, value=value, key=key)
            sent += 1
            if on_sent is not None:
                on_sent()
        await client.flush()
    finally:
        await client.stop()
    return sent


async def consume(settings: Settings, topics: Iterable[str], *, idle_timeout: float | None = 2.0,
                  limit: int | None = None, from_beginning: bool = True) -> AsyncIterator[Any]:
    """Yield records of `topics` (no consumer group, nothing committed) until `limit` records or
    `idle_timeout` seconds without a new one."""
    consumer = AIOKafkaConsumer(
        *topics, **client_options(settings), group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await start(consumer)
    count = 0
    try:
        while limit is None or count < limit:
            batch = await consumer.getmany(timeout_ms=int((idle_timeout or 1.0) * 1000))
            records = [record for partition_records in batch.values() for record in partition_records]
            if not records:
                if idle_timeout is not None:
                    return
                continue
            for record in records:
                yield record
                count += 1
                if limit is not None and count >= limit:
                    return
    finally:
        await consumer.stop()
