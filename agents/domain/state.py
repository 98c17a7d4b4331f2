"""The entries of the stages' tables, as types, and their one codec to and from the stored value.

Three tables hold typed entries (the fourth, ``orphans``, holds lists of waiting posts):

- ``threads`` (triage, keyed by post key): :class:`ThreadEntry`;
- ``clusters`` (clustering, keyed by complaint id): :class:`ClusterEntry`;
- ``clocks`` (SLA, keyed by complaint id): :class:`Clock`, with a :class:`StageClock` per stage.

The domain code (agents/domain) reads and writes these types; the stream's tables hold them
between a batch's reads and its commit, and store ``to_json()`` of each, encoded as JSON bytes
(streams/batches.py: `StagedTable`); the backtest and `tanggap triage` keep them in dicts as
they are. ``from_json`` reads what ``to_json`` writes, which is the dict shape the stages stored
before they had types (the same keys, the same nesting): state written by either reads in the
other, so a deployment can roll forward and back over a running table. Keys a type does not
know are dropped when it reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, NamedTuple

STAGE_FIRST_RESPONSE = "first_response"


def _known(cls: type, value: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls) if f.init}
    return {key: item for key, item in value.items() if key in names}


def _build(cls: type, value: dict[str, Any]) -> Any:
    """`cls(**value)`; keys the type does not know are dropped (written by another version)."""
    try:
        return cls(**value)
    except TypeError:
        return cls(**_known(cls, value))


def _without_none(entry: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: value for name in names if (value := getattr(entry, name)) is not None}


# --- shared pieces ------------------------------------------------------------------------------

class Member(NamedTuple):
    """What one mention or member contributes to a complaint's counts (stored as a pair)."""

    mentions: int
    platforms: list[str]


def _members_from(value: dict[str, Any] | None) -> dict[str, Member] | None:
    if value is None:
        return None
    return {key: Member(int(mentions), list(platforms)) for key, (mentions, platforms) in value.items()}


def _members_to(members: dict[str, Member]) -> dict[str, list[Any]]:
    return {key: [mentions, platforms] for key, (mentions, platforms) in members.items()}


def _add_platforms(platforms: list[str], more: list[str]) -> None:
    platforms.extend(p for p in more if p not in platforms)


def total(members: dict[str, Member]) -> tuple[int, list[str]]:
    """The mentions and platforms of members together (platforms in the order members add them)."""
    mentions = 0
    platforms: list[str] = []
    for count, member_platforms in members.values():
        mentions += int(count)
        _add_platforms(platforms, member_platforms)
    return mentions, platforms


# --- threads ------------------------------------------------------------------------------------

DECISION_FIELDS = ("kind", "category", "priority", "opd", "kecamatan", "desa", "complaint_id", "needs_review")
"""The decision a thread entry keeps of its post (and a complaint of its opening post)."""


@dataclass(slots=True)
class Decided:
    """The decision fields (DECISION_FIELDS) that thread and cluster entries both carry."""

    kind: str | None = None
    category: str | None = None
    priority: str | None = None
    opd: str | None = None
    kecamatan: str | None = None
    desa: str | None = None
    complaint_id: str | None = None
    needs_review: bool | None = None


@dataclass(slots=True)
class ThreadEntry(Decided):
    """Triage's entry for one post key (agents.domain.triage.Triage), one of:

    - a decided post: its decision (``kind``; for an official account's post ``opd`` and, for
      a reply to a complaint, ``complaint_id``);
    - a mention of a complaint: the complaint's decision and ``mention_of``, the key of the
      entry that holds the complaint's summary;
    - a complaint's summary, under its opening post's key: the decision, ``mentions``,
      ``platforms``, ``opened_at``, ``first_post`` and ``counted`` (what each recent mention was
      counted as, so a replayed mention repeats its first count). A summary with ``seen`` False
      was opened by a repost that came before its original: the original itself is not
      processed yet."""

    mention_of: str | None = None
    mentions: int | None = None
    platforms: list[str] | None = None
    opened_at: float | None = None
    first_post: dict[str, Any] | None = None
    seen: bool = True
    counted: dict[str, Member] | None = None

    @property
    def is_summary(self) -> bool:
        """Whether this entry holds a complaint's counts (its opening post's entry)."""
        return self.mentions is not None

    def decision(self) -> dict[str, Any]:
        """The decision fields, as a record carries them."""
        return {name: getattr(self, name) for name in DECISION_FIELDS}

    def summary(self) -> dict[str, Any]:
        """What a complaint event says of its complaint (agents.domain.triage.complaint_event)."""
        return {**self.decision(), "mentions": self.mentions, "platforms": self.platforms,
                "first_post": self.first_post}

    def copy(self) -> ThreadEntry:
        """A shallow copy: triage never changes a stored entry, only what replaces it."""
        return ThreadEntry(self.kind, self.category, self.priority, self.opd, self.kecamatan, self.desa,
                           self.complaint_id, self.needs_review, self.mention_of, self.mentions, self.platforms,
                           self.opened_at, self.first_post, self.seen, self.counted)

    def to_json(self) -> dict[str, Any]:
        value = _without_none(self, _THREAD_STORED)
        if not self.seen:
            value["seen"] = False
        if self.counted is not None:
            value["counted"] = _members_to(self.counted)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ThreadEntry:
        entry = _build(cls, value)
        if entry.counted is not None:
            entry.counted = _members_from(entry.counted)
        return entry


_THREAD_STORED = (*DECISION_FIELDS, "mention_of", "mentions", "platforms", "opened_at", "first_post")


# --- clusters -----------------------------------------------------------------------------------

SNAPSHOT_FIELDS = ("complaint_id", "kind", "category", "priority", "opd", "kecamatan", "desa", "needs_review",
                   "first_post")
"""What a survivor keeps of the complaint it opened with (fixed once it is opened)."""


class SentContent(NamedTuple):
    """What the clustering stage computed for an event it sent (stored as a list)."""

    mentions: int | None
    platforms: list[str] | None
    priority: str | None
    reasons: list[str] | None


@dataclass(slots=True)
class IgnoredPost:
    """A post triage ignored by its kind, kept in the cluster table in case a complaint copies it."""

    post: dict[str, Any] | None = None
    """The post's reference (key, platform, url, created_at, ...)."""
    kind: str | None = None
    record: dict[str, Any] | None = None
    """The record triage sent for it."""
    reasons: list[str] | None = None
    """Why a complaint claimed it (set when one did)."""

    def to_json(self) -> dict[str, Any]:
        value = {"post": self.post, "kind": self.kind, "record": self.record}
        if self.reasons is not None:
            value["reasons"] = self.reasons
        return value


@dataclass(slots=True)
class ClusterEntry(Decided):
    """The clustering stage's entry for one complaint id (agents.domain.cluster.Clusterer).

    Every entry keeps its fingerprint ``text`` (None once it has none), its event time ``at``
    and its index ``bucket``, so the index can be rebuilt from the table. Beyond those it is:

    - a *survivor* (``members`` set): the complaint's snapshot (SNAPSHOT_FIELDS), its members'
      counts (complaint id -> Member, at most ``max_members`` plus the FOLDED aggregate),
      ``resolved``, ``raised`` (the priority it raised to), ``last_at`` (its newest member's
      time; None: its own), ``claimed`` (ignored posts it claimed when it opened) and, once
      merged, ``sent`` and ``alone_until`` (what its replayed events must repeat);
    - an *alias* (``alias_of`` set): a complaint merged into that survivor;
    - an *ignored post* (``ignored`` set) no complaint claimed yet, or (with ``alias_of``) one
      that joined a complaint.
    """

    SHARED: ClassVar[bool] = True
    """The stage never changes an entry it read or wrote, only replaces it (:meth:`copy`): one
    decoded entry may be handed to several reads (streams/batches.py, `StagedTable`)."""

    at: float = 0.0
    text: str | None = None
    bucket: str = ""
    alias_of: str | None = None
    ignored: IgnoredPost | None = None
    first_post: dict[str, Any] | None = None
    members: dict[str, Member] | None = None
    resolved: bool = False
    raised: str | None = None
    last_at: float | None = None
    sent: dict[str, SentContent] | None = None
    alone_until: int = 0
    claimed: list[str] | None = None
    totals: tuple[dict[str, Member], int, list[str]] | None = field(default=None, init=False, repr=False,
                                                                    compare=False)
    """The members' :func:`total`, derived (never stored): valid while ``members`` is the dict it
    was computed from. The stage replaces ``members``, never changes it in place."""

    @property
    def is_survivor(self) -> bool:
        return self.members is not None

    def counts(self) -> tuple[int, list[str]]:
        """The survivor's mentions and platforms (:func:`total` of its members)."""
        members = self.members or {}
        totals = self.totals
        if totals is None or totals[0] is not members:
            totals = self.totals = (members, *total(members))
        return totals[1], list(totals[2])

    def replace_members(self, members: dict[str, Member]) -> None:
        """Set ``members``; when it is the old members with one more at the end, the totals
        follow by adding that one, instead of counting every member again."""
        totals, old = self.totals, self.members
        self.members = members
        self.totals = None
        if totals is not None and totals[0] is old and len(members) == len(old) + 1:
            last = next(reversed(members))
            if last not in old:
                mentions, platforms = members[last]
                added = list(totals[2])
                _add_platforms(added, platforms)
                self.totals = (members, totals[1] + int(mentions), added)

    @property
    def newest_at(self) -> float:
        """The event time of the survivor's newest member."""
        return self.at if self.last_at is None else self.last_at

    @property
    def first_post_key(self) -> str | None:
        return (self.first_post or {}).get("key")

    def snapshot(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SNAPSHOT_FIELDS}

    def copy(self) -> ClusterEntry:
        """A shallow copy: the stage never changes a stored entry, only what replaces it."""
        copied = ClusterEntry(self.kind, self.category, self.priority, self.opd, self.kecamatan, self.desa,
                              self.complaint_id, self.needs_review, self.at, self.text, self.bucket, self.alias_of,
                              self.ignored, self.first_post, self.members, self.resolved, self.raised,
                              self.last_at, self.sent, self.alone_until, self.claimed)
        copied.totals = self.totals
        return copied

    def to_json(self) -> dict[str, Any]:
        value = _without_none(self, _CLUSTER_STORED)
        if self.ignored is not None:
            value["ignored"] = self.ignored.to_json()
        if self.members is not None:
            value["members"] = _members_to(self.members)
        if self.resolved:
            value["resolved"] = True
        if self.sent is not None:
            value["sent"] = {key: list(content) for key, content in self.sent.items()}
        if self.alone_until:
            value["alone_until"] = self.alone_until
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ClusterEntry:
        entry = _build(cls, value)
        if entry.ignored is not None:
            entry.ignored = _build(IgnoredPost, entry.ignored)
        if entry.members is not None:
            entry.members = _members_from(entry.members)
        if entry.sent is not None:
            entry.sent = {key: SentContent(*content) for key, content in entry.sent.items()}
        return entry


_CLUSTER_STORED = ("at", "text", "bucket", "alias_of", *SNAPSHOT_FIELDS, "raised", "last_at", "claimed")


# --- clocks -------------------------------------------------------------------------------------

class EarlyEvent(NamedTuple):
    """A complaint event that reached its clock before the complaint's ``opened`` (stored as a list)."""

    type: str
    at: float
    by: str | None
    kind: str | None
    detail: Any
    """The attached post of a ``duplicate_attached``, {"priority": ...} of a ``reprioritized``."""


@dataclass(slots=True)
class StageClock:
    """One stage of a clock (first response, resolution): its budget in its calendar's seconds,
    the deadline, the instant it counts from (``anchor``; None while paused), the budget
    ``spent`` before the last pause, when and by whom it stopped, and the levels and outcomes
    ``emitted``."""

    working_clock: bool
    budget: float
    deadline: float
    anchor: float | None
    spent: float = 0.0
    stopped_at: float | None = None
    stopped_by: str | None = None
    emitted: list[str] | None = None

    def __post_init__(self) -> None:
        if self.emitted is None:
            self.emitted = []

    @property
    def is_running(self) -> bool:
        return self.stopped_at is None and self.anchor is not None

    def to_json(self) -> dict[str, Any]:
        return {"working_clock": self.working_clock, "budget": self.budget, "deadline": self.deadline,
                "anchor": self.anchor, "spent": self.spent, "stopped_at": self.stopped_at,
                "stopped_by": self.stopped_by, "emitted": self.emitted}


@dataclass(slots=True)
class Clock:
    """The SLA stage's entry for one complaint id (agents.domain.sla), one of:

    - an *open* clock (``stages`` set, :attr:`is_open`): the complaint's policy and snapshot,
      its stages, ``paused_at`` (while the desk waits for the citizen), and ``next_due`` and
      ``gauge``, what the deadline index needs of it (agents.domain.sla.index_entry);
    - events that came before the complaint's ``opened`` (``early``), applied when it opens."""

    complaint_id: str | None = None
    policy: str | None = None
    opened_at: float | None = None
    opd: str | None = None
    category: str | None = None
    priority: str | None = None
    kecamatan: str | None = None
    platform: str | None = None
    url: str | None = None
    author: str | None = None
    excerpt: str | None = None
    mentions: int | None = None
    paused_at: float | None = None
    stages: dict[str, StageClock] | None = None
    next_due: float | None = None
    gauge: int | None = None
    early: list[EarlyEvent] | None = None

    @property
    def is_open(self) -> bool:
        return self.stages is not None

    @property
    def deadline(self) -> float | None:
        """The first response's deadline, the one most readers want (moves when a pause ends)."""
        stage = (self.stages or {}).get(STAGE_FIRST_RESPONSE)
        return None if stage is None else stage.deadline

    def to_json(self) -> dict[str, Any]:
        if self.stages is None:
            return {"early": [list(event) for event in self.early or ()]}
        value = {name: getattr(self, name) for name in _CLOCK_STORED}
        value["deadline"] = self.deadline
        value["stages"] = {name: stage.to_json() for name, stage in self.stages.items()}
        if self.next_due is not None or self.gauge is not None:
            value["next_due"] = self.next_due
            value["gauge"] = self.gauge
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Clock:
        value = dict(value)
        value.pop("deadline", None)  # derived from the first response's stage
        clock = _build(cls, value)
        if clock.stages is not None:
            clock.stages = {name: _build(StageClock, stage) for name, stage in clock.stages.items()}
        if clock.early is not None:
            clock.early = [EarlyEvent(*event) for event in clock.early]
        return clock


_CLOCK_STORED = tuple(f.name for f in fields(Clock) if f.name not in ("stages", "next_due", "gauge", "early"))


ENTRY_TYPES: dict[str, type] = {"threads": ThreadEntry, "clusters": ClusterEntry, "clocks": Clock}
"""The entry type of each table of the pipeline by table name (``orphans`` holds lists of posts)."""
