"""Near-duplicate clustering (agents.domain.cluster) through `tanggap triage`'s batch path, which
runs exactly what the stream runs: triage, then the clustering stage per cluster key."""

from __future__ import annotations

import copy
import random
import re
from dataclasses import replace

import orjson
import pytest

from agents.domain.cluster import (SLANG, Clusterer, ClusterPolicy, LshIndex, _copy_words_of, cluster_key, conflict,
                                   copy_words, fingerprint_text, raised, route, score_pairs)
from agents.domain.config import load_config
from agents.domain.triage import Triage
from schemas import validator
from schemas.events import RawPost
from streams.cli import triage_lines
from tests.conftest import BUNDLED_CONFIG

ORIGINAL = "Jalan utama di kec. Wedi berlubang besar dan dalam, sudah banyak motor yang jatuh. Mohon segera ditambal."
COPY = "@pemkabklaten Min, jln utama di kec. Wedi berlubang gede dan dalam, udah byk motor yg jatuh 🙏 #klaten"
TRUNCATED = "Jalan utama di kec. Wedi berlubang besar dan dalam, sudah banyak motor..."
OTHER_PLACE = "Jalan utama di kec. Bayat berlubang besar dan dalam, sudah banyak motor yang jatuh. Mohon segera ditambal."
OTHER_PROBLEM = "Jembatan kecil di kec. Wedi retak dan pagarnya patah, truk masih lewat tiap hari. Tolong dicek."


@pytest.fixture(scope="module")
def config():
    return load_config(BUNDLED_CONFIG)


def post(post_id: str, text: str, *, platform: str = "twitter", at: str = "2026-11-02T08:00:00+07:00", **extra) -> dict:
    return {"platform": platform, "post_id": post_id, "text": text, "created_at": at,
            "author": {"id": f"u{post_id}", "handle": f"warga{post_id}"}, **extra}


def run(config, posts: list[dict], policy: ClusterPolicy | None = None) -> dict[str, dict]:
    lines = enumerate((orjson.dumps(p) for p in posts), start=1)
    return {r["post_key"]: r for r in triage_lines(config, lines, policy)}


def test_a_copy_with_greetings_mentions_slang_and_emoji_joins_the_complaint(config):
    records = run(config, [post("1", ORIGINAL), post("2", COPY, platform="instagram", at="2026-11-02T09:00:00+07:00")])
    original, copy = records["twitter:1"], records["instagram:2"]
    assert original["outcome"] == "opened"
    assert copy["outcome"] == "mention"
    assert copy["duplicate_via"] == "near_duplicate"
    assert copy["duplicate_of"] == "twitter:1"
    assert copy["complaint_id"] == original["complaint_id"]
    assert any(r.startswith("dedupe:near_duplicate[twitter:1]") for r in copy["reasons"])
    validator("triage_record")(copy)


def test_a_truncated_copy_joins_and_order_of_arrival_does_not_matter_for_the_grouping(config):
    forward = run(config, [post("1", ORIGINAL), post("2", TRUNCATED, at="2026-11-02T10:00:00+07:00")])
    assert forward["twitter:2"]["complaint_id"] == forward["twitter:1"]["complaint_id"]


def test_same_problem_other_place_and_other_problem_same_place_stay_apart(config):
    records = run(config, [post("1", ORIGINAL), post("2", OTHER_PLACE), post("3", OTHER_PROBLEM)])
    assert len({r["complaint_id"] for r in records.values()}) == 3
    assert all(r["outcome"] == "opened" for r in records.values())


def test_a_copy_outside_the_window_opens_a_new_complaint(config):
    policy = ClusterPolicy(window_seconds=3600)
    records = run(config, [post("1", ORIGINAL), post("2", COPY, at="2026-11-02T10:00:00+07:00")], policy)
    assert records["twitter:2"]["outcome"] == "opened"
    default = run(config, [post("1", ORIGINAL), post("2", COPY, at="2026-11-04T07:00:00+07:00")])
    assert default["twitter:2"]["outcome"] == "mention", "72 hours by default"


def test_replies_and_official_replies_to_the_merged_copy_land_on_the_surviving_complaint(config):
    records = run(config, [
        post("1", ORIGINAL),
        post("2", COPY, platform="facebook", at="2026-11-02T09:00:00+07:00"),
        post("3", "sama di sini, ban motor saya bocor", platform="facebook", at="2026-11-02T09:10:00+07:00", reply_to="2"),
        {**post("4", "Terima kasih, segera kami tambal.", platform="facebook", at="2026-11-02T09:30:00+07:00",
                reply_to="2"), "author": {"id": "dpu", "handle": "dpuprklaten"}},
    ])
    survivor = records["twitter:1"]["complaint_id"]
    assert records["facebook:3"]["complaint_id"] == survivor
    assert records["facebook:4"]["outcome"] == "response"
    assert records["facebook:4"]["complaint_id"] == survivor


def events_of(config, posts: list[dict], policy: ClusterPolicy | None = None) -> list[dict]:
    """The complaint events the stream would emit: triage, then clustering, as the agents do."""
    triage, clusterer = Triage(config), Clusterer(policy, config.timezone)
    state, orphans, clusters, events = {}, {}, {}, []
    for raw in posts:
        result = triage.process(RawPost.parse(raw), state, orphans)
        state.update(result.state_updates)
        _, envelopes = route(result)
        for envelope in envelopes.values():
            clustered = clusterer.process(envelope, clusters)
            clustered.apply(clusters)
            events.extend(clustered.events)
    return events


def test_a_merged_copy_emits_duplicate_attached_never_opened_and_virality_raises_priority_once(config):
    events = events_of(config, [
        post("1", ORIGINAL),
        post("2", COPY, platform="instagram", at="2026-11-02T09:00:00+07:00"),
        post("3", COPY + " !!", platform="tiktok", at="2026-11-02T09:30:00+07:00"),
    ])
    assert [e["type"] for e in events] == ["opened", "duplicate_attached", "reprioritized", "duplicate_attached"]
    attached = events[1]
    assert attached["complaint_id"] == events[0]["complaint_id"]
    assert attached["mentions"] == 2 and attached["platforms"] == ["twitter", "instagram"]
    assert events[2]["priority"] == raised(events[0]["priority"]) != events[0]["priority"]
    assert events[3]["mentions"] == 3
    for event in events:
        validator("complaint_event")(event)
    assert len({e["event_id"] for e in events}) == len(events)


def test_reprocessing_the_same_posts_gives_the_same_event_ids(config):
    posts = [post("1", ORIGINAL), post("2", COPY, platform="instagram", at="2026-11-02T09:00:00+07:00")]
    assert [e["event_id"] for e in events_of(config, posts)] == [e["event_id"] for e in events_of(config, posts)]


def test_after_resolution_a_copy_is_a_new_complaint_linked_as_recurrence(config):
    clusterer = Clusterer(None, config.timezone)
    triage = Triage(config)
    state, clusters = {}, {}

    def push(result):
        state.update(result.state_updates)
        out = []
        for envelope in route(result)[1].values():
            clustered = clusterer.process(envelope, clusters)
            clustered.apply(clusters)
            out.extend(clustered.events)
        return out

    opened = push(triage.process(RawPost.parse(post("1", ORIGINAL)), state))[0]
    resolved = {**opened, "event_id": "evt-r", "type": "resolved", "post": None}
    clustered = clusterer.process({"records": [], "events": [resolved]}, clusters)
    clustered.apply(clusters)
    again = push(triage.process(RawPost.parse(post("2", COPY, at="2026-11-03T08:00:00+07:00")), state))
    assert again[0]["type"] == "opened"
    assert again[0]["complaint_id"] != opened["complaint_id"]
    assert f"dedupe:recurrence_of[{opened['complaint_id']}]" in again[0]["reasons"]


def test_a_restarted_stage_rebuilds_its_index_from_the_table_and_still_recognizes_copies(config):
    triage = Triage(config)
    first, clusters = Clusterer(None, config.timezone), {}
    for envelope in route(triage.process(RawPost.parse(post("1", ORIGINAL)), {}))[1].values():
        first.process(envelope, clusters).apply(clusters)
    restarted = Clusterer(None, config.timezone)
    assert restarted.rebuild(clusters.items()) == 1
    result = triage.process(RawPost.parse(post("2", COPY, at="2026-11-02T09:00:00+07:00")), {})
    [envelope] = route(result)[1].values()
    records = restarted.process(envelope, clusters).records
    assert records[0]["duplicate_via"] == "near_duplicate"


# The partitioning trade-off (docs/dedupe.md): the stage is keyed by kecamatan.

def kecamatan_names() -> list[str]:
    rows = (BUNDLED_CONFIG / "gazetteer" / "wilayah.csv").read_text().splitlines()
    return [line.split(",")[2] for line in rows if ",kecamatan," in line]


def test_partitioning_cost_copies_placed_differently_are_not_merged(config):
    """A copy whose place the gazetteer does not recognize (here: the place was cut off) is keyed
    "unknown" and never meets the original: a missed duplicate, by design."""
    records = run(config, [post("1", ORIGINAL), post("2", "Jalan utama berlubang besar dan dalam, sudah banyak motor yang jatuh.")])
    assert records["twitter:1"]["kecamatan"] == "Wedi" and records["twitter:2"]["kecamatan"] is None
    assert records["twitter:2"]["outcome"] == "opened"


def test_partitioning_gain_complaints_of_different_kecamatan_use_independent_keys(config):
    """Each kecamatan is its own key, so the stage spreads over as many partitions as there are
    kecamatan (26 in Klaten), and envelopes of one post go to the key of its complaint."""
    keys = {cluster_key(name) for name in kecamatan_names()} | {cluster_key(None)}
    assert len(keys) == 26 + 1
    triage = Triage(config)
    result_wedi = triage.process(RawPost.parse(post("1", ORIGINAL)), {})
    result_bayat = triage.process(RawPost.parse(post("2", OTHER_PLACE)), {})
    assert set(route(result_wedi)[1]) == {"Wedi"}
    assert set(route(result_bayat)[1]) == {"Bayat"}


def test_partitioning_gain_keys_spread_over_partitions():
    """Kafka's default partitioner (murmur2 of the key) spreads the kecamatan keys of the bundled
    gazetteer over every partition of a 4-partition topic."""
    from aiokafka.partitioner import DefaultPartitioner

    names = kecamatan_names()
    partitioner = DefaultPartitioner()
    used = {partitioner(name.encode(), list(range(4)), list(range(4))) for name in names}
    assert len(names) == 26 and used == {0, 1, 2, 3}


def test_fingerprint_text_writes_out_slang_and_drops_fillers_and_the_kecamatan():
    assert fingerprint_text("min mohon jalan di kec wedi rusak", "Wedi") == "jalan kecamatan rusak"
    assert fingerprint_text("@pemkab Min, JLN dpn SD yg RUSAKKK udh lama 🙏 #lapor #viral") == \
        fingerprint_text("jalan depan sd yang rusak sudah lama, mohon segera ditindaklanjuti. Terima kasih")
    # The exact check is the index's (LshIndex.close, on the shingle hashes it keeps).
    index = LshIndex()
    index.add("a", "|Wedi", "jalan rusak", 0.0)
    (_, member, at, jaccard, containment), = index.close("|Wedi", LshIndex.fingerprint("jalan rusak"), 0.5, 0.8, 1)
    assert (member, at, jaccard, containment) == ("a", 0.0, 1.0, 1.0)
    assert index.close("|Wedi", LshIndex.fingerprint(""), 0.0, 0.0, 0) == [], "an empty text matches nothing"


def test_copy_words_split_digits_from_letters_in_the_pass_that_finds_them():
    """The words are found in one pass that splits digits from letters: the same words as when
    spaces are put at every digit-letter boundary first, whatever the hyphens, elongations and
    slang around them."""
    elongation = re.compile(r"([a-z])\1{2,}")
    boundary = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")
    spaced_word = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

    def spaced_first(text: str) -> list[str]:
        found = spaced_word.findall(boundary.sub(" ", elongation.sub(r"\1", text.casefold())))
        return [written for word in found for written in SLANG.get(word, word).split()]

    rng = random.Random(3)
    for _ in range(20000):
        text = "".join(rng.choices("ab9z0gyA-- _.'\n", k=rng.randint(0, 24)))
        assert copy_words(text) == spaced_first(text), text
    assert copy_words("rt03 rw-5a jln2 kupu-kupu parahhh 1000 yg") == \
        ["rt", "03", "rw-5", "a", "jalan", "2", "kupu-kupu", "parah", "1000", "yang"]


def test_copy_words_of_a_text_are_those_of_its_parts_between_ascii_spaces():
    """copy_words works out (and remembers) the words of each part between ASCII spaces: the same
    words as the whole text in one pass, whatever links, mentions, hashtags, accents, combining
    marks, compatibility characters and other whitespace sit at the parts' edges."""
    pieces = ["https://", "www.", "Www.", "@", "#", "a", "Yg", "03", "-", ".", "é", "e\u0301", "\u0301", "\u00b4",
              "\u00a8", "ﬁ", "Ｗ", "\u3000", "\u00a0", "\u2028", "\u0085", "\u1680", "\u200b", "\u1100\u1161",
              "\u11a8", "ẞ", "Σ", "🙏", "ooo", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c"]
    rng = random.Random(7)
    for _ in range(20000):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 16)))
        assert copy_words(text) == _copy_words_of(text), repr(text)


@pytest.mark.parametrize(("text", "other", "found"), [
    ("jalan rusak desa kembangan rt 03 rw 01 parah", "jalan rusak desa karanganyar rt 03 rw 01 parah", "kembangan/karanganyar"),
    ("jalan rusak desa kembangan rt 03 rw 01 parah", "jalan rusak desa kembangan rt 04 rw 01 parah", "03/04"),
    ("lampu mati jalan sekar tanjung dekat pasar", "lampu mati jalan mawar tanjung dekat pasar", "sekar/mawar"),
    ("jalan rusak desa kembangan rt 03 rw 01 parah", "jalan rsuak desa kmebangan rt 3 rw 01 parah", None),
    ("jalan rusak desa kembangan rt 03 rw 01 parah", "jalan rusak desa kembangan rt 03 rw", None),
    ("jalan rusak desa kembangan rt 03 rw 01 parah", "jalan rusak desa kembangan rt 03 rw 01 hati hati", None),
    ("penerangan lampu jalan diwilayah kedungbenda mati", "penerangan lampu jalan di wilayah kedungbenda mati", None),
])
def test_a_name_after_a_place_marker_or_a_number_replaced_is_another_complaint(text, other, found):
    assert conflict(text, other) == found
    assert conflict(other, text) == (None if found is None else "/".join(reversed(found.split("/"))))


def test_lsh_index_expires_fingerprints_by_event_time():
    index = LshIndex()
    index.add("a", "|Wedi", "jalan berlubang besar dekat pasar", 100.0)
    index.add("b", "|Wedi", "jalan berlubang besar dekat pasar raya", 200.0)
    probe = LshIndex.fingerprint("jalan berlubang besar dekat pasar")
    assert {m for _, m in index.candidates("|Wedi", probe, 0.25)} == {"a", "b"}
    assert index.candidates("|Bayat", probe, 0.25) == []
    assert index.expire("Bayat", 150.0) == 0, "each cluster key expires by its own time"
    assert index.expire("Wedi", 150.0) == 1
    assert {m for _, m in index.candidates("|Wedi", probe, 0.25)} == {"b"}
    assert "a" not in index and index.at_of("a") is None and index.at_of("b") == 200.0


def test_removed_and_expired_fingerprints_are_never_candidates():
    index = LshIndex()
    texts = {f"m{i}": f"lampu jalan mati nomor {i} dekat balai desa" for i in range(12)}
    for i, (member, text) in enumerate(texts.items()):
        index.add(member, "|Wedi", text, float(i))
    index.remove("m9")
    assert index.expire("Wedi", 8.0) == 8
    assert len(index) == 3 and "m3" not in index and "m8" in index
    probe = LshIndex.fingerprint(texts["m10"])
    assert "m10" in {m for _, m in index.candidates("|Wedi", probe, 0.25)}
    assert index.at_of("m11") == 11.0 and index.at_of("m8") == 8.0 and index.at_of("m9") is None
    index.add("m12", "|Wedi", texts["m10"], 12.0)
    assert {m for _, m in index.candidates("|Wedi", probe, 0.9)} == {"m10", "m12"}
    index.add("m9", "|Wedi", texts["m9"], 13.0)  # re-added after a removal: a candidate again
    assert "m9" in {m for _, m in index.candidates("|Wedi", LshIndex.fingerprint(texts["m9"]), 0.9)}
    assert index.expire("Wedi", 100.0) == 5 and len(index) == 0


def test_pair_scores():
    labels = [{"group": "g1", "problem": "p", "kecamatan": "A", "category": "c"},
              {"group": "g1", "problem": "p", "kecamatan": "A", "category": "c"},
              {"group": "g2", "problem": "p", "kecamatan": "B", "category": "c"},
              {"group": "g3", "problem": "q", "kecamatan": "A", "category": "c"}]
    scores = score_pairs(labels, ["x", "x", "y", "x"])
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (1, 3, 1)
    assert scores.precision == pytest.approx(1 / 3) and scores.recall == 1.0
    assert scores.hard_merged == {"same_category_other_place": 0, "same_place_other_problem": 2}


def test_the_labelled_set_meets_the_floors(config):
    """The figures of `tanggap dedupe-eval tests/data/dedupe_set.jsonl` (docs/dedupe.md)."""
    from pathlib import Path

    from streams.cli import read_jsonl

    path = Path(__file__).resolve().parents[1] / "data" / "dedupe_set.jsonl"
    lines = list(read_jsonl(path))
    labels = [orjson.loads(line)["expect"] for _, line in lines]
    keys = [f"{p['platform']}:{p['post_id']}" for p in (orjson.loads(line) for _, line in lines)]
    final = {r["post_key"]: r["complaint_id"] for r in triage_lines(config, iter(lines))}
    scores = score_pairs(labels, [final[key] for key in keys])
    assert scores.groups >= 300 and sum(scores.hard_group_pairs.values()) >= 300
    assert scores.precision >= 0.98 and scores.recall >= 0.90


def test_dedupe_eval_command_prints_the_pair_figures(capsys):
    from pathlib import Path

    from streams.cli import main

    path = Path(__file__).resolve().parents[1] / "data" / "dedupe_set.jsonl"
    assert main(["dedupe-eval", str(path), "--strict"]) == 0
    out = capsys.readouterr().out
    assert "pair precision" in out and "pair recall" in out and "ok" in out


# Expiry of table entries with the window, and the members cap.

HOUR = 3600.0
WEDI_TEXT = "jalan utama berlubang besar dalam banyak motor jatuh minta ditambal"


def opened(number: int, text: str, at: float, kecamatan: str = "Wedi", category: str = "jalan",
           desa: str | None = None) -> dict:
    from schemas.events import format_time, stable_id
    key = f"twitter:{number}"
    complaint_id = stable_id("cmp", key)
    post = {"key": key, "platform": "twitter", "post_id": str(number), "url": None, "author_handle": "w",
            "created_at": format_time(at)}
    snapshot = {"complaint_id": complaint_id, "kind": "pengaduan", "category": category, "priority": "normal",
                "opd": "dpupr", "kecamatan": kecamatan, "desa": desa}
    event = {"event_id": stable_id("evt", complaint_id, "opened", key), "type": "opened",
             "occurred_at": format_time(at), **snapshot, "mentions": 1, "platforms": ["twitter"],
             "first_post": post, "post": post, "excerpt": text, "response": None, "reasons": []}
    record = {"event_id": stable_id("tri", key, "opened"), "post_key": key, "platform": "twitter",
              "post_id": str(number), "created_at": format_time(at), "outcome": "opened", **snapshot,
              "duplicate_of": None, "duplicate_via": None, "ignored_reason": None, "reasons": []}
    return {"records": [record], "events": [event], "fingerprints": {key: text}}


def follow_up(kind: str, complaint_id: str, at: float, kecamatan: str = "Wedi", cause: str = "x",
              platforms: tuple[str, ...] = ("twitter",), mentions: int | None = None) -> dict:
    from schemas.events import format_time, stable_id
    event = {"event_id": stable_id("evt", complaint_id, kind, cause), "type": kind, "occurred_at": format_time(at),
             "complaint_id": complaint_id, "kind": "pengaduan", "category": "jalan", "priority": "normal",
             "opd": "dpupr", "kecamatan": kecamatan, "desa": None, "mentions": mentions,
             "platforms": list(platforms), "first_post": None, "post": None, "reasons": []}
    return {"records": [], "events": [event], "fingerprints": {}}


def apply(clusterer: Clusterer, table: dict, envelope: dict):
    result = clusterer.process(envelope, table)
    result.apply(table)
    return result


def id_of(number: int) -> str:
    from schemas.events import stable_id
    return stable_id("cmp", f"twitter:{number}")


def test_unresolved_survivor_and_alias_are_kept_as_they_are_after_the_window():
    clusterer, table = Clusterer(ClusterPolicy(window_seconds=10 * HOUR)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 0.0))
    assert apply(clusterer, table, opened(2, WEDI_TEXT + " segera", HOUR)).records[0]["outcome"] == "mention"
    assert table[id_of(2)].alias_of == id_of(1)
    before = {id_of(1): table[id_of(1)], id_of(2): table[id_of(2)]}
    # a later complaint of the same cluster key moves the watermark past the window: the
    # fingerprints leave the index, the entries are neither read nor written
    later = apply(clusterer, table, opened(3, "lampu penerangan mati total gelap sekali", 12 * HOUR,
                                           category="penerangan_jalan"))
    assert later.updates.keys() == {id_of(3)}
    survivor, alias = table[id_of(1)], table[id_of(2)]
    assert {id_of(1): survivor, id_of(2): alias} == before
    assert not clusterer.watched and not clusterer.expiring
    assert alias.alias_of == id_of(1) and survivor.members.keys() == {id_of(1), id_of(2)}
    assert id_of(1) not in clusterer.index and id_of(3) in clusterer.index
    # a follow-up of the copy still lands on the survivor
    reply = apply(clusterer, table, follow_up("duplicate_attached", id_of(2), 13 * HOUR, mentions=2))
    assert reply.events[0]["complaint_id"] == id_of(1) and reply.events[0]["mentions"] == 3


def test_a_resolved_survivor_and_its_aliases_are_deleted_once_its_newest_member_left_the_window():
    clusterer, table = Clusterer(ClusterPolicy(window_seconds=10 * HOUR)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 0.0))
    apply(clusterer, table, opened(2, WEDI_TEXT + " segera", 5 * HOUR))
    apply(clusterer, table, follow_up("resolved", id_of(1), 6 * HOUR))
    assert table[id_of(1)].resolved and id_of(2) in table
    # 12 h: the survivor's fingerprint left the window, the copy's (5 h) did not: both stay
    apply(clusterer, table, opened(3, "lampu penerangan mati total gelap sekali", 12 * HOUR, category="penerangan_jalan"))
    assert id_of(1) in table and id_of(2) in table
    # 16 h: the newest member left too: the survivor and its alias go
    apply(clusterer, table, opened(4, "sampah menumpuk bau busuk pinggir sungai", 16 * HOUR, category="lingkungan"))
    assert id_of(1) not in table and id_of(2) not in table
    assert id_of(3) in table and id_of(4) in table


def test_a_survivor_resolved_after_the_window_is_deleted_on_resolution_and_each_key_keeps_its_own_time():
    clusterer, table = Clusterer(ClusterPolicy(window_seconds=10 * HOUR)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 0.0))
    apply(clusterer, table, opened(2, WEDI_TEXT, HOUR, kecamatan="Bayat"))
    # a Wedi opening moves Wedi's stream time only: Bayat's messages live in another partition,
    # whose progress relative to this one differs from run to run (and after a crash)
    apply(clusterer, table, opened(3, "lampu penerangan mati total gelap sekali", 12 * HOUR, category="penerangan_jalan"))
    resolved = apply(clusterer, table, follow_up("resolved", id_of(1), 13 * HOUR))
    assert resolved.events[0]["type"] == "resolved" and id_of(1) not in table
    apply(clusterer, table, follow_up("resolved", id_of(2), 13 * HOUR, kecamatan="Bayat"))
    assert table[id_of(2)].resolved, "Bayat's stream time is still 1 h: inside its window"
    apply(clusterer, table, opened(5, "sampah menumpuk bau busuk pinggir sungai", 12 * HOUR, category="lingkungan",
                                   kecamatan="Bayat"))
    assert id_of(2) not in table, "a Bayat opening moved Bayat's time past the survivor's window"


def test_rebuild_queues_entries_that_left_the_window_while_the_worker_was_away():
    clusterer, table = Clusterer(ClusterPolicy(window_seconds=10 * HOUR)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 0.0))
    apply(clusterer, table, opened(2, "lampu penerangan mati total gelap sekali", 12 * HOUR, category="penerangan_jalan"))
    table[id_of(1)] = replace(table[id_of(1)], resolved=True)  # resolved by a worker that died before settling it
    restarted = Clusterer(ClusterPolicy(window_seconds=10 * HOUR))
    assert restarted.rebuild(table.items()) == 1
    apply(restarted, table, follow_up("responded", id_of(2), 13 * HOUR))
    assert id_of(1) not in table and id_of(2) in table


def test_a_folded_alias_is_watched_after_a_rebuild_and_goes_with_its_resolved_survivor():
    clusterer, table = Clusterer(ClusterPolicy(window_seconds=10 * HOUR, max_members=1, viral_mentions=1000,
                                               viral_platforms=1000)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 0.0))
    apply(clusterer, table, opened(2, WEDI_TEXT, HOUR))  # folded: not listed on the survivor
    assert table[id_of(2)].alias_of == id_of(1) and id_of(2) not in table[id_of(1)].members
    assert clusterer.watched == {id_of(2)}
    restarted = Clusterer(ClusterPolicy(window_seconds=10 * HOUR, max_members=1))
    restarted.rebuild(table.items())
    assert restarted.watched == {id_of(2)}, "the rebuild finds the folded alias"
    apply(restarted, table, follow_up("resolved", id_of(1), 0.5 * HOUR))  # in the window: kept, watched
    assert id_of(1) in table and restarted.watched == {id_of(1), id_of(2)}
    apply(restarted, table, opened(3, "lampu penerangan mati total gelap sekali", 10.7 * HOUR,
                                   category="penerangan_jalan"))
    assert id_of(1) in table and id_of(2) in table, "its newest member, the folded copy, is still in the window"
    apply(restarted, table, opened(4, "sampah menumpuk bau busuk pinggir sungai", 12 * HOUR, category="lingkungan"))
    assert id_of(1) not in table and id_of(2) not in table and not restarted.watched


def test_members_beyond_the_cap_are_folded_and_mentions_and_platforms_stay_right():
    clusterer, table = Clusterer(ClusterPolicy(max_members=3, viral_mentions=1000, viral_platforms=1000)), {}
    platforms = ["twitter", "instagram", "facebook", "tiktok", "youtube", "whatsapp"]
    for number in range(1, 7):
        envelope = opened(number, WEDI_TEXT, number * 60.0)
        envelope["events"][0]["platforms"] = [platforms[number - 1]]
        result = apply(clusterer, table, envelope)
    survivor = table[id_of(1)]
    assert survivor.members.keys() == {id_of(1), id_of(2), id_of(3), "folded"}
    assert survivor.members["folded"] == (3, ["tiktok", "youtube", "whatsapp"])
    assert result.events[0]["mentions"] == 6 and result.events[0]["platforms"] == platforms
    # a repost of a folded copy adds its mention to the aggregate; one of a kept copy to the copy
    folded = apply(clusterer, table, follow_up("duplicate_attached", id_of(5), 3600.0, platforms=("youtube",), mentions=2))
    assert folded.events[0]["mentions"] == 7
    kept = apply(clusterer, table, follow_up("duplicate_attached", id_of(2), 3700.0, platforms=("instagram",), mentions=2))
    assert kept.events[0]["mentions"] == 8
    assert table[id_of(1)].members["folded"][0] == 4 and table[id_of(1)].members[id_of(2)][0] == 2


# Replays: a redelivered message goes out again exactly as it first did.

def test_a_replayed_merge_and_mention_go_out_as_first_sent_though_the_survivor_moved_on():
    clusterer, table = Clusterer(ClusterPolicy(viral_mentions=1000, viral_platforms=1000)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 60.0))
    copy = opened(2, WEDI_TEXT, 120.0)
    first_merge = apply(clusterer, table, copy).events
    mention = follow_up("duplicate_attached", id_of(1), 180.0, cause="twitter:3", mentions=2)
    first_mention = apply(clusterer, table, mention).events
    reply_to_copy = follow_up("duplicate_attached", id_of(2), 190.0, cause="twitter:33", mentions=2)
    first_reply = apply(clusterer, table, reply_to_copy).events
    assert first_merge[0]["mentions"] == 2 and first_merge[0]["reasons"][0].startswith("dedupe:near_duplicate")
    assert first_mention[0]["mentions"] == 3 and first_reply[0]["mentions"] == 4
    # the survivor moves on: one more copy, one more mention
    apply(clusterer, table, opened(4, WEDI_TEXT, 240.0))
    later = apply(clusterer, table, follow_up("duplicate_attached", id_of(1), 300.0, cause="twitter:5", mentions=3))
    assert later.events[0]["mentions"] == 6
    assert apply(clusterer, table, copy).events == first_merge
    assert apply(clusterer, table, mention).events == first_mention
    assert apply(clusterer, table, reply_to_copy).events == first_reply
    assert apply(clusterer, table, copy).records[0]["complaint_id"] == id_of(1)


class CountingTable(dict):
    """A cluster table that counts the reads of each key (each one a RocksDB get in the worker)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[str, int] = {}

    def get(self, key, default=None):
        self.reads[key] = self.reads.get(key, 0) + 1
        return super().get(key, default)


def test_a_new_complaint_costs_no_table_read_and_a_redelivery_is_still_recognized_after_a_restart():
    clusterer, table = Clusterer(), CountingTable()
    first = apply(clusterer, table, opened(1, WEDI_TEXT, 60.0))
    other = apply(clusterer, table, opened(2, "lampu jalan mati sejak seminggu gelap sekali", 70.0))
    assert table.reads == {}, "neither opening could have been decided before: the index did not know them"
    assert apply(clusterer, table, opened(2, "lampu jalan mati sejak seminggu gelap sekali", 70.0)).events == other.events
    restarted = Clusterer()
    restarted.rebuild(table.items())
    again = apply(restarted, table, opened(1, WEDI_TEXT, 60.0))
    assert again.events == first.events and again.updates == {}, "the redelivery changed nothing"
    assert table.reads.get(id_of(1)), "the restarted stage looked the indexed opening up"


def test_a_copy_in_another_desa_costs_no_read_of_the_complaints_it_resembles_even_after_a_restart():
    clusterer, table = Clusterer(), CountingTable()
    apply(clusterer, table, opened(1, WEDI_TEXT, 60.0, desa="Canan"))
    apply(clusterer, table, opened(2, WEDI_TEXT, 70.0, desa="Canan"))
    assert table[id_of(2)].alias_of == id_of(1)
    for restart in (False, True):
        if restart:
            clusterer = Clusterer()
            clusterer.rebuild(table.items())
        table.reads.clear()
        other = apply(clusterer, table, opened(3 + restart, WEDI_TEXT, 80.0, desa=("Kalitengah", "Jetis")[restart]))
        assert [event["type"] for event in other.events] == ["opened"], "another desa: its own complaint"
        assert not {id_of(1), id_of(2)} & set(table.reads), "the index knows their survivor's desa"
        other.apply(table)
        copy = apply(clusterer, table, opened(5 + restart, WEDI_TEXT, 90.0, desa="Canan"))
        assert [event["type"] for event in copy.events] == ["duplicate_attached"]
        assert copy.updates[id_of(5 + restart)].alias_of == id_of(1)
        copy.apply(table)


def test_a_replayed_copy_keeps_the_priority_it_was_sent_with_after_the_survivor_was_raised():
    clusterer, table = Clusterer(ClusterPolicy(viral_mentions=3, viral_platforms=1000)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 60.0))
    copy = opened(2, WEDI_TEXT, 120.0)
    first = apply(clusterer, table, copy).events
    raising = apply(clusterer, table, opened(3, WEDI_TEXT, 180.0)).events
    assert [e["type"] for e in raising] == ["duplicate_attached", "reprioritized"]
    assert table[id_of(1)].priority != first[0]["priority"]
    assert apply(clusterer, table, copy).events == first


def test_a_replayed_recurrence_keeps_its_recurrence_reason():
    clusterer, table = Clusterer(), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 60.0))
    apply(clusterer, table, follow_up("resolved", id_of(1), 120.0))
    recurrence = opened(2, WEDI_TEXT, 180.0)
    first = apply(clusterer, table, recurrence).events
    assert first[0]["type"] == "opened" and f"dedupe:recurrence_of[{id_of(1)}]" in first[0]["reasons"]
    assert apply(clusterer, table, recurrence).events == first


def test_single_never_merged_complaints_remember_nothing_and_a_survivor_remembers_its_latest_events():
    clusterer, table = Clusterer(ClusterPolicy(viral_mentions=1000, viral_platforms=1000)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 60.0))
    apply(clusterer, table, follow_up("duplicate_attached", id_of(1), 90.0, cause="twitter:1000", mentions=2))
    apply(clusterer, table, follow_up("responded", id_of(1), 100.0, mentions=2))
    assert table[id_of(1)].sent is None
    copies = [apply(clusterer, table, opened(n, WEDI_TEXT, 60.0 + n)).events[0]["event_id"] for n in range(2, 72)]
    sent = table[id_of(1)].sent
    assert len(sent) == 64 and list(sent) == copies[-64:]


def test_a_mention_sent_while_the_complaint_was_alone_is_replayed_alone_after_a_copy_joined():
    clusterer, table = Clusterer(ClusterPolicy(viral_mentions=1000, viral_platforms=1000)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 60.0))
    mention = follow_up("duplicate_attached", id_of(1), 90.0, cause="twitter:1000", mentions=2)
    first = apply(clusterer, table, mention).events
    assert first[0]["mentions"] == 2
    apply(clusterer, table, opened(2, WEDI_TEXT, 120.0))
    assert apply(clusterer, table, mention).events == first
    later = follow_up("duplicate_attached", id_of(1), 150.0, cause="twitter:1001", mentions=3)
    assert apply(clusterer, table, later).events[0]["mentions"] == 4, "counted with the copy once it joined"


def test_a_response_gets_its_counts_here_and_is_replayed_with_them_after_later_mentions():
    """Triage sends responses without counts (agents.domain.triage.without_counts): this stage
    fills them in from the complaint and remembers them, so a response replayed after later
    mentions goes out as it did the first time."""
    clusterer, table = Clusterer(ClusterPolicy(viral_mentions=1000, viral_platforms=1000)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 60.0))
    response = follow_up("responded", id_of(1), 100.0)
    response["events"][0].update(mentions=None, platforms=None)
    first = apply(clusterer, table, response).events
    assert (first[0]["mentions"], first[0]["platforms"]) == (1, ["twitter"])
    apply(clusterer, table, follow_up("duplicate_attached", id_of(1), 120.0, cause="twitter:1000", mentions=2,
                                      platforms=("twitter", "instagram")))
    assert apply(clusterer, table, response).events == first


def test_a_copy_replayed_after_another_kecamatan_moved_on_joins_the_same_complaint():
    """Each cluster key keeps its own stream time. A worker's partitions progress at rates that
    differ from run to run: with one watermark for the worker, a copy replayed after a crash
    found its survivor expired by another partition's progress and opened a complaint of its
    own, though it had joined the survivor the first time."""
    policy = ClusterPolicy(window_seconds=10 * HOUR)
    clusterer, table = Clusterer(policy), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 0.0))
    before_the_copy = copy.deepcopy(table)
    copy_of_1 = opened(2, WEDI_TEXT + " segera", 5 * HOUR)
    first = apply(clusterer, table, copy_of_1).events
    assert first[0]["type"] == "duplicate_attached"
    # a crash lost the copy's writes; the restarted worker got Bayat's partition first
    restarted, table = Clusterer(policy), before_the_copy
    restarted.rebuild(table.items())
    apply(restarted, table, opened(3, "lampu penerangan mati total gelap sekali", 20 * HOUR, kecamatan="Bayat",
                                   category="penerangan_jalan"))
    assert apply(restarted, table, copy_of_1).events == first


def test_a_desk_resolution_by_complaint_id_closes_the_complaint_to_copies_and_emits_nothing():
    # The desk resolved complaint 1 by its id: the resolved event went straight to `complaints`;
    # every partition of this stage gets a notice, and the one holding the complaint closes it.
    from agents.domain.cluster import RESOLUTION_NOTICE

    clusterer, table = Clusterer(ClusterPolicy(viral_mentions=1000, viral_platforms=1000)), {}
    apply(clusterer, table, opened(1, WEDI_TEXT, 60.0))
    apply(clusterer, table, opened(2, WEDI_TEXT, 120.0))  # a copy, merged into 1
    notice = apply(clusterer, table, {RESOLUTION_NOTICE: {"complaint_id": id_of(2)}})  # named by the alias
    assert notice.events == [] and notice.records == []
    assert table[id_of(1)].resolved is True
    later = apply(clusterer, table, opened(3, WEDI_TEXT, 180.0)).events[0]
    assert later["type"] == "opened" and f"dedupe:recurrence_of[{id_of(1)}]" in later["reasons"]
    # another partition, which never saw the complaint, ignores the notice
    assert apply(Clusterer(), {}, {RESOLUTION_NOTICE: {"complaint_id": id_of(1)}}).updates == {}


def test_a_resolution_notice_without_a_complaint_id_is_bad_input():
    from agents.domain.cluster import RESOLUTION_NOTICE
    from schemas.events import InvalidInput

    with pytest.raises(InvalidInput):
        Clusterer().process({RESOLUTION_NOTICE: {"complaint": 1}}, {})


@pytest.fixture
def praise_for_marked_posts(monkeypatch):
    """Triage calls posts containing "zzpujian" praise (apresiasi, ignored), whatever else they say:
    a classifier that tells a copy from its original by a word or two."""
    import dataclasses

    import agents.domain.triage as triage_module

    real = triage_module.classify

    def classify(text, *args, **kwargs):
        decided = real(text, *args, **kwargs)
        if "zzpujian" in text.words:
            return dataclasses.replace(decided, kind="apresiasi", category=None, priority=None,
                                       reasons=("kind:apresiasi[zzpujian]",))
        return decided

    monkeypatch.setattr(triage_module, "classify", classify)


def test_a_copy_triage_ignored_joins_the_complaint_with_the_complaints_decision(config, praise_for_marked_posts):
    copy = post("2", COPY + " zzpujian", platform="instagram", at="2026-11-02T09:00:00+07:00")
    records = run(config, [post("1", ORIGINAL), copy, post("3", "zzpujian pelayanan puskesmas ramah sekali")])
    original, merged = records["twitter:1"], records["instagram:2"]
    assert merged["outcome"] == "mention" and merged["duplicate_via"] == "near_duplicate"
    assert merged["complaint_id"] == original["complaint_id"]
    assert (merged["kind"], merged["category"], merged["opd"]) == (original["kind"], original["category"], original["opd"])
    assert merged["ignored_reason"] is None and "dedupe:decision_of_complaint[apresiasi]" in merged["reasons"]
    assert records["twitter:3"]["outcome"] == "ignored", "praise that copies nothing stays ignored"
    validator("triage_record")(merged)
    events = events_of(config, [post("1", ORIGINAL), copy])
    assert [e["type"] for e in events] == ["opened", "duplicate_attached", "reprioritized"], "two platforms: viral"
    assert events[1]["mentions"] == 2 and events[1]["post"]["key"] == "instagram:2"
    for event in events:
        validator("complaint_event")(event)


def test_an_ignored_post_is_claimed_by_a_complaint_that_copies_it_later(config, praise_for_marked_posts):
    earlier = post("1", ORIGINAL + " zzpujian")
    later = post("2", COPY, platform="instagram", at="2026-11-02T09:00:00+07:00")
    lines = enumerate((orjson.dumps(p) for p in (earlier, later)), start=1)
    records = list(triage_lines(config, lines))
    assert [(r["post_key"], r["outcome"]) for r in records] == [
        ("twitter:1", "ignored"), ("twitter:1", "mention"), ("instagram:2", "opened")], \
        "the ignored record is superseded by a mention of the complaint that copies it"
    claimed, opened = records[1], records[2]
    assert claimed["complaint_id"] == opened["complaint_id"] and claimed["kind"] == opened["kind"]
    validator("triage_record")(claimed)
    events = events_of(config, [earlier, later])
    assert [e["type"] for e in events] == ["opened", "duplicate_attached", "reprioritized"], "two platforms: viral"
    assert events[1]["post"]["key"] == "twitter:1" and events[1]["mentions"] == 2


def test_a_replayed_claim_or_ignored_copy_repeats_its_events_and_records(config, praise_for_marked_posts):
    """A redelivered envelope finds its decision in the table and sends the same ids and content."""
    triage, clusterer = Triage(config), Clusterer(None, config.timezone)
    state, clusters = {}, {}
    posts = [post("1", ORIGINAL + " zzpujian"), post("2", COPY, platform="instagram", at="2026-11-02T09:00:00+07:00"),
             post("3", TRUNCATED + " zzpujian", platform="tiktok", at="2026-11-02T10:00:00+07:00")]
    for raw in posts:
        result = triage.process(RawPost.parse(raw), state, {})
        state.update(result.state_updates)
        for envelope in route(result)[1].values():
            first = clusterer.process(envelope, clusters)
            first.apply(clusters)
            again = clusterer.process(copy.deepcopy(envelope), clusters)
            # (as for any copy, a replay does not send a reprioritized event again)
            assert again.events == [e for e in first.events if e["type"] != "reprioritized"]
            # (records are not covered: a replayed copy's record has the survivor's current state)
            assert ([(r["event_id"], r["outcome"], r["complaint_id"]) for r in again.records]
                    == [(r["event_id"], r["outcome"], r["complaint_id"]) for r in first.records])


def test_a_copy_triage_put_in_another_category_still_joins(config):
    """Categories come from words: "lampu" in a closing can move a copy to street lights."""
    records = run(config, [post("1", ORIGINAL),
                           post("2", ORIGINAL + " Lampu PJU juga mati.", platform="facebook", at="2026-11-02T09:00:00+07:00")])
    assert records["facebook:2"]["complaint_id"] == records["twitter:1"]["complaint_id"]
