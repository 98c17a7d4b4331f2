"""Meta Graph API webhooks (v21.0) for Instagram and Facebook Page comments and mentions.

Accepted payload: one webhook notification body, `{"object": "instagram" | "page", "entry": [...]}`,
as Meta POSTs it (verify its X-Hub-Signature-256 before calling this; the ingest endpoint does).

Instagram (`object: instagram`, field `comments` or `live_comments`):

| raw post | webhook |
| --- | --- |
| platform | `instagram` |
| post_id | `value.id` (the comment id) |
| text | `value.text` |
| created_at | `entry.time` (the webhook carries no comment timestamp) |
| author | `value.from.id`, handle `value.from.username` (the OPD's own account for official replies) |
| reply_to | `value.parent_id` (a reply to a comment); a top-level comment answers no post we ingest, so null |
| addressed_to | the handle of `entry.id` (the account whose media was commented) from the accounts map, plus @mentions in the text |
| media_id | `value.media.id` (extra field) |

Field `mentions` (`{media_id, comment_id}`) carries no text: skipped as `needs_graph_fetch`.

Facebook Page (`object: page`, field `feed`):

| raw post | webhook |
| --- | --- |
| platform | `facebook` |
| post_id | `value.comment_id` for `item: comment`, else `value.post_id` |
| text | `value.message` (empty for a photo-only comment or post; `media` says what was attached) |
| created_at | `value.created_time` (epoch seconds) |
| author | `value.from.id`; name `value.from.name`; handle from the accounts map (so the Page's own replies count as official) |
| reply_to | `value.parent_id` when it is a comment (a reply in a comment thread); null for top-level comments |
| addressed_to | the Page's handle (`entry.id` in the accounts map), plus @mentions in the text |

`verb: edited` keeps the post id (so it is the same post, `edited: true`); `verb: remove` is
skipped as `deleted`; reactions, likes and shares as `not_a_post`; field `mention` (a Page
mentioned in a post, ids only) as `needs_graph_fetch`.
"""

from __future__ import annotations

from typing import Any

from schemas.adapters import Adapted, AdapterContext, PayloadError, Skipped, epoch_to_rfc3339, mentions_in, raw_post

POST_ITEMS = ("comment", "post", "status", "photo", "video")


def adapt(payload: Any, context: AdapterContext | None = None) -> Adapted:
    context = context or AdapterContext()
    if not isinstance(payload, dict) or payload.get("object") not in ("instagram", "page"):
        raise PayloadError("expected a Meta webhook body with object 'instagram' or 'page'")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("Meta webhook body without an `entry` array")
    result = Adapted()
    for entry in entries:
        if not isinstance(entry, dict):
            raise PayloadError("a Meta webhook entry is not an object")
        for change in entry.get("changes") or []:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise PayloadError("a Meta webhook change without a `value` object")
            if payload["object"] == "instagram":
                item = _instagram(entry, change["field"], change["value"], context)
            else:
                item = _facebook(entry, change["field"], change["value"], context)
            (result.skipped if isinstance(item, Skipped) else result.posts).append(item)
    return result


def _instagram(entry: dict, field: str, value: dict, context: AdapterContext) -> dict | Skipped:
    if field == "mentions":
        return Skipped(str(value.get("comment_id") or value.get("media_id") or "?"), "needs_graph_fetch",
                       "Instagram mention notifications carry ids only; fetch the comment or media")
    if field not in ("comments", "live_comments"):
        return Skipped(str(value.get("id", "?")), "unsupported_type", f"Instagram field {field!r}")
    author = value.get("from") or {}
    if not value.get("id") or not author.get("id") or entry.get("time") is None:
        return Skipped(str(value.get("id", "?")), "missing_field", "comment without id, from.id or entry.time")
    text = value.get("text") or ""
    owner = context.accounts.get(str(entry.get("id")))
    handle = author.get("username")
    return raw_post(
        "instagram", value["id"], text, epoch_to_rfc3339(entry["time"]), author["id"], handle=handle,
        reply_to=value.get("parent_id"),
        addressed_to=([owner] if owner and owner != handle else []) + mentions_in(text),
        media_id=(value.get("media") or {}).get("id"),
    )


def _facebook(entry: dict, field: str, value: dict, context: AdapterContext) -> dict | Skipped:
    item, verb = value.get("item"), value.get("verb")
    ref = str(value.get("comment_id") or value.get("post_id") or "?")
    if field == "mention":
        return Skipped(ref, "needs_graph_fetch", "Page mention notifications carry ids only; fetch the post")
    if field != "feed":
        return Skipped(ref, "unsupported_type", f"Page field {field!r}")
    if item not in POST_ITEMS:
        return Skipped(ref, "not_a_post", f"feed item {item!r}")
    if verb == "remove":
        return Skipped(ref, "deleted", f"{item} removed")
    if verb not in ("add", "edited"):
        return Skipped(ref, "unsupported_type", f"feed verb {verb!r}")
    author = value.get("from") or {}
    post_id = value.get("comment_id") if item == "comment" else value.get("post_id")
    if not post_id or not author.get("id") or value.get("created_time") is None:
        return Skipped(ref, "missing_field", "feed change without id, from.id or created_time")
    text = value.get("message") or ""
    page_handle = context.accounts.get(str(entry.get("id")))
    handle = context.accounts.get(str(author["id"]))
    parent = value.get("parent_id")
    media = [kind for kind in ("photo", "video") if value.get(kind) or value.get(f"{kind}s")] or None
    if item in ("photo", "video"):
        media = [item]
    post = value.get("post") or {}
    return raw_post(
        "facebook", post_id, text, epoch_to_rfc3339(value["created_time"]), author["id"],
        handle=handle, name=author.get("name"),
        url=post.get("permalink_url") if item != "comment" else None,
        reply_to=parent if item == "comment" and parent and parent != value.get("post_id") else None,
        addressed_to=([page_handle] if page_handle and page_handle != handle else []) + mentions_in(text),
        edited=True if verb == "edited" else None, media=media,
        on_post=value.get("post_id") if item == "comment" else None,
    )
