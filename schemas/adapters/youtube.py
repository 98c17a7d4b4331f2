"""YouTube comment exports (JSON lines) to raw posts.

One line is a YouTube Data API v3 resource: a `youtube#commentThread` (from
`commentThreads.list`, `part=snippet,replies`) or a `youtube#comment` (from `comments.list`),
or an array of them. A thread yields its top-level comment and the replies it carries.

| raw post | Data API v3 `comment.snippet` |
| --- | --- |
| platform | `youtube` |
| post_id | `comment.id` |
| text | `textOriginal` (plain text; needs the comment's owner's or the channel's authorization), else `textDisplay` with its HTML removed |
| created_at | `publishedAt` |
| author | `authorChannelId.value`; handle `authorDisplayName` when it is a handle (`@name`, without the @), else name |
| url | `https://www.youtube.com/watch?v={videoId}&lc={comment.id}` |
| reply_to | `parentId` (replies); null for top-level comments |
| addressed_to | the handle of the video's channel (`channelId` in the accounts map) unless it wrote the comment, plus @mentions |

An edited comment (`updatedAt` later than `publishedAt`) keeps its id, so it is the same post,
with `edited: true`. The API does not report deletions (a deleted comment disappears).
Official replies are comments whose author is the channel (`authorChannelId.value == channelId`).
"""

from __future__ import annotations

import html
import re
from typing import Any

from schemas.adapters import Adapted, AdapterContext, PayloadError, Skipped, mentions_in, raw_post

_TAG = re.compile(r"<[^>]+>")


def adapt(payload: Any, context: AdapterContext | None = None) -> Adapted:
    context = context or AdapterContext()
    items = payload if isinstance(payload, list) else [payload]
    result = Adapted()
    for resource in items:
        if not isinstance(resource, dict) or not isinstance(resource.get("snippet"), dict):
            raise PayloadError("expected a YouTube commentThread or comment resource with a snippet")
        if resource.get("kind") == "youtube#commentThread":
            snippet = resource["snippet"]
            comments = [snippet.get("topLevelComment") or {}] + list((resource.get("replies") or {}).get("comments") or [])
            defaults = {"videoId": snippet.get("videoId"), "channelId": snippet.get("channelId")}
        else:
            comments, defaults = [resource], {}
        for comment in comments:
            item = _comment(comment, defaults, context)
            (result.skipped if isinstance(item, Skipped) else result.posts).append(item)
    return result


def _comment(comment: dict, defaults: dict, context: AdapterContext) -> dict | Skipped:
    snippet = {**defaults, **{k: v for k, v in (comment.get("snippet") or {}).items() if v is not None}}
    ref = str(comment.get("id", "?"))
    author_id = (snippet.get("authorChannelId") or {}).get("value")
    if not comment.get("id") or not snippet.get("publishedAt") or not author_id:
        return Skipped(ref, "missing_field", "comment without id, publishedAt or authorChannelId")
    text = snippet.get("textOriginal")
    if text is None:
        text = html.unescape(_TAG.sub("", (snippet.get("textDisplay") or "").replace("<br>", "\n")))
    display = snippet.get("authorDisplayName") or ""
    handle = display[1:] if display.startswith("@") else None
    channel = snippet.get("channelId")
    channel_handle = context.accounts.get(str(channel)) if channel else None
    if channel and author_id == channel and channel_handle:
        handle = channel_handle
    video = snippet.get("videoId")
    updated = snippet.get("updatedAt")
    return raw_post(
        "youtube", comment["id"], text, snippet["publishedAt"], author_id, handle=handle,
        name=None if handle and display.startswith("@") else display or None,
        url=f"https://www.youtube.com/watch?v={video}&lc={comment['id']}" if video else None,
        reply_to=snippet.get("parentId"),
        addressed_to=([channel_handle] if channel_handle and author_id != channel else []) + mentions_in(text),
        edited=True if updated and updated != snippet["publishedAt"] else None, video_id=video,
    )
