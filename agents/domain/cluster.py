"""Near-duplicate clustering: one complaint, however many times and places it is posted.

Triage (exact dedupe, classify, assign) opens a complaint per post that is not a redelivery,
repost or reply. This stage, keyed by *cluster key* (the kecamatan, or ``unknown``), decides
whether such a new complaint is a copy of one opened earlier in the window:

- fingerprint: MinHash (``rensa``) over character shingles of the normalized text without
  filler words (greetings, "mohon", "pak bupati", ...), indexed by LSH bands whose keys also
  carry the category and kecamatan, so only posts that agree on both ever become candidates;
- confirmation: the exact Jaccard similarity of the shingle sets (or, for truncated copies, the
  containment of the shorter in the longer), and the desa must not disagree;
- a copy becomes an *alias* of the surviving complaint: its events (`opened`, mentions by its
  reposts and replies, official replies to it) are rewritten to the survivor, so the desk and the
  SLA stage see one complaint, one owner and one clock.

Everything here is pure: the stream (agents/cluster.py) and `tanggap triage` run the same
:class:`Clusterer` over a faust table or a dict. The LSH index is derived, in-memory state,
rebuilt from the table after a restart or rebalance (:meth:`Clusterer.rebuild`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rensa import RMinHash

from agents.domain.classify import PRIORITIES
from agents.domain.triage import TriageResult, complaint_event
from schemas.events import parse_time, stable_id

SHINGLE_CHARS = 4
BANDS = 32
ROWS = 4
NUM_PERM = BANDS * ROWS
MINHASH_SEED = 1_2025
"""Fixed: fingerprints of one release must agree across processes and restarts."""
UNKNOWN_PLACE = "unknown"
FINGERPRINT_CHARS = 1000
"""Posts may be 20,000 characters long; a complaint is recognizable from its beginning, and the
cost of a fingerprint must stay bounded."""
ESTIMATE_FLOOR = 0.25
"""Candidates whose MinHash-estimated Jaccard is below this are not confirmed: far below both
thresholds (the estimate's standard error is about 0.04 with 128 permutations)."""
MIN_CONTAINMENT_SHINGLES = 24
"""A truncated copy counts by containment only when the shorter text has at least this many
shingles: "lampu mati" is contained in every street-light complaint."""

FILLER_WORDS = frozenset("""
min mimin admin minn mohon tolong tlg please pls plis segera pak bu bapak ibu bupati wabup kak kakak gan
lur dulur sedulur bos om mas mbak sih dong deh ya yaa yah nih tuh kok lho loh woi woy halo hai hallo
selamat pagi siang sore malam terima kasih makasih matur nuwun suwun assalamualaikum wr wb
""".split())
"""Words that change between copies of one complaint but say nothing about it."""

STOP_WORDS = frozenset("""
di ke dari yang dan atau ini itu ada tidak gak nggak ga tak sudah udah belum bisa akan sedang masih lagi juga
sama untuk dengan karena jadi kalau kalo kok saja aja sangat banget bgt sekali mau harus pada oleh dalam buat
kita kami saya aku kamu dia mereka warga kan pun para
""".split())
"""The commonest function words: every post has them, so their shingles would make unrelated
posts collide in the LSH bands (and they carry little of what a complaint is about)."""


@dataclass(frozen=True)
class ClusterPolicy:
    window_seconds: float = 72 * 3600.0
    jaccard: float = 0.5
    containment: float = 0.8
    unknown_place_jaccard: float = 0.9
    """Posts with no recognized place all share one key; two of them may name different places
    the gazetteer did not recognize ("di lahan kosong Wedi"), so only near-identical texts merge."""
    viral_mentions: int = 5
    viral_platforms: int = 2


PLACE_MARKERS = frozenset("kec kecamatan desa ds kelurahan kel dukuh dusun daerah wilayah".split())


def fingerprint_text(normalized_text: str, kecamatan: str | None = None) -> str:
    """The words that tell copies of a complaint apart from other complaints: without fillers,
    and without the kecamatan's name, which the bucket key already carries (every complaint of
    the bucket names it, so its shingles would make all of them look alike)."""
    dropped = _dropped_words(kecamatan)
    return " ".join([word for word in normalized_text.split() if word not in dropped])[:FINGERPRINT_CHARS]


@lru_cache(maxsize=1024)
def _dropped_words(kecamatan: str | None) -> frozenset[str]:
    return FILLER_WORDS | STOP_WORDS | PLACE_MARKERS | frozenset((kecamatan or "").lower().split())


def shingles(text: str) -> set[str]:
    if len(text) <= SHINGLE_CHARS:
        return {text} if text else set()
    return {text[i:i + SHINGLE_CHARS] for i in range(len(text) - SHINGLE_CHARS + 1)}


def similarity(a: set[str], b: set[str]) -> tuple[float, float]:
    """Exact Jaccard and containment (overlap over the smaller set) of two shingle sets."""
    if not a or not b:
        return 0.0, 0.0
    overlap = len(a & b)
    return overlap / (len(a) + len(b) - overlap), overlap / min(len(a), len(b))


def cluster_key(kecamatan: str | None) -> str:
    """The partition key of the clustering stage: copies must agree on the place anyway."""
    return kecamatan or UNKNOWN_PLACE


def raised(priority: str | None) -> str | None:
    if priority not in PRIORITIES:
        return priority
    return PRIORITIES[max(0, PRIORITIES.index(priority) - 1)]


class LshIndex:
    """MinHash-LSH over shingle sets, in memory, with expiry by event time.

    Each band key is a hash of (bucket, band number, band values); the bucket is category and
    place, so posts that disagree on them never collide. Values are fingerprint ids (a member's
    complaint id). Each fingerprint keeps its MinHash (Rust-side, ~500 bytes): candidates are
    ranked by the estimated Jaccard it gives in a fraction of a microsecond, and only those
    close enough are confirmed exactly on their text.
    """

    def __init__(self) -> None:
        self._buckets: dict[int, Any] = {}
        self._members: dict[str, tuple[str, str, float, RMinHash]] = {}
        """id -> (bucket, fingerprint text, event time, MinHash)."""
        self._order: deque[tuple[float, str]] = deque()

    def __len__(self) -> int:
        return len(self._members)

    @staticmethod
    def minhash(shingle_set: set[str]) -> RMinHash:
        minhash = RMinHash(num_perm=NUM_PERM, seed=MINHASH_SEED)
        minhash.update(list(shingle_set))
        return minhash

    @staticmethod
    def band_keys(bucket: str, minhash: RMinHash) -> list[int]:
        rows = iter(minhash.digest())
        return [hash((bucket, band, values)) for band, values in enumerate(zip(*(rows,) * ROWS))]

    def candidates(self, bucket: str, minhash: RMinHash, least: float,
                   keys: list[int] | None = None) -> list[tuple[float, str]]:
        """Fingerprints sharing a band with `minhash` whose estimated Jaccard is at least
        `least`, best first."""
        seen: set[str] = set()
        buckets = self._buckets
        for key in keys or self.band_keys(bucket, minhash):
            hit = buckets.get(key)
            if hit is None:
                continue
            if isinstance(hit, str):
                seen.add(hit)
            else:
                seen.update(hit)
        members = self._members
        found = [(minhash.jaccard(members[member][3]), member) for member in seen]
        return sorted((pair for pair in found if pair[0] >= least), reverse=True)

    def text_of(self, member: str) -> str | None:
        entry = self._members.get(member)
        return entry[1] if entry else None

    def add(self, member: str, bucket: str, text: str, at: float, minhash: RMinHash | None = None,
            keys: list[int] | None = None) -> None:
        if member in self._members:
            return
        minhash = minhash or self.minhash(shingles(text))
        buckets = self._buckets
        for key in keys or self.band_keys(bucket, minhash):
            hit = buckets.get(key)
            if hit is None:
                buckets[key] = member
            elif isinstance(hit, str):
                buckets[key] = [hit, member]
            else:
                hit.append(member)
        self._members[member] = (bucket, text, at, minhash)
        self._order.append((at, member))

    def remove(self, member: str) -> None:
        entry = self._members.pop(member, None)
        if entry is None:
            return
        bucket, _, _, minhash = entry
        buckets = self._buckets
        for key in self.band_keys(bucket, minhash):
            hit = buckets.get(key)
            if hit == member:
                del buckets[key]
            elif isinstance(hit, list) and member in hit:
                hit.remove(member)
                if len(hit) == 1:
                    buckets[key] = hit[0]

    def expire(self, before: float) -> int:
        """Forget fingerprints older than `before` (roughly in arrival order, which is close to
        event-time order; the window check on candidates is exact)."""
        expired = 0
        while self._order and self._order[0][0] < before:
            _, member = self._order.popleft()
            if member in self._members:
                self.remove(member)
                expired += 1
        return expired


@dataclass(slots=True)
class ClusterResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Cluster-table entries to write, by complaint id (the caller applies them)."""


def route(result: TriageResult) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Split a triage result: records with no complaint go straight to `posts.triaged`; records
    and events of complaints go to the clustering stage, one envelope per cluster key."""
    direct: list[dict[str, Any]] = []
    envelopes: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}

    def envelope(key: str) -> dict[str, Any]:
        return envelopes.setdefault(key, {"records": [], "events": [], "fingerprints": {}})

    for event in result.complaint_events:
        key = keys.setdefault(event["complaint_id"], cluster_key(event.get("kecamatan")))
        envelope(key)["events"].append(event)
        if event["type"] == "opened" and event["post"]:
            text = result.fingerprints.get(event["post"]["key"])
            if text is not None:
                envelope(key)["fingerprints"][event["post"]["key"]] = text
    for record in (result.record, *result.late_records):
        complaint_id = record.get("complaint_id")
        if not complaint_id:
            direct.append(record)
            continue
        envelope(keys.get(complaint_id) or cluster_key(record.get("kecamatan")))["records"].append(record)
    return direct, envelopes


class Clusterer:
    """The clustering stage's logic over the cluster table (``entries``, keyed by complaint id):

    - a survivor: the complaint snapshot, its members' mention counts and platforms
      (``members``: complaint id -> [mentions, platforms]), ``resolved``, ``raised``;
    - an alias: ``{"alias_of": survivor id, ...}`` for a complaint merged into another.

    Both keep the fingerprint text and event time so the index can be rebuilt.
    """

    def __init__(self, policy: ClusterPolicy | None = None, tz: Any = None) -> None:
        self.policy = policy or ClusterPolicy()
        self.tz = tz
        self.index = LshIndex()
        self.watermark = 0.0

    def rebuild(self, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
        self.index = LshIndex()
        rows = sorted(((entry.get("at", 0.0), complaint_id, entry) for complaint_id, entry in entries
                       if entry and entry.get("text") is not None), key=lambda row: row[0])
        if rows:
            self.watermark = max(self.watermark, rows[-1][0])
        cutoff = self.watermark - self.policy.window_seconds
        for at, complaint_id, entry in rows:
            if at >= cutoff:
                self.index.add(complaint_id, entry["bucket"], entry["text"], at)
        return len(self.index)

    def process(self, envelope: Mapping[str, Any], entries: Mapping[str, Mapping[str, Any]]) -> ClusterResult:
        result = ClusterResult()
        view = _Overlay(entries, result.updates)
        merged: dict[str, tuple[str, list[str]]] = {}
        """Post key of an opening post merged here -> (survivor id, reasons)."""
        for event in envelope.get("events", ()):
            if event["type"] == "opened":
                self._opened(event, envelope.get("fingerprints", {}), view, result, merged)
            else:
                self._follow_up(event, view, result)
        for record in envelope.get("records", ()):
            result.records.append(self._record(record, view, merged))
        return result

    def resolve(self, complaint_id: str, entries: Mapping[str, Mapping[str, Any]]) -> str:
        entry = entries.get(complaint_id)
        return entry["alias_of"] if entry and entry.get("alias_of") else complaint_id

    def _opened(self, event: dict[str, Any], fingerprints: Mapping[str, str], view: _Overlay,
                result: ClusterResult, merged: dict[str, tuple[str, list[str]]]) -> None:
        complaint_id = event["complaint_id"]
        post = event["post"] or {}
        at = parse_time(event["occurred_at"])
        self.watermark = max(self.watermark, at)
        self.index.expire(self.watermark - self.policy.window_seconds)
        if view.get(complaint_id) is not None:  # redelivered envelope: decided before
            existing = view[complaint_id]
            if existing.get("alias_of"):
                survivor = view[existing["alias_of"]]
                result.events.append(self._attached(survivor, event, []))
                merged[post.get("key", "")] = (existing["alias_of"], [])
            else:
                result.events.append(event)
            return
        text = fingerprint_text(fingerprints.get(post.get("key", ""), ""), event.get("kecamatan"))
        bucket = f"{event.get('category')}|{cluster_key(event.get('kecamatan'))}"
        mine = shingles(text)
        minhash = LshIndex.minhash(mine) if text else None
        keys = LshIndex.band_keys(bucket, minhash) if minhash is not None else []
        match = self._match(event, mine, minhash, keys, bucket, at, view) if minhash is not None else None
        own = {"at": at, "text": text or None, "bucket": bucket}
        member = [event.get("mentions") or 1, list(event.get("platforms") or [])]
        if match is not None and not view[match[0]].get("resolved"):
            survivor_id, reasons = match
            survivor = dict(view[survivor_id])
            survivor["members"] = {**survivor["members"], complaint_id: member}
            view[survivor_id] = survivor
            view[complaint_id] = {**own, "alias_of": survivor_id}
            merged[post.get("key", "")] = (survivor_id, reasons)
            result.events.append(self._attached(survivor, event, reasons))
            self._maybe_raise(survivor_id, view, event, result)
        else:
            opened = dict(event)
            if match is not None:
                opened["reasons"] = [*event["reasons"], f"dedupe:recurrence_of[{match[0]}]"]
            view[complaint_id] = {
                **own, **{f: event.get(f) for f in _SNAPSHOT}, "opened_at": at,
                "members": {complaint_id: member}, "resolved": False, "raised": None,
            }
            result.events.append(opened)
        if minhash is not None:
            self.index.add(complaint_id, bucket, text, at, minhash, keys)

    def _match(self, event: Mapping[str, Any], mine: set[str], minhash: RMinHash, keys: list[int], bucket: str,
               at: float, view: _Overlay) -> tuple[str, list[str]] | None:
        policy = self.policy
        for _, candidate in self.index.candidates(bucket, minhash, ESTIMATE_FLOOR, keys):
            entry = view.get(candidate)
            if entry is None:
                continue
            if abs(at - entry.get("at", at)) > policy.window_seconds:
                continue
            survivor_id = entry.get("alias_of") or candidate
            survivor = view.get(survivor_id)
            if survivor is None:
                continue
            desa = event.get("desa")
            if desa and survivor.get("desa") and survivor["desa"] != desa:
                continue
            theirs = shingles(self.index.text_of(candidate) or entry.get("text") or "")
            jaccard, containment = similarity(mine, theirs)
            if event.get("kecamatan"):
                least = policy.jaccard
                contained = (containment >= policy.containment
                             and min(len(mine), len(theirs)) >= MIN_CONTAINMENT_SHINGLES)
            else:
                least, contained = policy.unknown_place_jaccard, False
            if jaccard >= least or contained:
                first = (survivor.get("first_post") or {}).get("key", survivor_id)
                how = f"jaccard={jaccard:.2f}" if jaccard >= least else f"containment={containment:.2f}"
                return survivor_id, [f"dedupe:near_duplicate[{first}]", how]
        return None

    def _attached(self, survivor: Mapping[str, Any], cause: Mapping[str, Any], reasons: list[str]) -> dict[str, Any]:
        post = cause.get("post")
        return complaint_event(
            "duplicate_attached", _summary(survivor), cause=(post or {}).get("key") or cause["event_id"],
            occurred_at=parse_time(cause["occurred_at"]), tz=self.tz, post=post, reasons=reasons)

    def _follow_up(self, event: dict[str, Any], view: _Overlay, result: ClusterResult) -> None:
        complaint_id = event["complaint_id"]
        survivor_id = self.resolve(complaint_id, view)
        survivor = view.get(survivor_id)
        if survivor is None or "members" not in survivor:
            result.events.append(event)  # opened before this stage existed, or expired: as is
            return
        survivor = dict(survivor)
        if event["type"] == "duplicate_attached" and event.get("mentions") is not None:
            old = survivor["members"].get(complaint_id, [0, []])
            platforms = list(dict.fromkeys([*old[1], *(event.get("platforms") or [])]))
            survivor["members"] = {**survivor["members"], complaint_id: [max(old[0], event["mentions"]), platforms]}
        if event["type"] == "resolved":
            survivor["resolved"] = True
        view[survivor_id] = survivor
        rewritten = {**event, **_summary(survivor)}
        if survivor_id != complaint_id:
            rewritten["event_id"] = stable_id("evt", survivor_id, event["event_id"])
        result.events.append(rewritten)
        if event["type"] == "duplicate_attached":
            self._maybe_raise(survivor_id, view, event, result)

    def _maybe_raise(self, survivor_id: str, view: _Overlay, cause: Mapping[str, Any], result: ClusterResult) -> None:
        survivor = view[survivor_id]
        if survivor.get("raised") or survivor.get("resolved"):
            return
        summary = _summary(survivor)
        policy = self.policy
        reasons = []
        if summary["mentions"] >= policy.viral_mentions:
            reasons.append(f"viral:mentions[{summary['mentions']}>={policy.viral_mentions}]")
        if len(summary["platforms"]) >= policy.viral_platforms:
            reasons.append(f"viral:platforms[{len(summary['platforms'])}>={policy.viral_platforms}]")
        higher = raised(survivor.get("priority"))
        if not reasons or higher == survivor.get("priority"):
            return
        survivor = {**survivor, "priority": higher, "raised": higher}
        view[survivor_id] = survivor
        event = complaint_event("reprioritized", _summary(survivor), cause=higher or "", tz=self.tz,
                                occurred_at=parse_time(cause["occurred_at"]), post=cause.get("post"),
                                reasons=[*reasons, f"priority[{summary['priority']}->{higher}]"])
        result.events.append(event)

    def _record(self, record: dict[str, Any], view: _Overlay,
                merged: Mapping[str, tuple[str, list[str]]]) -> dict[str, Any]:
        post_key = record["post_key"]
        if record["outcome"] == "opened" and post_key in merged:
            survivor_id, reasons = merged[post_key]
            survivor = view[survivor_id]
            return {**record, **{f: survivor.get(f) for f in _SNAPSHOT}, "complaint_id": survivor_id,
                    "event_id": stable_id("tri", post_key, "mention"), "outcome": "mention",
                    "duplicate_of": (survivor.get("first_post") or {}).get("key"),
                    "duplicate_via": "near_duplicate", "reasons": [*record["reasons"], *reasons]}
        complaint_id = record["complaint_id"]
        survivor_id = self.resolve(complaint_id, view)
        if survivor_id == complaint_id:
            return record
        survivor = view.get(survivor_id) or {}
        rewritten = {**record, "complaint_id": survivor_id,
                     "reasons": [*record["reasons"], f"dedupe:alias_of[{survivor_id}]"]}
        if record.get("kind") == survivor.get("kind"):
            rewritten.update({f: survivor.get(f) for f in ("category", "priority", "opd", "kecamatan", "desa")})
        return rewritten


_SNAPSHOT = ("complaint_id", "kind", "category", "priority", "opd", "kecamatan", "desa", "first_post")


def _summary(survivor: Mapping[str, Any]) -> dict[str, Any]:
    mentions = 0
    platforms: list[str] = []
    for count, member_platforms in survivor.get("members", {}).values():
        mentions += int(count)
        platforms.extend(p for p in member_platforms if p not in platforms)
    return {**{f: survivor.get(f) for f in _SNAPSHOT}, "mentions": mentions, "platforms": platforms}


class _Overlay(Mapping[str, Mapping[str, Any]]):
    """The table as this envelope sees it: its own pending updates over the stored entries."""

    def __init__(self, base: Mapping[str, Mapping[str, Any]], updates: MutableMapping[str, dict[str, Any]]) -> None:
        self.base = base
        self.updates = updates

    def __getitem__(self, key: str) -> Mapping[str, Any]:
        if key in self.updates:
            return self.updates[key]
        value = self.base.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        self.updates[key] = value

    def __iter__(self):
        return iter(self.updates)

    def __len__(self) -> int:
        return len(self.updates)


@dataclass(slots=True)
class PairScores:
    """Pair precision and recall of a clustering against labelled groups."""

    posts: int = 0
    groups: int = 0
    true_pairs: int = 0
    predicted_pairs: int = 0
    correct_pairs: int = 0
    hard_pairs: dict[str, int] = field(default_factory=dict)
    hard_merged: dict[str, int] = field(default_factory=dict)
    hard_group_pairs: dict[str, int] = field(default_factory=dict)
    hard_same_category: int = 0
    """Post pairs of same_place_other_problem whose two problems share a category (the hardest)."""
    hard_merged_same_category: int = 0
    """Hard negatives counted once per pair of groups (hard_pairs counts pairs of posts)."""
    unclustered: int = 0
    """Labelled posts that got no complaint at all (triage ignored them)."""

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def score_pairs(labels: list[Mapping[str, Any]], complaint_ids: list[str | None]) -> PairScores:
    """`labels[i]` is post i's `expect` (group, problem, category, kecamatan); `complaint_ids[i]`
    the complaint it ended in. Hard negatives: two groups with the same problem at different
    kecamatan, and two groups with different problems at the same kecamatan (reported apart when
    they also share the category)."""
    from itertools import combinations

    scores = PairScores(posts=len(labels), groups=len({label["group"] for label in labels}))
    scores.hard_pairs = {"same_category_other_place": 0, "same_place_other_problem": 0}
    scores.hard_merged = dict.fromkeys(scores.hard_pairs, 0)
    scores.unclustered = sum(1 for c in complaint_ids if not c)
    hard_groups: dict[str, set[frozenset[str]]] = {kind: set() for kind in scores.hard_pairs}
    for i, j in combinations(range(len(labels)), 2):
        a, b = labels[i], labels[j]
        same_group = a["group"] == b["group"]
        merged = complaint_ids[i] is not None and complaint_ids[i] == complaint_ids[j]
        scores.true_pairs += same_group
        scores.predicted_pairs += merged
        scores.correct_pairs += same_group and merged
        if same_group:
            continue
        if a.get("problem") == b.get("problem") and a.get("kecamatan") != b.get("kecamatan"):
            kind = "same_category_other_place"
        elif a.get("kecamatan") == b.get("kecamatan") and a.get("problem") != b.get("problem"):
            kind = "same_place_other_problem"
            if a.get("category") == b.get("category"):
                scores.hard_same_category += 1
                scores.hard_merged_same_category += merged
        else:
            continue
        scores.hard_pairs[kind] += 1
        scores.hard_merged[kind] += merged
        hard_groups[kind].add(frozenset((a["group"], b["group"])))
    scores.hard_group_pairs = {kind: len(pairs) for kind, pairs in hard_groups.items()}
    return scores
