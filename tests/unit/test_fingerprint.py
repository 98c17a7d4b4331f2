"""The native fingerprint extension (agents/domain/_fingerprint.c) and its pure-Python fallback
(agents/domain/fingerprint.py) must give the same results bit for bit: a worker without a C
compiler clusters exactly as one with it."""

from __future__ import annotations

import random

import pytest

from agents.domain import fingerprint
from agents.domain.cluster import BANDS, MINHASH_SEED, NUM_PERM, LshIndex

native = pytest.importorskip("agents.domain._fingerprint", reason="the C extension was not built")


def sample_texts() -> list[str]:
    rng = random.Random(7)
    alphabet = "abcdefghijklmnopqrstuvwxyz     éñüß日本語🙏😡🚧\u200b\u202e\x00"
    texts = ["", "a", "ab", "abc", "abcd", "abcde", "jalan rusak", "jalan rusak", "🙏", "🙏🙏🙏🙏🙏",
             "\x00\x00\x00\x00", "é" * 3, "日本語のテキスト", "a" * 5000, "lampu jalan mati " * 200,
             "x" * 2100 + "🙏"]  # longer than the C stack buffer of shingle hashes
    texts += ["".join(rng.choices(alphabet, k=rng.randint(0, 300))) for _ in range(200)]
    return texts


def test_shingle_hashes_signatures_and_keys_match_the_fallback():
    for text in sample_texts():
        assert native.shingle_hashes(text) == fingerprint.python_shingle_hashes(text), text
        for num_perm, seed in ((NUM_PERM, MINHASH_SEED), (8, 0), (1, 2**64 - 1)):
            assert native.signature(text, num_perm, seed) == fingerprint.python_signature(text, num_perm, seed), text
            assert native.fingerprint(text, num_perm, seed) == fingerprint.python_fingerprint(text, num_perm, seed)
    assert len(native.fingerprint("jalan rusak", NUM_PERM, MINHASH_SEED)[1]) == 8 * 4, "8 distinct shingles"
    assert native.fingerprint("", NUM_PERM, MINHASH_SEED)[1] == b""


def test_band_index_matches_the_fallback_through_inserts_forgets_and_compactions():
    rng = random.Random(11)
    words = "jalan rusak lampu mati banjir got mampet sampah numpuk pasar balai desa dekat sekolah".split()
    texts = [" ".join(rng.choices(words, k=rng.randint(2, 9))) for _ in range(600)]
    fingerprints = [fingerprint.fingerprint(text, NUM_PERM, MINHASH_SEED) for text in texts]
    indexes = [native.BandIndex(NUM_PERM, BANDS), fingerprint.PythonBandIndex(NUM_PERM, BANDS)]
    slot = 0
    for step, (signature, keys) in enumerate(fingerprints):
        slot += rng.randint(1, 3)
        for index in indexes:
            index.insert(slot, signature, keys)
        if step % 3 == 0:
            victim = rng.randint(0, slot)
            assert len({index.forget(victim) for index in indexes}) == 1
        if step % 97 == 0:
            assert len({index.compact() for index in indexes}) == 1
        probe, probe_keys = fingerprints[rng.randrange(step + 1)]
        for least in (1, 12, 45):
            native_found, python_found = (sorted(index.query(probe, least)) for index in indexes)
            assert native_found == python_found
        for exact in ((0.5, 0.8, 24), (0.9, float("inf"), 0), (0.3, 0.6, 3)):
            native_found, python_found = (sorted(index.query(probe, 12, probe_keys, *exact)) for index in indexes)
            assert native_found == python_found
        assert len({(len(index), index.inserted, index.forgotten) for index in indexes}) == 1
    assert indexes[0].query(fingerprints[-1][0], 45), "a fingerprint finds itself"
    signature, keys = fingerprints[-1]
    assert indexes[0].query(signature, 45, keys, 1.0, 1.0, 0)[0][2:] == (1.0, 1.0)


def test_band_index_rejects_what_it_cannot_index():
    for index in (native.BandIndex(NUM_PERM, BANDS), fingerprint.PythonBandIndex(NUM_PERM, BANDS)):
        index.insert(5, *LshIndex.fingerprint("jalan rusak"))
        with pytest.raises(ValueError):
            index.insert(5, *LshIndex.fingerprint("jalan rusak"))  # slots must increase
        with pytest.raises(ValueError):
            index.query(b"short", 1)
        assert index.forget(4) is False and index.forget(5) is True and index.forget(5) is False
        assert len(index) == 0 and index.compact() == 0
    with pytest.raises(ValueError):
        native.BandIndex(45, 4)
    with pytest.raises(TypeError):
        native.signature(b"bytes", NUM_PERM, MINHASH_SEED)


def test_the_labelled_set_clusters_the_same_without_the_extension(monkeypatch):
    """The whole stage on the fallback: the same complaint for every post of the labelled set."""
    from pathlib import Path

    import agents.domain.cluster as cluster
    from agents.domain.config import load_config
    from streams.cli import read_jsonl, triage_lines
    from tests.conftest import BUNDLED_CONFIG

    config = load_config(BUNDLED_CONFIG)
    lines = list(read_jsonl(Path(__file__).resolve().parents[1] / "data" / "dedupe_set.jsonl"))

    def clustered() -> dict[str, str]:
        return {r["post_key"]: r["complaint_id"] for r in triage_lines(config, iter(lines))}

    with_extension = clustered()
    monkeypatch.setattr(cluster, "BandIndex", fingerprint.PythonBandIndex)
    monkeypatch.setattr(cluster, "signature", fingerprint.python_signature)
    monkeypatch.setattr(cluster, "fingerprint", fingerprint.python_fingerprint)
    assert clustered() == with_extension


def test_a_query_meeting_hundreds_of_close_entries_returns_them_all():
    """More close entries than the query's stack buffer (256): a bucket of near-identical posts."""
    signature, keys = LshIndex.fingerprint("lampu jalan mati di depan balai desa sejak minggu lalu")
    for index in (native.BandIndex(NUM_PERM, BANDS), fingerprint.PythonBandIndex(NUM_PERM, BANDS)):
        for slot in range(700):
            index.insert(slot, signature, keys)
        assert len(index.query(signature, 45)) == 700
        assert sorted(index.query(signature, 45, keys, 0.5, 0.8, 24)) == [(45, slot, 1.0, 1.0) for slot in range(700)]
