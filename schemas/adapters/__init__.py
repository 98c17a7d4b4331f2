"""Adapters: pure functions from a platform's native payload to raw posts.

Each adapter turns one native payload (a webhook body, an API response, one line of an export)
into posts in the contract of `schemas/json/raw_post.schema.json` plus the items it deliberately
did not turn into posts (deletions, delivery receipts, reactions), each with a reason code. An
item is never dropped without a reason: the ingest endpoint reports skipped items to the caller
and counts them.

    adapt(payload, context) -> Adapted(posts=[...], skipped=[Skipped(ref, reason, detail)])

A payload an adapter cannot read at all raises :class:`PayloadError` (the endpoint answers 400).
The field mapping and the API version each adapter follows are documented in its module and in
docs/ingest.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, get_args

FORMATS = ("raw", "x", "meta", "whatsapp", "tiktok", "youtube")

SkipReason = Literal["deleted", "edit_notice", "status_update", "reaction", "needs_graph_fetch", "not_a_post",
                     "unsupported_type", "missing_field"]
SKIP_REASONS: tuple[str, ...] = get_args(SkipReason)
"""Reason codes of skipped items: a bounded set, because the reason labels the metric
`tanggap_ingest_items_total`; `Skipped` refuses any other (the detail carries free text)."""


class PayloadError(ValueError):
    """The payload is not in the format its adapter reads (wrong object, missing envelope)."""


class AdapterSetupError(RuntimeError):
    """The adapter cannot run as configured (e.g. no WhatsApp hash key)."""


class UnknownSkipReason(Exception):
    """An adapter named a skip reason outside SKIP_REASONS (a programming error)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    ref: str
    """The platform's id of the item (a post, comment or message id): never personal data."""
    reason: SkipReason
    detail: str = ""

    def __post_init__(self) -> None:
        # Not a ValueError: a reason outside the set is a bug in an adapter, not a malformed payload.
        if self.reason not in SKIP_REASONS:
            raise UnknownSkipReason(f"skip reason {self.reason!r} is not one of SKIP_REASONS")

    def to_json(self) -> dict[str, str]:
        return {"ref": self.ref, "reason": self.reason, "detail": self.detail}


@dataclass(slots=True)
class Adapted:
    posts: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: Adapted) -> None:
        self.posts.extend(other.posts)
        self.skipped.extend(other.skipped)


@dataclass(frozen=True)
class AdapterContext:
    """What adapters need beyond the payload.

    `accounts` maps platform account ids that webhooks name only by id (a Facebook Page id, an
    Instagram business account id, a WhatsApp phone_number_id, a YouTube channel id) to the
    handle the OPD directory lists, so that posts addressed to them and replies they author are
    recognised. `whatsapp_hash_key` keys the hash that replaces a WhatsApp sender's number.
    """

    accounts: Mapping[str, str] = field(default_factory=dict)
    whatsapp_hash_key: bytes | None = None


def epoch_to_rfc3339(value: Any) -> str:
    """Epoch seconds (int, float or numeric string; milliseconds when implausibly large) to RFC 3339 UTC."""
    seconds = float(value)
    if seconds > 1e11:  # Messenger-era payloads send milliseconds
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, OSError) as exc:  # far outside the platform's range
        raise ValueError(f"timestamp {value!r} out of range") from exc


_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.]{1,64})")


def mentions_in(text: str) -> list[str]:
    """@handles written in a text, in order, without duplicates and without trailing dots."""
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text or ""):
        handle = match.group(1).rstrip(".")
        if handle:
            seen.setdefault(handle, None)
    return list(seen)


def keyed_hash(key: bytes, value: str, prefix: str) -> str:
    """An opaque, stable id for personal data (a phone number): HMAC-SHA256, so nobody without
    the key can confirm a guessed number by hashing it."""
    return f"{prefix}{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]}"


def raw_post(platform: str, post_id: str, text: str, created_at: str, author_id: str, *,
             handle: str | None = None, name: str | None = None, url: str | None = None,
             reply_to: str | None = None, repost_of: str | None = None,
             addressed_to: list[str] | None = None, lang: str | None = None,
             geo: Any = None, **extra: Any) -> dict[str, Any]:
    post: dict[str, Any] = {
        "platform": platform, "post_id": str(post_id), "text": text or "", "created_at": created_at,
        "author": {"id": str(author_id), "handle": handle, "name": name}, "url": url,
        "reply_to": str(reply_to) if reply_to else None, "repost_of": str(repost_of) if repost_of else None,
        "addressed_to": list(dict.fromkeys(a for a in (addressed_to or []) if a)), "lang": lang,
    }
    if geo is not None:
        post["geo"] = geo
    post.update({k: v for k, v in extra.items() if v is not None})
    return post


MALFORMED = (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError, RecursionError)
"""What reading a payload whose fields have other types than the platform's (an object where a
string belongs, `true` where an object belongs) raises inside an adapter."""


def adapter(fmt: str) -> Callable[[Any, AdapterContext], Adapted]:
    """The adapter of a format name (see FORMATS; `raw` is the contract itself).

    Adapters read untrusted payloads field by field; a field of the wrong type surfaces as one of
    MALFORMED wherever it is read. The returned function turns those into PayloadError (the
    endpoint's 400), so every adapter fails the same way on a mutated payload."""
    from schemas.adapters import meta, tiktok, whatsapp, x, youtube

    adapters = {"raw": adapt_raw, "x": x.adapt, "meta": meta.adapt, "whatsapp": whatsapp.adapt,
                "tiktok": tiktok.adapt, "youtube": youtube.adapt}
    if fmt not in adapters:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    convert = adapters[fmt]

    def guarded(payload: Any, context: AdapterContext | None = None) -> Adapted:
        try:
            return convert(payload, context)
        except (PayloadError, AdapterSetupError):
            raise
        except MALFORMED as exc:
            raise PayloadError(f"a field of the {fmt} payload has an unexpected type or value "
                               f"({type(exc).__name__})") from None

    return guarded


def adapt_raw(payload: Any, context: AdapterContext | None = None) -> Adapted:
    """Posts already in the contract: one object or an array; validation happens downstream."""
    items = payload if isinstance(payload, list) else [payload]
    return Adapted(posts=list(items))
