"""Whole-word phrase matching over normalized words.

Lexicon terms, category terms and place names are all phrases of normalized words. A
first-word index keeps matching linear in the post length, whatever the lexicon size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import compress
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


class Match(NamedTuple, Generic[T]):
    # A named tuple, not a frozen dataclass: matches are created per post on the hot path, and a
    # frozen dataclass pays object.__setattr__ per field.
    term: tuple[str, ...]
    payload: T
    start: int

    @property
    def phrase(self) -> str:
        return " ".join(self.term)


_new_match = tuple.__new__
"""Builds a Match without the named tuple's Python-level __new__ (half the cost per match)."""


class PhraseIndex(Generic[T]):
    """Finds every occurrence of known phrases in a word sequence."""

    __slots__ = ("_phrases", "_scanner")

    def __init__(self, entries: Iterable[tuple[tuple[str, ...], T]]) -> None:
        phrases: dict[tuple[str, ...], list[T]] = {}
        for term, payload in entries:
            if term:
                phrases.setdefault(term, []).append(payload)
        self._phrases = phrases
        self._scanner = PhraseScanner((self,))

    def entries(self) -> Iterator[tuple[tuple[str, ...], T]]:
        """Every (phrase, payload), in the order they were given per phrase."""
        for term, payloads in self._phrases.items():
            for payload in payloads:
                yield term, payload

    def find(self, words: Sequence[str]) -> list[Match[T]]:
        return self._scanner.scan(words)[0]


class PhraseScanner:
    """Several phrase indexes matched in one pass over a post's words.

    ``scan`` returns one list per index (None: an empty list), each in text order with the
    longer phrases first at a position, so a caller that keeps the first match at a position
    keeps "lampu jalan" rather than "lampu": the rules read five lexicons per post, and one pass
    costs about what one index's does."""

    __slots__ = ("_starts", "_longer", "_single", "_phrases", "_count")

    def __init__(self, indexes: Sequence[PhraseIndex[Any] | None]) -> None:
        phrases: dict[tuple[str, ...], list[tuple[int, Any]]] = {}
        longer: dict[str, set[int]] = {}
        for slot, index in enumerate(indexes):
            if index is None:
                continue
            for term, payload in index.entries():
                phrases.setdefault(term, []).append((slot, payload))
                if len(term) > 1:
                    longer.setdefault(term[0], set()).add(len(term))
        # Per first word, the lengths of its phrases of two or more words to try, longest first:
        # one dict lookup per length instead of one comparison per phrase keeps matching cheap
        # for big lexicons. One-word phrases (most of them) are looked up by the word alone.
        self._longer: dict[str, tuple[int, ...]] = {w: tuple(sorted(ls, reverse=True)) for w, ls in longer.items()}
        self._single: dict[str, tuple[tuple[str, ...], tuple[tuple[int, Any], ...]]] = {
            term[0]: (term, tuple(tagged)) for term, tagged in phrases.items() if len(term) == 1}
        self._starts = frozenset((*self._longer, *self._single))
        self._phrases = {term: tuple(tagged) for term, tagged in phrases.items()}
        self._count = len(indexes)

    def scan(self, words: Sequence[str]) -> list[list[Match[Any]]]:
        found: list[list[Match[Any]]] = [[] for _ in range(self._count)]
        starts = self._starts
        if starts.isdisjoint(words):  # most posts miss most indexes: one C-level check
            return found
        longer, single, phrases = self._longer, self._single, self._phrases
        words = tuple(words)
        n = len(words)
        # Only the positions whose word starts some phrase, picked at C level.
        for i in compress(range(n), map(starts.__contains__, words)):
            word = words[i]
            sizes = longer.get(word)
            if sizes is not None:
                for size in sizes:
                    if i + size <= n:
                        term = words[i:i + size]
                        tagged = phrases.get(term)
                        if tagged is not None:
                            for slot, payload in tagged:
                                found[slot].append(_new_match(Match, (term, payload, i)))
            one = single.get(word)
            if one is not None:
                term, tagged = one
                for slot, payload in tagged:
                    found[slot].append(_new_match(Match, (term, payload, i)))
        return found


def longest_only(matches: Sequence[Match[T]]) -> list[Match[T]]:
    """Drop every match whose words lie inside a longer match: "rawan banjir" is not also
    "banjir", "lampu merah" is not also "lampu". Matches come in text order from `find`."""
    if len(matches) < 2:
        return list(matches)
    sizes = [len(match.term) for match in matches]
    # Only a phrase of two or more words can cover another: most posts have none.
    covering = [(match.start, match.start + size, size) for match, size in zip(matches, sizes) if size > 1]
    if not covering:
        return list(matches)
    kept: list[Match[T]] = []
    for match, size in zip(matches, sizes):
        start, end = match.start, match.start + size
        if not any(other_size > size and other_start <= start and end <= other_end
                   for other_start, other_end, other_size in covering):
            kept.append(match)
    return kept
