"""Fingerprints and the window index of the clustering stage (agents/domain/fingerprint.py, on
rensa's MinHash and LSH)."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np

from agents.domain.cluster import BANDS, MINHASH_SEED, NUM_PERM, LshIndex
from agents.domain.fingerprint import WindowIndex, fingerprint, shared_counts, shingles, similarity


def test_shingles_of_short_and_empty_texts():
    assert shingles("") == []
    assert shingles("abc") == ["abc"]
    assert shingles("jalan") == ["jala", "alan"]


def test_a_minhash_is_the_same_in_another_process():
    """The index is rebuilt from the table's texts after a restart, and the LSH bands and the
    estimates must not depend on the process (no per-process hash seed)."""
    text = "lampu jalan mati depan balai desa sejak minggu lalu"
    mine = fingerprint(text, NUM_PERM, MINHASH_SEED)
    code = ("from agents.domain.fingerprint import fingerprint; "
            f"f = fingerprint({text!r}, {NUM_PERM}, {MINHASH_SEED}); print(f.minhash.digest())")
    theirs = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert theirs.strip() == str(mine.minhash.digest())


def test_similarity_is_exact_jaccard_and_containment():
    whole = LshIndex.fingerprint("jalan berlubang besar dekat pasar raya")
    cut = LshIndex.fingerprint("jalan berlubang besar")
    jaccard, containment = similarity(cut, whole)
    shared = set(shingles("jalan berlubang besar")) & set(shingles("jalan berlubang besar dekat pasar raya"))
    assert containment == 1.0 and jaccard == len(shared) / len(set(shingles("jalan berlubang besar dekat pasar raya")))
    assert similarity(LshIndex.fingerprint(""), whole) == (0.0, 0.0)


def test_a_query_meeting_hundreds_of_close_entries_returns_them_all_best_first():
    text = "lampu jalan mati di depan balai desa sejak minggu lalu"
    probe = LshIndex.fingerprint(text)
    window = WindowIndex(NUM_PERM, BANDS)
    for slot in range(700):
        window.add(f"m{slot:03d}", "|Wedi", float(slot), probe)
    found = window.query("|Wedi", probe, 0.25, 0.5, 0.8, 24)
    assert len(found) == 700
    assert [member for _, member, *_ in found] == [f"m{slot:03d}" for slot in reversed(range(700))], "ties by id"
    assert all(jaccard == 1.0 and contained == 1.0 for *_, jaccard, contained in found)


def test_ranked_candidates_come_one_by_one_in_the_query_s_order_and_cost_only_those_taken(monkeypatch):
    import agents.domain.fingerprint as fingerprints

    text = "lampu jalan mati di depan balai desa sejak minggu lalu gelap sekali"
    window = WindowIndex(NUM_PERM, BANDS)
    for number, variant in enumerate(_variants(text, 60)):
        window.add(f"v{number:02d}", "|Wedi", float(number), LshIndex.fingerprint(variant))
    probe = LshIndex.fingerprint(text)
    for limits in ((0.25, 0.0, 0.0, 0), (0.25, 0.5, 0.8, 24), (0.1, 0.3, 0.6, 8)):
        assert list(window.ranked("|Wedi", probe, *limits)) == window.query("|Wedi", probe, *limits)
    checked = []
    counts = fingerprints.shared_counts
    monkeypatch.setattr(fingerprints, "shared_counts", lambda keys, others: checked.append(len(others)) or counts(keys, others))
    first = next(window.ranked("|Wedi", probe, 0.1, 0.0, 0.0, 0))
    assert checked == [WindowIndex.FIRST_CHECKED], "the exact check of the first few only"
    assert first == window.query("|Wedi", probe, 0.1)[0]


def test_expiry_follows_arrival_order_up_to_the_first_live_fingerprint_in_the_window():
    window = WindowIndex(NUM_PERM, BANDS)
    for member, at in (("a", 10.0), ("b", 30.0), ("c", 20.0)):
        window.add(member, "|Wedi", at, LshIndex.fingerprint(f"jalan rusak {member}"))
    assert window.expire(25.0) == [("a", "|Wedi")], "c is older but arrived after b, which is live"
    assert window.remove("b") and not window.remove("b")
    assert window.expire(25.0) == [("c", "|Wedi")]
    assert len(window) == 0 and window.at_of("c") is None


def _variants(text: str, count: int) -> list[str]:
    """Copies of `text` from nearly equal to unrelated: cut, words dropped and words swapped, so
    that the estimates of a query span most of their range."""
    rng = random.Random(5)
    words = text.split()
    variants = []
    for number in range(count):
        kept = [word for word in words if rng.random() > number / count]
        if number % 3 == 0:
            rng.shuffle(kept)
        variants.append(" ".join(kept + [f"kata{number}", f"lain{number % 7}"]))
    return variants


def test_the_window_estimates_every_candidate_as_rensa_does():
    """The index compares a query's MinHash values with all of its candidates' at once; the
    estimate must be rensa's own (RMinHash.jaccard), which the thresholds were set on."""
    text = ("jalan kabupaten menuju pasar rusak parah berlubang dalam sepanjang dua kilometer "
            "sudah tiga bulan belum diperbaiki banyak pengendara motor jatuh malam hari")
    window = WindowIndex(NUM_PERM, BANDS)
    stored = {}
    for number, variant in enumerate(_variants(text, 300)):
        stored[f"m{number:03d}"] = fingerprint(variant, NUM_PERM, MINHASH_SEED)
        window.add(f"m{number:03d}", "|Wedi", float(number), stored[f"m{number:03d}"])
    estimates = set()
    for probe_text in (text, *_variants(text, 40)[::5]):
        probe = fingerprint(probe_text, NUM_PERM, MINHASH_SEED)
        found = window.query("|Wedi", probe, 0.0)
        assert found, "every probe shares a band with some variant"
        for estimate, member, _, jaccard, containment in found:
            assert estimate == probe.minhash.jaccard(stored[member].minhash)
            assert (jaccard, containment) == similarity(probe, stored[member])
            estimates.add(estimate)
    assert len(estimates) > 30, "the estimates span their range"


def test_the_window_keeps_its_minhash_values_when_it_grows_past_removed_and_waiting_slots():
    """The MinHash values are a ring indexed by slot; it grows while the oldest slot still in
    the arrival order (a removed one, or a live one expiry waits for) pins its start."""
    window = WindowIndex(NUM_PERM, BANDS)
    stored = {}
    texts = [f"lampu jalan mati di dusun nomor {number} dekat sekolah dasar {number * 7}" for number in range(500)]
    for number, text in enumerate(texts):
        at = 1000.0 if number == 3 else float(number)  # slot 3 waits: expiry stops at it
        stored[f"m{number}"] = fingerprint(text, NUM_PERM, MINHASH_SEED)
        window.add(f"m{number}", "|Wedi", at, stored[f"m{number}"])
        if number % 10 == 1:
            window.remove(f"m{number}")
        if number % 50 == 0:
            window.expire(number - 20.0)
    assert "m3" in window and "m0" not in window
    for probe_text in texts[::37]:
        probe = fingerprint(probe_text, NUM_PERM, MINHASH_SEED)
        for estimate, member, *_ in window.query("|Wedi", probe, 0.0):
            assert member in window
            assert estimate == probe.minhash.jaccard(stored[member].minhash)


def test_shared_counts_are_set_intersections():
    keys = np.array(sorted([5, -3, 17, 2**62, -2**62]), np.int64)
    others = [np.array(values, np.int64).tobytes() for values in ([5, 6], [2**62, -2**62, 17, 1], [7], [-3])]
    assert shared_counts(keys, others) == [1, 3, 0, 1]
    assert shared_counts(keys, [b"", others[1]]) == [0, 3], "a fingerprint without shingles shares none"
    assert shared_counts(np.array([], np.int64), others) == [0, 0, 0, 0]
