"""Whole-word phrase matching over normalized words.

Lexicon terms, category terms and place names are all phrases of normalized words. A
first-word index keeps matching linear in the post length, whatever the lexicon size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, NamedTuple, TypeVar

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


class PhraseIndex(Generic[T]):
    """Finds every occurrence of known phrases in a word sequence."""

    __slots__ = ("_lengths", "_phrases")

    def __init__(self, entries: Iterable[tuple[tuple[str, ...], T]]) -> None:
        phrases: dict[tuple[str, ...], list[T]] = {}
        lengths: dict[str, set[int]] = {}
        for term, payload in entries:
            if term:
                phrases.setdefault(term, []).append(payload)
                lengths.setdefault(term[0], set()).add(len(term))
        # Per first word, the phrase lengths to try, longest first, so a caller that keeps the
        # first match at a position keeps "lampu jalan" rather than "lampu". One dict lookup per
        # length instead of one comparison per phrase keeps matching cheap for big lexicons.
        self._lengths: dict[str, tuple[int, ...]] = {w: tuple(sorted(ls, reverse=True)) for w, ls in lengths.items()}
        self._phrases = phrases

    def find(self, words: Sequence[str]) -> list[Match[T]]:
        lengths = self._lengths
        if lengths.keys().isdisjoint(words):  # most posts miss most indexes: one C-level check
            return []
        phrases = self._phrases
        words = tuple(words)
        found: list[Match[T]] = []
        n = len(words)
        for i, word in enumerate(words):
            sizes = lengths.get(word)
            if sizes is None:
                continue
            for size in sizes:
                if i + size > n:
                    continue
                term = words[i:i + size]
                payloads = phrases.get(term)
                if payloads is not None:
                    for payload in payloads:
                        found.append(Match(term, payload, i))
        return found


def longest_only(matches: Sequence[Match[T]]) -> list[Match[T]]:
    """Drop every match whose words lie inside a longer match: "rawan banjir" is not also
    "banjir", "lampu merah" is not also "lampu". Matches come in text order from `find`."""
    if len(matches) < 2:
        return list(matches)
    kept: list[Match[T]] = []
    for match in matches:
        start, end = match.start, match.start + len(match.term)
        covered = False
        for other in matches:
            other_end = other.start + len(other.term)
            if (len(other.term) > len(match.term) and other.start <= start and end <= other_end):
                covered = True
                break
        if not covered:
            kept.append(match)
    return kept
