"""Find the kecamatan and desa/kelurahan a post names, from the regency's gazetteer.

Citizens write "kec. Wedi", "klateng", "ds jimbung". Desa names repeat across kecamatan
("Jetis" exists in four) and some are ordinary words ("Dukuh", "Krajan"): an ambiguous name is
resolved by a kecamatan named in the same post or left unresolved with a reason, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.domain.matching import PhraseIndex, PhraseScanner
from agents.domain.text import Normalizer

# Words that announce a desa/kelurahan name right after them, once normalized.
DESA_MARKERS = frozenset({"desa", "kelurahan", "kel", "dusun"})
# Words after which a kecamatan name that is also an ordinary word ("wedi": afraid, "tulung":
# help, in Javanese) is read as the place: "kec. Wedi", "di Wedi", "pasar Wedi", "nang Tulung".
DEFAULT_PLACE_CONTEXT = frozenset({
    "kecamatan", "di", "ke", "dari", "daerah", "wilayah", "sekitar", "nang", "ing", "neng", "ten",
    "jalan", "raya", "pasar", "puskesmas", "alun-alun", "terminal", "stasiun", "camat", "sd", "smp",
    "sma", "smpn", "sdn", "warga", "kantor", "arah", "kawasan",
})
TYPO_MIN_LENGTH = 6
"""Kecamatan names at least this long match with one wrong, missing, extra or swapped letter
("jatinon", "prambnan"); shorter ones ("cawas", "pedan": "pedas", "bayat": "bayar") only after a
place-context word."""
TYPO_MIN_LENGTH_IN_CONTEXT = 5


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@dataclass(frozen=True, slots=True)
class Place:
    kecamatan: str | None
    desa: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Desa:
    name: str
    kecamatan: str


class Gazetteer:
    """Kecamatan and desa names of one regency, compiled for matching."""

    def __init__(
        self,
        kecamatan: Iterable[str],
        desa: Iterable[tuple[str, str]],
        normalizer: Normalizer,
        kecamatan_aliases: dict[str, list[str]] | None = None,
        marker_only_desa: Iterable[str] = (),
        context_only_kecamatan: Iterable[str] = (),
        place_context: Iterable[str] | None = None,
    ) -> None:
        self.kecamatan: tuple[str, ...] = tuple(kecamatan)
        kec_entries = [(normalizer.terms(name), name) for name in self.kecamatan]
        for name, aliases in (kecamatan_aliases or {}).items():
            kec_entries.extend((normalizer.terms(alias), name) for alias in aliases)
        self._kecamatan_index: PhraseIndex[str] = PhraseIndex(kec_entries)
        self._kecamatan_terms = {normalizer.terms(name) for name in self.kecamatan}
        self._marker_only = {normalizer.terms(name) for name in marker_only_desa}
        self.desa: tuple[_Desa, ...] = tuple(_Desa(name, kec) for name, kec in desa)
        self._desa_index: PhraseIndex[_Desa] = PhraseIndex(
            (normalizer.terms(d.name), d) for d in self.desa
        )
        # Both indexes matched in one pass over a post (locate reads both).
        self._scanner = PhraseScanner((self._kecamatan_index, self._desa_index))
        self._context_only = {normalizer.terms(name) for name in context_only_kecamatan}
        self._context = frozenset(DEFAULT_PLACE_CONTEXT if place_context is None else
                                  (w for word in place_context for w in normalizer.terms(word)))
        self._kecamatan_by_terms = {normalizer.terms(name): name for name in self.kecamatan}
        # One-edit typo lookup by the symmetric-delete method: every single-word name and each of
        # its one-letter deletions point back to the name.
        self._typo_keys: dict[str, set[str]] = {}
        for terms, name in self._kecamatan_by_terms.items():
            if len(terms) == 1 and len(terms[0]) >= TYPO_MIN_LENGTH_IN_CONTEXT and terms not in self._context_only:
                for key in _deletions(terms[0], with_self=True):
                    self._typo_keys.setdefault(key, set()).add(name)
        self._exact_words = {w for terms in self._kecamatan_by_terms for w in terms}
        self._exact_words.update(w for name, _ in desa for w in normalizer.terms(name))
        self._typo_cache: dict[str, str | None] = {}
        self._no_typo: set[str] = set()
        """Words that can name no kecamatan by a typo: most posts consist of nothing else, and one
        C-level subset check skips the word loop for them."""

    def _typo(self, word: str) -> str | None:
        cached = self._typo_cache.get(word, ...)
        if cached is not ...:
            return cached
        candidates: set[str] = set()
        for key in _deletions(word, with_self=True):
            candidates.update(self._typo_keys.get(key, ()))
        found = [name for name in candidates
                 if _within_one_edit(word, self._name_word(name))]
        result = found[0] if len(found) == 1 else None
        if len(self._typo_cache) < 100_000:
            self._typo_cache[word] = result
        return result

    def _remember_no_typo(self, word: str) -> None:
        if len(self._no_typo) < 100_000:
            self._no_typo.add(word)

    def _name_word(self, name: str) -> str:
        return next(terms[0] for terms, n in self._kecamatan_by_terms.items() if n == name)

    def _in_context(self, words: Sequence[str], start: int, kecamatan: str) -> bool:
        if start > 0 and words[start - 1] in self._context:
            return True
        # "desa Sembung Wedi": right after a desa of that kecamatan.
        return any(d.kecamatan == kecamatan and words[max(0, start - len(t)):start] == t
                   for t, d in self._desa_terms_before(words, start))

    def _desa_terms_before(self, words: Sequence[str], start: int):
        for match in self._desa_index.find(words[max(0, start - 3):start]):
            yield match.term, match.payload

    def _next_to_own_kecamatan(self, words: Sequence[str], start: int, length: int, kecamatan: str) -> bool:
        """"Puluhan, Jatinom" or "Jatinom Puluhan": a desa beside its own kecamatan is named."""
        terms = next((t for t, n in self._kecamatan_by_terms.items() if n == kecamatan), ())
        after = tuple(words[start + length:start + length + len(terms)])
        before = tuple(words[max(0, start - len(terms)):start])
        return bool(terms) and (after == terms or before == terms)

    def locate(self, words: Sequence[str]) -> Place:
        reasons: list[str] = []
        kecamatan_named: list[str] = []
        kecamatan_matches, desa_matches = self._scanner.scan(words)
        for match in kecamatan_matches:
            if match.term in self._context_only and not self._in_context(words, match.start, match.payload):
                continue
            if match.payload not in kecamatan_named:
                kecamatan_named.append(match.payload)
        for i, word in enumerate(() if self._no_typo.issuperset(words) else words):
            if len(word) < TYPO_MIN_LENGTH_IN_CONTEXT or word in self._exact_words:
                self._remember_no_typo(word)
                continue
            name = self._typo(word)
            if name is None:
                self._remember_no_typo(word)
            if name is None or name in kecamatan_named:
                continue
            if len(word) >= TYPO_MIN_LENGTH or (i > 0 and words[i - 1] in self._context):
                kecamatan_named.append(name)
                reasons.append(f"place:kecamatan_typo[{word}:{name}]")

        by_name: dict[tuple[str, ...], list[_Desa]] = {}
        for match in desa_matches:
            marked = (match.start > 0 and words[match.start - 1] in DESA_MARKERS) or self._next_to_own_kecamatan(
                words, match.start, len(match.term), match.payload.kecamatan)
            # A desa sharing its name with a kecamatan ("Jatinom") or with an ordinary word
            # ("Dukuh") counts as a desa only when the post says "desa"/"kelurahan" before it.
            needs_marker = match.term in self._kecamatan_terms or match.term in self._marker_only
            if needs_marker and not marked:
                continue
            candidates = by_name.setdefault(match.term, [])
            if match.payload not in candidates:  # the same desa named twice is still one desa
                candidates.append(match.payload)

        desa: _Desa | None = None
        for term, candidates in by_name.items():
            in_named = [d for d in candidates if d.kecamatan in kecamatan_named]
            if len(candidates) == 1:
                desa = candidates[0]
            elif len(in_named) == 1:
                desa = in_named[0]
            else:
                options = ",".join(sorted(d.kecamatan for d in candidates))
                reasons.append(f"place:desa_ambiguous[{' '.join(term)}:{options}]")
                continue
            reasons.append(f"place:desa[{desa.name},{desa.kecamatan}]")
            break

        if desa is not None:
            kecamatan = desa.kecamatan
            if kecamatan not in kecamatan_named:
                reasons.append(f"place:kecamatan_from_desa[{kecamatan}]")
        elif kecamatan_named:
            kecamatan = kecamatan_named[0]
        else:
            kecamatan = None
        if kecamatan_named:
            reasons.insert(0, f"place:kecamatan[{','.join(kecamatan_named)}]")
        return Place(kecamatan, desa.name if desa else None, tuple(reasons))


def _deletions(word: str, with_self: bool = False) -> set[str]:
    found = {word[:i] + word[i + 1:] for i in range(len(word))}
    if with_self:
        found.add(word)
    return found


def _within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance at most 1, or one swap of adjacent letters."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return len(diffs) == 2 and diffs[1] == diffs[0] + 1 and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))
