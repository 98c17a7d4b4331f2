"""Exact dedupe: one post, however often it is delivered; one complaint, however often it is
reposted or replied to.

Keys are deterministic functions of the post, so the stream can route every post of a thread
to the partition that holds its root's state:

- post key: ``platform:post_id``;
- thread key: the parent's post key for a repost or reply, else the post's own key
  (`RawPost.thread_key`, the same function producers key `posts.raw` with:
  `schemas.events.message_key`);
- complaint id: a hash of the opening post's key, so a redelivered opening post reopens nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.events import stable_id

if TYPE_CHECKING:
    from agents.domain.state import ThreadEntry


def complaint_id_for(opening_post_key: str) -> str:
    return stable_id("cmp", opening_post_key)


def is_processed(entry: ThreadEntry | None) -> bool:
    """Whether a thread-state entry records the post itself having been processed (as opposed
    to a placeholder written for a post that others pointed at before it arrived)."""
    return entry is not None and entry.seen
