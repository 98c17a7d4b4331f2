"""Unit tests for agents/domain/triage.py: Triage.process and Triage.release over plain dicts
(the thread state and the replies waiting for their parent).

Uses the real bundled configuration, but only posts whose outcome does not hinge on fine
lexicon details: a clear road complaint, a clear campaign post, clear spam. Assertions are on
outcomes and structure (ids, counts, event types), which must hold whatever the vocabulary.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import orjson
import pytest

from agents.domain.config import TanggapConfig
from agents.domain.dedupe import complaint_id_for
from agents.domain.state import ThreadEntry
from agents.domain.triage import OFFICIAL_KIND, Triage, TriageResult
from schemas.events import RawPost

COMPLAINT_TEXT = "Jalan di kecamatan Wedi rusak parah dan berlubang, mohon diperbaiki"




@pytest.fixture
def triage(config) -> Triage:
    return Triage(config)


def official_handle(config: TanggapConfig, opd: str, platform: str = "twitter") -> str:
    handles = sorted(config.directory.opds[opd].accounts.get(platform, ()))
    if not handles:
        pytest.skip(f"opd.toml gives {opd} no {platform} account")
    return handles[0]


def post(post_id: str, text: str, *, handle: str = "warga_wedi", at: str = "2026-11-06T15:00:00+07:00",
         platform: str = "twitter", **extra: Any) -> RawPost:
    value = {
        "platform": platform,
        "post_id": post_id,
        "text": text,
        "created_at": at,
        "author": {"id": f"id-{handle}", "handle": handle, "name": None},
        "url": f"https://x.example/{handle}/status/{post_id}",
        **extra,
    }
    return RawPost.parse(value)


class Desk:
    """A triage run over dicts, applying the updates the way the stream applies them to its
    tables: `state_updates` to the thread state, `orphan_updates` (None deletes) to the replies
    waiting for their parent."""

    def __init__(self, triage: Triage) -> None:
        self.triage = triage
        self.state: dict[str, dict[str, Any]] = {}
        self.orphans: dict[str, list[dict[str, Any]]] = {}
        self.results: list[TriageResult] = []

    def apply(self, result: TriageResult) -> TriageResult:
        self.state.update(result.state_updates)
        for key, waiting in result.orphan_updates.items():
            if waiting is None:
                self.orphans.pop(key, None)
            else:
                self.orphans[key] = waiting
        self.results.append(result)
        return result

    def feed(self, p: RawPost) -> TriageResult:
        return self.apply(self.triage.process(p, self.state, self.orphans))

    def feed_all(self, posts: Iterable[RawPost]) -> list[TriageResult]:
        return [self.feed(p) for p in posts]

    def release(self, parent_key: str) -> TriageResult | None:
        result = self.triage.release(parent_key, self.orphans, self.state)
        return None if result is None else self.apply(result)

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every decision in publication order: each result's record, then its late records."""
        return [record for result in self.results for record in (result.record, *result.late_records)]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for result in self.results for event in result.complaint_events]

    def final_records(self) -> dict[str, dict[str, Any]]:
        """The last decision per post (late records supersede pending ones)."""
        return {record["post_key"]: record for record in self.records}


@pytest.fixture
def complaint() -> RawPost:
    return post("1001", COMPLAINT_TEXT)


@pytest.fixture
def official_reply(config, complaint) -> RawPost:
    owner = config.category_owner["jalan"]
    return post("1009", "Terima kasih laporannya, tim kami segera menuju lokasi.",
                handle=official_handle(config, owner), at="2026-11-06T16:10:00+07:00", reply_to=complaint.post_id)


@pytest.fixture
def repost(complaint) -> RawPost:
    return post("1002", COMPLAINT_TEXT, handle="warga_bayat", at="2026-11-06T15:05:00+07:00",
                repost_of=complaint.post_id)


@pytest.fixture
def reply(complaint) -> RawPost:
    return post("1003", "Betul, di depan balai desa juga sama.", handle="warga_jimbung",
                at="2026-11-06T15:20:00+07:00", reply_to=complaint.post_id)


# --- a new complaint --------------------------------------------------------------------------


def test_clear_road_complaint_opens_a_complaint_for_the_road_owner(config, triage, complaint):
    result = Desk(triage).feed(complaint)
    record = result.record
    assert record["outcome"] == "opened"
    assert record["kind"] == "pengaduan"
    assert record["category"] == "jalan"
    assert record["opd"] == config.category_owner["jalan"]
    assert record["kecamatan"] == "Wedi"
    assert record["complaint_id"] == complaint_id_for(complaint.key)
    assert record["post_key"] == "twitter:1001"
    assert record["created_at"] == "2026-11-06T15:00:00+07:00"
    assert [e["type"] for e in result.complaint_events] == ["opened"]


def test_opened_event_carries_the_complaint_and_first_post(triage, complaint):
    event = Desk(triage).feed(complaint).complaint_events[0]
    assert event["complaint_id"] == complaint_id_for(complaint.key)
    assert event["mentions"] == 1
    assert event["platforms"] == ["twitter"]
    assert event["first_post"]["key"] == complaint.key
    assert event["post"]["key"] == complaint.key
    assert event["excerpt"] == COMPLAINT_TEXT
    assert event["occurred_at"] == "2026-11-06T15:00:00+07:00"


def test_same_post_gives_the_same_complaint_and_event_ids_in_fresh_runs(config, complaint):
    first = Desk(Triage(config)).feed(complaint)
    second = Desk(Triage(config)).feed(post("1001", COMPLAINT_TEXT))
    assert first.record == second.record
    assert first.complaint_events == second.complaint_events
    assert first.record["complaint_id"] == complaint_id_for("twitter:1001")


def test_complaint_id_depends_on_the_post_key():
    assert complaint_id_for("twitter:1001") != complaint_id_for("instagram:1001")


# --- redelivery -------------------------------------------------------------------------------


def test_redelivered_post_is_recognised_and_opens_nothing(triage, complaint):
    desk = Desk(triage)
    opened = desk.feed(complaint)
    state_before = copy.deepcopy(desk.state)
    again = desk.feed(complaint)
    assert again.record["outcome"] == "redelivery"
    assert again.record["duplicate_via"] == "redelivery"
    assert again.record["duplicate_of"] == complaint.key
    assert again.record["complaint_id"] == opened.record["complaint_id"]
    assert again.record["opd"] == opened.record["opd"]
    assert again.complaint_events == []
    assert again.state_updates == {}
    assert desk.state == state_before


def test_redelivered_ignored_post_stays_ignored_without_events(triage):
    desk = Desk(triage)
    spam = post("2001", "Slot gacor maxwin hari ini, klik link di bio")
    desk.feed(spam)
    again = desk.feed(spam)
    assert again.record["outcome"] == "redelivery"
    assert again.record["kind"] == "spam"
    assert again.complaint_events == []


# --- reposts and replies ----------------------------------------------------------------------


@pytest.mark.parametrize("via", ["repost_of", "reply_to"])
def test_repost_or_reply_is_attached_to_the_complaint(triage, complaint, repost, reply, via):
    desk = Desk(triage)
    opened = desk.feed(complaint)
    child = repost if via == "repost_of" else reply
    result = desk.feed(child)
    record = result.record
    assert record["outcome"] == "mention"
    assert record["duplicate_via"] == via
    assert record["duplicate_of"] == complaint.key
    assert record["complaint_id"] == opened.record["complaint_id"]
    assert record["opd"] == opened.record["opd"]
    [event] = result.complaint_events
    assert event["type"] == "duplicate_attached"
    assert event["mentions"] == 2
    assert event["platforms"] == ["twitter"]
    assert event["post"]["key"] == child.key
    assert desk.state[complaint.key].mentions == 2


def test_mentions_count_every_attached_post(triage, complaint, repost, reply):
    desk = Desk(triage)
    results = desk.feed_all([complaint, repost, reply])
    assert [r.complaint_events[0]["mentions"] for r in results] == [1, 2, 3]
    assert desk.state[complaint.key].mentions == 3


def test_reply_to_a_mention_joins_the_complaint(triage, complaint, repost):
    desk = Desk(triage)
    desk.feed_all([complaint, repost])
    nested = post("1004", "ikut lapor juga", handle="warga_lain", reply_to=repost.post_id)
    record = desk.feed(nested).record
    assert record["outcome"] == "mention"
    assert record["complaint_id"] == complaint_id_for(complaint.key)
    assert record["duplicate_of"] == repost.key


def test_platforms_grow_when_a_mention_comes_from_another_platform(triage, complaint):
    # Thread state is keyed by post key; a summary reached from another platform adds it once.
    desk = Desk(triage)
    desk.feed(complaint)
    summary = desk.state[complaint.key]
    desk.state["instagram:555"] = summary
    cross = post("556", "sama di sini", platform="instagram", handle="warga_ig", reply_to="555")
    event = desk.feed(cross).complaint_events[0]
    assert event["platforms"] == ["twitter", "instagram"]


# --- official replies -------------------------------------------------------------------------


def test_official_reply_to_the_complaint_is_a_response(config, triage, complaint, official_reply):
    desk = Desk(triage)
    opened = desk.feed(complaint)
    result = desk.feed(official_reply)
    record = result.record
    owner = config.category_owner["jalan"]
    assert record["outcome"] == "response"
    assert record["kind"] == OFFICIAL_KIND
    assert record["opd"] == owner
    assert record["complaint_id"] == opened.record["complaint_id"]
    assert record["duplicate_of"] == complaint.key
    [event] = result.complaint_events
    assert event["type"] == "responded"
    assert event["complaint_id"] == opened.record["complaint_id"]
    assert event["response"]["by"] == owner
    assert event["response"]["kind"] == "first_response"
    assert event["response"]["at"] == "2026-11-06T16:10:00+07:00"
    assert event["response"]["channel"] == "twitter"
    assert event["response"]["post"]["key"] == official_reply.key


def test_official_reply_does_not_count_as_a_mention(triage, complaint, official_reply):
    desk = Desk(triage)
    desk.feed_all([complaint, official_reply])
    assert desk.state[complaint.key].mentions == 1


def test_official_post_that_is_not_a_reply_is_ignored(config, triage):
    handle = official_handle(config, config.category_owner["jalan"])
    result = Desk(triage).feed(post("3001", "Hari ini perbaikan jalan di Wedi, mohon maaf perjalanan terganggu",
                                    handle=handle))
    assert result.record["outcome"] == "ignored"
    assert result.record["kind"] == OFFICIAL_KIND
    assert result.record["ignored_reason"] == "official_post_not_a_reply"
    assert result.record["complaint_id"] is None
    assert result.complaint_events == []


def test_official_handle_on_another_platform_is_a_citizen(config, triage):
    # Accounts are per platform: the same handle where no OPD owns it is just a citizen.
    handle = official_handle(config, config.category_owner["jalan"])
    other = next(p for p in ("tiktok", "youtube", "web", "other") if config.directory.official_opd(p, handle) is None)
    result = Desk(triage).feed(post("3002", COMPLAINT_TEXT, handle=handle, platform=other))
    assert result.record["kind"] == "pengaduan"
    assert result.record["outcome"] == "opened"


def test_official_reply_to_a_post_that_opened_no_complaint_is_ignored(config, triage):
    desk = Desk(triage)
    desk.feed(post("4001", "Slot gacor maxwin hari ini, klik link di bio"))
    handle = official_handle(config, config.directory.triage_desk)
    result = desk.feed(post("4002", "Mohon tidak menyebar tautan judi.", handle=handle, reply_to="4001"))
    assert result.record["outcome"] == "ignored"
    assert result.record["ignored_reason"] == "official_reply_to_a_post_that_opened_no_complaint"
    assert result.complaint_events == []


# --- out of order -----------------------------------------------------------------------------


def test_official_reply_before_its_complaint_waits_then_completes(triage, complaint, official_reply):
    in_order = Desk(triage)
    in_order.feed_all([complaint, official_reply])

    desk = Desk(triage)
    pending = desk.feed(official_reply)
    assert pending.record["outcome"] == "response_pending"
    assert pending.record["kind"] == OFFICIAL_KIND
    assert pending.complaint_events == []

    arrived = desk.feed(complaint)
    assert arrived.record["outcome"] == "opened"
    assert [e["type"] for e in arrived.complaint_events] == ["opened", "responded"]
    [late] = arrived.late_records
    assert late["outcome"] == "response"
    assert late["post_key"] == official_reply.key
    # The same decisions, events and ids as when the posts arrive in order.
    assert late == in_order.results[1].record
    assert arrived.record == in_order.results[0].record
    assert [e["event_id"] for e in desk.events] == [e["event_id"] for e in in_order.events]
    assert desk.events == in_order.events
    assert desk.state == in_order.state


def test_pending_reply_redelivered_while_waiting_is_settled_once(triage, complaint, official_reply):
    desk = Desk(triage)
    first = desk.feed(official_reply)
    again = desk.feed(official_reply)
    assert again.record["event_id"] == first.record["event_id"]
    assert len(desk.orphans[complaint.key]) == 1
    arrived = desk.feed(complaint)
    assert len(arrived.late_records) == 1
    assert [e["type"] for e in arrived.complaint_events] == ["opened", "responded"]
    assert desk.orphans == {}


def test_citizen_reply_before_its_complaint_waits_then_joins(triage, complaint, reply):
    in_order = Desk(triage)
    in_order.feed_all([complaint, reply])

    desk = Desk(triage)
    pending = desk.feed(reply)
    assert pending.record["outcome"] == "reply_pending"
    assert pending.complaint_events == []
    arrived = desk.feed(complaint)
    [late] = arrived.late_records
    assert late == in_order.results[1].record
    assert late["outcome"] == "mention"
    assert desk.events == in_order.events
    assert desk.state == in_order.state
    assert desk.state[complaint.key].mentions == 2


def test_reply_to_a_waiting_reply_joins_the_complaint_when_the_thread_arrives(triage, complaint, reply):
    nested = post("1005", "Iya betul, saya juga lewat situ.", handle="warga_lain",
                  at="2026-11-06T15:30:00+07:00", reply_to=reply.post_id)
    in_order = Desk(triage)
    in_order.feed_all([complaint, reply, nested])

    desk = Desk(triage)
    desk.feed_all([nested, reply, complaint])
    assert desk.orphans == {}
    assert desk.final_records()[nested.key] == in_order.final_records()[nested.key]


def test_reply_whose_parent_never_arrives_is_decided_on_its_own(triage):
    desk = Desk(triage)
    orphan = post("1201", COMPLAINT_TEXT, reply_to="1200")
    assert desk.feed(orphan).record["outcome"] == "reply_pending"
    released = desk.release("twitter:1200")
    assert released is not None
    assert released.record["outcome"] == "opened"
    assert released.record["post_key"] == orphan.key
    assert released.record["complaint_id"] == complaint_id_for(orphan.key)
    assert any(r.startswith("parent_never_arrived[") for r in released.record["reasons"])
    assert desk.orphans == {}
    assert desk.release("twitter:1200") is None


def test_official_reply_whose_parent_never_arrives_is_ignored(config, triage):
    desk = Desk(triage)
    handle = official_handle(config, config.category_owner["jalan"])
    desk.feed(post("1301", "Terima kasih, segera kami cek.", handle=handle, reply_to="1300"))
    released = desk.release("twitter:1300")
    assert released.record["outcome"] == "ignored"
    assert released.record["kind"] == OFFICIAL_KIND
    assert released.complaint_events == []


def test_official_reply_before_a_post_that_opens_no_complaint_gets_a_final_record(config, triage):
    campaign = post("4101", "Ayo coblos nomor urut 2 di pilkada, ganti bupati!")
    handle = official_handle(config, config.directory.triage_desk)
    answer = post("4102", "Mohon tidak berkampanye di akun ini.", handle=handle, reply_to="4101",
                  at="2026-11-06T15:30:00+07:00")
    in_order = Desk(triage)
    in_order.feed_all([campaign, answer])

    desk = Desk(triage)
    desk.feed(answer)
    arrived = desk.feed(campaign)
    assert arrived.record["outcome"] == "ignored"
    assert arrived.late_records == [in_order.results[1].record]


def test_repost_before_original_joins_the_same_complaint(triage, complaint, repost):
    in_order = Desk(triage)
    in_order.feed_all([complaint, repost])

    desk = Desk(triage)
    first = desk.feed(repost)
    assert first.record["outcome"] == "opened"
    assert first.record["complaint_id"] == complaint_id_for(complaint.key)

    original = desk.feed(complaint)
    record = original.record
    assert record["outcome"] == "mention"
    assert record["duplicate_via"] == "reposted_before_original"
    assert record["duplicate_of"] == complaint.key
    assert record["complaint_id"] == in_order.results[0].record["complaint_id"]
    [event] = original.complaint_events
    assert event["type"] == "duplicate_attached"
    assert event["mentions"] == 2
    assert desk.state[complaint.key].seen


def test_original_redelivered_after_joining_its_repost_is_a_redelivery(triage, complaint, repost):
    desk = Desk(triage)
    desk.feed_all([repost, complaint])
    again = desk.feed(complaint)
    assert again.record["outcome"] == "redelivery"
    assert again.complaint_events == []


def test_official_reply_and_repost_before_the_original(triage, complaint, repost, official_reply):
    in_order = Desk(triage)
    in_order.feed_all([complaint, repost, official_reply])

    desk = Desk(triage)
    desk.feed_all([official_reply, repost, complaint])
    assert len({e["complaint_id"] for e in desk.events}) == 1
    assert sorted(e["type"] for e in desk.events) == sorted(e["type"] for e in in_order.events)
    assert desk.final_records()[official_reply.key]["outcome"] == "response"
    assert desk.final_records()[complaint.key]["complaint_id"] == complaint_id_for(complaint.key)


def test_official_reply_before_a_repost_counts_even_if_the_original_never_arrives(triage, complaint, repost,
                                                                                    official_reply):
    # In order (repost, reply) the reply answers the complaint the repost opened under the
    # original's key; arriving in the other order must not change that.
    in_order = Desk(triage)
    in_order.feed_all([repost, official_reply])

    desk = Desk(triage)
    desk.feed_all([official_reply, repost])
    desk.release(complaint.key)
    assert desk.final_records()[official_reply.key] == in_order.final_records()[official_reply.key]
    assert [e["type"] for e in desk.events] == ["opened", "responded"]


def test_quote_of_an_ignored_post_does_not_turn_its_redelivery_into_a_mention(triage):
    desk = Desk(triage)
    political = post("5001", "Ayo coblos nomor urut 2 di pilkada, ganti bupati!")
    desk.feed(political)
    quote = desk.feed(post("5002", COMPLAINT_TEXT, handle="warga_bayat", repost_of="5001"))
    # The original opened nothing, so the quote's complaint is its own.
    assert quote.record["outcome"] == "opened"
    assert quote.record["complaint_id"] == complaint_id_for("twitter:5002")
    again = desk.feed(political)
    assert again.record["outcome"] == "redelivery"
    assert again.complaint_events == []


# --- ignored kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Ayo coblos nomor urut 2 di pilkada, ganti bupati!", "politik"),
        ("Slot gacor maxwin hari ini, klik link di bio", "spam"),
        ("https://bit.ly/xyz @dpuprklaten", "spam"),
    ],
)
def test_political_and_spam_posts_are_ignored_and_never_assigned(triage, text, kind):
    result = Desk(triage).feed(post("6001", text))
    record = result.record
    assert record["outcome"] == "ignored"
    assert record["kind"] == kind
    assert record["ignored_reason"] == kind
    assert record["opd"] is None
    assert record["category"] is None
    assert record["complaint_id"] is None
    assert record["reasons"] and record["reasons"][0].startswith(f"{kind}:")
    assert result.complaint_events == []
    assert result.state_updates == {"twitter:6001": ThreadEntry(kind=kind)}


def test_reply_to_an_ignored_post_is_judged_on_its_own(config, triage):
    desk = Desk(triage)
    desk.feed(post("7001", "Slot gacor maxwin hari ini, klik link di bio"))
    result = desk.feed(post("7002", COMPLAINT_TEXT, reply_to="7001"))
    assert result.record["outcome"] == "opened"
    assert result.record["complaint_id"] == complaint_id_for("twitter:7002")


# --- the state-update contract ----------------------------------------------------------------


def _scenario(complaint, repost, reply, official_reply) -> list[RawPost]:
    spam = post("8001", "Slot gacor maxwin hari ini, klik link di bio")
    return [official_reply, repost, spam, complaint, reply, complaint, official_reply, spam]


def test_process_does_not_mutate_the_state_it_reads(triage, complaint, repost, reply, official_reply):
    desk = Desk(triage)
    for p in _scenario(complaint, repost, reply, official_reply):
        snapshot = copy.deepcopy((desk.state, desk.orphans))
        result = triage.process(p, desk.state, desk.orphans)
        assert (desk.state, desk.orphans) == snapshot
        desk.apply(result)


def test_state_updates_are_all_the_next_call_needs(config, complaint, repost, reply, official_reply):
    """Applying only the updates to stores that keep nothing but serialized values (like faust
    tables) gives exactly the same results as dicts holding the live objects."""
    posts = _scenario(complaint, repost, reply, official_reply)
    live = Desk(Triage(config))
    live.feed_all(posts)

    threads: dict[str, bytes] = {}
    orphans: dict[str, bytes] = {}
    triage = Triage(config)
    replayed: list[TriageResult] = []
    for p in posts:
        result = triage.process(p, {k: ThreadEntry.from_json(orjson.loads(v)) for k, v in threads.items()},
                                {k: orjson.loads(v) for k, v in orphans.items()})
        for key, value in result.state_updates.items():
            threads[key] = orjson.dumps(value.to_json())
        for key, waiting in result.orphan_updates.items():
            if waiting is None:
                orphans.pop(key, None)
            else:
                orphans[key] = orjson.dumps(waiting)
        replayed.append(result)

    assert [r.record for r in replayed] == [r.record for r in live.results]
    assert [r.complaint_events for r in replayed] == [r.complaint_events for r in live.results]
    assert [r.late_records for r in replayed] == [r.late_records for r in live.results]
    assert {k: orjson.loads(v) for k, v in threads.items()} == \
        orjson.loads(orjson.dumps({k: v.to_json() for k, v in live.state.items()}))
    assert orphans == {} and live.orphans == {}


def test_results_are_json_serializable(triage, complaint, repost, reply, official_reply):
    desk = Desk(triage)
    for result in desk.feed_all(_scenario(complaint, repost, reply, official_reply)):
        orjson.dumps(result.record)
        orjson.dumps(result.complaint_events)
        orjson.dumps({key: entry.to_json() for key, entry in result.state_updates.items()})
        orjson.dumps(result.orphan_updates)
        orjson.dumps(result.late_records)


def test_record_event_ids_are_stable_per_post_and_outcome(config, complaint, repost, reply, official_reply):
    posts = _scenario(complaint, repost, reply, official_reply)
    a, b = Desk(Triage(config)), Desk(Triage(config))
    a.feed_all(posts)
    b.feed_all(posts)
    assert [r.record["event_id"] for r in a.results] == [r.record["event_id"] for r in b.results]
    ids = [r.record["event_id"] for r in a.results]
    # Distinct (post, outcome) pairs have distinct ids; a redelivery differs from the first decision.
    assert len(set(ids)) == len(ids)
    event_ids = [e["event_id"] for e in a.events]
    assert len(set(event_ids)) == len(event_ids)



def test_a_repost_that_opens_nothing_before_its_original_is_simply_ignored(triage):
    greeting = post("1301", "Selamat pagi semuanya", repost_of="1300")
    desk = Desk(triage)
    result = desk.feed(greeting)
    assert result.record["outcome"] == "ignored"
    assert "twitter:1300" not in desk.state, "no placeholder for a post that opened nothing"


def test_a_mention_writes_the_complaint_summary_before_its_own_entry(triage, complaint, repost):
    """A batch's table writes land in the order of their first write (streams/batches.py): a
    crash between these two must lose the mention's own entry (replayed unchanged, below), never
    the summary alone: the mention would then pass for a redelivery that was never counted, and
    the next mention would go out with its count."""
    state: dict = {}
    triage.process(complaint, state).apply(state, {})
    assert list(triage.process(repost, state).state_updates) == [complaint.key, repost.key]


def test_a_response_replayed_after_later_mentions_is_sent_again_unchanged(triage, complaint, official_reply, repost):
    """A response is not a mention and triage does not remember it: it goes out without the
    complaint's counts, which move on (the clustering stage fills them in)."""
    state: dict = {}
    triage.process(complaint, state).apply(state, {})
    first = triage.process(official_reply, state)
    first.apply(state, {})
    triage.process(repost, state).apply(state, {})
    del state[official_reply.key]  # a crash lost its own entry and kept the later mention's count
    replayed = triage.process(official_reply, state)
    assert replayed.complaint_events == first.complaint_events
    assert (first.complaint_events[0]["mentions"], first.complaint_events[0]["platforms"]) == (None, None)


def test_a_mention_replayed_after_a_crash_that_kept_only_the_summary_is_sent_again_unchanged(triage, complaint, repost,
                                                                                             reply):
    """A batch's table writes are separate changelog records: a crash can keep the complaint
    summary (which counted the mention) and lose the mention's own entry. The replayed mention
    must go out with the same id and the same content, and count once."""
    state: dict = {}
    triage.process(complaint, state).apply(state, {})
    first = triage.process(repost, state)
    first.apply(state, {})
    second = triage.process(reply, state)
    second.apply(state, {})
    del state[repost.key]  # its own entry was lost; the summary kept the count
    replayed = triage.process(repost, state)
    assert replayed.complaint_events == first.complaint_events
    assert replayed.state_updates[complaint.key].mentions == 3, "counted once"
