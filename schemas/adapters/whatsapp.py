"""WhatsApp Cloud API webhooks (Graph API v21.0, field `messages`; `smb_message_echoes` for the
business's own replies) to raw posts.

The sender's phone number (`wa_id`, `from`) is personal data: it becomes `author.id` through a
keyed hash (HMAC-SHA256 with TANGGAP_INGEST_WHATSAPP_HASH_KEY, prefix `wa-`), so the same sender
always gets the same id and nobody without the key can check a guessed number. The number, the
profile name (`contacts[].profile.name`) and shared contact cards are never copied into a post.
A message id (`wamid.…`) is base64 of a structure that holds the sender's number, so message ids
are hashed the same way (prefix `wamid-`) wherever they appear: `post_id`, `reply_to` and the
`ref` of skipped items. A reply and the message it answers get the same hash, so threads hold.

| raw post | webhook (`entry[].changes[].value`) |
| --- | --- |
| platform | `whatsapp` |
| post_id | keyed hash of `messages[].id` (the `wamid`, which embeds the sender's number), prefix `wamid-` |
| text | `text.body`; the caption of `image`/`video`/`document`; `location.name` + `address`; the title of an `interactive` or `button` reply; empty for `audio`/`sticker` (media-only, `media` says which) |
| created_at | `messages[].timestamp` (epoch seconds) |
| author | `id` = keyed hash of `from`; handle and name null |
| reply_to | keyed hash of `context.id` (the message the sender replied to) |
| addressed_to | the handle of `metadata.phone_number_id` from the accounts map (the complaint number) |
| geo | `{latitude, longitude}` of a `location` message |

Official replies: `smb_message_echoes` (messages the business sent from the WhatsApp Business
app) become posts authored by the number's handle (`author.id` `wa-business-{phone_number_id}`),
`reply_to` the hash of their `context.id`. Skipped: `statuses` (`status_update`), `reaction` (`reaction`),
`unsupported`/`system`/`contacts`/`order` messages (`unsupported_type`), legacy `deleted` (`deleted`).
"""

from __future__ import annotations

from typing import Any

from schemas.adapters import (Adapted, AdapterContext, AdapterSetupError, PayloadError, Skipped, epoch_to_rfc3339,
                              keyed_hash, raw_post)

AUTHOR_PREFIX = "wa-"
MESSAGE_PREFIX = "wamid-"
CAPTIONED = ("image", "video", "document")
MEDIA_ONLY = ("audio", "sticker")


def adapt(payload: Any, context: AdapterContext | None = None) -> Adapted:
    context = context or AdapterContext()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise PayloadError("expected a WhatsApp webhook body with object 'whatsapp_business_account'")
    if not context.whatsapp_hash_key:
        raise AdapterSetupError("no WhatsApp hash key: set TANGGAP_INGEST_WHATSAPP_HASH_KEY")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("WhatsApp webhook body without an `entry` array")
    key = context.whatsapp_hash_key
    result = Adapted()
    for entry in entries:
        for change in (entry or {}).get("changes") or []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                raise PayloadError("a WhatsApp webhook change without a `value` object")
            number_id = str((value.get("metadata") or {}).get("phone_number_id") or "")
            business = context.accounts.get(number_id)
            for status in value.get("statuses") or []:
                status = status if isinstance(status, dict) else {}
                result.skipped.append(Skipped(message_ref(key, status.get("id")), "status_update",
                                              f"delivery status {str(status.get('status'))[:32]!r}"))
            for message in value.get("messages") or []:
                item = _message(message, business, key)
                (result.skipped if isinstance(item, Skipped) else result.posts).append(item)
            for echo in value.get("message_echoes") or []:
                item = _echo(echo, number_id, business, key)
                (result.skipped if isinstance(item, Skipped) else result.posts).append(item)
    return result


def message_ref(key: bytes, message_id: Any) -> str:
    """A message id as Tanggap stores it: keyed hash of the `wamid` (which embeds a number)."""
    if message_id is None or message_id == "":
        return "?"
    return keyed_hash(key, str(message_id), MESSAGE_PREFIX)


def _content(message: dict, key: bytes) -> tuple[str, list[str] | None, Any] | Skipped:
    """(text, media, geo) of a message, or why it is not a post."""
    kind = message.get("type")
    ref = message_ref(key, message.get("id"))
    if kind == "text":
        return (message.get("text") or {}).get("body") or "", None, None
    if kind in CAPTIONED:
        return (message.get(kind) or {}).get("caption") or "", [kind], None
    if kind in MEDIA_ONLY:
        return "", [kind], None
    if kind == "location":
        place = message.get("location") or {}
        text = ", ".join(str(place[k]) for k in ("name", "address") if place.get(k))
        return text, None, {"latitude": place.get("latitude"), "longitude": place.get("longitude")}
    if kind == "interactive":
        reply = message.get("interactive") or {}
        chosen = reply.get("button_reply") or reply.get("list_reply") or {}
        return chosen.get("title") or "", None, None
    if kind == "button":
        return (message.get("button") or {}).get("text") or "", None, None
    if kind == "reaction":
        return Skipped(ref, "reaction", "emoji reaction to a message")
    if kind == "deleted":
        return Skipped(ref, "deleted", "message deleted by the sender")
    return Skipped(ref, "unsupported_type", f"message type {kind!r}")


def _message(message: dict, business: str | None, key: bytes) -> dict | Skipped:
    ref = message_ref(key, message.get("id"))
    if not message.get("id") or not message.get("from") or message.get("timestamp") is None:
        return Skipped(ref, "missing_field", "message without id, from or timestamp")
    content = _content(message, key)
    if isinstance(content, Skipped):
        return content
    text, media, geo = content
    context = message.get("context") or {}
    return raw_post(
        "whatsapp", ref, text, epoch_to_rfc3339(message["timestamp"]),
        keyed_hash(key, str(message["from"]), AUTHOR_PREFIX),
        reply_to=context.get("id") and message_ref(key, context["id"]), addressed_to=[business] if business else [], geo=geo, media=media,
    )


def _echo(echo: dict, number_id: str, business: str | None, key: bytes) -> dict | Skipped:
    ref = message_ref(key, echo.get("id"))
    if not echo.get("id") or echo.get("timestamp") is None:
        return Skipped(ref, "missing_field", "message echo without id or timestamp")
    content = _content(echo, key)
    if isinstance(content, Skipped):
        return content
    text, media, _ = content
    return raw_post(
        "whatsapp", ref, text, epoch_to_rfc3339(echo["timestamp"]), f"wa-business-{number_id or 'unknown'}",
        handle=business, reply_to=(echo.get("context") or {}).get("id") and message_ref(key, echo["context"]["id"]),
        media=media,
    )
