"""Meta Graph webhooks adapter: Instagram comments and Facebook Page feed changes (payloads built
from Meta's webhook reference for the `instagram` and `page` objects)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from schemas.adapters import AdapterContext, PayloadError, meta
from schemas.events import RawPost

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "platform_payloads"
CONTEXT = AdapterContext(accounts={"104000000000001": "pemkabklaten", "17841400000000001": "pemkabklaten"})


def load(name: str):
    return orjson.loads((PAYLOADS / name).read_bytes())


def test_instagram_comment_reply_and_mention():
    adapted = meta.adapt(load("meta_instagram_comments.json"), CONTEXT)
    complaint, reply = adapted.posts
    for post in adapted.posts:
        RawPost.parse(post)
    assert complaint["platform"] == "instagram"
    assert complaint["text"] == "Sampah numpuk di pasar Delanggu 🤢🤮🪰🪰 bau banget min @dlh.klaten"
    assert complaint["author"] == {"id": "5566778899", "handle": "sri.wulandari", "name": None}
    assert complaint["addressed_to"] == ["pemkabklaten", "dlh.klaten"]
    assert complaint["created_at"] == "2026-11-02T03:20:00+00:00"
    assert complaint["reply_to"] is None and complaint["media_id"] == "18000000000000001"
    assert reply["author"]["handle"] == "pemkabklaten"
    assert reply["reply_to"] == complaint["post_id"]
    assert "pemkabklaten" not in reply["addressed_to"]  # an account does not address itself
    assert [(s.ref, s.reason) for s in adapted.skipped] == [("17900000000000009", "needs_graph_fetch")]


@pytest.fixture(scope="module")
def facebook():
    return meta.adapt(load("meta_facebook_feed.json"), CONTEXT)


def test_facebook_comment_edit_and_official_reply(facebook):
    first, edit, official, photo = facebook.posts
    for post in facebook.posts:
        RawPost.parse(post)
    assert first["platform"] == "facebook"
    assert first["post_id"] == "900000000000001_800000000000001"
    assert first["author"] == {"id": "7000000000001", "handle": None, "name": "Budi Santoso"}
    assert first["addressed_to"] == ["pemkabklaten"]
    assert first["reply_to"] is None and first["on_post"] == "104000000000001_900000000000001"
    assert edit["post_id"] == first["post_id"] and edit["edited"] is True
    assert official["author"]["handle"] == "pemkabklaten"
    assert official["reply_to"] == first["post_id"]
    assert photo["text"] == "" and photo["media"] == ["photo"]


def test_facebook_deletions_and_reactions_are_skipped_with_reasons(facebook):
    assert [(s.ref, s.reason) for s in facebook.skipped] == [
        ("900000000000001_800000000000004", "deleted"), ("104000000000001_900000000000001", "not_a_post")]


@pytest.mark.parametrize("payload", [{"object": "user", "entry": []}, {"object": "page"}, [1]])
def test_unreadable_payloads_raise(payload):
    with pytest.raises(PayloadError):
        meta.adapt(payload)
