"""X API v2 adapter: tweet objects from a recent-search response (built from X's API v2 docs)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from schemas.adapters import PayloadError, x
from schemas.events import RawPost

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "platform_payloads"


def load(name: str):
    return orjson.loads((PAYLOADS / name).read_bytes())


@pytest.fixture(scope="module")
def posts() -> dict[str, dict]:
    adapted = x.adapt(load("x_recent_search.json"))
    assert not adapted.skipped
    return {post["post_id"]: post for post in adapted.posts}


def test_every_post_meets_the_raw_post_contract(posts):
    for post in posts.values():
        assert RawPost.parse(post).key == f"twitter:{post['post_id']}"


def test_emoji_heavy_complaint_keeps_its_text_author_and_mentions(posts):
    post = posts["1853012345678901234"]
    assert post["text"].startswith("Jln di kec. Wedi rusak parahhh 😡😡🕳️🚗💥")
    assert post["author"] == {"id": "2244994945", "handle": "warga_wedi", "name": "Warga Wedi 🇮🇩"}
    assert post["addressed_to"] == ["dpuprklaten", "pemkabklaten"]
    assert post["url"] == "https://x.com/warga_wedi/status/1853012345678901234"
    assert post["reply_to"] is None and post["repost_of"] is None
    assert post["lang"] == "in"


def test_official_reply_is_authored_by_the_opd_account_and_points_at_the_complaint(posts):
    reply = posts["1853019999999999999"]
    assert reply["author"]["handle"] == "dpuprklaten"
    assert reply["reply_to"] == "1853012345678901234"


def test_retweet_and_quote_are_reposts_of_the_original(posts):
    assert posts["1853020000000000001"]["repost_of"] == "1853012345678901234"
    assert posts["1853020000000000002"]["repost_of"] == "1853012345678901234"


def test_an_edit_keeps_the_original_post_id_so_it_is_not_a_new_complaint(posts):
    edited = posts["1853020000000000050"]
    assert edited["edited"] is True
    assert edited["version_id"] == "1853020000000000099"
    assert "1853020000000000099" not in posts


def test_media_only_post_has_its_media_and_no_language(posts):
    post = posts["1853020000000000123"]
    assert post["media"] == ["photo"]
    assert post["text"] == "https://t.co/AbCdEf123"
    assert post["lang"] is None


def test_long_posts_use_the_note_tweet_text():
    tweet = {"id": "1", "text": "truncated…", "note_tweet": {"text": "the whole long text"}, "author_id": "9",
             "created_at": "2026-11-02T00:00:00.000Z"}
    assert x.adapt(tweet).posts[0]["text"] == "the whole long text"


def test_compliance_deletion_is_skipped_with_a_reason():
    adapted = x.adapt(load("x_compliance_delete.json"))
    assert adapted.posts == []
    assert [(s.ref, s.reason) for s in adapted.skipped] == [("1853012345678901234", "deleted")]


def test_tweet_without_author_is_skipped_not_dropped():
    adapted = x.adapt({"data": [{"id": "5", "text": "hi", "created_at": "2026-11-02T00:00:00Z"}]})
    assert adapted.posts == [] and adapted.skipped[0].reason == "missing_field"


@pytest.mark.parametrize("payload", [[], "text", {"includes": {}}])
def test_unreadable_payloads_raise(payload):
    with pytest.raises(PayloadError):
        x.adapt(payload)
