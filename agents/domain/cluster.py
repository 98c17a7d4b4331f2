"""Near-duplicate clustering: one complaint, however many times and places it is posted.

Triage (exact dedupe, classify, assign) opens a complaint per post that is not a redelivery,
repost or reply. This stage, keyed by *cluster key* (the kecamatan, or ``unknown``), decides
whether such a new complaint is a copy of one opened earlier in the window:

- fingerprint: MinHash (rensa, agents/domain/fingerprint.py) over character shingles of the
  text as copies spell it (slang written out, case folded, mentions and hashtags dropped) without
  filler words (greetings, "mohon", "terima kasih", ...), indexed by LSH bands per cluster key;
  the category does not separate candidates (a copy may be classified otherwise);
- confirmation: the exact Jaccard similarity of the shingle sets (or, for truncated copies, the
  containment of the shorter in the longer); vetoed when the desa disagrees or the texts name
  another place or number at the same position (:func:`conflict`);
- a post triage ignored as praise or lainnya that copies a complaint joins it, and a complaint
  that copies such a post claims it (:meth:`Clusterer._ignored`);
- a copy becomes an *alias* of the surviving complaint: its events (`opened`, mentions by its
  reposts and replies, official replies to it) are rewritten to the survivor, so the desk and the
  SLA stage see one complaint, one owner and one clock.

Everything here is pure: the stream (agents/cluster.py) and `tanggap triage` run the same
:class:`Clusterer` over a faust table or a dict. The LSH index is derived, in-memory state,
rebuilt from the table after a restart or rebalance (:meth:`Clusterer.rebuild`).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from math import inf
from typing import Any, NamedTuple

from agents.domain.classify import PRIORITIES
from agents.domain.dedupe import complaint_id_for
from agents.domain.fingerprint import Fingerprint, WindowIndex, fingerprint
from agents.domain.state import SNAPSHOT_FIELDS, ClusterEntry, IgnoredPost, Member, SentContent, total
from agents.domain.triage import TriageResult, _recent, complaint_event
from schemas.events import InvalidInput, parse_time, stable_id

BANDS = 30
ROWS = 3
NUM_PERM = BANDS * ROWS
"""15 bands of 3 rows: a pair at Jaccard 0.5 shares a band with probability 0.87, one at 0.16
with 0.06; a true pair the bands miss is lost, so the bands favour recall and the exact check
(resemblance or containment) gives the precision."""
MINHASH_SEED = 4
"""Fixed: fingerprints of one release must agree across processes and restarts. None is stored
(the index is rebuilt from the table's texts), so a release may change the MinHash."""
UNKNOWN_PLACE = "unknown"
SOURCE_CHARS = 5000
"""Of a post's text, what triage sends to this stage (posts may be 20,000 characters long)."""
FINGERPRINT_CHARS = 3000
"""A complaint is recognizable from its beginning, and the cost of a fingerprint must stay
bounded."""
ESTIMATE_FLOOR = 0.25
"""Candidates whose MinHash-estimated Jaccard is below this are not confirmed (a truncated copy
at containment 0.8 of an original 1.3 times its length has a Jaccard of about 0.6; the estimate's
standard error with 45 permutations is about 0.075)."""
MIN_CONTAINMENT_SHINGLES = 24
"""A truncated copy counts by containment only when the shorter text has at least this many
shingles: "lampu mati" is contained in every street-light complaint."""
TEXT_CACHE = 1024
"""Texts whose fingerprint text and fingerprint are remembered (the latest used): a copy pasted
verbatim costs neither again. A fingerprint of FINGERPRINT_CHARS characters is ~25 kB."""

FILLER_WORDS = frozenset("""
min mimin admin minn mohon tolong please pls plis segera pak bu bapak ibu bupati wabup kak kakak gan
lur dulur sedulur bos om mas mbak sih dong deh ya yaa yah nih tuh kok lho loh woi woy halo hai hallo hi
selamat pagi siang sore malam terima kasih terimakasih matur nuwun suwun thanks thx trims
assalamualaikum assalamu alaikum wr wb warahmatullahi wabarakatuh wassalam wassalamualaikum salam
permisi lapor izin ijin maaf ditindaklanjuti tindaklanjuti tindak lanjut dibantu bantu atas perhatiannya perhatian
yth hormat viral pemkab pemda
""".split())
"""Words that change between copies of one complaint (openers, closings, greetings) but say
nothing about it."""

STOP_WORDS = frozenset("""
di ke dari yang dan atau ini itu ada tidak gak nggak ga tak sudah udah belum bisa akan sedang masih lagi juga
sama untuk dengan karena jadi kalau kalo kok saja aja sangat banget bgt sekali mau harus pada oleh dalam buat
kita kami saya aku kamu dia mereka warga kan pun para maupun serta bagi agar supaya tersebut hal sehingga namun
tetapi tapi bahwa antara seperti hingga sampai telah bahkan apakah apa
""".split())
"""The commonest function words: every post has them, so their shingles would make unrelated
posts collide in the LSH bands (and they carry little of what a complaint is about)."""

SLANG = {
    "yg": "yang", "gak": "tidak", "ga": "tidak", "gk": "tidak", "nggak": "tidak", "ngga": "tidak", "tdk": "tidak",
    "udah": "sudah", "udh": "sudah", "sdh": "sudah", "jln": "jalan", "jl": "jalan", "dgn": "dengan",
    "dg": "dengan", "tlg": "tolong", "tlong": "tolong", "mhn": "mohon", "utk": "untuk", "untk": "untuk",
    "krn": "karena", "karna": "karena", "krna": "karena", "blm": "belum", "blum": "belum", "aja": "saja",
    "bpk": "bapak", "makasih": "terima kasih", "makasi": "terima kasih", "mksh": "terima kasih",
    "bgt": "banget", "byk": "banyak", "bnyk": "banyak", "sy": "saya", "sya": "saya", "kmi": "kami",
    "dr": "dari", "dri": "dari", "pd": "pada", "tp": "tapi", "tpi": "tapi", "sm": "sama", "lg": "lagi",
    "jg": "juga", "bs": "bisa", "bsa": "bisa", "gmn": "gimana", "knp": "kenapa", "org": "orang",
    "rmh": "rumah", "skrg": "sekarang", "skg": "sekarang", "hrs": "harus", "msh": "masih", "dpn": "depan",
    "blkg": "belakang", "ds": "desa", "kel": "kelurahan", "kec": "kecamatan", "kab": "kabupaten",
    "gg": "gang", "sdgkan": "sedangkan", "tsb": "tersebut", "spt": "seperti", "dlm": "dalam", "trs": "terus",
    "ortu": "orang tua", "gede": "besar", "sampe": "sampai", "ampe": "sampai", "gimana": "bagaimana", "pemdes": "pemerintah desa", "bln": "bulan", "thn": "tahun", "hr": "hari",
}
"""Slang and abbreviations of copies, written out (applied to the fingerprint text, whatever the
deployment's lexicon does for classification)."""

@dataclass(frozen=True)
class ClusterPolicy:
    window_seconds: float = 72 * 3600.0
    jaccard: float = 0.5
    containment: float = 0.8
    viral_mentions: int = 5
    viral_platforms: int = 2
    max_members: int = 200
    """Members of a survivor kept one by one; copies beyond them are folded into one aggregate
    member (FOLDED), so a flood of copies cannot grow one table entry without bound while the
    mention count and the platforms stay right."""


FOLDED = "folded"
"""The members key of the aggregate of copies beyond ClusterPolicy.max_members (complaint ids
start with "cmp-", so it cannot collide)."""
EXPIRY_BATCH = 32
"""Expired fingerprints whose table entries one message settles at most: bounds a message's
latency; in a steady state about one fingerprint expires per fingerprint added."""


PLACE_MARKERS = frozenset("""
kecamatan desa kelurahan dukuh dusun grumbul kampung perumahan perum komplek jalan gang blok rt rw nomor no
daerah wilayah
""".split())
"""Words after which a text names a place (desa Kembangan, jalan Sekar Tanjung, RT 03): kept in
the fingerprint text, so that :func:`conflict` sees what a replaced name follows."""
PLACE_NAMED = PLACE_MARKERS - {"jalan", "gang", "nomor", "no", "blok"}
"""Markers always followed by a place's name ("jalan" is also the road itself)."""


_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@[\w.]+")
_HASHTAG = re.compile(r"(?<!\w)#\w+")
_ELONGATION = re.compile(r"([a-z])\1\1+")
"""A letter three times or more ("parahhh"); written so rather than \1{2,}, which the regex engine
tries more slowly at every letter."""
_WORD = re.compile(r"(?:[a-z]+|[0-9]+)(?:-(?:[a-z]+|[0-9]+))*")
"""A word: a run of letters or of digits ("rt03" is two words, "rt" and "03"), with the runs that
hyphens join to it ("kupu-kupu", "03-a"). Splitting digits from letters here, in the one pass
that finds the words, costs a third of inserting spaces at those boundaries first."""


_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")
"""Where a text splits into parts whose words are worked out one by one (:func:`copy_words`):
every step keeps ASCII whitespace as it is, composes nothing across it, and no link, mention,
hashtag or word spans it. Other whitespace (U+2028, ...) is dropped with the accents and may join
two words, so it stays inside a part."""
PART_CACHE = 32768
"""Parts (between ASCII whitespace, mostly single words) whose words are remembered: copies of a
complaint, and complaints of one place, share most of their words."""


def copy_words(text: str) -> list[str]:
    """A text's words as copies of it still spell them: NFKC, case folded, accents dropped, links
    mentions and hashtags removed (copies add them: "#lapor #viral"), elongations squashed ("parahhh"), digits split from
    letters ("rt03"), slang and abbreviations written out (SLANG). Nothing is stemmed, so a word
    with two letters swapped stays one edit away from the original.

    Worked out per part between ASCII whitespace (:data:`_ASCII_SPACE`), the latest PART_CACHE
    parts remembered: the same words as the whole text gives (:func:`_copy_words_of`)."""
    words: list[str] = []
    for part in _ASCII_SPACE.split(text):
        if part:
            words.extend(_part_words(part))
    return words


@lru_cache(maxsize=PART_CACHE)
def _part_words(part: str) -> tuple[str, ...]:
    return tuple(_copy_words_of(part))


def _copy_words_of(text: str) -> list[str]:
    """:func:`copy_words` of a text in one pass."""
    folded = unicodedata.normalize("NFKC", text)
    if "://" in folded or "ww" in folded.lower():
        folded = _URL.sub(" ", folded)
    folded = folded.casefold()
    if not folded.isascii():
        # Accents go ("désa" is "desa"), and so do emoji and other letters: words are ASCII.
        folded = unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode("ascii")
    if "@" in folded:
        folded = _MENTION.sub(" ", folded)
    if "#" in folded:
        folded = _HASHTAG.sub(" ", folded)
    folded = _ELONGATION.sub(r"\1", folded)
    words: list[str] = []
    for word in _WORD.findall(folded):
        written = SLANG.get(word)
        if written is None:
            words.append(word)
        else:
            words.extend(written.split())
    return words


@lru_cache(maxsize=TEXT_CACHE)
def fingerprint_text(text: str, kecamatan: str | None = None) -> str:
    """The words that tell copies of a complaint apart from other complaints (:func:`copy_words`):
    without fillers and function words, and without the kecamatan's name, which the bucket key
    already carries (every complaint of the bucket names it, so its shingles would make all of
    them look alike). Remembered for the latest TEXT_CACHE texts: copies are often verbatim."""
    dropped = _dropped_words(kecamatan)
    return " ".join([word for word in copy_words(text) if word not in dropped])[:FINGERPRINT_CHARS]


@lru_cache(maxsize=TEXT_CACHE)
def _fingerprint(text: str) -> Fingerprint:
    return fingerprint(text, NUM_PERM, MINHASH_SEED)


@lru_cache(maxsize=1024)
def _dropped_words(kecamatan: str | None) -> frozenset[str]:
    return (FILLER_WORDS | STOP_WORDS | frozenset(copy_words(kecamatan or ""))) - PLACE_MARKERS


def conflict(text: str, other: str) -> str | None:
    """Where two fingerprint texts that are otherwise alike name different places: a name after
    a place marker (desa, kelurahan, dusun, jalan, gang, RT/RW, nomor, ...) or a number replaced
    by another at the same position, that is not the same word misspelled (:func:`_same_word`).
    Returns the first such pair ("kembangan/karanganyar") or None. This holds for places the
    gazetteer does not know. Copies add openers and closings, lose their end to a character
    limit, misspell words and write slang; they do not put another name after "desa"."""
    if text == other:
        return None
    words, others = text.split(), other.split()
    if not (_names_a_place(words) and _names_a_place(others)):
        return None  # nothing to replace: no marker and no number in one of them
    matcher = SequenceMatcher(None, words, others, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or i2 - i1 > 2 or j2 - j1 > 2:
            continue
        after_marker = i1 > 0 and words[i1 - 1] in PLACE_MARKERS
        at_end = i2 == len(words) or j2 == len(others)
        mine, theirs = words[i1:i2], others[j1:j2]
        if op != "replace":
            # A name put after a marker ("desa reja" / "desa gunung reja"); not at an end, where
            # copies lose words to a character limit.
            if after_marker and not at_end:
                return f"{' '.join(mine)}/{' '.join(theirs)}"
            continue
        if len(mine) == len(theirs):
            pairs = list(zip(mine, theirs))
        else:
            pairs = [("".join(mine), "".join(theirs))]
        for a, b in pairs:
            number = a.isdigit() or b.isdigit()
            if (after_marker or number) and not _same_word(a, b, at_end):
                return f"{a}/{b}"
    return None


def _names_a_place(words: list[str]) -> bool:
    return not PLACE_MARKERS.isdisjoint(words) or any(word.isdigit() for word in words)


def _same_word(a: str, b: str, at_end: bool = False) -> bool:
    a, b = a.replace("-", ""), b.replace("-", "")
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if at_end and short and long.startswith(short):
        return True  # the end of a text cut by a character limit
    if long in ("di" + short, "ke" + short):
        return True  # "diwilayah", "di wilayah"
    if a.isdigit() or b.isdigit():
        return a.isdigit() and b.isdigit() and int(a) == int(b)
    if len(short) >= 5 and len(long) - len(short) <= 1 and _one_edit(short, long):
        return True  # a typo: a swapped, missing, extra or wrong letter
    return len(short) >= 5 and sorted(a) == sorted(b)  # letters swapped in both


def _one_edit(a: str, b: str) -> bool:
    """Whether b is a with one letter changed, inserted or deleted, or two adjacent letters swapped."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    if len(b) != len(a) + 1:
        return False
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def cluster_key(kecamatan: str | None) -> str:
    """The partition key of the clustering stage: copies must agree on the place anyway."""
    return kecamatan or UNKNOWN_PLACE


def index_bucket(key: str) -> str:
    """The index bucket of a cluster key. Buckets once also carried the category ("jalan|Wedi");
    a copy's category no longer keeps it from its original, and those entries are read as their
    key's bucket."""
    return f"|{key}"


def raised(priority: str | None) -> str | None:
    if priority not in PRIORITIES:
        return priority
    return PRIORITIES[max(0, PRIORITIES.index(priority) - 1)]


class Settled(NamedTuple):
    """What an indexed complaint's table entry says for good, kept with its fingerprint so that
    a candidate in another desa costs no table read (:meth:`Clusterer._match`): the survivor it
    belongs to (itself, or the one it was merged into: an alias never changes survivor) and that
    survivor's desa (fixed when it opened). None for an ignored post no complaint claimed yet:
    a complaint may claim it later."""

    survivor: str
    desa: str | None


def _settled(survivor_id: str, survivor: ClusterEntry) -> Settled:
    desa = survivor.desa
    return Settled(survivor_id, sys.intern(desa) if desa else desa)  # desa names repeat: one copy each


class LshIndex:
    """MinHash-LSH over shingle sets, in memory, with expiry by event time, one window per
    cluster key (agents/domain/fingerprint.py: rensa's MinHash and LSH, exact confirmation on
    the shingle hashes kept per fingerprint).

    A window per cluster key, because each cluster key expires by its own event time
    (`Clusterer`, "stream time"): one key's messages are one partition's, in one order, while
    the partitions of a worker progress at rates that differ from one run to the next.

    The texts are not kept: the stage needs only the fingerprints, and the index is rebuilt from
    the table's texts after a restart (:meth:`Clusterer.rebuild`).
    """

    def __init__(self) -> None:
        self._windows: dict[str, WindowIndex] = {}
        """Cluster key -> its window."""

    def _window(self, key: str) -> WindowIndex:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = WindowIndex(NUM_PERM, BANDS)
        return window

    def _window_of(self, bucket: str) -> WindowIndex:
        return self._window(_key_of_bucket(bucket))

    def __len__(self) -> int:
        return sum(len(window) for window in self._windows.values())

    def __contains__(self, member: object) -> bool:
        return any(member in window for window in self._windows.values())

    def holds(self, key: str, member: str) -> bool:
        """Whether `member` is indexed under cluster key `key` (one table lookup, not one per key)."""
        window = self._windows.get(key)
        return window is not None and member in window

    @staticmethod
    def fingerprint(text: str) -> Fingerprint:
        """The MinHash and the distinct shingle hashes: what the index keeps of a text (read, never
        changed, so the latest TEXT_CACHE are remembered for verbatim copies)."""
        return _fingerprint(text)

    def candidates(self, bucket: str, fingerprint: Fingerprint, least: float) -> list[tuple[float, str]]:
        """Fingerprints sharing a band with `fingerprint` whose estimated Jaccard is at least
        `least`, best first (ties by id, so the order does not depend on the index's history)."""
        return [(estimate, member) for estimate, member, *_ in self._window_of(bucket).query(bucket, fingerprint, least)]

    def close(self, bucket: str, fingerprint: Fingerprint, jaccard: float, containment: float,
              containment_min: int) -> list[tuple[float, str, float, float, float]]:
        """Candidates (estimated Jaccard >= ESTIMATE_FLOOR) whose shingle sets are close enough,
        exactly: Jaccard >= `jaccard`, or containment >= `containment` with at least
        `containment_min` shingles in the smaller set; best estimate first (ties by id), as
        (estimate, id, event time, jaccard, containment)."""
        return list(self.ranked(bucket, fingerprint, jaccard, containment, containment_min))

    def ranked(self, bucket: str, fingerprint: Fingerprint, jaccard: float, containment: float,
               containment_min: int) -> Iterator[tuple[float, str, float, float, float]]:
        """:meth:`close`, one candidate at a time: the exact check costs only the candidates taken."""
        return self._window_of(bucket).ranked(bucket, fingerprint, ESTIMATE_FLOOR, jaccard, containment,
                                              containment_min)

    def at_of(self, member: str) -> float | None:
        for window in self._windows.values():
            at = window.at_of(member)
            if at is not None:
                return at
        return None

    def add(self, member: str, bucket: str, text: str, at: float, fingerprint: Fingerprint | None = None,
            settled: Settled | None = None) -> None:
        """Index `member`'s fingerprint (of `text`, unless given) with what its table entry says
        for good (:class:`Settled`; None: nothing, or not known); a member indexed already keeps
        its fingerprint and takes `settled`."""
        window = self._window_of(bucket)
        if fingerprint is None:
            if window.retag(member, settled):
                return
            fingerprint = self.fingerprint(text)
        window.add(member, bucket, at, fingerprint, settled)

    def settled(self, bucket: str, member: str) -> Settled | None:
        """What `member` was indexed with (:meth:`add`)."""
        return self._window_of(bucket).tag_of(member)

    def remove(self, member: str) -> None:
        for window in self._windows.values():
            if window.remove(member):
                return

    def expire(self, key: str, before: float) -> int:
        """Forget the cluster key's fingerprints older than `before` (roughly in arrival order,
        which is close to event-time order; the window check on candidates is exact)."""
        return len(self.expire_members(key, before))

    def expire_members(self, key: str, before: float) -> list[tuple[str, str]]:
        """:meth:`expire`, returning the (id, bucket) of every fingerprint it forgot."""
        window = self._windows.get(key)
        return window.expire(before) if window is not None else []


@dataclass(slots=True)
class ClusterResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    updates: dict[str, ClusterEntry | None] = field(default_factory=dict)
    """Cluster-table entries to write, by complaint id (the caller applies them); None deletes
    the entry (expired with the window, see docs/dedupe.md)."""

    def apply(self, entries: MutableMapping[str, Any]) -> None:
        """Write the updates into the cluster table (a faust table or a dict)."""
        for key, entry in self.updates.items():
            if entry is None:
                entries.pop(key, None)
            else:
                entries[key] = entry


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
                envelope(key)["fingerprints"][event["post"]["key"]] = text[:SOURCE_CHARS]
    for record in (result.record, *result.late_records):
        complaint_id = record.get("complaint_id")
        if not complaint_id:
            ignored = result.ignored_posts.get(record["post_key"]) if record["outcome"] == "ignored" else None
            text = result.fingerprints.get(record["post_key"])
            if ignored is None or not text:
                direct.append(record)
                continue
            # Ignored by kind, but maybe a copy of a complaint (Clusterer._ignored).
            place = envelope(cluster_key(ignored.get("kecamatan")))
            place["records"].append(record)
            place["fingerprints"][record["post_key"]] = text[:SOURCE_CHARS]
            place.setdefault("ignored", {})[record["post_key"]] = ignored
            continue
        envelope(keys.get(complaint_id) or cluster_key(record.get("kecamatan")))["records"].append(record)
    return direct, envelopes


class Clusterer:
    """The clustering stage's logic over the cluster table (``entries``: complaint id ->
    agents.domain.state.ClusterEntry, a survivor, an alias or an ignored post). A survivor's
    ``sent`` and ``alone_until`` are what its replayed events must repeat (:meth:`_as_first_sent`,
    :meth:`_follow_up`). Entries expire with the window (:meth:`_settle_expired`, docs/dedupe.md).
    """

    def __init__(self, policy: ClusterPolicy | None = None, tz: Any = None) -> None:
        self.policy = policy or ClusterPolicy()
        self.tz = tz
        self.index = LshIndex()
        self.watermarks: dict[str, float] = {}
        """Cluster key -> its stream time: the latest event time of the complaints opened under it.
        Per key, not one for the worker: a key's messages come in one order (one partition's),
        so a copy replayed after a crash meets the window it met the first time, whatever the
        worker's other partitions did meanwhile (a worker-wide watermark raised by another
        partition had expired the survivor a copy joined the first time)."""
        self.expiring: dict[str, deque[str]] = {}
        """Cluster key -> watched ids whose fingerprints left the window and whose table entries
        are not settled yet. Settled only while handling a message of that cluster key: its entries
        live in that key's partition, and a table write goes to the changelog of the message's
        partition."""
        self.watched: set[str] = set()
        """Ids whose entries the expiry rule may delete: the members (and the survivor) of a
        resolved survivor, and aliases folded into an aggregate member (their survivor may go
        before them). Any other entry is kept as it is when its fingerprint leaves the window, so
        expiry costs it no table read or write. Derived state like the index: rebuilt from the
        table, and an id watched by a message whose writes were discarded only costs a read."""

    def rebuild(self, entries: Iterable[tuple[str, ClusterEntry]]) -> int:
        """Rebuild the index, the stream times and the expiry queues from the table: after
        every assignment, of the partitions this worker owns. The stream times come from the
        table too, not from what this worker processed before: the table is what a replay
        continues from."""
        self.index = LshIndex()
        self.watermarks = watermarks = {}
        self.expiring = {}
        self.watched = watched = set()
        rows: list[tuple[float, str, str, str, str | None, str | None]] = []
        """(time, id, cluster key, bucket, text, survivor id): not the decoded entries, which are
        ten times larger."""
        desas: dict[str, str | None] = {}
        """Survivor -> its desa."""
        aliases: list[tuple[str, str, str]] = []
        present: set[str] = set()
        listed: set[str] = set()
        """Members listed one by one on their survivor (an alias not listed was folded)."""
        for complaint_id, entry in entries:
            if not entry:
                continue
            present.add(complaint_id)
            survivor_id = None
            if entry.alias_of:
                aliases.append((complaint_id, entry.alias_of, entry.bucket))
                survivor_id = entry.alias_of
            elif entry.ignored is not None:
                watched.add(complaint_id)  # an ignored post no complaint claimed: goes with the window
            elif entry.members is not None:
                survivor_id = complaint_id
                desas[complaint_id] = entry.desa
                listed.update(entry.members)
                if entry.resolved:
                    watched.add(complaint_id)
                    watched.update(member for member in entry.members if member != FOLDED)
            key = _key_of_bucket(entry.bucket)
            bucket = index_bucket(key)
            at = entry.at
            rows.append((at, complaint_id, key, bucket, entry.text, survivor_id))
            if at > watermarks.get(key, -inf):
                watermarks[key] = at
        rows.sort(key=lambda row: row[0])
        for complaint_id, survivor_id, _ in aliases:
            if survivor_id in present and complaint_id not in listed:
                watched.add(complaint_id)
        for at, complaint_id, key, bucket, text, survivor_id in rows:
            if text is not None and at >= self._cutoff(key):
                settled = None
                if survivor_id in desas:
                    desa = desas[survivor_id]
                    settled = Settled(survivor_id, sys.intern(desa) if desa else desa)
                self.index.add(complaint_id, bucket, text, at, settled=settled)
            elif complaint_id in watched:  # left the window while this worker did not own it
                self._queue_expired(complaint_id, bucket)
        for complaint_id, survivor_id, bucket in aliases:  # survivor deleted, alias left (folded)
            if survivor_id not in present:
                self._queue_expired(complaint_id, bucket)
        return len(self.index)

    def _cutoff(self, key: str) -> float:
        """Event times before this have left the cluster key's window."""
        return self.watermarks.get(key, -inf) - self.policy.window_seconds

    def _cutoff_of(self, entry: ClusterEntry) -> float:
        """The cutoff of the cluster key an entry lives under (its bucket's)."""
        return self._cutoff(_key_of_bucket(entry.bucket))

    def _queue_expired(self, complaint_id: str, bucket: str) -> None:
        key = _key_of_bucket(bucket)
        queue = self.expiring.get(key)
        if queue is None:
            queue = self.expiring[key] = deque()
        queue.append(complaint_id)

    def process(self, envelope: Mapping[str, Any], entries: Mapping[str, ClusterEntry]) -> ClusterResult:
        result = ClusterResult()
        view = _Overlay(entries, result.updates)
        if RESOLUTION_NOTICE in envelope:
            self._resolved_by_desk(envelope[RESOLUTION_NOTICE], view)
            return result
        merged: dict[str, tuple[str, list[str]]] = {}
        """Post key of an opening post merged here -> (survivor id, reasons)."""
        events = result.events
        for event in envelope.get("events", ()):
            first = len(events)
            if event["type"] == "opened":
                self._opened(event, envelope.get("fingerprints", {}), view, result, merged)
            else:
                self._follow_up(event, view, result)
            if len(events) > first:  # the event this one became (a reprioritized may follow it)
                events[first] = self._as_first_sent(events[first], event, view)
        ignored = envelope.get("ignored") or {}
        for record in envelope.get("records", ()):
            if record["outcome"] == "ignored" and record["post_key"] in ignored:
                result.records.append(self._ignored(record, ignored[record["post_key"]],
                                                    envelope.get("fingerprints", {}), view, result))
            else:
                result.records.append(self._record(record, view, merged))
        if self.expiring:
            self._settle_expired(_envelope_key(envelope), view)
        return result

    @staticmethod
    def _as_first_sent(emitted: dict[str, Any], cause: Mapping[str, Any], view: _Overlay) -> dict[str, Any]:
        """`emitted` as its first copy was (an event id never goes out with other content).

        A redelivered message is processed again against a table that may have moved on (copies
        merged since, mentions counted since, priority raised since), so content computed from
        the survivor would differ. The survivor remembers the content it computed for its latest
        RECENT_MENTIONS (agents.domain.triage) events: ``sent``, event id -> SentContent
        (mentions, platforms, priority, reasons). An event whose content equals its cause's is not
        remembered, so single, never-merged complaints stay as small as before. A replay against
        older state recomputes the same content and needs nothing."""
        survivor_id = emitted["complaint_id"]
        survivor = view.get(survivor_id)
        if survivor is None or survivor.members is None:
            return emitted
        sent = survivor.sent
        event_id = emitted["event_id"]
        if sent and event_id in sent:
            mentions, platforms, priority, reasons = sent[event_id]
            return {**emitted, "mentions": mentions, "platforms": platforms, "priority": priority,
                    "reasons": reasons}
        if event_id == cause["event_id"] and (emitted is cause or all(emitted.get(f) == cause.get(f)
                                                                   for f in _SENT_FIELDS)):
            return emitted
        updated = survivor.copy()
        updated.sent = _recent({**(sent or {}), event_id: SentContent(*[emitted.get(f) for f in _SENT_FIELDS])})
        view[survivor_id] = updated
        return emitted

    def _settle_expired(self, key: str | None, view: _Overlay) -> None:
        """Apply the expiry rule to watched entries whose fingerprints left the window
        (docs/dedupe.md): a resolved survivor whose newest member left the window goes with its
        aliases; a folded alias goes once its survivor is gone."""
        queue = self.expiring.get(key) if key is not None else None
        if not queue:
            return
        cutoff = self._cutoff(key)
        watched = self.watched
        for _ in range(min(EXPIRY_BATCH, len(queue))):
            complaint_id = queue.popleft()
            watched.discard(complaint_id)
            entry = view.get(complaint_id)
            if entry is None:
                continue
            if entry.ignored is not None and not entry.alias_of:
                view[complaint_id] = None  # an ignored post that no complaint claimed in the window
                continue
            survivor_id = entry.alias_of or complaint_id
            survivor = view.get(survivor_id)
            if survivor is None:
                view[complaint_id] = None
                continue
            if self._delete_if_done(survivor_id, survivor, cutoff, view):
                view[complaint_id] = None  # a folded alias is not listed on its survivor
        if not queue:
            del self.expiring[key]

    def _delete_if_done(self, survivor_id: str, survivor: ClusterEntry, cutoff: float, view: _Overlay) -> bool:
        """A resolved survivor whose newest member left the window: no copy can join it any more,
        so it and its aliases go. A resolved survivor still in the window is watched: the
        expiry of its newest member deletes it."""
        if not survivor.resolved:
            return False
        members = [member for member in survivor.members or () if member != FOLDED]
        if survivor.newest_at >= cutoff:
            self.watched.add(survivor_id)
            self.watched.update(members)
            return False
        for member in members:
            view[member] = None
        view[survivor_id] = None
        self.watched.difference_update(members)
        self.watched.discard(survivor_id)
        return True

    def _resolved_by_desk(self, notice: Any, view: _Overlay) -> None:
        """A desk response resolved a complaint by its id (agents/responses.py). Its `resolved`
        event went straight to `complaints`; this stage only learns of it, in every partition,
        since the response does not name the kecamatan. The partition that holds the complaint
        marks its survivor resolved, so a later copy opens a new complaint linked as a
        recurrence instead of joining a closed one. Emits nothing."""
        complaint_id = notice.get("complaint_id") if isinstance(notice, Mapping) else None
        if not isinstance(complaint_id, str):
            raise InvalidInput("schema_violation", "a resolution notice names no complaint_id")
        entry = view.get(complaint_id)
        if entry is None:
            return  # another partition's complaint, or one this stage never saw
        survivor_id = self.resolve(complaint_id, view)
        survivor = view.get(survivor_id)
        if survivor is None or survivor.members is None or survivor.resolved:
            return
        survivor = survivor.copy()
        survivor.resolved = True
        view[survivor_id] = survivor
        self._delete_if_done(survivor_id, survivor, self._cutoff_of(survivor), view)

    def resolve(self, complaint_id: str, entries: Mapping[str, ClusterEntry]) -> str:
        entry = entries.get(complaint_id)
        return entry.alias_of if entry is not None and entry.alias_of else complaint_id

    def _advance(self, key: str, at: float) -> float:
        """Move the cluster key's stream time to `at` and forget the fingerprints that left its
        window; returns the cutoff."""
        if at > self.watermarks.get(key, -inf):
            self.watermarks[key] = at
        watched = self.watched
        cutoff = self._cutoff(key)
        for expired, expired_bucket in self.index.expire_members(key, cutoff):
            if expired in watched:
                self._queue_expired(expired, expired_bucket)
        return cutoff

    def _opened(self, event: dict[str, Any], fingerprints: Mapping[str, str], view: _Overlay,
                result: ClusterResult, merged: dict[str, tuple[str, list[str]]]) -> None:
        complaint_id = event["complaint_id"]
        post = event["post"] or {}
        at = parse_time(event["occurred_at"])
        key = cluster_key(event.get("kecamatan"))
        cutoff = self._advance(key, at)
        text = fingerprint_text(fingerprints.get(post.get("key", ""), ""), event.get("kecamatan"))
        if self._maybe_decided(key, complaint_id, text, at, cutoff) and view.get(complaint_id) is not None:
            # A redelivered envelope: decided before.
            existing = view[complaint_id]
            if existing.alias_of:
                survivor = view[existing.alias_of]
                result.events.append(self._attached(survivor, event, []))
                merged[post.get("key", "")] = (existing.alias_of, [])
            else:
                result.events.append(event)
                for claimed in existing.claimed or ():
                    self._claim_sent(complaint_id, claimed, view, result)
            return
        bucket = index_bucket(key)
        fingerprint = LshIndex.fingerprint(text) if text else None
        unclaimed: list[tuple[str, list[str]]] = []
        match = (self._match(event, text, fingerprint, bucket, at, view, unclaimed)
                 if fingerprint is not None else None)
        own = ClusterEntry(at=at, text=text or None, bucket=bucket)
        member = Member(event.get("mentions") or 1, list(event.get("platforms") or []))
        if match is not None and not view[match[0]].resolved:
            survivor_id, reasons = match
            survivor = self._join(survivor_id, complaint_id, member, at, view)
            own.alias_of = survivor_id
            view[complaint_id] = own
            settled = _settled(survivor_id, survivor)
            merged[post.get("key", "")] = (survivor_id, reasons)
            result.events.append(self._attached(survivor, event, reasons))
            self._maybe_raise(survivor_id, view, event, result)
        else:
            opened = event
            if match is not None:
                opened = {**event, "reasons": [*event["reasons"], f"dedupe:recurrence_of[{match[0]}]"]}
            for name in SNAPSHOT_FIELDS:
                setattr(own, name, event.get(name))
            own.members = {complaint_id: member}
            view[complaint_id] = own
            settled = _settled(complaint_id, own)
            result.events.append(opened)
            if unclaimed:
                self._claim(complaint_id, unclaimed, view, result)
                self._maybe_raise(complaint_id, view, event, result)
        if fingerprint is not None:
            self.index.add(complaint_id, bucket, text, at, fingerprint, settled)

    def _join(self, survivor_id: str, complaint_id: str, member: Member, at: float,
              view: _Overlay) -> ClusterEntry:
        """The survivor with one more member (written to the view)."""
        survivor = view[survivor_id].copy()
        members = survivor.members
        if len(members) == 1 and survivor_id in members:
            survivor.alone_until = members[survivor_id].mentions
        members = self._joined(members, complaint_id, member)
        survivor.replace_members(members)
        if complaint_id not in members:  # folded: its survivor may go first
            self.watched.add(complaint_id)
        survivor.last_at = max(at, survivor.newest_at)
        view[survivor_id] = survivor
        return survivor

    def _ignored(self, record: dict[str, Any], ignored: Mapping[str, Any], fingerprints: Mapping[str, str],
                 view: _Overlay, result: ClusterResult) -> dict[str, Any]:
        """A post triage ignored by its kind (praise, lainnya, ...), which may be a copy of a
        complaint: classifiers tell near-identical texts apart by a greeting or a closing. If it
        is a copy of a complaint in the window, it joins that complaint as a near-duplicate and
        the complaint's decision stands for it; otherwise it stays ignored, and its fingerprint
        waits in the window (an entry with ``ignored`` set) for a complaint that copies it
        (:meth:`_claim`). Its id in the table is the complaint id it would have had."""
        post_key = record["post_key"]
        own_id = complaint_id_for(post_key)
        post = ignored.get("post") or {"key": post_key, "created_at": record["created_at"]}
        at = parse_time(record["created_at"])
        kecamatan = ignored.get("kecamatan")
        key = cluster_key(kecamatan)
        cutoff = self._advance(key, at)
        text = fingerprint_text(fingerprints.get(post_key, ""), kecamatan)
        if not text:
            return record
        cause = {"post": post, "occurred_at": record["created_at"], "event_id": own_id}
        if self._maybe_decided(key, own_id, text, at, cutoff) and view.get(own_id) is not None:
            existing = view[own_id]  # a redelivered envelope: decided before
            survivor = view.get(existing.alias_of or "")
            if survivor is None:
                return record
            event = self._attached(survivor, cause, [])
            result.events.append(self._as_first_sent(event, {"event_id": None}, view))
            return self._claimed_record(record, existing.alias_of, survivor, [])
        bucket = index_bucket(key)
        fingerprint = LshIndex.fingerprint(text)
        match = self._match({"desa": ignored.get("desa")}, text, fingerprint, bucket, at, view)
        own = ClusterEntry(at=at, text=text, bucket=bucket, ignored=IgnoredPost(post, record["kind"], record))
        if match is None or view[match[0]].resolved:
            self.index.add(own_id, bucket, text, at, fingerprint)
            view[own_id] = own
            self.watched.add(own_id)
            return record
        survivor_id, reasons = match
        survivor = self._join(survivor_id, own_id, Member(1, [post.get("platform") or record["platform"]]), at, view)
        self.index.add(own_id, bucket, text, at, fingerprint, _settled(survivor_id, survivor))
        own.alias_of = survivor_id
        view[own_id] = own
        event = self._attached(survivor, cause, reasons)
        result.events.append(self._as_first_sent(event, {"event_id": None}, view))
        self._maybe_raise(survivor_id, view, cause, result)
        return self._claimed_record(record, survivor_id, view[survivor_id], reasons)

    def _claim(self, survivor_id: str, unclaimed: list[tuple[str, list[str]]], view: _Overlay,
               result: ClusterResult) -> None:
        """A complaint just opened copies posts that triage ignored earlier in the window: they
        join it (their records are sent again, as mentions of it, superseding the ignored ones)."""
        claimed = []
        for ignored_id, reasons in unclaimed:
            entry = view[ignored_id]
            ignored = entry.ignored
            post = ignored.post or {}
            self._join(survivor_id, ignored_id, Member(1, [post.get("platform") or "other"]), entry.at, view)
            joined = entry.copy()
            joined.alias_of = survivor_id
            joined.ignored = IgnoredPost(ignored.post, ignored.kind, ignored.record, reasons)
            view[ignored_id] = joined
            self.watched.discard(ignored_id)
            claimed.append(ignored_id)
        survivor = view[survivor_id].copy()
        survivor.claimed = claimed
        view[survivor_id] = survivor
        for ignored_id in claimed:
            self._claim_sent(survivor_id, ignored_id, view, result)

    def _claim_sent(self, survivor_id: str, ignored_id: str, view: _Overlay, result: ClusterResult) -> None:
        """The event and the record of a claimed ignored post (again, for a redelivered envelope)."""
        entry = view.get(ignored_id)
        survivor = view.get(survivor_id)
        if entry is None or survivor is None or entry.ignored is None:
            return
        ignored = entry.ignored
        post = ignored.post or {}
        cause = {"post": post, "occurred_at": post.get("created_at"), "event_id": ignored_id}
        reasons = list(ignored.reasons or ())
        result.events.append(self._as_first_sent(self._attached(survivor, cause, reasons), {"event_id": None}, view))
        # The record triage sent for the post, kept with it (whatever fields a release adds).
        record = ignored.record or {
            "event_id": "", "post_key": post.get("key"), "platform": post.get("platform"),
            "post_id": post.get("post_id"), "created_at": post.get("created_at"), "outcome": "ignored",
            "kind": ignored.kind, "category": None, "priority": None, "opd": None, "kecamatan": None,
            "desa": None, "complaint_id": None, "duplicate_of": None, "duplicate_via": None,
            "ignored_reason": ignored.kind, "reasons": []}
        result.records.append(self._claimed_record(record, survivor_id, view[survivor_id], reasons))

    @staticmethod
    def _claimed_record(record: Mapping[str, Any], survivor_id: str, survivor: ClusterEntry,
                        reasons: list[str]) -> dict[str, Any]:
        """An ignored post's record as a near-duplicate of a complaint, with the complaint's decision."""
        return {**record, **survivor.snapshot(), "complaint_id": survivor_id,
                "event_id": stable_id("tri", record["post_key"], "mention"), "outcome": "mention",
                "duplicate_of": survivor.first_post_key, "duplicate_via": "near_duplicate",
                "ignored_reason": None,
                "reasons": [*record["reasons"], *reasons, f"dedupe:decision_of_complaint[{record['kind']}]"]}

    def _maybe_decided(self, key: str, complaint_id: str, text: str, at: float, cutoff: float) -> bool:
        """Whether the cluster table may hold an entry for this opening already (a redelivered
        envelope), or certainly does not; certainty spares a table read (RocksDB) for nearly
        every opening. A complaint with a fingerprint text, opened inside the window, that the
        index does not know was never decided: this worker indexed every fingerprint it decided
        and every one of the table's in the window when it rebuilt the index (:meth:`rebuild`,
        after every assignment); only a fingerprint older than the window is forgotten, and the
        cutoff only moves forward (between rebuilds)."""
        return not text or at < cutoff or self.index.holds(key, complaint_id)

    def _match(self, event: Mapping[str, Any], text: str, fingerprint: Fingerprint, bucket: str,
               at: float, view: _Overlay, unclaimed: list[tuple[str, list[str]]] | None = None
               ) -> tuple[str, list[str]] | None:
        """The survivor this opening is a copy of: a candidate of the window whose text is close
        enough (resemblance or containment, exactly), names no other place, street, RT/RW or number
        at the same position (:func:`conflict`), whose survivor is not in another desa. The
        kind and the category do not count: a copy triage classified otherwise is still a copy.
        Close posts that triage ignored and no complaint claimed yet are not survivors; they are
        added to `unclaimed` when it is given."""
        policy = self.policy
        # The exact similarity first (in the index, on the shingles in memory): most candidates
        # fail it, and reading their table entries (a JSON decode each) cost more than the check.
        least, containment, containment_min = policy.jaccard, policy.containment, MIN_CONTAINMENT_SHINGLES
        desa = event.get("desa")
        for _, candidate, candidate_at, jaccard, contained in self.index.ranked(bucket, fingerprint, least,
                                                                                containment, containment_min):
            if abs(at - candidate_at) > policy.window_seconds:
                continue
            if desa:
                # A survivor in another desa, known without reading the table: the check below
                # on what the index says of the candidate (Settled) instead of its entries.
                settled = self.index.settled(bucket, candidate)
                if settled is not None and settled.desa and settled.desa != desa:
                    continue
            entry = view.get(candidate)
            if entry is None:
                continue
            survivor_id = entry.alias_of or candidate
            survivor = view.get(survivor_id)
            if survivor is None:
                continue
            dormant = survivor.members is None
            if dormant and (unclaimed is None or survivor.ignored is None):
                continue
            if desa and survivor.desa and survivor.desa != desa:
                continue
            if self._differs(text, entry, survivor if survivor_id != candidate else None, jaccard >= least):
                continue
            how = f"jaccard={jaccard:.2f}" if jaccard >= least else f"containment={contained:.2f}"
            if dormant:
                unclaimed.append((candidate, [f"dedupe:near_duplicate[{candidate}]", how]))
                continue
            first = survivor.first_post.get("key", survivor_id) if survivor.first_post else survivor_id
            return survivor_id, [f"dedupe:near_duplicate[{first}]", how]
        return None

    @staticmethod
    def _differs(text: str, candidate: ClusterEntry, survivor: ClusterEntry | None, resembles: bool) -> bool:
        """Whether a close candidate is still another complaint: its text or its survivor's names
        another place at the same position (:func:`conflict`; the survivor too, since a copy cut
        before the place joins whatever it is contained in), or the match is by containment only
        and the shorter text ends with a place marker (cut right before the place it names)."""
        theirs = candidate.text
        if not theirs:
            return False
        if conflict(text, theirs) is not None:
            return True
        if survivor is not None and survivor.text and conflict(text, survivor.text) is not None:
            return True
        if not resembles:
            shorter = text if len(text) <= len(theirs) else theirs
            if shorter.rpartition(" ")[2] in PLACE_NAMED:
                return True
        return False

    def _attached(self, survivor: ClusterEntry, cause: Mapping[str, Any], reasons: list[str]) -> dict[str, Any]:
        post = cause.get("post")
        return complaint_event(
            "duplicate_attached", _summary(survivor), cause=(post or {}).get("key") or cause["event_id"],
            occurred_at=parse_time(cause["occurred_at"]), tz=self.tz, post=post, reasons=reasons)

    def _follow_up(self, event: dict[str, Any], view: _Overlay, result: ClusterResult) -> None:
        complaint_id = event["complaint_id"]
        survivor_id = self.resolve(complaint_id, view)
        survivor = view.get(survivor_id)
        if survivor is None or survivor.members is None:
            result.events.append(event)  # opened before this stage existed, or expired: as is
            return
        survivor = survivor.copy()
        if event["type"] == "duplicate_attached" and event.get("mentions") is not None:
            members = survivor.members
            old = members.get(complaint_id)
            if old is None and FOLDED in members and survivor_id != complaint_id:
                # folded: its own count is not kept; triage sends one event per mention
                survivor.replace_members(self._joined(members, complaint_id, Member(1, list(event.get("platforms") or []))))
            else:
                old = old or Member(0, [])
                platforms = list(dict.fromkeys([*old.platforms, *(event.get("platforms") or [])]))
                survivor.replace_members({**members, complaint_id: Member(max(old.mentions, event["mentions"]), platforms)})
        if event["type"] == "resolved":
            survivor.resolved = True
        view[survivor_id] = survivor
        if survivor_id == complaint_id and event["type"] == "duplicate_attached" and event.get("mentions") is not None:
            # Not merged: the event says what triage counted when it was sent (its mentions,
            # platforms and priority), plus any copies merged into it. Taking the stored
            # maximum or a later-raised priority instead would make a replayed event (after a
            # crash or rebalance) differ from its first copy under the same id.
            as_sent = Member(event["mentions"], list(event.get("platforms") or []))
            if event["mentions"] <= survivor.alone_until:
                # Triage counts a complaint's mentions up one by one, in order: this one was sent
                # before the first copy joined (this is a replay), when it was counted alone.
                mentions, platforms = total({complaint_id: as_sent})
            else:
                mentions, platforms = total({**survivor.members, complaint_id: as_sent})
            rewritten = {**event, "mentions": mentions, "platforms": platforms}
        else:
            rewritten = {**event, **_summary(survivor)}
        if survivor_id != complaint_id:
            rewritten["event_id"] = stable_id("evt", survivor_id, event["event_id"])
        result.events.append(rewritten)
        if event["type"] == "resolved":
            self._delete_if_done(survivor_id, survivor, self._cutoff_of(survivor), view)
        if event["type"] == "duplicate_attached":
            self._maybe_raise(survivor_id, view, event, result)

    def _joined(self, members: Mapping[str, Member], complaint_id: str, member: Member) -> dict[str, Member]:
        """Members with one more: kept apart up to max_members, then added to the FOLDED
        aggregate (mentions summed, platforms united)."""
        individual = len(members) - (FOLDED in members)
        if complaint_id in members or individual < self.policy.max_members:
            return {**members, complaint_id: member}
        mentions, platforms = members.get(FOLDED, Member(0, []))
        return {**members, FOLDED: Member(mentions + member.mentions,
                                          list(dict.fromkeys([*platforms, *member.platforms])))}

    def _maybe_raise(self, survivor_id: str, view: _Overlay, cause: Mapping[str, Any], result: ClusterResult) -> None:
        survivor = view[survivor_id]
        if survivor.raised or survivor.resolved:
            return
        summary = _summary(survivor)
        policy = self.policy
        reasons = []
        if summary["mentions"] >= policy.viral_mentions:
            reasons.append(f"viral:mentions[{summary['mentions']}>={policy.viral_mentions}]")
        if len(summary["platforms"]) >= policy.viral_platforms:
            reasons.append(f"viral:platforms[{len(summary['platforms'])}>={policy.viral_platforms}]")
        higher = raised(survivor.priority)
        if not reasons or higher == survivor.priority:
            return
        survivor = survivor.copy()
        survivor.priority = survivor.raised = higher
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
            return {**record, **survivor.snapshot(), "complaint_id": survivor_id,
                    "event_id": stable_id("tri", post_key, "mention"), "outcome": "mention",
                    "duplicate_of": survivor.first_post_key,
                    "duplicate_via": "near_duplicate", "reasons": [*record["reasons"], *reasons]}
        complaint_id = record["complaint_id"]
        survivor_id = self.resolve(complaint_id, view)
        if survivor_id == complaint_id:
            return record
        survivor = view.get(survivor_id) or ClusterEntry()
        rewritten = {**record, "complaint_id": survivor_id,
                     "reasons": [*record["reasons"], f"dedupe:alias_of[{survivor_id}]"]}
        if record.get("kind") == survivor.kind:
            rewritten.update({f: getattr(survivor, f) for f in ("category", "priority", "opd", "kecamatan", "desa",
                                                                "needs_review")})
        return rewritten


def _key_of_bucket(bucket: str) -> str:
    """The cluster key of an index bucket ("category|cluster key")."""
    return bucket.partition("|")[2] or UNKNOWN_PLACE


def _envelope_key(envelope: Mapping[str, Any]) -> str | None:
    """The cluster key the envelope was sent under (agents.domain.cluster.route)."""
    for event in envelope.get("events", ()):
        return cluster_key(event.get("kecamatan"))
    for ignored in (envelope.get("ignored") or {}).values():
        return cluster_key(ignored.get("kecamatan"))
    for record in envelope.get("records", ()):
        return cluster_key(record.get("kecamatan"))
    return None


RESOLUTION_NOTICE = "resolution_notice"
"""Key of the envelope that tells every partition of this stage a desk response resolved a
complaint (agents/responses.py)."""
_SENT_FIELDS = ("mentions", "platforms", "priority", "reasons")
"""The fields of a complaint event this stage computes from the survivor's state (the others are
the survivor's snapshot, fixed once it is opened, or the cause's own)."""


def _summary(survivor: ClusterEntry) -> dict[str, Any]:
    mentions, platforms = survivor.counts()
    return {**survivor.snapshot(), "mentions": mentions, "platforms": platforms}


class _Overlay(Mapping[str, ClusterEntry]):
    """The table as this envelope sees it: its own pending updates over the stored entries."""

    def __init__(self, base: Mapping[str, ClusterEntry], updates: MutableMapping[str, ClusterEntry | None]) -> None:
        self.base = base
        self.updates = updates
        self.read: dict[str, ClusterEntry | None] = {}
        """Entries read from the base: a table read decodes a JSON value (RocksDB), and the
        stage reads a survivor several times per message. Treated as read-only."""

    def get(self, key: str, default: Any = None) -> Any:
        updates = self.updates
        if key in updates:
            value = updates[key]
        else:
            read = self.read
            value = read[key] if key in read else read.setdefault(key, self.base.get(key))
        return default if value is None else value

    def __getitem__(self, key: str) -> ClusterEntry:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: ClusterEntry | None) -> None:
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
    ignored_pairs: int = 0
    """True pairs of which one post or both got no complaint (triage ignored them and they copy
    no complaint of the window)."""
    both_ignored_pairs: int = 0
    """True pairs of which both posts got no complaint: triage's decision, no complaint to join."""

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def recall_with_a_complaint(self) -> float:
        """Pair recall over the true pairs of which at least one post got a complaint."""
        pairs = self.true_pairs - self.both_ignored_pairs
        return self.correct_pairs / pairs if pairs else 1.0


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
            if not complaint_ids[i] or not complaint_ids[j]:
                scores.ignored_pairs += 1
                scores.both_ignored_pairs += not complaint_ids[i] and not complaint_ids[j]
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
