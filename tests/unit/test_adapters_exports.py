"""TikTok and YouTube comment exports (JSON lines; fields of the TikTok Research API v2 and the
YouTube Data API v3 comment resources)."""

from __future__ import annotations

from pathlib import Path

import orjson

from schemas.adapters import AdapterContext, tiktok, youtube
from schemas.events import RawPost

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "platform_payloads"


def lines(name: str) -> list:
    return [orjson.loads(line) for line in (PAYLOADS / name).read_bytes().splitlines() if line.strip()]


def test_tiktok_comments_replies_and_deletions():
    adapted = tiktok.adapt(lines("tiktok_comments.jsonl"))
    complaint, official, emoji_only = adapted.posts
    for post in adapted.posts:
        RawPost.parse(post)
    assert complaint["post_id"] == "7440000000000000001"
    assert complaint["reply_to"] is None  # top-level comments name the video as parent
    assert complaint["addressed_to"] == ["pemkabklaten", "dpuprklaten"]
    assert complaint["url"] == "https://www.tiktok.com/@pemkabklaten/video/7430000000000000001"
    assert complaint["created_at"] == "2026-11-02T03:20:00+00:00"
    assert official["author"]["handle"] == "pemkabklaten" and official["reply_to"] == "7440000000000000001"
    assert official["addressed_to"] == []
    assert emoji_only["text"] == "🔥🔥🔥🔥🔥" and emoji_only["author"]["id"] == tiktok.UNKNOWN_AUTHOR
    assert [(s.ref, s.reason) for s in adapted.skipped] == [("7440000000000000004", "deleted")]


def test_youtube_threads_with_replies_and_single_comments():
    context = AdapterContext(accounts={"UCpemkabklaten000000000": "pemkabklaten"})
    adapted = [post for line in lines("youtube_comment_threads.jsonl") for post in youtube.adapt(line, context).posts]
    complaint, official, html_only = adapted
    for post in adapted:
        RawPost.parse(post)
    assert complaint["text"] == "Pak, jembatan di Trucuk retak & goyang 😱😱🌉⚠️ tolong dicek\nsebelum ambruk"
    assert complaint["author"] == {"id": "UCwargatrucuk0000000000", "handle": "wargatrucuk", "name": None}
    assert complaint["edited"] is True
    assert complaint["addressed_to"] == ["pemkabklaten"]
    assert complaint["url"] == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=UgzQ1w2e3r4t5y6u7i8"
    assert official["reply_to"] == complaint["post_id"] and official["author"]["handle"] == "pemkabklaten"
    assert "edited" not in official
    assert html_only["text"] == "0:42 itu jalan Cawas kan? 🤔"
    assert html_only["author"]["handle"] is None and html_only["author"]["name"] == "Pak Harjo"
