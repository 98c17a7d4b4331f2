"""Fingerprints and the window index of the clustering stage (agents/domain/fingerprint.py, on
rensa's MinHash and LSH)."""

from __future__ import annotations

import subprocess
import sys

from agents.domain.cluster import BANDS, MINHASH_SEED, NUM_PERM, LshIndex
from agents.domain.fingerprint import WindowIndex, fingerprint, shingles, similarity


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


def test_expiry_follows_arrival_order_up_to_the_first_live_fingerprint_in_the_window():
    window = WindowIndex(NUM_PERM, BANDS)
    for member, at in (("a", 10.0), ("b", 30.0), ("c", 20.0)):
        window.add(member, "|Wedi", at, LshIndex.fingerprint(f"jalan rusak {member}"))
    assert window.expire(25.0) == [("a", "|Wedi")], "c is older but arrived after b, which is live"
    assert window.remove("b") and not window.remove("b")
    assert window.expire(25.0) == [("c", "|Wedi")]
    assert len(window) == 0 and window.at_of("c") is None
