"""Plain aiokafka clients for the tools around the workers: topic creation, replay, tail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streams import security
from streams.settings import Settings
from streams.topics import TopicNames


class BrokerUnavailable(Exception):
    """The configured Kafka cluster could not be reached."""


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
        await asyncio.wait_for(admin.start(), timeout)
    except (KafkaConnectionError, KafkaError, asyncio.TimeoutError, OSError) as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {settings.broker}: {exc or type(exc).__name__}") from None
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


def producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    if settings.producer_max_batch_bytes:
        options.setdefault("max_batch_size", settings.producer_max_batch_bytes)
    options.setdefault("acks", "all")
    options.setdefault("enable_idempotence", False)
    return AIOKafkaProducer(**client_options(settings), **options)


async def start(client) -> None:
    try:
        await client.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        raise BrokerUnavailable(f"cannot reach Kafka: {exc or type(exc).__name__}") from None


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
