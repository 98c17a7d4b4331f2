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
from functools import partial
from operator import is_not
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
_is_row = partial(is_not, None)
"""Whether a vocabulary look-up found a row (row 0 is a row: not a truth test)."""
_add_rows = np.add.reduce
PASSAGE_WORDS = 24
"""A long post is also read in passages of this many words (overlapping by half): a letter's
complaint may be one sentence among greetings, a self-introduction and a back-story."""


_BUCKET_NAMES = (*(f"m:len<={edge}" for edge in LENGTH_BUCKETS), f"m:len>{LENGTH_BUCKETS[-1]}")


def _length_bucket(count: int) -> str:
    for edge, name in zip(LENGTH_BUCKETS, _BUCKET_NAMES):
        if count <= edge:
            return name
    return _BUCKET_NAMES[-1]


_SHORT, _LOWER, _CAPITALIZED = 0, 1, 2
_token_shapes: dict[str, int] = {}
"""What title_case_share counts each whitespace-separated token as, cached: a post's tokens are
then counted at C level."""


def _token_shape(token: str) -> int:
    shape = _SHORT
    if len(token) >= 4 and token[0].isalpha():
        shape = _CAPITALIZED if token[0].isupper() and not token.isupper() else _LOWER
    if len(_token_shapes) < _WORD_CACHE_LIMIT:
        _token_shapes[token] = shape
    return shape


def title_case_share(raw_text: str) -> float:
    """Share of the words (of four letters or more) that start with a capital letter: news
    headlines capitalize almost every word, citizens rarely do."""
    # The first words tell a headline; a long letter's later capitals (names, places) do not.
    head = raw_text[:240]
    if head.islower():  # nothing capitalized (most citizens' posts): no need to count
        return 0.0
    tokens = head.split()
    shapes = list(map(_token_shapes.get, tokens))
    if None in shapes:
        shapes = [shape if shape is not None else _token_shape(token) for token, shape in zip(tokens, shapes)]
    long_words = len(shapes) - shapes.count(_SHORT)
    if long_words < 4:
        return 0.0
    return shapes.count(_CAPITALIZED) / long_words


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

    __slots__ = ("kinds", "categories", "manifest", "_vocabulary", "_weights", "_bias", "_names", "_idf",
                 "_bias_values", "_unknown_idf", "_unknown_square", "_rows", "_vocabulary_size", "_pairs", "_shape_rows", "_word_index",
                 "_columns", "_kind_count")

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
        self._bias_values = self._bias.tolist()
        self._idf = idf
        self._unknown_idf = float(unknown_idf)
        self._unknown_square = self._unknown_idf ** 2
        self._kind_count = len(kinds)
        self._columns = {label: i for i, label in enumerate((*self.kinds, *self.categories))}
        # One matrix holds, per feature, what one occurrence adds before the length scaling: its
        # weight row times its idf, and in a last column its squared idf (the length's share).
        # After the vocabulary's rows come the cached words' summed rows (see _entry). A post's
        # scores and length are then one gather and one sum over this matrix. The cache part is
        # zeros from calloc, so pages are committed only as words arrive.
        self._vocabulary_size = len(vocabulary)
        labels = weights.shape[1]
        self._rows = np.zeros((len(vocabulary) + _WORD_CACHE_LIMIT, labels + 1), dtype=np.float32)
        self._rows[:len(vocabulary), :labels] = self._weights * idf[:, None]
        self._rows[:len(vocabulary), labels] = idf.astype(np.float64) ** 2
        # Word pairs by (first, second), so a post looks its pairs up without formatting their
        # names (normalized words never contain "_": text._WORD).
        self._pairs: dict[tuple[str, str], int] = {
            tuple(name[2:].split("_", 1)): row for name, row in self._vocabulary.items() if name.startswith("b:")}
        self._shape_rows: dict[str, int] = {name: row for name, row in self._vocabulary.items()
                                            if name.startswith("m:")}
        # Each word's features are the same in every post, so the sum of their rows is computed
        # once per distinct word; a post then gathers one row per word instead of one per
        # character n-gram.
        self._word_index: dict[str, int] = {}
        """Per cached word: its row in _rows."""

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

    def _entry(self, word: str) -> int:
        """Cache the summed rows of a word's features (unknown n-grams add only their squared
        idf, to the length) and return the cache row."""
        found = word_features(word)
        vocabulary = self._vocabulary
        rows = [vocabulary[f] for f in found if f in vocabulary]
        row = self._vocabulary_size + len(self._word_index)
        self._rows[row] = self._rows[rows].sum(axis=0) if rows else 0.0
        self._rows[row, -1] += (len(found) - len(rows)) * self._unknown_square
        self._word_index[word] = row
        return row

    def score(self, normalized: NormalizedText, raw_text: str, addressed_official: bool = False,
              evidence: int = 3) -> Scores:
        words = normalized.words
        index = self._word_index
        if len(index) + len(words) > _WORD_CACHE_LIMIT:
            # A flood of never-seen words must not grow memory without bound: the cache starts
            # over, before this post's entries are made (entries are recomputed on next sight).
            index.clear()
        cached = index.get
        gathered = list(map(cached, words))
        if None in gathered:
            # New words get their entry once each, even when the post repeats them.
            gathered = [row if row is not None else cached(word) or self._entry(word)
                        for word, row in zip(words, gathered)]
        shape = shape_features(normalized, raw_text, addressed_official)
        # The rows in a fixed order (words, form signals, word pairs): float32 sums depend on it.
        gathered += filter(_is_row, map(self._shape_rows.get, shape))
        gathered += filter(_is_row, map(self._pairs.get, zip(words, words[1:])))
        unknown = len(words) + len(shape) + max(len(words) - 1, 0) - len(gathered)
        if gathered:
            matrix = self._rows.take(gathered, axis=0)
            sums = _add_rows(matrix, 0).tolist()
            squares = sums.pop() + unknown * self._unknown_square
            scale = 1.0 / math.sqrt(squares) if squares > 0 else 0.0
            logits = [value * scale + b for value, b in zip(sums, self._bias_values)]
        else:
            matrix, logits = None, self._bias_values
        split = self._kind_count
        kinds = dict(zip(self.kinds, _softmax(logits[:split])))
        categories = dict(zip(self.categories, _softmax(logits[split:])))
        explain = None
        if evidence and matrix is not None:
            # A word's evidence is its whole contribution, its character n-grams included,
            # under the word's name: "rusakkk" pushes as "rusak" does, and a desk can read it.
            def explain(label: str) -> tuple[str, ...]:
                return self._strongest(words, gathered, matrix[:, self._columns[label]].tolist(), evidence)
        return Scores(kinds, categories, explain)

    def _strongest(self, words: Sequence[str], rows: list[int], values: list[float], limit: int) -> tuple[str, ...]:
        """The `limit` distinct features that pushed hardest (positive `values` only), strongest
        first, on a tie the earlier: `values[i]` is what `rows[i]` added, and the first rows are
        the words' (named "w:word"), the rest vocabulary rows (form signals and word pairs)."""
        picked: list[str] = []
        count = len(words)
        for i in sorted(range(len(values)), key=values.__getitem__, reverse=True):
            if values[i] <= 0 or len(picked) == limit:
                break
            name = f"w:{words[i]}" if i < count else self._names[rows[i]]
            if name not in picked:
                picked.append(name)
        return tuple(picked)

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


def _softmax(logits: list[float], exp: Callable[[float], float] = math.exp) -> list[float]:
    # Plain floats: for a handful of labels, math.exp beats numpy's per-call overhead.
    top = max(logits)
    shifted = [exp(x - top) for x in logits]
    total = sum(shifted)
    return [x / total for x in shifted]
