"""The table entries' codec: what is stored stays plain JSON, reads back as the same entry, and
state written as dicts before the entries had types reads as the same entry."""

from __future__ import annotations

import orjson
import pytest

from agents.domain.state import (
    Clock,
    ClusterEntry,
    EarlyEvent,
    IgnoredPost,
    Member,
    SentContent,
    StageClock,
    ThreadEntry,
)

POST = {"key": "twitter:1", "platform": "twitter", "post_id": "1", "url": "https://x.example/1",
        "author_handle": "warga", "created_at": "2026-11-02T07:12:00+07:00"}
DECIDED = {"kind": "keluhan", "category": "jalan", "priority": "normal", "opd": "dpupr", "kecamatan": "Wedi",
           "desa": None, "complaint_id": "cmp-1", "needs_review": False}

OLD_SUMMARY = {**DECIDED, "mentions": 2, "platforms": ["twitter", "instagram"], "opened_at": 1_700_000_000.0,
               "first_post": POST, "seen": False, "counted": {"instagram:2": [2, ["twitter", "instagram"]]}}
OLD_MENTION = {**DECIDED, "mention_of": "twitter:1"}
OLD_SURVIVOR = {"at": 10.0, "text": "jalan rusak berlubang", "bucket": "jalan|Wedi", "complaint_id": "cmp-1",
                "kind": "keluhan", "category": "jalan", "priority": "tinggi", "opd": "dpupr", "kecamatan": "Wedi",
                "needs_review": False, "first_post": POST, "members": {"cmp-1": [1, ["twitter"]],
                                                                       "cmp-2": [3, ["instagram"]]},
                "resolved": True, "raised": "tinggi", "last_at": 20.0, "alone_until": 1, "claimed": ["cmp-9"],
                "sent": {"evt-1": [4, ["twitter", "instagram"], "tinggi", ["dedupe:near_duplicate[twitter:1]"]]}}
OLD_ALIAS = {"at": 20.0, "text": "jalan rusak berlubang segera", "bucket": "|Wedi", "alias_of": "cmp-1"}
OLD_IGNORED = {"at": 5.0, "text": "terima kasih jalan rusak", "bucket": "|Wedi", "alias_of": "cmp-1",
               "ignored": {"post": POST, "kind": "apresiasi", "record": {"post_key": "twitter:9"},
                           "reasons": ["jaccard=0.80"]}}
OLD_STAGE = {"working_clock": True, "budget": 14400.0, "deadline": 1_700_014_400.0, "anchor": 1_700_000_000.0,
             "spent": 0.0, "stopped_at": None, "stopped_by": None, "emitted": ["at_risk"]}
OLD_CLOCK = {"complaint_id": "cmp-1", "policy": "tinggi", "opened_at": 1_700_000_000.0, "opd": "dpupr",
             "category": "jalan", "priority": "tinggi", "kecamatan": "Wedi", "platform": "twitter",
             "url": "https://x.example/1", "author": "warga", "excerpt": "jalan rusak", "mentions": 1,
             "paused_at": None, "deadline": 1_700_014_400.0,
             "stages": {"first_response": OLD_STAGE,
                        "resolution": {**OLD_STAGE, "budget": 153000.0, "deadline": 1_700_300_000.0, "emitted": []}},
             "next_due": 1_700_010_800.0, "gauge": 2}
OLD_EARLY = {"early": [["responded", 1_700_000_100.0, "dpupr", "first_response", None],
                       ["reprioritized", 1_700_000_200.0, None, None, {"priority": "tinggi"}]]}


def stored(value: dict) -> dict:
    """What a table holds: the JSON bytes, read back."""
    return orjson.loads(orjson.dumps(value))


@pytest.mark.parametrize("cls, old", [
    (ThreadEntry, OLD_SUMMARY), (ThreadEntry, OLD_MENTION), (ThreadEntry, {"kind": "spam"}),
    (ThreadEntry, {"kind": "respon_resmi", "opd": "dpupr", "complaint_id": "cmp-1"}),
    (ClusterEntry, OLD_SURVIVOR), (ClusterEntry, OLD_ALIAS), (ClusterEntry, OLD_IGNORED),
    (Clock, OLD_CLOCK), (Clock, OLD_EARLY),
])
def test_an_entry_round_trips_through_the_stored_json(cls, old):
    entry = cls.from_json(stored(old))
    assert cls.from_json(stored(entry.to_json())) == entry


@pytest.mark.parametrize("cls, old", [
    (ThreadEntry, OLD_SUMMARY), (ThreadEntry, OLD_MENTION), (ClusterEntry, OLD_SURVIVOR),
    (ClusterEntry, OLD_ALIAS), (ClusterEntry, OLD_IGNORED),
])
def test_the_stored_shape_is_the_old_dict_shape(cls, old):
    """The previous version reads what this one writes: the same keys, without those that are
    None (it reads every key of these entries with a default)."""
    assert cls.from_json(old).to_json() == {key: value for key, value in old.items() if value is not None}


@pytest.mark.parametrize("old", [OLD_CLOCK, OLD_EARLY])
def test_a_clock_is_stored_in_exactly_the_old_shape(old):
    """Every key, None or not: the previous version reads some of a clock's keys without a default."""
    assert Clock.from_json(old).to_json() == old


def test_an_old_thread_summary_decodes():
    entry = ThreadEntry.from_json(OLD_SUMMARY)
    assert entry.is_summary and not entry.seen and entry.complaint_id == "cmp-1"
    assert entry.counted == {"instagram:2": Member(2, ["twitter", "instagram"])}
    mention = ThreadEntry.from_json(OLD_MENTION)
    assert not mention.is_summary and mention.seen and mention.mention_of == "twitter:1"


def test_an_old_cluster_entry_decodes():
    survivor = ClusterEntry.from_json(OLD_SURVIVOR)
    assert survivor.is_survivor and survivor.resolved and survivor.newest_at == 20.0
    assert survivor.members["cmp-2"] == Member(3, ["instagram"])
    assert survivor.sent["evt-1"] == SentContent(4, ["twitter", "instagram"], "tinggi",
                                                 ["dedupe:near_duplicate[twitter:1]"])
    assert survivor.first_post_key == "twitter:1"
    alias = ClusterEntry.from_json(OLD_ALIAS)
    assert not alias.is_survivor and alias.alias_of == "cmp-1" and alias.newest_at == 20.0
    claimed = ClusterEntry.from_json(OLD_IGNORED)
    assert claimed.ignored == IgnoredPost(POST, "apresiasi", {"post_key": "twitter:9"}, ["jaccard=0.80"])


def test_an_old_clock_decodes_and_its_deadline_is_the_first_responses():
    clock = Clock.from_json(OLD_CLOCK)
    assert clock.is_open and clock.deadline == 1_700_014_400.0
    assert clock.stages["first_response"] == StageClock(**OLD_STAGE)
    assert clock.stages["first_response"].is_running
    clock.stages["first_response"].deadline += 60.0
    assert clock.to_json()["deadline"] == 1_700_014_460.0, "the stored deadline follows the stage's"
    pending = Clock.from_json(OLD_EARLY)
    assert not pending.is_open and pending.deadline is None
    assert pending.early[1] == EarlyEvent("reprioritized", 1_700_000_200.0, None, None, {"priority": "tinggi"})


def test_keys_a_type_does_not_know_are_dropped():
    assert ThreadEntry.from_json({"kind": "spam", "later": 1}) == ThreadEntry(kind="spam")
    assert ClusterEntry.from_json({**OLD_ALIAS, "later": 1}) == ClusterEntry.from_json(OLD_ALIAS)
    assert Clock.from_json({**OLD_CLOCK, "later": 1}) == Clock.from_json(OLD_CLOCK)


def test_a_survivors_counts_follow_its_members():
    survivor = ClusterEntry.from_json(OLD_SURVIVOR)
    assert survivor.counts() == (4, ["twitter", "instagram"])
    survivor.replace_members({**survivor.members, "cmp-3": Member(2, ["tiktok", "twitter", "tiktok"])})
    assert survivor.counts() == (6, ["twitter", "instagram", "tiktok"]), "one more member, added"
    survivor.replace_members({**survivor.members, "cmp-1": Member(5, ["web"])})
    assert survivor.counts() == (10, ["web", "instagram", "tiktok", "twitter"]), "a member changed: counted again"
    assert "totals" not in survivor.to_json()
    assert ClusterEntry.from_json({**OLD_ALIAS, "totals": [1]}) == ClusterEntry.from_json(OLD_ALIAS)
