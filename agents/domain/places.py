"""Find the kecamatan and desa/kelurahan a post names, from the regency's gazetteer.

Citizens write "kec. Wedi", "klateng", "ds jimbung". Desa names repeat across kecamatan
("Jetis" exists in four) and some are ordinary words ("Dukuh", "Krajan"): an ambiguous name is
resolved by a kecamatan named in the same post or left unresolved with a reason, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.domain.matching import PhraseIndex
from agents.domain.text import Normalizer

# Words that announce a desa/kelurahan name right after them, once normalized.
DESA_MARKERS = frozenset({"desa", "kelurahan", "kel"})


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

    def locate(self, words: Sequence[str]) -> Place:
        reasons: list[str] = []
        kecamatan_named: list[str] = []
        for match in self._kecamatan_index.find(words):
            if match.payload not in kecamatan_named:
                kecamatan_named.append(match.payload)

        by_name: dict[tuple[str, ...], list[_Desa]] = {}
        for match in self._desa_index.find(words):
            marked = match.start > 0 and words[match.start - 1] in DESA_MARKERS
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
