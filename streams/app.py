"""The faust application: settings applied, topics declared, agents registered.

Topology (every arrow a Kafka topic; a hop exists only where the key must change):

    posts.raw --intake--> posts.threads --triage--> posts.clusters --cluster--> posts.triaged
                                             |                          \\-----> complaints --sla--> breaches
                                             \\--(no complaint)--> posts.triaged
    responses --responses--> complaints (or posts.threads for a post reference)
    any stage --on bad input--> deadletter
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from agents.domain.config import TanggapConfig
from schemas.events import DEAD_LETTER_REASONS, DeadLetter, InvalidInput, configure_limits
from streams import metrics, security
from streams.clock import SimulatedClock, WallClock, make_clock
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger("tanggap")

VERSION = "0.1.0"


_STAGE_TIMERS: dict[str, Any] = {}


@dataclass
class Pipeline:
    """What every agent module needs: the app, its settings and configuration, topics, clock."""

    app: faust.App
    settings: Settings
    config: TanggapConfig
    names: TopicNames
    topics: dict[str, faust.TopicT]
    clock: WallClock | SimulatedClock

    def topic(self, name: str) -> faust.TopicT:
        return self.topics[name]

    async def send_json(self, topic: str, key: str, value: dict[str, Any]) -> None:
        await self.topics[topic].send(key=key.encode(), value=orjson.dumps(value))

    async def dead_letter(self, event: faust.EventT, stage: str, reason: str, detail: str) -> None:
        message = event.message
        letter = DeadLetter(
            reason=reason, detail=detail, topic=message.topic, partition=message.partition,
            offset=message.offset, key=message.key, value=message.value, stage=stage,
            at=time.time(),  # when it was parked, for operators: always the wall clock
        )
        metrics.dead_letters.labels(stage, reason).inc()
        # Offsets, not contents: the message may hold personal data.
        log.warning("dead letter: stage=%s reason=%s topic=%s partition=%s offset=%s",
                    stage, reason, message.topic, message.partition, message.offset,
                    extra={"stage": stage, "reason": reason, "topic": message.topic,
                           "partition": message.partition, "offset": message.offset})
        await self.topics["deadletter"].send(key=message.key, value=orjson.dumps(letter.to_json()))

    async def guarded(self, event: faust.EventT, stage: str, handler) -> None:
        """Run one message's handler; bad input and bugs go to the dead-letter topic, never
        crash the worker or vanish."""
        started = time.perf_counter()
        try:
            await handler(event)
        except InvalidInput as exc:
            await self.dead_letter(event, stage, exc.reason, exc.detail)
        except Exception as exc:  # a bug must not stop the partition: park the message
            log.exception("processing error in %s", stage)
            await self.dead_letter(event, stage, "processing_error", f"{type(exc).__name__}: {exc}")
        finally:
            # The labelled child is looked up once per stage: a lookup per message costs as much
            # as the observation itself.
            timer = _STAGE_TIMERS.get(stage) or _STAGE_TIMERS.setdefault(stage, metrics.stage_seconds.labels(stage))
            timer.observe(time.perf_counter() - started)


def _use_fetch_max_wait(milliseconds: int) -> None:
    """faust 0.15 builds its worker consumer with a fixed fetch_max_wait_ms of 1500 and no
    setting for it. Kafka answers a fetch as soon as data arrives, so there it only bounds idle
    polling; the embedded broker holds every fetch for the whole wait, which puts up to that
    much latency on each topic hop. Process-wide: every faust app of the process shares it."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    create = AIOKafkaConsumerThread._create_worker_consumer
    original = getattr(create, "__wrapped__", create)

    def create_worker_consumer(self, transport):
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = milliseconds  # read by AIOKafkaConsumer.start() (aiokafka 0.14)
        return consumer

    create_worker_consumer.__wrapped__ = original
    AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer


def faust_settings(settings: Settings) -> dict[str, Any]:
    brokers = ";".join(f"kafka://{server.strip()}" for server in settings.broker.split(",") if server.strip())
    options: dict[str, Any] = {
        "broker": brokers,
        "store": settings.store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication,
        "web_enabled": True,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "consumer_auto_offset_reset": "earliest",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "autodiscover": False,
        "producer_acks": -1,
        # faust's own views (/router, /table, /graph, statistics at /) show table contents and
        # topology: off unless TANGGAP_WEB_INTROSPECTION asks for them while debugging.
        "web_router_enabled": settings.web_introspection,
        "web_tables_enabled": settings.web_introspection,
        "web_graph_enabled": settings.web_introspection,
        "web_stats_enabled": settings.web_introspection,
        "web_metrics_enabled": False,
        **security.from_settings(settings).faust_options(),
    }
    options["producer_linger"] = settings.producer_linger_ms / 1000.0
    _use_fetch_max_wait(settings.fetch_max_wait_ms)
    if settings.producer_max_batch_bytes:
        options["producer_max_batch_size"] = settings.producer_max_batch_bytes
    if settings.rebalance_timeout:
        options["broker_rebalance_timeout"] = settings.rebalance_timeout
    if settings.session_timeout:
        options["broker_session_timeout"] = settings.session_timeout
    if settings.heartbeat_interval:
        options["broker_heartbeat_interval"] = settings.heartbeat_interval
    return options


def _assignment(app: faust.App) -> set:
    try:
        return app.consumer.assignment()
    except Exception:  # no consumer yet (starting) or already stopped
        return set()


def build_app(settings: Settings, config: TanggapConfig) -> Pipeline:
    from agents import cluster, intake, responses, timing, triage
    from streams import ingest

    configure_limits(max_message_bytes=settings.max_message_bytes, max_text_chars=settings.max_text_chars)
    app = faust.App(settings.app_id, **faust_settings(settings))
    names = TopicNames.from_settings(settings)
    topics = {
        field: app.topic(getattr(names, field), partitions=settings.partitions, key_type=bytes,
                         value_type=bytes, internal=False)
        for field in ("posts_raw", "responses", "threads", "clusters", "triaged", "complaints", "sla_ticks", "breaches",
                      "deadletter")
    }
    pipeline = Pipeline(app, settings, config, names, topics, make_clock(settings.clock_speed))
    metrics.build_info.info({"version": VERSION, "regency": config.regency_id})
    sensor = metrics.WorkerSensor(settings.topic_prefix)
    app.sensors.add(sensor)
    shutting_down = False

    @app.on_partitions_revoked.connect
    async def forget_revoked(app: faust.App, revoked, **kwargs) -> None:
        sensor.forget_partitions(revoked)

    @app.on_before_shutdown.connect
    async def on_shutdown(app: faust.App, **kwargs) -> None:
        # Readiness fails at once so the orchestrator stops routing to us; faust then stops the
        # agents, commits what was processed and flushes the producer before the process exits.
        nonlocal shutting_down
        shutting_down = True
        log.info("shutting down: committing offsets and flushing the producer")

    def readiness() -> tuple[bool, dict[str, Any]]:
        ready = not shutting_down and metrics.is_ready(app, sensor)
        return ready, {"ready": ready, "rebalancing": bool(getattr(app, "rebalancing", False)),
                       "recovering": bool(getattr(app, "in_recovery", False)), "shutting_down": shutting_down,
                       "assigned_partitions": len([tp for tp in _assignment(app)
                                                   if tp.topic.startswith(settings.topic_prefix)])}

    @app.page("/metrics")
    async def metrics_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        sensor.refresh(app)
        body, content_type = metrics.exposition()
        return view.bytes(body, headers={"Content-Type": content_type})

    @app.page("/health")
    async def health_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        ready, detail = readiness()
        return view.json({"status": "ok", "app": settings.app_id, "regency": config.regency_id,
                          "clock_started": pipeline.clock.started(), **detail})

    @app.page("/live")
    async def live_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        # The web server answers only while the event loop runs; a wedged loop fails this probe.
        return view.json({"live": True})

    @app.page("/ready")
    async def ready_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        ready, detail = readiness()
        return view.json(detail, status=200 if ready else 503)

    intake.register(pipeline)
    responses.register(pipeline)
    triage.register(pipeline)
    cluster.register(pipeline)
    timing.register(pipeline)
    ingest.register(pipeline)
    # A counter series born at 1 shows no increase() in Prometheus: the first dead letter of a
    # worker's life would never alert. Every (stage, reason) series therefore starts at zero.
    for stage in (intake.STAGE, responses.STAGE, triage.STAGE, cluster.STAGE, timing.STAGE):
        for reason in DEAD_LETTER_REASONS:
            metrics.dead_letters.labels(stage, reason)
    return pipeline
