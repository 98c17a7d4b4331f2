"""The events Tanggap reads and writes, with stable ids.

Every emitted event id is a hash of what caused it (never a random uuid), so reprocessing the
same input after a crash emits byte-for-byte the same id and downstream consumers can dedupe.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Mapping
from typing import Any

import orjson
from fastjsonschema.draft07 import CodeGeneratorDraft07

from schemas import JsonSchemaError, validator

PLATFORMS = ("twitter", "instagram", "facebook", "tiktok", "youtube", "whatsapp", "web", "other")

COMPLAINT_EVENT_TYPES = ("opened", "duplicate_attached", "responded", "resolved", "reprioritized")
BREACH_EVENT_TYPE_PREFIX = "id.tanggap.sla."
"""CloudEvents `type` of breach events is this prefix plus the outcome, e.g. `id.tanggap.sla.breached`."""


def stable_id(prefix: str, *parts: object) -> str:
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=10).hexdigest()
    return f"{prefix}-{digest}"


def post_key(platform: str, post_id: str) -> str:
    return f"{platform}:{post_id}"


def thread_key(platform: str, post_id: str, parent: str | None) -> str:
    """The key of a post's thread: the post it reposts or answers (`parent`, a post id), else
    the post itself. All posts of a thread are decided in its partition."""
    return post_key(platform, parent or post_id)


def message_key(value: Mapping[str, Any]) -> bytes | None:
    """The key a producer gives a raw post on `posts.raw`: its *thread key* (the key of the
    post it reposts or answers, else its own), so that the triage agent can decide it where it
    lands. Any other key is accepted and costs one extra hop (agents/intake.py). None when the
    value has no usable platform and post id (the worker dead-letters it)."""
    platform, post_id = value.get("platform"), value.get("post_id")
    if not isinstance(platform, str) or not isinstance(post_id, str):
        return None
    parent = value.get("repost_of") or value.get("reply_to")
    return thread_key(platform, post_id, parent if isinstance(parent, str) else None).encode()


def parse_time(value: str) -> float:
    """RFC 3339 to epoch seconds; naive timestamps are rejected because their zone is a guess."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no UTC offset")
    return parsed.timestamp()


def format_time(epoch: float, tz: Any = timezone.utc) -> str:
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="seconds")


class InvalidInput(ValueError):
    """Input that can never be processed: goes to the dead-letter topic with `reason`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


DEAD_LETTER_REASONS = ("invalid_json", "not_an_object", "schema_violation", "bad_timestamp", "unknown_reference",
                       "too_large", "processing_error", "output_rejected")


@dataclass
class Limits:
    """Input size limits, set once per process from settings (TANGGAP_MAX_*): one abusive
    message must not cost a worker more than a bounded parse."""

    max_message_bytes: int = 65536
    max_text_chars: int = 20000


LIMITS = Limits()


def configure_limits(*, max_message_bytes: int, max_text_chars: int) -> None:
    LIMITS.max_message_bytes = max_message_bytes
    LIMITS.max_text_chars = max_text_chars


def decode_json_object(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None:
        raise InvalidInput("invalid_json", "empty message value")
    if len(raw) > LIMITS.max_message_bytes:
        raise InvalidInput("too_large", f"{len(raw)} bytes, limit {LIMITS.max_message_bytes} (TANGGAP_MAX_MESSAGE_BYTES)")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput("invalid_json", str(exc)) from None
    if not isinstance(value, dict):
        raise InvalidInput("not_an_object", f"expected a JSON object, got {type(value).__name__}")
    return value


def _validated(schema: str, raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    value = raw if isinstance(raw, dict) else decode_json_object(raw)
    try:
        validator(schema)(value)
    except JsonSchemaError as exc:
        raise InvalidInput("schema_violation", exc.message) from None
    return value


EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()
LATEST_EVENT_TIME = datetime(2200, 1, 1, tzinfo=timezone.utc).timestamp()
"""Event times outside these are input errors; at the calendar's edges (year 1 or 9999) date
arithmetic in local time overflows, so they must not reach the SLA or triage code."""


def _timestamp(value: str) -> float:
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no UTC offset")  # as parse_time says it
        epoch = parsed.timestamp()
    except (ValueError, OverflowError) as exc:
        raise InvalidInput("bad_timestamp", str(exc)) from None
    if not EARLIEST_EVENT_TIME <= epoch < LATEST_EVENT_TIME:
        raise InvalidInput("bad_timestamp", f"timestamp {value!r} is outside 2000-01-01 … 2200-01-01")
    return epoch


_PLATFORM_NAMES = frozenset(PLATFORMS)
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")
_DATE_TIME = re.compile(CodeGeneratorDraft07.FORMAT_REGEXS["date-time"])
"""The schemas' `date-time` format, as the compiled validators check it."""
PLAIN_POST_PROPERTIES = ("platform", "post_id", "text", "created_at", "author", "url", "reply_to", "repost_of",
                         "addressed_to", "geo", "lang")
"""The properties of raw_post.schema.json that :func:`is_plain_raw_post` checks (all of them)."""
_REQUIRED_POST_KEYS = frozenset(("platform", "post_id", "text", "created_at", "author"))


def _is_post_id(value: Any) -> bool:
    """A non-empty string without control characters (the schema's pattern for post ids)."""
    return value.__class__ is str and value != "" and _CONTROL_CHARACTER.search(value) is None


def is_plain_raw_post(value: dict[str, Any]) -> bool:
    """Whether raw_post.schema.json accepts `value`, checked directly for values of the plain
    types a JSON decoder gives (a few times cheaper than the compiled schema). False means
    "not decided here": the compiled schema then decides, and names what is wrong."""
    if not value.keys() >= _REQUIRED_POST_KEYS:
        return False
    get = value.get
    platform, post_id, text, author = value["platform"], value["post_id"], value["text"], value["author"]
    created_at = value["created_at"]
    if not (platform.__class__ is str and platform in _PLATFORM_NAMES and _is_post_id(post_id)
            and len(post_id) <= 256 and text.__class__ is str and len(text) <= 20000
            and created_at.__class__ is str and _DATE_TIME.match(created_at) is not None
            and author.__class__ is dict):
        return False
    author_id = author.get("id")
    if author_id.__class__ is not str or author_id == "":
        return False
    for optional in (author.get("handle"), author.get("name"), get("url"), get("lang")):
        if optional is not None and optional.__class__ is not str:
            return False
    for parent in (get("reply_to"), get("repost_of")):
        if parent is not None and not _is_post_id(parent):
            return False
    geo = get("geo")
    if geo is not None and geo.__class__ is not str and geo.__class__ is not dict:
        return False
    if "addressed_to" in value:
        addressed_to = value["addressed_to"]
        if addressed_to.__class__ is not list:
            return False
        for handle in addressed_to:
            if handle.__class__ is not str:
                return False
    return True


@dataclass(frozen=True, slots=True)
class RawPost:
    platform: str
    post_id: str
    text: str
    created_at: float
    author_id: str
    author_handle: str | None
    author_name: str | None
    url: str | None
    reply_to: str | None
    repost_of: str | None
    addressed_to: tuple[str, ...]
    lang: str | None

    @property
    def key(self) -> str:
        return post_key(self.platform, self.post_id)

    @property
    def parent_key(self) -> str | None:
        parent = self.repost_of or self.reply_to
        return post_key(self.platform, parent) if parent else None

    @property
    def thread_key(self) -> str:
        return thread_key(self.platform, self.post_id, self.repost_of or self.reply_to)

    @classmethod
    def parse(cls, raw: bytes | str | dict[str, Any]) -> RawPost:
        value = raw if isinstance(raw, dict) else decode_json_object(raw)
        if not is_plain_raw_post(value):
            value = _validated("raw_post", value)
        if len(value["text"]) > LIMITS.max_text_chars:
            raise InvalidInput("too_large", f"text of {len(value['text'])} characters, limit {LIMITS.max_text_chars} "
                                            "(TANGGAP_MAX_TEXT_CHARS)")
        created_at = _timestamp(value["created_at"])
        author = value["author"]
        get = value.get
        # positional: a frozen dataclass takes them noticeably faster than keywords
        return cls(value["platform"], value["post_id"], value["text"], created_at, author["id"], author.get("handle"),
                   author.get("name"), get("url"), get("reply_to"), get("repost_of"),
                   tuple(get("addressed_to") or ()), get("lang"))

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "post_id": self.post_id,
            "text": self.text,
            "created_at": format_time(self.created_at),
            "author": {"id": self.author_id, "handle": self.author_handle, "name": self.author_name},
            "url": self.url,
            "reply_to": self.reply_to,
            "repost_of": self.repost_of,
            "addressed_to": list(self.addressed_to),
            "lang": self.lang,
        }


@dataclass(frozen=True, slots=True)
class DeskResponse:
    """A response logged by the desk on the `responses` topic."""

    by: str
    kind: str
    at: float
    complaint_id: str | None
    post_key: str | None
    channel: str | None
    event_id: str

    @classmethod
    def parse(cls, raw: bytes | str | dict[str, Any]) -> DeskResponse:
        value = _validated("response", raw)
        at = _timestamp(value["at"])
        post = value.get("post")
        key = post_key(post["platform"], post["post_id"]) if post else None
        cause = value.get("response_id") or f"{value.get('complaint_id') or key}|{value['by']}|{value['kind']}|{value['at']}"
        return cls(
            by=value["by"],
            kind=value["kind"],
            at=at,
            complaint_id=value.get("complaint_id"),
            post_key=key,
            channel=value.get("channel"),
            event_id=stable_id("rsp", cause),
        )


DEAD_LETTER_MAX_VALUE_BYTES = 256 * 1024
"""Original bytes kept in a dead letter; the base64 and text copies stay under Kafka's 1 MB."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be processed, with its original bytes and the reason."""

    reason: str
    detail: str
    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    stage: str
    at: float = field(default=0.0)

    @property
    def event_id(self) -> str:
        if self.offset is not None:
            return stable_id("dlq", self.topic, self.partition, self.offset)
        return stable_id("dlq", self.topic, self.key, self.value)

    def to_json(self) -> dict[str, Any]:
        def text(data: bytes | None) -> str | None:
            if data is None:
                return None
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return None

        # A dead letter holds the value twice (base64 and text): a value near the broker's
        # message limit would make the dead letter itself unsendable and crash the agent.
        value = self.value
        truncated = value is not None and len(value) > DEAD_LETTER_MAX_VALUE_BYTES
        if truncated:
            value = value[:DEAD_LETTER_MAX_VALUE_BYTES]
        return {
            "event_id": self.event_id,
            "reason": self.reason,
            "detail": self.detail[:2000],
            "stage": self.stage,
            "source": {"topic": self.topic, "partition": self.partition, "offset": self.offset},
            "key_text": text(self.key),
            "key_base64": base64.b64encode(self.key).decode() if self.key is not None else None,
            "value_base64": base64.b64encode(value).decode() if value is not None else None,
            "value_text": text(value) if not truncated else value.decode("utf-8", "ignore"),
            "value_bytes": len(self.value) if self.value is not None else None,
            "value_truncated": truncated,
            "at": format_time(self.at),
        }
