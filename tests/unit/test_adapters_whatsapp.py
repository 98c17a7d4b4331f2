"""WhatsApp Cloud API adapter (payloads built from Meta's WhatsApp Cloud API webhook reference):
the sender's number never reaches a post."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from schemas.adapters import AdapterContext, AdapterSetupError, PayloadError, whatsapp
from schemas.events import RawPost

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "platform_payloads"
CONTEXT = AdapterContext(accounts={"106540352242922": "lapor.klaten"}, whatsapp_hash_key=b"test-key")
NUMBER = "6281234567890"


def load(name: str):
    return orjson.loads((PAYLOADS / name).read_bytes())


@pytest.fixture(scope="module")
def adapted():
    return whatsapp.adapt(load("whatsapp_messages.json"), CONTEXT)


def test_posts_meet_the_contract_and_never_hold_the_number_or_profile_name(adapted):
    assert len(adapted.posts) == 4
    for post in adapted.posts:
        RawPost.parse(post)
        dumped = orjson.dumps(post).decode()
        assert NUMBER not in dumped and "Siti" not in dumped
        assert post["author"]["id"].startswith("wa-")


def test_the_same_sender_gets_the_same_opaque_id_and_another_key_another_id(adapted):
    assert len({post["author"]["id"] for post in adapted.posts}) == 1
    other = whatsapp.adapt(load("whatsapp_messages.json"), AdapterContext(whatsapp_hash_key=b"other"))
    assert other.posts[0]["author"]["id"] != adapted.posts[0]["author"]["id"]


def test_text_caption_media_only_and_location(adapted):
    text, image, sticker, location = adapted.posts
    assert text["text"].endswith("mati sejak seminggu 💡❌🌑🙏🙏")
    assert text["addressed_to"] == ["lapor.klaten"]
    assert text["created_at"] == "2026-11-02T03:20:00+00:00"
    assert image["text"] == "Ini fotonya 📷" and image["media"] == ["image"]
    assert image["reply_to"] == whatsapp.message_ref(b"test-key", "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEjQ0QTY3NkU0OTMxRTBGQjA0AA==")
    assert sticker["text"] == "" and sticker["media"] == ["sticker"]
    assert location["text"] == "Gergunung, Klaten Utara, Klaten"
    assert location["geo"] == {"latitude": -7.7056, "longitude": 110.6063}


def test_reactions_shared_contacts_and_statuses_are_skipped(adapted):
    assert sorted(s.reason for s in adapted.skipped) == ["reaction", "status_update", "unsupported_type"]
    assert "+62 812" not in orjson.dumps([s.to_json() for s in adapted.skipped]).decode()


def test_business_echo_is_an_official_reply():
    (reply,) = whatsapp.adapt(load("whatsapp_echo.json"), CONTEXT).posts
    RawPost.parse(reply)
    assert reply["author"] == {"id": "wa-business-106540352242922", "handle": "lapor.klaten", "name": None}
    original = whatsapp.adapt(load("whatsapp_messages.json"), CONTEXT).posts[0]
    assert reply["reply_to"] == original["post_id"]  # the echo answers the first message: same hash
    assert NUMBER not in orjson.dumps(reply).decode()


def test_deleted_message_is_skipped():
    body = load("whatsapp_messages.json")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    body["entry"][0]["changes"][0]["value"]["messages"] = [{**message, "type": "deleted"}]
    adapted = whatsapp.adapt(body, CONTEXT)
    assert adapted.posts == [] and sorted(s.reason for s in adapted.skipped) == ["deleted", "status_update"]


def test_without_a_hash_key_the_adapter_refuses():
    with pytest.raises(AdapterSetupError):
        whatsapp.adapt(load("whatsapp_messages.json"), AdapterContext())


def test_other_objects_are_unreadable():
    with pytest.raises(PayloadError):
        whatsapp.adapt({"object": "page", "entry": []}, CONTEXT)


def _decoded(message_id: str) -> bytes:
    payload = message_id.removeprefix("wamid.")
    return base64.b64decode(payload + "=" * (-len(payload) % 4))


def test_message_ids_which_embed_the_number_are_keyed_hashes_everywhere(adapted):
    body = load("whatsapp_messages.json")
    wamids = {m["id"] for m in body["entry"][0]["changes"][0]["value"]["messages"]}
    assert any(NUMBER.encode() in _decoded(w) for w in wamids)  # the premise: a wamid holds the number
    dumped = orjson.dumps([*adapted.posts, *(s.to_json() for s in adapted.skipped)]).decode()
    assert "wamid." not in dumped and NUMBER not in dumped
    for post in adapted.posts:
        assert post["post_id"].startswith("wamid-") and len(post["post_id"]) == len("wamid-") + 32
    other = whatsapp.adapt(body, AdapterContext(whatsapp_hash_key=b"other"))
    assert {p["post_id"] for p in other.posts}.isdisjoint(p["post_id"] for p in adapted.posts)
