"""The learned half of triage: a linear model over the whole text, scoring kind and category.

Rules fire on single words ("rusak" makes a complaint, "terima kasih" makes praise); people
read the whole post. This model reads it too: word unigrams and bigrams of the normalized text
(the same words the rules see), character n-grams inside each word (so "rusakkk", "ruksak" and
"kerusakan" share evidence), and a few signals of the post's shape (a link, a question, a
headline's title case, an official account addressed).

A document is a bag of those features, each occurrence weighted by its inverse document
frequency (idf: "yang" and "ang" say little, "mampet" much) and the whole scaled to unit length
(the square root of the sum of the occurrences' squared idf); the scores are one weight row per
feature times its value, summed, plus a bias, through a softmax per head (kind, category). Training (streams/train.py, `tanggap train`) fits the weights with scikit-learn's
logistic regression on exactly the features :func:`features` returns; scoring here needs only
numpy, and caches each word's feature rows, so a post costs a few dictionary look-ups and one
gather-and-sum.

The artifact is one ``.npz`` file: the vocabulary, the weight matrix (float32), the biases, the
label names of both heads and a manifest (training data, command, seed, licence).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.domain.text import NormalizedText

FORMAT_VERSION = 2
CHAR_NGRAMS = (3, 4, 5)
"""Character n-gram lengths taken inside each word, padded with spaces ("<rus", "sak>")."""
LENGTH_BUCKETS = (3, 8, 16, 32, 64)
"""Word-count bucket edges: a two-word post and a letter to the Bupati read differently."""
_WORD_CACHE_LIMIT = 200_000
PASSAGE_WORDS = 24
"""A long post is also read in passages of this many words (overlapping by half): a letter's
complaint may be one sentence among greetings, a self-introduction and a back-story."""


def _length_bucket(count: int) -> str:
    for edge in LENGTH_BUCKETS:
        if count <= edge:
            return f"m:len<={edge}"
    return f"m:len>{LENGTH_BUCKETS[-1]}"


def title_case_share(raw_text: str) -> float:
    """Share of the words (of four letters or more) that start with a capital letter: news
    headlines capitalize almost every word, citizens rarely do."""
    # The first words tell a headline; a long letter's later capitals (names, places) do not.
    long_words = [w for w in raw_text[:240].split() if len(w) >= 4 and w[0].isalpha()]
    if len(long_words) < 4:
        return 0.0
    capitalized = sum(1 for w in long_words if w[0].isupper() and not w.isupper())
    return capitalized / len(long_words)


def shape_features(normalized: NormalizedText, raw_text: str, addressed_official: bool) -> list[str]:
    """Signals of the post's form rather than its words."""
    found = [_length_bucket(len(normalized.words))]
    if normalized.has_links:
        found.append("m:link")
    if normalized.asks:
        found.append("m:question")
    if normalized.mentions:
        found.append("m:mentions")
    if addressed_official:
        found.append("m:addressed_official")
    if title_case_share(raw_text) >= 0.6:
        found.append("m:title_case")
    return found


def word_features(word: str) -> list[str]:
    """The word itself and its character n-grams."""
    padded = f"<{word}>"
    found = [f"w:{word}"]
    for n in CHAR_NGRAMS:
        if len(padded) >= n:
            found.extend(f"c:{padded[i:i + n]}" for i in range(len(padded) - n + 1))
    return found


def features(normalized: NormalizedText, raw_text: str, addressed_official: bool = False) -> list[str]:
    """Every feature of a post, with repeats (they count): what training fits and scoring sums."""
    words = normalized.words
    found = shape_features(normalized, raw_text, addressed_official)
    for word in words:
        found.extend(word_features(word))
    found.extend(f"b:{a}_{b}" for a, b in zip(words, words[1:]))
    return found


class Scores:
    """A model's reading of one post."""

    __slots__ = ("kinds", "categories", "_explain", "_evidence")

    def __init__(self, kinds: dict[str, float], categories: dict[str, float],
                 explain: Callable[[str], tuple[str, ...]] | None = None) -> None:
        self.kinds = kinds
        """Probability of each kind (they sum to 1)."""
        self.categories = categories
        """Probability of each category, as if the post were actionable."""
        self._explain = explain
        self._evidence: dict[str, tuple[str, ...]] = {}

    def best_kind(self) -> tuple[str, float]:
        kind = max(self.kinds, key=self.kinds.__getitem__)
        return kind, self.kinds[kind]

    def evidence(self, label: str) -> tuple[str, ...]:
        """The readable features that pushed hardest towards a kind or category, worked out
        only when a reason asks for them."""
        found = self._evidence.get(label)
        if found is None:
            found = self._explain(label) if self._explain is not None else ()
            self._evidence[label] = found
        return found


class ModelError(Exception):
    """The artifact is missing, corrupt or does not fit the configuration."""


class TriageModel:
    """A trained artifact, ready to score posts."""

    __slots__ = ("kinds", "categories", "manifest", "_vocabulary", "_weights", "_bias", "_names",
                 "_idf", "_idf_squared", "_unknown_idf", "_scaled", "_word_index", "_word_vectors", "_kind_slice",
                 "_category_slice")

    def __init__(self, vocabulary: Sequence[str], weights: np.ndarray, bias: np.ndarray,
                 kinds: Sequence[str], categories: Sequence[str], manifest: dict[str, Any],
                 idf: np.ndarray | None = None, unknown_idf: float = 1.0) -> None:
        if weights.shape != (len(vocabulary), len(kinds) + len(categories)) or bias.shape != (weights.shape[1],):
            raise ModelError(f"weights {weights.shape} and bias {bias.shape} do not fit {len(vocabulary)} features, "
                             f"{len(kinds)} kinds and {len(categories)} categories")
        idf = np.ones(len(vocabulary), dtype=np.float32) if idf is None else np.asarray(idf, dtype=np.float32)
        if idf.shape != (len(vocabulary),):
            raise ModelError(f"idf {idf.shape} does not fit {len(vocabulary)} features")
        self.kinds = tuple(kinds)
        self.categories = tuple(categories)
        self.manifest = manifest
        self._names = tuple(vocabulary)
        self._vocabulary = {name: row for row, name in enumerate(vocabulary)}
        self._weights = np.ascontiguousarray(weights, dtype=np.float32)
        self._bias = np.asarray(bias, dtype=np.float32)
        self._idf = idf
        self._idf_squared = (idf.astype(np.float64) ** 2).tolist()
        self._unknown_idf = float(unknown_idf)
        # What one occurrence of a feature adds before the length scaling: its row times its idf.
        self._scaled = self._weights * idf[:, None]
        self._kind_slice = slice(0, len(kinds))
        self._category_slice = slice(len(kinds), len(kinds) + len(categories))
        # Each word's features are the same in every post, so the sum of their scaled rows is
        # computed once per distinct word and kept in a matrix; a post then gathers one row per
        # word instead of one per character n-gram.
        self._word_index: dict[str, tuple[int, float, int]] = {}
        """Per cached word: see _entry."""
        self._word_vectors = np.zeros((1024, weights.shape[1]), dtype=np.float32)

    # -- persistence ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> TriageModel:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                version = int(data["format_version"])
                if version != FORMAT_VERSION:
                    raise ModelError(f"{path}: model format {version}, this Tanggap reads {FORMAT_VERSION}: "
                                     f"retrain it with `tanggap train`")
                return cls([str(v) for v in data["vocabulary"]], data["weights"].astype(np.float32),
                           data["bias"], [str(k) for k in data["kinds"]], [str(c) for c in data["categories"]],
                           json.loads(str(data["manifest"])), data["idf"], float(data["unknown_idf"]))
        except FileNotFoundError:
            raise ModelError(f"{path}: model file missing (train one with `tanggap train`)") from None
        except (KeyError, ValueError, OSError) as exc:
            raise ModelError(f"{path}: not a Tanggap model ({exc})") from None

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            # float16 halves the file; the scores move by well under a thousandth.
            np.savez_compressed(handle, format_version=np.int32(FORMAT_VERSION),
                                vocabulary=np.array(self._names), weights=self._weights.astype(np.float16),
                                bias=self._bias, idf=self._idf, unknown_idf=np.float32(self._unknown_idf),
                                kinds=np.array(self.kinds), categories=np.array(self.categories),
                                manifest=np.array(json.dumps(self.manifest, sort_keys=True, ensure_ascii=False)))

    # -- scoring -------------------------------------------------------------------------------

    def _entry(self, key: str, found: list[str]) -> tuple[int, float, int]:
        """Cache the summed scaled rows of `found` (a word's features) under `key`: (row in
        _word_vectors, sum of the features' squared idf, the word's own weight row or -1)."""
        vocabulary = self._vocabulary
        rows = [vocabulary[f] for f in found if f in vocabulary]
        squares = sum(self._idf_squared[row] for row in rows) + (len(found) - len(rows)) * self._unknown_idf ** 2
        index = len(self._word_index)
        if index >= len(self._word_vectors):
            grown = np.zeros((len(self._word_vectors) * 2, self._weights.shape[1]), dtype=np.float32)
            grown[:index] = self._word_vectors[:index]
            self._word_vectors = grown
        self._word_vectors[index] = self._scaled[rows].sum(axis=0) if rows else 0.0
        entry = (index, squares, vocabulary.get(found[0], -1))
        self._word_index[key] = entry
        return entry

    def score(self, normalized: NormalizedText, raw_text: str, addressed_official: bool = False,
              evidence: int = 3) -> Scores:
        vocabulary = self._vocabulary
        words = normalized.words
        unknown_squared = self._unknown_idf ** 2
        shape = [vocabulary.get(name, -1) for name in shape_features(normalized, raw_text, addressed_official)]
        shape_rows = [row for row in shape if row >= 0]
        squares = sum(self._idf_squared[row] for row in shape_rows) + (len(shape) - len(shape_rows)) * unknown_squared
        readable = list(shape_rows)
        # Each word (its unigram and character n-grams) is one cache entry, so a post gathers one
        # summed row per word; a word pair is one row of its own, looked up directly (pairs are
        # too many and too varied to be worth caching).
        if len(self._word_index) + len(words) > _WORD_CACHE_LIMIT:
            # A flood of never-seen words must not grow memory without bound: the cache starts
            # over, before this post's entries are made (entries are recomputed on next sight).
            self._word_index.clear()
        cached = self._word_index.get
        entries = [cached(word) for word in words]
        if None in entries:
            # New words get their entry once each, even when the post repeats them.
            for word, entry in zip(words, entries):
                if entry is None and word not in self._word_index:
                    self._entry(word, word_features(word))
            entries = [cached(word) for word in words]
        cache_rows = [entry[0] for entry in entries]
        squares += sum([entry[1] for entry in entries])
        readable.extend([entry[2] for entry in entries if entry[2] >= 0])
        pairs = [vocabulary.get(f"b:{first}_{second}", -1) for first, second in zip(words, words[1:])]
        pair_rows = [row for row in pairs if row >= 0]
        idf_squared = self._idf_squared
        squares += sum([idf_squared[row] for row in pair_rows]) + (len(pairs) - len(pair_rows)) * unknown_squared
        readable.extend(pair_rows)
        shape_rows.extend(pair_rows)
        logits = self._bias.copy()
        scale = 1.0 / math.sqrt(squares) if squares else 0.0
        if cache_rows:
            logits += self._word_vectors[cache_rows].sum(axis=0) * scale
        if shape_rows:
            logits += self._scaled[shape_rows].sum(axis=0) * scale
        kind_p = _softmax(logits[self._kind_slice].tolist())
        category_p = _softmax(logits[self._category_slice].tolist())
        kinds = dict(zip(self.kinds, kind_p))
        categories = dict(zip(self.categories, category_p))
        explain = None
        if evidence and readable:
            columns = {label: i for i, label in enumerate((*self.kinds, *self.categories))}

            def explain(label: str) -> tuple[str, ...]:
                return self._evidence(readable, columns[label], evidence)
        return Scores(kinds, categories, explain)

    def score_passages(self, normalized: NormalizedText, addressed_official: bool = False) -> list[Scores]:
        """Scores of overlapping passages of a long post (none for a post of two passages or
        fewer: the whole post is its own passage)."""
        words = normalized.words
        if len(words) <= 2 * PASSAGE_WORDS:
            return []
        step = PASSAGE_WORDS // 2
        return [self.score(NormalizedText(words[start:start + PASSAGE_WORDS], normalized.mentions, normalized.has_links,
                                          normalized.asks), "", addressed_official, evidence=0)
                for start in range(0, len(words) - step, step)]

    def _evidence(self, rows: list[int], column: int, limit: int) -> tuple[str, ...]:
        """The readable features (words, word pairs, form signals) of `rows` that pushed hardest
        towards `column`; character n-grams are evidence too, but a desk cannot read "c:<rus"."""
        weights = self._scaled[rows, column]
        values = weights.tolist()
        names = self._names
        picked: list[str] = []
        for i in np.argsort(-weights, kind="stable")[:4 * limit].tolist():
            if values[i] <= 0 or len(picked) == limit:
                break
            name = names[rows[i]]
            if name not in picked:
                picked.append(name)
        return tuple(picked)


def _softmax(logits: list[float]) -> list[float]:
    # Plain floats: for a handful of labels, math.exp beats numpy's per-call overhead.
    top = max(logits)
    shifted = [math.exp(x - top) for x in logits]
    total = sum(shifted)
    return [x / total for x in shifted]
