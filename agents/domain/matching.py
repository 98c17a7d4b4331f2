"""Whole-word phrase matching over normalized words.

Lexicon terms, category terms and place names are all phrases of normalized words. A
first-word index keeps matching linear in the post length, whatever the lexicon size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    term: tuple[str, ...]
    payload: T
    start: int

    @property
    def phrase(self) -> str:
        return " ".join(self.term)


class PhraseIndex(Generic[T]):
    """Finds every occurrence of known phrases in a word sequence."""

    __slots__ = ("_by_first_word",)

    def __init__(self, entries: Iterable[tuple[tuple[str, ...], T]]) -> None:
        by_first: dict[str, list[tuple[tuple[str, ...], T]]] = {}
        for term, payload in entries:
            if term:
                by_first.setdefault(term[0], []).append((term, payload))
        # Longest phrases first, so a caller that keeps the first match at a position keeps
        # "lampu jalan" rather than "lampu".
        for candidates in by_first.values():
            candidates.sort(key=lambda entry: -len(entry[0]))
        self._by_first_word = by_first

    def find(self, words: Sequence[str]) -> list[Match[T]]:
        found: list[Match[T]] = []
        index = self._by_first_word
        n = len(words)
        for i, word in enumerate(words):
            candidates = index.get(word)
            if candidates is None:
                continue
            for term, payload in candidates:
                end = i + len(term)
                if end <= n and (len(term) == 1 or tuple(words[i:end]) == term):
                    found.append(Match(term, payload, i))
        return found
