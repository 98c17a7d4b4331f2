"""Fingerprints of the clustering stage and the window index that finds and confirms candidates
(agents/domain/cluster.py uses them), on rensa's MinHash and LSH (Rust, on PyPI).

- a *shingle* is a run of SHINGLE_CHARS characters of the fingerprint text; a text of at most
  SHINGLE_CHARS characters is one shingle, "" has none;
- a *fingerprint* is the rensa MinHash of a text's shingles (`num_perm` permutations, a fixed
  seed: fingerprints agree across processes and restarts), its values as an array, and the
  text's distinct shingles as sorted 64-bit hashes (Python's, which differ between processes:
  they are compared within one, and the index is rebuilt from texts), which confirm a candidate
  exactly: Jaccard similarity (resemblance) and containment of the smaller set in the larger (two
  distinct shingles of a pair share a hash about once in 10^17 pairs);
- a *window index* holds one rensa LSH (bands x rows) per bucket and, per slot (arrival order),
  the member's id, event time, bucket, shingle hashes and MinHash values, so fingerprints expire
  in arrival order and a query compares all its candidates at once.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
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
    digest: np.ndarray
    """The MinHash's values (uint32), as the window index compares them with its candidates'."""
    keys: np.ndarray
    """The text's distinct shingles as 64-bit hashes, sorted, for the exact confirmation."""

    def __len__(self) -> int:
        return len(self.keys)


def fingerprint(text: str, num_perm: int, seed: int) -> Fingerprint:
    grams = shingles(text)
    minhash = RMinHash(num_perm=num_perm, seed=seed)
    if grams:
        # A minimum does not change when a shingle repeats: the MinHash needs no set.
        minhash.update(grams)
    distinct = set(grams)
    keys = np.fromiter(map(hash, distinct), np.int64, len(distinct))
    keys.sort()
    return Fingerprint(minhash, np.frombuffer(array("I", minhash.digest()), np.uint32), keys)


def similarity(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """(Jaccard, containment of the smaller shingle set in the larger), exactly."""
    if not len(a.keys) or not len(b.keys):
        return 0.0, 0.0
    return _similarity(np.intersect1d(a.keys, b.keys, assume_unique=True).size, len(a.keys), len(b.keys))


def _similarity(overlap: int, size: int, other: int) -> tuple[float, float]:
    if not size or not other:
        return 0.0, 0.0
    return overlap / (size + other - overlap), overlap / min(size, other)


KEY_BYTES = 8
"""A shingle hash's size in the window index, which keeps each fingerprint's as bytes."""


def _by_estimate_and_member(candidate: tuple[int, tuple]) -> tuple[int, str]:
    return candidate[0], candidate[1][0]


def shared_counts(keys: np.ndarray, others: list[bytes]) -> list[int]:
    """How many of each of `others` (distinct shingle hashes as int64 bytes) are among `keys`
    (sorted, distinct): one binary search of all of them at once, where a set intersection per
    candidate spent most of its time turning hashes into Python ints."""
    sizes = [len(other) // KEY_BYTES for other in others]
    if not len(keys) or not all(sizes):
        return [len(set(keys.tolist()).intersection(np.frombuffer(other, np.int64).tolist())) for other in others]
    theirs = np.frombuffer(b"".join(others), np.int64)
    # keys[:-1]: a hash beyond them all lands on the last key, which it may equal.
    found = keys[np.searchsorted(keys[:-1], theirs)] == theirs
    starts = [0]
    for size in sizes[:-1]:
        starts.append(starts[-1] + size)
    return np.add.reduceat(found, starts).tolist()


class WindowIndex:
    """The fingerprints of one cluster key's window: an LSH per bucket, and per slot (arrival
    order) the member's id, event time, bucket, shingle hashes and MinHash values.

    ``add`` indexes a fingerprint under the next slot (False if the member is indexed already),
    with the caller's ``tag`` (what it wants to know of a candidate without looking it up:
    ``tag_of``; a second ``add`` of a member replaces only its tag, as ``retag`` does);
    ``expire(before)`` forgets members in slot order up to the first live one whose time is at
    least `before` and returns their (member, bucket); ``query`` returns the bucket's candidates
    whose estimated Jaccard reaches `least` and whose exact similarity passes, as (estimate,
    member, at, jaccard, containment), best estimate first, ties by id (greatest first).

    The MinHash values are rows of one array, a ring indexed by slot: a query estimates all of
    its candidates in one comparison instead of a rensa call each, and the index keeps 4 bytes
    per permutation instead of a MinHash object per fingerprint. The ring spans the slots from
    the oldest one still in the arrival order to the newest, and doubles when they outgrow it."""

    INITIAL_SLOTS = 64

    def __init__(self, num_perm: int, bands: int) -> None:
        if num_perm < 1 or bands < 1 or num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        self.num_perm, self.bands = num_perm, bands
        self._lsh: dict[str, RMinHashLSH] = {}
        self._slots: dict[str, int] = {}
        """Member -> slot."""
        self._entries: dict[int, tuple[str, str, float, bytes, Any]] = {}
        """Slot -> (member, bucket, at, shingle hashes as int64 bytes, tag), live ones only."""
        self._digests = np.zeros((self.INITIAL_SLOTS, num_perm), np.uint32)
        """Row slot % len: the MinHash values of the fingerprint in that slot."""
        self._order: deque[int] = deque()
        """Slots in arrival order (removed ones are skipped when expiry reaches them)."""
        self._next = 0
        self._fewest_shared: dict[float, int] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, member: object) -> bool:
        return member in self._slots

    def add(self, member: str, bucket: str, at: float, fingerprint: Fingerprint, tag: Any = None) -> bool:
        if self.retag(member, tag):
            return False
        lsh = self._lsh.get(bucket)
        if lsh is None:
            lsh = self._lsh[bucket] = RMinHashLSH(0.5, self.num_perm, self.bands)
        slot = self._next
        if self._order and slot - self._order[0] >= len(self._digests):
            self._grow(slot)
        self._next += 1
        lsh.insert(slot, fingerprint.minhash)
        self._digests[slot % len(self._digests)] = fingerprint.digest
        self._entries[slot] = (member, bucket, float(at), fingerprint.keys.tobytes(), tag)
        self._slots[member] = slot
        self._order.append(slot)
        return True

    def _grow(self, slot: int) -> None:
        """Grow the ring of MinHash values so that it holds every slot from the oldest one still
        in the arrival order up to `slot`."""
        oldest, capacity = self._order[0], len(self._digests)
        grown = capacity * 2
        while slot - oldest >= grown:
            grown *= 2
        kept = np.arange(oldest, slot)
        digests = np.zeros((grown, self.num_perm), np.uint32)
        digests[kept % grown] = self._digests[kept % capacity]
        self._digests = digests

    def remove(self, member: str) -> bool:
        slot = self._slots.pop(member, None)
        if slot is None:
            return False
        bucket = self._entries.pop(slot)[1]
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
        return list(self.ranked(bucket, fingerprint, least, jaccard, containment, containment_min))

    FIRST_CHECKED = 4
    """Candidates whose exact similarity the first step of :meth:`ranked` works out (then twice
    as many each step): a caller mostly takes the first one or two."""

    def ranked(self, bucket: str, fingerprint: Fingerprint, least: float, jaccard: float = 0.0,
               containment: float = 0.0, containment_min: int = 0) -> Iterator[tuple[float, str, float, float, float]]:
        """:meth:`query`'s candidates one by one, in its order: the estimates of all at once, the
        exact similarity of the best few at a time, as the caller takes them (copies of a text
        share bands with every other copy of it, and the first one that fits is the one taken)."""
        lsh = self._lsh.get(bucket)
        if lsh is None or not len(fingerprint.keys):
            return
        slots = lsh.query(fingerprint.minhash)
        if not slots:
            return
        # rensa's estimate (RMinHash.jaccard) of every candidate at once: the number of
        # permutations whose minimum they share, over num_perm.
        digests = self._digests
        rows = digests.take(np.array(slots, np.int64) % len(digests), axis=0)
        least_shared = self._least_shared(least)
        entries = self._entries
        # Best estimate first, ties by id (greatest first): the order does not depend on the
        # index's history.
        close = sorted([(shared, entries[slot]) for shared, slot in zip((rows == fingerprint.digest).sum(1).tolist(),
                                                                          slots) if shared >= least_shared],
                       key=_by_estimate_and_member, reverse=True)
        size, num_perm = len(fingerprint.keys), self.num_perm
        start, step = 0, self.FIRST_CHECKED
        while start < len(close):
            checked = close[start:start + step]
            overlaps = shared_counts(fingerprint.keys, [entry[3] for _, entry in checked])
            for (shared, (member, _, at, theirs, _)), overlap in zip(checked, overlaps):
                other = len(theirs) // KEY_BYTES
                exact, contained = _similarity(overlap, size, other)
                if exact >= jaccard or (contained >= containment and min(size, other) >= containment_min):
                    yield shared / num_perm, member, at, exact, contained
            start += step
            step *= 2

    def _least_shared(self, least: float) -> int:
        """The fewest shared permutations whose estimate (shared / num_perm, as rensa divides)
        reaches `least`: the same test as on the estimate, on integers."""
        fewest = self._fewest_shared.get(least)
        if fewest is None:
            fewest = next((shared for shared in range(self.num_perm + 1) if shared / self.num_perm >= least),
                          self.num_perm + 1)
            self._fewest_shared[least] = fewest
        return fewest

    def at_of(self, member: str) -> float | None:
        slot = self._slots.get(member)
        return None if slot is None else self._entries[slot][2]

    def retag(self, member: str, tag: Any) -> bool:
        """Give an indexed member another tag (False: it is not indexed)."""
        slot = self._slots.get(member)
        if slot is None:
            return False
        entry = self._entries[slot]
        if entry[4] != tag:
            self._entries[slot] = (*entry[:4], tag)
        return True

    def tag_of(self, member: str) -> Any:
        """The tag `member` was added with (None if it is not indexed)."""
        slot = self._slots.get(member)
        return None if slot is None else self._entries[slot][4]
