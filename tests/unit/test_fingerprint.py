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


def test_word_filter_keeps_the_same_words_as_the_fallback():
    rng = random.Random(5)
    words = ["min", "mohon", "di", "jalan", "é", "日本", "🙏", "", "x" * 40, "kec wedi"]
    whitespace = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\x1f", "\u2028"]
    texts = [*sample_texts(), "  min  jalan  ", "min mohon di", "\u00a0jalan\u3000é 🙏 ",
             " ".join(["lampu"] * 300)]  # more kept words than the C stack buffer of spans
    texts += ["".join(rng.choice(words) + rng.choice(whitespace) for _ in range(rng.randint(0, 40)))
              for _ in range(300)]
    filters = [words[:3], words, [], ["jalan", "lampu"], ["🙏", "é"]]
    for dropped in filters:
        c_filter, python_filter = native.WordFilter(dropped), fingerprint.PythonWordFilter(dropped)
        assert len(c_filter) == len(python_filter) == len(set(dropped))
        for text in texts:
            for limit in (0, 1, 4, 5, 17, 1000, 10**6):
                kept = c_filter.kept(text, limit)
                assert kept == python_filter.kept(text, limit), (dropped, text, limit)
                assert hash(kept) == hash(python_filter.kept(text, limit))  # a canonical str
    with pytest.raises(ValueError):
        native.WordFilter(["min"]).kept("min jalan", -1)
    with pytest.raises(TypeError):
        native.WordFilter(["min", 3])


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


def test_window_index_matches_the_fallback_through_inserts_expiry_removals_and_compactions():
    """Both window indexes driven alike, with small rebuild and trim thresholds so that every
    path (bucket rebuilds, the trimmed front, removals, re-adds, out-of-order times) is taken."""
    rng = random.Random(13)
    words = "jalan rusak lampu mati banjir got mampet sampah numpuk pasar balai desa dekat sekolah".split()
    buckets = ["jalan|Wedi", "jalan|Bayat", "penerangan_jalan|Wedi", "banjir|unknown"]
    texts = [" ".join(rng.choices(words, k=rng.randint(1, 9))) for _ in range(1500)]
    indexes = [native.WindowIndex(NUM_PERM, BANDS, 8, 16), fingerprint.PythonWindowIndex(NUM_PERM, BANDS, 8, 16)]

    def same(call, *args):
        answers = [getattr(index, call)(*args) for index in indexes]
        assert answers[0] == answers[1], (call, args)
        return answers[0]

    ids = [f"cmp-{rng.getrandbits(80):020x}" for _ in range(len(texts))]
    ids[5], ids[6] = "cmp-" + "é" * 30, "cmp-\ud800 a lone surrogate, and longer than fits inline"
    now = 0.0
    for step, (member, text) in enumerate(zip(ids, texts)):
        now += rng.random()
        at = now - 3 * rng.random()  # roughly in arrival order, as event times are
        signature, keys = fingerprint.fingerprint(text, NUM_PERM, MINHASH_SEED)
        bucket = rng.choice(buckets)
        assert same("add", member, bucket, at, signature, keys) is True
        if step % 7 == 0:
            assert same("add", member, bucket, at + 1, signature, keys) is False, "indexed already"
        if step % 5 == 0:
            same("remove", rng.choice(ids[:step + 1]))
        if step % 11 == 0:
            same("add", rng.choice(ids[:step + 1]), bucket, now, signature, keys)  # re-added after removal
        if step % 3 == 0:
            same("expire", now - 40 * rng.random())
        if step % 211 == 0:
            same("compact")
        probe = rng.randrange(step + 1)
        probe_signature, probe_keys = fingerprint.fingerprint(texts[probe], NUM_PERM, MINHASH_SEED)
        for bucket in (*buckets, "lain|lain"):
            for least in (1, 12, 45):
                same("query", bucket, probe_signature, least)
            for exact in ((0.5, 0.8, 24), (0.9, float("inf"), 0), (0.3, 0.6, 3)):
                same("query", bucket, probe_signature, 12, probe_keys, *exact)
        same("at_of", ids[probe])
        same("__contains__", ids[probe])
        assert len({(len(index), index.trimmed) for index in indexes}) == 1
        assert len({tuple((table.inserted, table.forgotten) if table else None
                          for table in map(index.band_index, buckets)) for index in indexes}) == 1
    assert indexes[0].trimmed > 0 and len(indexes[0]) > 0
    everything = same("expire", float("inf"))
    assert len(everything) > 0 and len(indexes[0]) == 0 and same("compact") == 0


def test_window_index_answers_best_first_with_ties_by_id():
    signature, keys = LshIndex.fingerprint("lampu jalan mati di depan balai desa")
    for index in (native.WindowIndex(NUM_PERM, BANDS, 64, 4096),
                  fingerprint.PythonWindowIndex(NUM_PERM, BANDS, 64, 4096)):
        for member, at in (("cmp-b", 2.0), ("cmp-a", 1.0), ("cmp-é", 3.0), ("cmp-c", 4)):
            index.add(member, "penerangan_jalan|Wedi", at, signature, keys)
        assert [member for _, member, _ in index.query("penerangan_jalan|Wedi", signature, 45)] == [
            "cmp-é", "cmp-c", "cmp-b", "cmp-a"]
        assert index.query("penerangan_jalan|Wedi", signature, 45, keys, 0.5, 0.8, 24)[0] == (
            1.0, "cmp-é", 3.0, 1.0, 1.0)
        assert index.at_of("cmp-c") == 4.0 and index.at_of("cmp-x") is None and index.at_of(5) is None
        assert index.query("jalan|Wedi", signature, 45) == [] and 5 not in index
        assert index.expire(2.5) == [("cmp-b", "penerangan_jalan|Wedi"), ("cmp-a", "penerangan_jalan|Wedi")]
        assert index.remove("cmp-c") is True and index.remove("cmp-c") is False and len(index) == 1
        with pytest.raises(ValueError):
            index.query("penerangan_jalan|Wedi", b"short", 1)
    with pytest.raises(TypeError):
        native.WindowIndex(NUM_PERM, BANDS, 64, 4096).add(b"bytes", "jalan|Wedi", 1.0, signature, keys)
    with pytest.raises(ValueError):
        native.WindowIndex(45, 4, 64, 4096)


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
    monkeypatch.setattr(cluster, "WindowIndex", fingerprint.PythonWindowIndex)
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
