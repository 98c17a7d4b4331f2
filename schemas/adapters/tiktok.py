"""TikTok comment exports (JSON lines) to raw posts.

One line is one comment object as the TikTok Research API v2 returns it
(`POST /v2/research/video/comment/list/`, fields `id, video_id, text, like_count, reply_count,
parent_comment_id, create_time`), optionally enriched by the export tool with the commenter
(`username`, `user_id`, `display_name`) and the video owner (`video_owner`), which the Research
API does not return. A line may also be an array of such objects.

| raw post | export line |
| --- | --- |
| platform | `tiktok` |
| post_id | `id` |
| text | `text` |
| created_at | `create_time` (epoch seconds) |
| author | `user_id` or `username`; handle `username`; name `display_name`. Without either, `tiktok-unknown` (the Research API hides commenters) |
| url | `https://www.tiktok.com/@{video_owner}/video/{video_id}` when the owner is known |
| reply_to | `parent_comment_id` when it differs from `video_id` (top-level comments name the video as their parent) |
| addressed_to | `video_owner`, plus @mentions in the text |

TikTok does not allow editing comments and the API reports no deletions: a deleted comment is
simply absent from later exports. A line with `"deleted": true` (some tools mark them) is
skipped as `deleted`.
"""

from __future__ import annotations

from typing import Any

from schemas.adapters import Adapted, AdapterContext, PayloadError, Skipped, epoch_to_rfc3339, mentions_in, raw_post

UNKNOWN_AUTHOR = "tiktok-unknown"


def adapt(payload: Any, context: AdapterContext | None = None) -> Adapted:
    items = payload if isinstance(payload, list) else [payload]
    result = Adapted()
    for comment in items:
        if not isinstance(comment, dict):
            raise PayloadError("a TikTok comment line is not a JSON object")
        item = _comment(comment)
        (result.skipped if isinstance(item, Skipped) else result.posts).append(item)
    return result


def _comment(comment: dict) -> dict | Skipped:
    ref = str(comment.get("id", "?"))
    if comment.get("deleted"):
        return Skipped(ref, "deleted", "comment marked deleted by the export")
    if not comment.get("id") or comment.get("create_time") is None or not isinstance(comment.get("text"), str):
        return Skipped(ref, "missing_field", "comment without id, text or create_time")
    video_id = str(comment.get("video_id") or "")
    parent = str(comment.get("parent_comment_id") or "")
    owner = comment.get("video_owner")
    username = comment.get("username")
    return raw_post(
        "tiktok", comment["id"], comment["text"], epoch_to_rfc3339(comment["create_time"]),
        comment.get("user_id") or username or UNKNOWN_AUTHOR, handle=username, name=comment.get("display_name"),
        url=f"https://www.tiktok.com/@{owner}/video/{video_id}" if owner and video_id else None,
        reply_to=parent if parent and parent != video_id else None,
        addressed_to=([owner] if owner and owner != username else []) + mentions_in(comment["text"]),
        video_id=video_id or None,
    )
