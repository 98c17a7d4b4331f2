"""Text normalization shared by classification, the learned model and place matching.

Citizens write "jln dpn SD 2 rusakkk parahhh @dpuprklaten #klaten": the same words must match
the lexicon however they are spelled. Normalization is a pure function of the text and the
lexicon's replacement table, so the stream and the batch CLI agree byte for byte.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@[\w.]+")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
# "#JalanRusak" carries two words; split the camel case before case folding loses it.
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # "JalanRusak", "PJUMati"
# A letter repeated three or more times is an elongation ("tolonggg", "parahhh"); two stay
# because Indonesian and Javanese spell real words with doubled letters ("saat", "tanggal").
_ELONGATION = re.compile(r"([a-z])\1{2,}")
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# "2x", "jl.2": a digit glued to letters is split so both halves can match.
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")

_CACHE_LIMIT = 200_000
"""Entries per normalization cache: a flood of never-seen words must not grow memory without bound."""

_PREFIXES = ("di", "ter")
_SUFFIXES = ("nya", "kan", "lah", "e")
_MIN_STEM = 4


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A post's text as the rules see it."""

    words: tuple[str, ...]
    """Words after replacements (slang, abbreviations, Javanese) and affix stripping."""
    mentions: tuple[str, ...]
    """@handles named in the text, lowercased, without the "@"."""
    has_links: bool
    asks: bool = False
    """The text contains a question mark: evidence (not proof) of an information request."""

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def strip_affixes(word: str) -> str:
    """Strip one Indonesian/Javanese prefix and suffix where the rest stays a plausible stem.

    Deliberately light: "diperbaiki" -> "perbaiki", "jalannya" -> "jalan", "dalane" -> "dalan".
    No dictionary is consulted, so the minimum stem length keeps short words intact.
    """
    if "-" in word or word.isdigit():
        return word
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= _MIN_STEM:
            word = word[len(prefix):]
            break
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    return word


class Normalizer:
    """Turns raw text into :class:`NormalizedText` with a fixed replacement table."""

    __slots__ = ("_replacements", "_cache", "_chunks", "_stripped_chunks")

    def __init__(self, replacements: Mapping[str, str]) -> None:
        # Values are split into words once here; they are not replaced again, so a value must
        # be written in standard form.
        self._replacements: dict[str, tuple[str, ...]] = {
            key.lower(): tuple(_WORD.findall(value.lower())) for key, value in replacements.items()
        }
        self._cache: dict[str, tuple[str, ...]] = {}
        # The words of each whitespace-separated chunk of case-folded text, as read without and
        # with the accents dropped: words never span whitespace, so a post's words are its
        # chunks' words, and most chunks ("jalan", "rusak,", "@dpu") recur across posts.
        self._chunks: dict[str, tuple[str, ...]] = {}
        self._stripped_chunks: dict[str, tuple[str, ...]] = {}

    def _chunk(self, chunk: str, stripped: bool) -> tuple[str, ...]:
        text = _strip_accents(chunk) if stripped else chunk
        if "@" in text:
            text = _MENTION.sub(" ", text)
        words = tuple(chain.from_iterable(map(self._word, _WORD.findall(text))))
        cache = self._stripped_chunks if stripped else self._chunks
        if len(cache) < _CACHE_LIMIT:
            cache[chunk] = words
        return words

    def _word(self, raw: str) -> tuple[str, ...]:
        cached = self._cache.get(raw)
        if cached is not None:
            return cached
        # Elongations and digits glued to letters lie inside one word, so they are undone once
        # per distinct word here rather than by a pass over every post's text.
        cleaned = _DIGIT_LETTER.sub(" ", _ELONGATION.sub(r"\1", raw))
        if cleaned == raw:
            replaced = self._replace(raw)
        else:
            replaced = tuple(chain.from_iterable(map(self._replace, _WORD.findall(cleaned))))
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[raw] = replaced
        return replaced

    def _replace(self, word: str) -> tuple[str, ...]:
        replaced = self._replacements.get(word)
        if replaced is None:
            stem = strip_affixes(word)
            replaced = self._replacements.get(stem, (stem,))
        return replaced

    def normalize(self, text: str) -> NormalizedText:
        folded = unicodedata.normalize("NFKC", text)
        # The cheap substring checks skip regex passes that most posts do not need (speed floor:
        # 20,000 posts/s on one core, see bench/triage_bench.py).
        has_links = False
        if "://" in folded or "ww" in folded.lower():
            has_links = bool(_URL.search(folded))
            # URLs go first: a fragment ("site/#LaporWarga") is not a hashtag.
            folded = _URL.sub(" ", folded)
        if "#" in folded:
            folded = _HASHTAG.sub(lambda m: " " + _CAMEL.sub(" ", m[1]) + " ", folded)
        folded = folded.casefold()
        # "désa" is "desa": where the text has accents, they are dropped rather than the letters
        # that carry them.
        stripped = not folded.isascii() and unicodedata.normalize("NFKD", folded) != folded
        mentions: tuple[str, ...] = ()
        if "@" in folded:
            mentions = tuple(m[1:].rstrip(".") for m in _MENTION.findall(_strip_accents(folded) if stripped else folded))
        chunks = folded.split()
        cache = self._stripped_chunks if stripped else self._chunks
        parts = list(map(cache.get, chunks))
        if None in parts:
            parts = [part if part is not None else self._chunk(chunk, stripped) for chunk, part in zip(chunks, parts)]
        return NormalizedText(tuple(chain.from_iterable(parts)), mentions, has_links, "?" in folded)

    def terms(self, phrase: str) -> tuple[str, ...]:
        """Normalize a lexicon term the same way as post text."""
        return self.normalize(phrase).words
