"""Fetch waits against the embedded broker (Tansu) at partition depths: how many records a plain
aiokafka consumer reads in a time budget from a position deep in a partition, for several
`fetch_max_wait_ms`, and for the adaptive wait of streams/fetchwait.py.

    .venv/bin/python -m bench.embedded_fetch --records 37000 --waits 20,100,500 --seconds 10

Records are produced one per batch (TANGGAP_PRODUCER_MAX_BATCH_BYTES=64), as every client of the
embedded broker sends them.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.broker import EmbeddedBroker


async def fill(bootstrap: str, topic: str, records: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=64, linger_ms=0)
    await producer.start()
    value = b"x" * 250
    try:
        futures = []
        for i in range(records):
            futures.append(await producer.send(topic, value, key=str(i).encode()))
            if len(futures) >= 2000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read(bootstrap: str, topic: str, start: int, wait_ms: int, seconds: float, adaptive: bool) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_wait_ms=wait_ms, max_poll_records=500)
    await consumer.start()
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, start)
    if adaptive:
        from streams.fetchwait import AdaptiveFetchWait

        tuner = AdaptiveFetchWait(consumer._fetcher, floor_ms=wait_ms)
    read_count, first = 0, None
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            batch = await consumer.getmany(timeout_ms=200)
            got = sum(len(records) for records in batch.values())
            if adaptive:
                lag = (consumer.highwater(tp) or 0) - (await consumer.position(tp))
                tuner.observe(got, lag)
            if got and first is None:
                first = time.monotonic() - started
            read_count += got
    finally:
        await consumer.stop()
    return read_count, first if first is not None else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=37000)
    parser.add_argument("--waits", default="20,100,500")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--adaptive", action="store_true", help="also the adaptive wait, from the first wait")
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        started = time.monotonic()
        await fill(broker.bootstrap, "deep", args.records)
        print(f"filled {args.records} records in {time.monotonic() - started:.1f} s", flush=True)
        for start in (args.records - 5, args.records // 2, 100):
            for wait in (int(w) for w in args.waits.split(",")):
                count, first = await read(broker.bootstrap, "deep", start, wait, args.seconds, False)
                print(f"from offset {start:>6}: fetch_max_wait_ms {wait:>4}: {count:>6} records in {args.seconds:g} s, "
                      f"first after {first:.2f} s", flush=True)
            if args.adaptive:
                floor = int(args.waits.split(",")[0])
                count, first = await read(broker.bootstrap, "deep", start, floor, args.seconds, True)
                print(f"from offset {start:>6}: adaptive from {floor:>4}: {count:>6} records in {args.seconds:g} s, "
                      f"first after {first:.2f} s", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
