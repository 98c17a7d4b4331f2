"""Topic names. Every name carries the configurable prefix (TANGGAP_TOPIC_PREFIX)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from streams.settings import Settings

CLOUDEVENTS_STRUCTURED: list[tuple[str, bytes]] = [("content-type", b"application/cloudevents+json")]
"""The header of a CloudEvent in structured mode (CloudEvents Kafka protocol binding 1.0, 3.2):
without it a consumer that follows the binding takes the record for binary mode."""

RECORD_HEADERS: dict[str, list[tuple[str, bytes]]] = {"breaches": CLOUDEVENTS_STRUCTURED}
"""Headers that every record of a topic carries, by the topic's field name (`TopicNames`).
Lists, never mutated: aiokafka's record builder takes nothing else."""
NO_HEADERS: list[tuple[str, bytes]] = []


@dataclass(frozen=True)
class TopicNames:
    posts_raw: str
    responses: str
    threads: str
    clusters: str
    triaged: str
    complaints: str
    sla_timeline: str
    """Everything an SLA clock hears, in one ordered log per complaint: its complaint events and the
    timer's ticks (agents/sla.py)."""
    breaches: str
    deadletter: str

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        return cls(
            posts_raw=settings.topic("posts.raw"),
            responses=settings.topic("responses"),
            threads=settings.topic("posts.threads"),
            clusters=settings.topic("posts.clusters"),
            triaged=settings.topic("posts.triaged"),
            complaints=settings.topic("complaints"),
            sla_timeline=settings.topic("sla.timeline"),
            breaches=settings.topic("breaches"),
            deadletter=settings.topic("deadletter"),
        )

    def all(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in self.fields())

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The topics' field names, in declaration order."""
        return tuple(field.name for field in fields(cls))

    def resolve(self, short_or_full: str) -> str:
        """Accept "complaints" or "tanggap.complaints" on the command line."""
        for name in self.all():
            if short_or_full in (name, name.split(".", 1)[-1]) or name.endswith("." + short_or_full):
                return name
        return short_or_full
