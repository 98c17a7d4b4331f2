"""Unit tests for agents/domain/matching.py: whole-word phrase matching."""

from __future__ import annotations

from agents.domain.matching import Match, PhraseIndex, PhraseScanner


def index(*entries: tuple[str, str]) -> PhraseIndex[str]:
    return PhraseIndex((tuple(term.split()), payload) for term, payload in entries)


def found(idx: PhraseIndex[str], text: str) -> list[tuple[str, str, int]]:
    return [(m.phrase, m.payload, m.start) for m in idx.find(text.split())]


def test_single_word_term_matches_whole_word():
    assert found(index(("rusak", "pengaduan")), "jalan rusak parah") == [("rusak", "pengaduan", 1)]


def test_single_word_term_does_not_match_inside_a_longer_word():
    assert found(index(("rusak", "pengaduan")), "kerusakan rusaknya") == []


def test_phrase_matches_consecutive_words():
    assert found(index(("lampu jalan", "pju")), "lampu jalan mati") == [("lampu jalan", "pju", 0)]


def test_phrase_does_not_match_when_words_are_apart_or_reordered():
    idx = index(("lampu jalan", "pju"))
    assert found(idx, "lampu di jalan") == []
    assert found(idx, "jalan lampu") == []


def test_phrase_running_past_the_end_does_not_match():
    assert found(index(("jalan rusak parah", "x")), "jalan rusak") == []


def test_longer_phrase_comes_first_at_the_same_position():
    idx = index(("lampu", "lampu"), ("lampu jalan", "pju"), ("lampu jalan mati", "pju_mati"))
    matches = idx.find("lampu jalan mati".split())
    assert [m.phrase for m in matches] == ["lampu jalan mati", "lampu jalan", "lampu"]
    assert {m.start for m in matches} == {0}


def test_longest_first_does_not_depend_on_entry_order():
    a = index(("lampu", "a"), ("lampu jalan", "b"))
    b = index(("lampu jalan", "b"), ("lampu", "a"))
    text = "lampu jalan".split()
    assert [m.phrase for m in a.find(text)] == [m.phrase for m in b.find(text)] == ["lampu jalan", "lampu"]


def test_every_occurrence_is_reported_with_its_start_position():
    idx = index(("rusak", "k"), ("jalan rusak", "c"))
    assert found(idx, "jalan rusak dan jembatan rusak") == [
        ("jalan rusak", "c", 0),
        ("rusak", "k", 1),
        ("rusak", "k", 4),
    ]


def test_matches_are_ordered_by_position():
    idx = index(("banjir", "b"), ("longsor", "l"))
    assert [m.start for m in idx.find("longsor lalu banjir lalu longsor".split())] == [0, 2, 4]


def test_same_term_with_two_payloads_reports_both():
    idx = index(("jetis", "Wedi"), ("jetis", "Bayat"))
    assert sorted(m.payload for m in idx.find(["jetis"])) == ["Bayat", "Wedi"]


def test_empty_terms_are_ignored():
    idx = PhraseIndex([((), "nothing"), (("rusak",), "k")])
    assert found(idx, "rusak") == [("rusak", "k", 0)]


def test_no_words_no_matches():
    assert index(("rusak", "k")).find([]) == []


def test_find_accepts_a_tuple_of_words():
    assert found(index(("lampu jalan", "pju")), "x") == []
    assert [m.start for m in index(("lampu jalan", "pju")).find(("x", "lampu", "jalan"))] == [1]


def test_match_carries_term_payload_start_and_phrase():
    match = index(("lampu jalan", "pju")).find(["lampu", "jalan"])[0]
    assert match == Match(("lampu", "jalan"), "pju", 0)
    assert match.phrase == "lampu jalan"


def test_longest_only_drops_matches_inside_longer_ones():
    from agents.domain.matching import longest_only

    index = PhraseIndex([(("rawan", "banjir"), "tinggi"), (("banjir",), "darurat"), (("lampu",), "x")])
    kept = longest_only(index.find(("rawan", "banjir", "dan", "banjir", "lampu")))
    assert [(m.phrase, m.start) for m in kept] == [("rawan banjir", 0), ("banjir", 3), ("lampu", 4)]


def test_same_phrase_with_two_payloads_matches_twice():
    index = PhraseIndex([(("macet",), "a"), (("macet",), "b")])
    assert sorted(m.payload for m in index.find(("macet",))) == ["a", "b"]


def test_one_scan_finds_exactly_what_each_index_finds():
    """The rules read several lexicons per post in one pass: each index's list must be what its
    own find returns, order included, whichever phrases the indexes share."""
    kinds = index(("rusak", "pengaduan"), ("tidak rusak", "lainnya"), ("terima kasih", "apresiasi"))
    categories = index(("jalan", "jalan"), ("jalan rusak", "jalan"), ("lampu jalan", "pju"), ("lampu", "pju"))
    priorities = index(("banjir", "darurat"), ("rawan banjir", "tinggi"), ("rusak", "normal"))
    scanner = PhraseScanner((kinds, None, categories, priorities))
    for text in ("lampu jalan rusak rawan banjir terima kasih", "jalan rusak jalan tidak rusak banjir",
                 "tidak ada apa apa", "", "rusak"):
        words = text.split()
        kind, nothing, category, priority = scanner.scan(words)
        assert nothing == []
        assert kind == kinds.find(words) and category == categories.find(words) and priority == priorities.find(words)
