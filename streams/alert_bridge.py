"""`tanggap alert-bridge`: SLA events on `breaches` become Alertmanager alerts, and resolve.

One alert per complaint, stage and level (at_risk, breached, escalated_opd_head,
escalated_sekda), named TanggapComplaintBreach, labelled with what routing needs (opd,
kecamatan, category, priority, level, severity, stage, complaint_id). The same topic carries the
stage's outcome (`met` or `answered_late`) once the complaint is answered; it is keyed by
complaint id, so the outcome always comes after that stage's alerts, and the bridge resolves
them: it asks Alertmanager which alerts of that complaint and stage are active and posts them
again with `endsAt` now. No state is kept in memory, so a restart loses nothing.

Delivery: the consumer group commits a batch only after Alertmanager accepted it. A POST that
fails is retried with exponential back-off a bounded number of times (TANGGAP_ALERT_RETRIES);
then the bridge exits non-zero without committing, and its supervisor restarts it where it left
off. Nothing queues in memory beyond the one batch being delivered. Redelivered events give
the same labels, which Alertmanager merges into the same alert.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer
from prometheus_client import Counter

from streams.backoff import Backoff
from streams.kafka import client_options, start
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)

ALERT_NAME = "TanggapComplaintBreach"
FIRING_LEVELS = {"at_risk": "warning", "breached": "critical", "escalated_opd_head": "critical",
                 "escalated_sekda": "critical"}
ANSWERED_LEVELS = ("met", "answered_late")
BATCH_RECORDS = 200
BACKOFF = Backoff(0.5, 30.0)

alerts_sent = Counter("tanggap_alert_bridge_alerts_total", "Alerts posted to Alertmanager", ("action",))
events_skipped = Counter("tanggap_alert_bridge_skipped_total", "Events on `breaches` that made no alert", ("reason",))
post_failures = Counter("tanggap_alert_bridge_post_failures_total", "Failed Alertmanager requests", ("reason",))


class DeliveryFailed(Exception):
    """Alertmanager did not accept a batch after every retry."""


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alert_for(event: dict[str, Any], now: datetime, ttl: timedelta) -> dict[str, Any] | None:
    """The Alertmanager v2 alert for one firing SLA event, or None for other levels."""
    data = event.get("data") or {}
    level = data.get("level")
    if level not in FIRING_LEVELS:
        return None
    labels = {
        "alertname": ALERT_NAME,
        "complaint_id": data.get("complaint_id"),
        "stage": data.get("stage"),
        "level": level,
        "severity": FIRING_LEVELS[level],
        "opd": data.get("opd"),
        "kecamatan": data.get("kecamatan"),
        "category": data.get("category"),
        "priority": data.get("priority"),
        "source": event.get("source"),
    }
    # Alertmanager treats an empty label as absent; a missing kecamatan is simply not a label.
    labels = {name: str(value) for name, value in labels.items() if value not in (None, "")}
    annotations = {
        "summary": (f"Complaint {data.get('complaint_id')} ({data.get('category') or 'no category'}, "
                    f"kecamatan {data.get('kecamatan') or 'unknown'}) {level.replace('_', ' ')} for "
                    f"{data.get('opd') or 'no OPD'}: {data.get('stage', '').replace('_', ' ')} was due "
                    f"{data.get('deadline')}"),
        "deadline": str(data.get("deadline")),
        "opened": str(data.get("opened")),
        "event_id": str(event.get("id")),
    }
    if data.get("escalation_target"):
        annotations["escalation_target"] = str(data["escalation_target"])
    if data.get("excerpt"):
        annotations["excerpt"] = str(data["excerpt"])
    alert: dict[str, Any] = {"labels": labels, "annotations": annotations,
                             "startsAt": _rfc3339(now), "endsAt": _rfc3339(now + ttl)}
    if data.get("post_urls"):
        alert["generatorURL"] = str(data["post_urls"][0])
    return alert


def answered_stage(event: dict[str, Any]) -> tuple[str, str] | None:
    """(complaint id, stage) when the event says that stage was answered."""
    data = event.get("data") or {}
    if data.get("level") in ANSWERED_LEVELS and data.get("complaint_id") and data.get("stage"):
        return data["complaint_id"], data["stage"]
    return None


class Alertmanager:
    def __init__(self, session: aiohttp.ClientSession, url: str, attempts: int) -> None:
        self.session = session
        self.url = url.rstrip("/")
        self.attempts = max(attempts, 1)

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                async with self.session.request(method, f"{self.url}{path}", **kwargs) as response:
                    if response.status < 300:
                        return await response.json(content_type=None) if method == "GET" else None
                    body = (await response.text())[:300]
                    if 400 <= response.status < 500:
                        # The request itself is wrong: retrying cannot help, and holding the
                        # topic would stop every other alert. Logged and counted, then skipped.
                        post_failures.labels("rejected").inc()
                        log.error("alertmanager rejected %s %s: HTTP %s %s", method, path, response.status, body)
                        return None
                    reason = f"HTTP {response.status} {body}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            post_failures.labels("unavailable").inc()
            if attempt == self.attempts:
                raise DeliveryFailed(f"alertmanager at {self.url} failed {self.attempts} times, last: {reason}")
            delay = BACKOFF.delay(attempt)
            log.warning("alertmanager request failed (attempt %d of %d), retrying in %.1f s: %s",
                        attempt, self.attempts, delay, reason)
            await asyncio.sleep(delay)
        return None

    async def post(self, alerts: list[dict[str, Any]]) -> None:
        if alerts:
            await self._request("POST", "/api/v2/alerts", json=alerts)

    async def active(self, complaint_id: str, stage: str) -> list[dict[str, Any]]:
        filters = [("filter", f'alertname="{ALERT_NAME}"'), ("filter", f'complaint_id="{complaint_id}"'),
                   ("filter", f'stage="{stage}"'), ("active", "true"), ("silenced", "true"),
                   ("inhibited", "true"), ("unprocessed", "true")]
        return await self._request("GET", "/api/v2/alerts", params=filters) or []


async def deliver(events: list[dict[str, Any]], alertmanager: Alertmanager, now: datetime, ttl: timedelta) -> None:
    """Forward one batch in order: firing alerts are posted together, and before any
    resolution that may follow them in the same batch."""
    pending: list[dict[str, Any]] = []
    for event in events:
        alert = alert_for(event, now, ttl)
        if alert is not None:
            pending.append(alert)
            continue
        answered = answered_stage(event)
        if answered is None:
            events_skipped.labels("not_an_alert").inc()
            continue
        await alertmanager.post(pending)
        alerts_sent.labels("fired").inc(len(pending))
        pending = []
        resolved = []
        for active in await alertmanager.active(*answered):
            resolved.append({"labels": active["labels"], "annotations": active.get("annotations", {}),
                             "startsAt": active["startsAt"], "endsAt": _rfc3339(now)})
        await alertmanager.post(resolved)
        alerts_sent.labels("resolved").inc(len(resolved))
    await alertmanager.post(pending)
    alerts_sent.labels("fired").inc(len(pending))


def parse(value: bytes) -> dict[str, Any] | None:
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("data"), dict) else None


async def run(settings: Settings, *, idle_exit: float | None = None) -> int:
    """Consume `breaches` until cancelled (or, with idle_exit, after that many idle seconds)."""
    topic = TopicNames.from_settings(settings).breaches
    consumer = AIOKafkaConsumer(
        topic, **client_options(settings), group_id=f"{settings.app_id}-alert-bridge",
        enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=BATCH_RECORDS,
    )
    await start(consumer)
    ttl = timedelta(hours=settings.alert_ttl_hours)
    log.info("forwarding %s to %s", topic, settings.alertmanager_url)
    idle_since = asyncio.get_running_loop().time()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            alertmanager = Alertmanager(session, settings.alertmanager_url, settings.alert_retries)
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=BATCH_RECORDS)
                records = [record for partition in batch.values() for record in partition]
                if not records:
                    if idle_exit is not None and asyncio.get_running_loop().time() - idle_since > idle_exit:
                        return 0
                    continue
                idle_since = asyncio.get_running_loop().time()
                events = []
                for record in records:
                    event = parse(record.value)
                    if event is None:
                        events_skipped.labels("unreadable").inc()
                        log.error("unreadable event on %s", topic,
                                  extra={"topic": topic, "partition": record.partition, "offset": record.offset})
                    else:
                        events.append(event)
                await deliver(events, alertmanager, datetime.now(timezone.utc), ttl)
                await consumer.commit()
    finally:
        await consumer.stop()
