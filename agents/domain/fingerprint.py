"""Fingerprints of the clustering stage and the window index that finds and confirms candidates
(agents/domain/cluster.py uses them), on rensa's MinHash and LSH (Rust, on PyPI).

- a *shingle* is a run of SHINGLE_CHARS characters of the fingerprint text; a text of at most
  SHINGLE_CHARS characters is one shingle, "" has none;
- a *fingerprint* is the rensa MinHash of a text's shingles (`num_perm` permutations, a fixed
  seed: fingerprints agree across processes and restarts) and the text's distinct shingles as
  64-bit hashes (Python's, which differ between processes: they are compared within one, and
  the index is rebuilt from texts), which confirm a candidate exactly: Jaccard similarity
  (resemblance) and containment of the smaller set in the larger (two distinct shingles of a
  pair share a hash about once in 10^17 pairs);
- a *window index* holds one rensa LSH (bands x rows) per bucket and, per slot (arrival order),
  the member's id, event time and bucket, so fingerprints expire in arrival order.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass

from rensa import RMinHash, RMinHashLSH

SHINGLE_CHARS = 4


def shingles(text: str) -> list[str]:
    width = min(len(text), SHINGLE_CHARS)
    if width == 0:
        return []
    return [text[i:i + width] for i in range(len(text) - width + 1)]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    minhash: RMinHash
    keys: array
    """The text's distinct shingles as 64-bit hashes, for the exact confirmation."""

    def __len__(self) -> int:
        return len(self.keys)


def fingerprint(text: str, num_perm: int, seed: int) -> Fingerprint:
    grams = set(shingles(text))
    minhash = RMinHash(num_perm=num_perm, seed=seed)
    if grams:
        minhash.update(list(grams))
    return Fingerprint(minhash, array("q", map(hash, grams)))


def similarity(a: Fingerprint, b: Fingerprint, a_keys: set[int] | None = None) -> tuple[float, float]:
    """(Jaccard, containment of the smaller shingle set in the larger), exactly (`a_keys`: a's
    keys as a set, when the caller compares a with many)."""
    if not a.keys or not b.keys:
        return 0.0, 0.0
    overlap = len((set(a.keys) if a_keys is None else a_keys).intersection(b.keys))
    return overlap / (len(a.keys) + len(b.keys) - overlap), overlap / min(len(a.keys), len(b.keys))


class WindowIndex:
    """The fingerprints of one cluster key's window: an LSH per bucket, and per slot (arrival
    order) the member's id, event time and bucket.

    ``add`` indexes a fingerprint under the next slot (False if the member is indexed already);
    ``expire(before)`` forgets members in slot order up to the first live one whose time is at
    least `before` and returns their (member, bucket); ``query`` returns the bucket's candidates
    whose estimated Jaccard reaches `least` and whose exact similarity passes, as (estimate,
    member, at, jaccard, containment), best estimate first, ties by id (greatest first)."""

    def __init__(self, num_perm: int, bands: int) -> None:
        if num_perm < 1 or bands < 1 or num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        self.num_perm, self.bands = num_perm, bands
        self._lsh: dict[str, RMinHashLSH] = {}
        self._slots: dict[str, int] = {}
        """Member -> slot."""
        self._entries: dict[int, tuple[str, str, float, Fingerprint]] = {}
        """Slot -> (member, bucket, at, fingerprint), live ones only."""
        self._order: deque[int] = deque()
        """Slots in arrival order (removed ones are skipped when expiry reaches them)."""
        self._next = 0

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, member: object) -> bool:
        return member in self._slots

    def add(self, member: str, bucket: str, at: float, fingerprint: Fingerprint) -> bool:
        if member in self._slots:
            return False
        lsh = self._lsh.get(bucket)
        if lsh is None:
            lsh = self._lsh[bucket] = RMinHashLSH(0.5, self.num_perm, self.bands)
        slot = self._next
        self._next += 1
        lsh.insert(slot, fingerprint.minhash)
        self._entries[slot] = (member, bucket, float(at), fingerprint)
        self._slots[member] = slot
        self._order.append(slot)
        return True

    def remove(self, member: str) -> bool:
        slot = self._slots.pop(member, None)
        if slot is None:
            return False
        _, bucket, _, _ = self._entries.pop(slot)
        self._lsh[bucket].remove(slot)
        return True

    def expire(self, before: float) -> list[tuple[str, str]]:
        expired: list[tuple[str, str]] = []
        order, entries = self._order, self._entries
        while order:
            entry = entries.get(order[0])
            if entry is not None:
                if entry[2] >= before:
                    break
                expired.append((entry[0], entry[1]))
                self.remove(entry[0])
            order.popleft()
        return expired

    def query(self, bucket: str, fingerprint: Fingerprint, least: float, jaccard: float = 0.0,
              containment: float = 0.0, containment_min: int = 0) -> list[tuple[float, str, float, float, float]]:
        lsh = self._lsh.get(bucket)
        if lsh is None or not fingerprint.keys:
            return []
        found = []
        minhash = fingerprint.minhash
        mine: set[int] | None = None
        for slot in lsh.query(minhash):
            member, _, at, theirs = self._entries[slot]
            estimate = minhash.jaccard(theirs.minhash)
            if estimate < least:
                continue
            if mine is None:
                mine = set(fingerprint.keys)
            exact, contained = similarity(fingerprint, theirs, mine)
            if exact >= jaccard or (contained >= containment and min(len(fingerprint), len(theirs)) >= containment_min):
                found.append((estimate, member, at, exact, contained))
        found.sort(reverse=True)
        return found

    def at_of(self, member: str) -> float | None:
        slot = self._slots.get(member)
        return None if slot is None else self._entries[slot][2]
