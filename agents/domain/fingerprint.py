"""Fingerprints of the clustering stage: shingle hashes, MinHash signatures and the LSH band
tables of one bucket, which also confirm candidates exactly (agents/domain/cluster.py uses them).

The native extension ``agents.domain._fingerprint`` (``_fingerprint.c``, built by ``pip install``
through setup.py) does this in a few C calls per post; this module holds the pure-Python
definitions it must agree with bit for bit (tests/unit/test_fingerprint.py), used when the
extension was not built (no C compiler). The fallback is ~100 times slower per signature: correct,
not fast.

Definitions (the C file says the same):

- a *shingle* is a run of SHINGLE_CHARS code points; a text of at most SHINGLE_CHARS code points is
  one shingle, "" has none; its hash is FNV-1a (64-bit) over the code points, then the murmur3
  finalizer;
- the *signature* of a text is, for each of `num_perm` permutations ``h -> (a*h + b) mod 2**64``
  (a odd; a, b drawn from splitmix64 seeded with `seed`), the top 32 bits of the minimum over its
  shingle hashes, as bytes of 32-bit values in native byte order;
- a shingle's *key* is the top 32 bits of its hash; ``fingerprint(text, num_perm, seed)`` is the
  signature and the text's distinct shingle keys in order of first occurrence (bytes of 32-bit
  values), what the index keeps of a text for the exact confirmation of candidates;
- a *word filter* drops a set of words from a text: its words (split as ``str.split()`` splits)
  without them, joined by single spaces and cut at a length (the clustering stage's fingerprint
  text);
- a *window index* holds the band tables of every bucket and, per slot (arrival order), the
  member's id, event time and bucket: what agents.domain.cluster.LshIndex keeps of the window.
"""

from __future__ import annotations

import logging
from array import array

SHINGLE_CHARS = 4
_MASK = (1 << 64) - 1
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


def _fmix64(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK
    return h ^ (h >> 33)


def _splitmix64(state: int) -> tuple[int, int]:
    """(next state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return state, z ^ (z >> 31)


def python_shingle_hashes(text: str) -> list[int]:
    width = min(len(text), SHINGLE_CHARS)
    if width == 0:
        return []
    codes = [ord(ch) for ch in text]
    hashes = []
    for i in range(len(codes) - width + 1):
        h = _FNV_OFFSET
        for code in codes[i:i + width]:
            h = ((h ^ code) * _FNV_PRIME) & _MASK
        hashes.append(_fmix64(h))
    return hashes


def _permutations(num_perm: int, seed: int) -> list[tuple[int, int]]:
    state, permutations = seed & _MASK, []
    for _ in range(num_perm):
        state, a = _splitmix64(state)
        state, b = _splitmix64(state)
        permutations.append((a | 1, b))
    return permutations


def _minhash(hashes: list[int], num_perm: int, seed: int) -> bytes:
    # min(x >> 32) == min(x) >> 32: the shift is monotonic
    return array("I", [min([(a * h + b) & _MASK for h in hashes], default=_MASK) >> 32
                       for a, b in _permutations(num_perm, seed)]).tobytes()


def python_signature(text: str, num_perm: int, seed: int) -> bytes:
    return _minhash(python_shingle_hashes(text), num_perm, seed)


def python_fingerprint(text: str, num_perm: int, seed: int) -> tuple[bytes, bytes]:
    hashes = python_shingle_hashes(text)
    keys = dict.fromkeys(h >> 32 for h in hashes)
    return _minhash(hashes, num_perm, seed), array("I", keys).tobytes()


class PythonWordFilter:
    """The words of a text without the filter's (the C WordFilter's contract): ``kept(text, limit)``
    is ``" ".join(w for w in text.split() if w not in words)[:limit]``."""

    def __init__(self, words) -> None:
        self._words = frozenset(words)

    def kept(self, text: str, limit: int) -> str:
        if limit < 0:
            raise ValueError("limit must not be negative")
        return " ".join([word for word in text.split() if word not in self._words])[:limit]

    def __len__(self) -> int:
        return len(self._words)


def _band_key(values: array, band: int, rows: int) -> tuple[int, tuple[int, ...]]:
    return band, tuple(values[band * rows:(band + 1) * rows])


class PythonBandIndex:
    """The LSH band tables of one bucket, slot-numbered (the C BandIndex's contract): entries are
    inserted in increasing slot order; ``query`` returns ``(matches, slot)`` for every live entry
    that shares at least one band with the signature and agrees on at least `least` of its
    values; ``forget`` hides an entry until ``compact`` drops it."""

    def __init__(self, num_perm: int, bands: int) -> None:
        if num_perm < 1 or bands < 1 or num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        self.num_perm, self.bands, self.rows = num_perm, bands, num_perm // bands
        self._digests: dict[int, array] = {}
        """Slot -> signature values, in insertion (slot) order; forgotten ones included."""
        self._keys: dict[int, frozenset[int]] = {}
        """Slot -> distinct shingle keys."""
        self._forgotten: set[int] = set()
        self._tables: dict[tuple[int, tuple[int, ...]], list[int]] = {}

    def _values(self, signature: bytes) -> array:
        values = array("I", signature)
        if len(values) != self.num_perm:
            raise ValueError("signature must be bytes of num_perm 32-bit values")
        return values

    def insert(self, slot: int, signature: bytes, keys: bytes) -> None:
        values = self._values(signature)
        if self._digests and slot <= next(reversed(self._digests)):
            raise ValueError("slots must be inserted in increasing order")
        self._digests[slot] = values
        self._keys[slot] = frozenset(array("I", keys))
        for band in range(self.bands):
            self._tables.setdefault(_band_key(values, band, self.rows), []).append(slot)

    def query(self, signature: bytes, least: int, keys: bytes | None = None, jaccard: float = 0.0,
              containment: float = 0.0, containment_min: int = 0) -> list[tuple]:
        values = self._values(signature)
        mine = None if keys is None else frozenset(array("I", keys))
        seen: set[int] = set()
        found: list[tuple] = []
        for band in range(self.bands):
            for slot in self._tables.get(_band_key(values, band, self.rows), ()):
                if slot in seen or slot in self._forgotten:
                    continue
                seen.add(slot)
                matches = sum(x == y for x, y in zip(values, self._digests[slot]))
                if matches < least:
                    continue
                if mine is None:
                    found.append((matches, slot))
                    continue
                theirs = self._keys[slot]
                overlap, smaller = len(mine & theirs), min(len(mine), len(theirs))
                exact, contained = ((overlap / (len(mine) + len(theirs) - overlap), overlap / smaller) if smaller
                                    else (0.0, 0.0))
                if exact >= jaccard or (contained >= containment and smaller >= containment_min):
                    found.append((matches, slot, exact, contained))
        return found

    def forget(self, slot: int) -> bool:
        if slot not in self._digests or slot in self._forgotten:
            return False
        self._forgotten.add(slot)
        del self._keys[slot]
        return True

    def compact(self) -> int:
        live = {slot: values for slot, values in self._digests.items() if slot not in self._forgotten}
        keys = self._keys
        self._digests, self._keys, self._forgotten, self._tables = {}, {}, set(), {}
        for slot, values in live.items():
            self.insert(slot, values.tobytes(), array("I", keys[slot]).tobytes())
        return len(live)

    def __len__(self) -> int:
        return len(self._digests) - len(self._forgotten)

    @property
    def inserted(self) -> int:
        return len(self._digests)

    @property
    def forgotten(self) -> int:
        return len(self._forgotten)


class PythonWindowIndex:
    """The fingerprints of the window (the C WindowIndex's contract): a PythonBandIndex per
    bucket, and per slot (arrival order) the member's id, event time and bucket.

    ``add(member, bucket, at, signature, keys)`` indexes a fingerprint under the next slot (False
    if the member is indexed already); ``expire(before)`` forgets members in slot order up to the
    first live one whose time is at least `before` and returns their (member, bucket);
    ``query(bucket, signature, least[, keys, jaccard, containment, containment_min])`` is the
    bucket's ``PythonBandIndex.query`` as (estimate, member, at[, jaccard, containment]), best
    estimate first, ties by id (greatest first). A bucket's band tables are compacted once at
    least `rebuild_forgotten` of its entries, and half, were forgotten; the expired front of the
    slots is dropped once it is at least `trim_slots` long and half of them."""

    def __init__(self, num_perm: int, bands: int, rebuild_forgotten: int, trim_slots: int) -> None:
        if num_perm < 1 or bands < 1 or num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        if rebuild_forgotten < 1 or trim_slots < 1:
            raise ValueError("rebuild_forgotten and trim_slots must be positive")
        self.num_perm, self.bands = num_perm, bands
        self.rebuild_forgotten, self.trim_slots = rebuild_forgotten, trim_slots
        self._tables: dict[str, PythonBandIndex] = {}
        self._slots: dict[str, int] = {}
        self._members: list[tuple[str, str, float] | None] = []
        """(member, bucket, at) of slot `trimmed + i`; None once forgotten."""
        self.trimmed = 0
        self._head = 0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, member: object) -> bool:
        return member in self._slots

    def add(self, member: str, bucket: str, at: float, signature: bytes, keys: bytes) -> bool:
        if member in self._slots:
            return False
        table = self._tables.get(bucket)
        if table is None:
            table = self._tables[bucket] = PythonBandIndex(self.num_perm, self.bands)
        slot = self.trimmed + len(self._members)
        table.insert(slot, signature, keys)
        self._members.append((member, bucket, float(at)))
        self._slots[member] = slot
        return True

    def remove(self, member: str) -> bool:
        slot = self._slots.get(member)
        if slot is None:
            return False
        self._forget(slot)
        return True

    def _forget(self, slot: int) -> None:
        member, bucket, _ = self._members[slot - self.trimmed]
        self._members[slot - self.trimmed] = None
        del self._slots[member]
        table = self._tables[bucket]
        table.forget(slot)
        if table.forgotten >= self.rebuild_forgotten and 2 * table.forgotten >= table.inserted:
            table.compact()

    def expire(self, before: float) -> list[tuple[str, str]]:
        expired: list[tuple[str, str]] = []
        members, i = self._members, self._head - self.trimmed
        while i < len(members):
            record = members[i]
            if record is not None:
                if record[2] >= before:
                    break
                expired.append((record[0], record[1]))
                self._forget(self.trimmed + i)
            i += 1
        self._head = self.trimmed + i
        if i >= self.trim_slots and 2 * i >= len(members):
            del members[:i]
            self.trimmed += i
        return expired

    def query(self, bucket: str, signature: bytes, least: int, keys: bytes | None = None, jaccard: float = 0.0,
              containment: float = 0.0, containment_min: int = 0) -> list[tuple]:
        table = self._tables.get(bucket)
        if table is None:
            return []
        found = []
        for matches, slot, *exact in table.query(signature, least, keys, jaccard, containment, containment_min):
            member, _, at = self._members[slot - self.trimmed]
            found.append((matches / self.num_perm, member, at, *exact))
        found.sort(reverse=True)
        return found

    def at_of(self, member: str) -> float | None:
        slot = self._slots.get(member)
        return None if slot is None else self._members[slot - self.trimmed][2]

    def compact(self) -> int:
        return sum(table.compact() for table in self._tables.values())

    def band_index(self, bucket: str) -> PythonBandIndex | None:
        return self._tables.get(bucket)


try:
    from agents.domain import _fingerprint as native
except ImportError:  # not built (no C compiler): the same results, slower
    native = None
    logging.getLogger(__name__).warning(
        "agents.domain._fingerprint is not built: near-duplicate clustering runs its pure-Python "
        "fallback (about 1 ms per post instead of a few µs); install a C compiler and reinstall")

if native is not None:
    shingle_hashes = native.shingle_hashes
    signature = native.signature
    fingerprint = native.fingerprint
    WordFilter = native.WordFilter
    BandIndex = native.BandIndex
    WindowIndex = native.WindowIndex
else:
    shingle_hashes = python_shingle_hashes
    signature = python_signature
    fingerprint = python_fingerprint
    WordFilter = PythonWordFilter
    BandIndex = PythonBandIndex
    WindowIndex = PythonWindowIndex
