"""Dedupe, classify and assign one post: the pure core shared by the stream and `tanggap triage`.

`Triage.process` reads the thread state and the waiting replies (mappings: faust tables in the
stream, dicts in the batch CLI) and returns the decision record, the complaint events and the
state updates; the caller applies the updates. Nothing here does I/O, so the same inputs give the same outputs in
both places, and reprocessing after a crash gives the same event ids.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.domain.assign import assign
from agents.domain.classify import Classification, classify
from agents.domain.dedupe import complaint_id_for, is_processed
from agents.domain.state import Member, ThreadEntry
from schemas.events import DeskResponse, RawPost, format_time, stable_id

if TYPE_CHECKING:
    from agents.domain.config import TanggapConfig
    from agents.domain.places import Place
    from agents.domain.text import NormalizedText

OFFICIAL_KIND = "respon_resmi"
"""Kind recorded for posts by an official account: they are responses, not citizen posts."""
EXCERPT_CHARS = 280
COPY_KINDS = frozenset({"apresiasi", "lainnya"})
"""Kinds triage ignores that a copy of a complaint is still often given (a closing "terima kasih"
makes praise, a greeting lainnya): posts of these kinds go to the clustering stage, which
attaches a copy to its complaint (agents.domain.cluster). Spam and politics do not: they are
many, and a complaint's copy rarely reads as either."""


@dataclass(slots=True)
class TriageResult:
    record: dict[str, Any]
    """The decision for this post (published on `posts.triaged`)."""
    complaint_events: list[dict[str, Any]] = field(default_factory=list)
    state_updates: dict[str, ThreadEntry] = field(default_factory=dict)
    """Thread-state entries to write (the caller applies them)."""
    orphan_updates: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    """Replies waiting for their parent post, by parent key; None deletes the entry."""
    late_records: list[dict[str, Any]] = field(default_factory=list)
    """Final decisions for replies that were waiting on this post; they supersede the replies'
    pending records."""
    fingerprints: dict[str, str] = field(default_factory=dict)
    """Text of the posts that opened a complaint, by post key: what the clustering stage compares
    (agents.domain.cluster normalizes it for copies itself)."""
    ignored_posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Posts ignored by kind that may still be copies of a complaint, by post key: the place they
    name and the post's reference. The clustering stage attaches such a post to the complaint it
    copies (the complaint's decision stands for it); otherwise the post stays ignored."""

    def apply(self, state: MutableMapping[str, Any], orphans: MutableMapping[str, Any]) -> None:
        """Write this result's updates into the two state mappings (tables or dicts)."""
        for key, entry in self.state_updates.items():
            state[key] = entry
        for key, waiting in self.orphan_updates.items():
            if waiting is None:
                orphans.pop(key, None)
            else:
                orphans[key] = waiting

    def absorb(self, other: TriageResult) -> None:
        """Fold in the result of settling a waiting reply."""
        self.complaint_events.extend(other.complaint_events)
        self.state_updates.update(other.state_updates)
        self.orphan_updates.update(other.orphan_updates)
        self.late_records.append(other.record)
        self.late_records.extend(other.late_records)
        self.fingerprints.update(other.fingerprints)
        self.ignored_posts.update(other.ignored_posts)


def _post_ref(post: RawPost, created_at: str) -> dict[str, Any]:
    """The post as events and summaries name it (`created_at`: its time, formatted)."""
    return {
        "key": post.key,
        "platform": post.platform,
        "post_id": post.post_id,
        "url": post.url,
        "author_handle": post.author_handle,
        "created_at": created_at,
    }


class Triage:
    """Two mappings hold the state, both keyed by post key (faust tables in the stream, dicts in
    the batch CLI):

    - ``state``: per processed post, its decision; for a complaint's opening post, the complaint
      summary (agents.domain.state.ThreadEntry). A summary that is not ``seen`` is a complaint
      opened by a repost that arrived before its original, filed under the original's key.
    - ``orphans``: replies whose parent post has not arrived yet, by the parent's key.

    Posts of one thread reach their partition out of order (they are produced to `posts.raw`
    under their own keys, on different partitions), so a reply can arrive before the post it
    answers. It waits in ``orphans`` until the parent arrives, or until the stream gives up on
    the parent (:meth:`release`) and the reply is decided on its own: no reply is ever lost.
    """

    def __init__(self, config: TanggapConfig, *, max_waiting_replies: int = 100) -> None:
        if max_waiting_replies < 1:
            raise ValueError(f"max_waiting_replies must be at least 1, not {max_waiting_replies}")
        self.config = config
        # A flood of replies to a post that never arrives must not grow one table entry without
        # bound: beyond this many, a citizen reply is decided at once, on its own.
        self.max_waiting_replies = max_waiting_replies
        # A post's time is formatted for its record, its reference and its events: the last one
        # formatted is kept, since they all come one after another.
        self._formatted_epoch: float | None = None
        self._formatted_time = ""

    def _time(self, epoch: float) -> str:
        if epoch != self._formatted_epoch:
            self._formatted_time = format_time(epoch, self.config.timezone)
            self._formatted_epoch = epoch
        return self._formatted_time

    def _ref(self, post: RawPost) -> dict[str, Any]:
        return _post_ref(post, self._time(post.created_at))

    def process(self, post: RawPost, state: Mapping[str, ThreadEntry],
                orphans: Mapping[str, list[dict[str, Any]]] | None = None, now: float = 0.0) -> TriageResult:
        """Decide one post. `now` (wall-clock seconds) stamps replies that must wait."""
        orphans = {} if orphans is None else orphans
        key = post.key
        own = state.get(key)
        if is_processed(own):
            return self._redelivery(post, own)
        parent_key = post.parent_key
        parent = state.get(parent_key) if parent_key else None
        official_opd = self.config.directory.official_opd(post.platform, post.author_handle)

        if parent_key is not None and not is_processed(parent) and (official_opd or not post.repost_of):
            if parent is None or not parent.complaint_id:
                return self._wait_for_parent(post, parent_key, official_opd, orphans, now)
        if official_opd is not None:
            return self._official(post, official_opd, parent)
        if parent is not None and parent.complaint_id:
            return self._mention(post, parent_key or "", parent, via="repost_of" if post.repost_of else "reply_to")
        if own is not None and own.complaint_id:
            # A repost of this post arrived first and opened the complaint under this key.
            result = self._mention(post, key, own, via="reposted_before_original")
        else:
            # A repost's text is its original's: when the original is not known yet, the
            # complaint opens under the original's key, and the original joins it on arrival.
            opens_under_parent = post.repost_of is not None and not is_processed(parent)
            complaint_key = parent_key if opens_under_parent and parent_key else key
            result = self._new(post, complaint_key)
            if complaint_key != key:
                # Replies to the original that came even earlier can be settled now, if this
                # repost opened a complaint for it.
                summary = result.state_updates.get(complaint_key)
                if summary is not None:
                    self._settle_orphans(result, complaint_key, summary, orphans)
                return result
        # Replies that arrived before this post were waiting for it.
        if orphans.get(key):
            self._settle_orphans(result, key, result.state_updates.get(key) or ThreadEntry(), orphans)
        return result

    def release(self, parent_key: str, orphans: Mapping[str, list[dict[str, Any]]],
                state: Mapping[str, ThreadEntry]) -> TriageResult | None:
        """Give up waiting for `parent_key`: decide its waiting replies on their own."""
        waiting = orphans.get(parent_key)
        if not waiting:
            return None
        result: TriageResult | None = None
        for pending in waiting:
            reply = RawPost.parse(pending["post"])
            if is_processed(state.get(reply.key)):
                continue
            if pending.get("official_opd"):
                record = self._record(reply, outcome="ignored", kind=OFFICIAL_KIND, opd=pending["official_opd"],
                                      reasons=[f"reply_to_unknown_post[{parent_key}]"],
                                      ignored_reason="official_reply_to_an_unknown_post")
                decided = TriageResult(record, state_updates={
                    reply.key: ThreadEntry(kind=OFFICIAL_KIND, opd=pending["official_opd"])})
            else:
                decided = self._new(reply, reply.key, extra_reasons=[f"parent_never_arrived[{parent_key}]"])
            if result is None:
                result = decided
            else:
                result.absorb(decided)
        if result is None:
            return None
        result.orphan_updates[parent_key] = None
        return result

    def _wait_for_parent(self, post: RawPost, parent_key: str, official_opd: str | None,
                         orphans: Mapping[str, list[dict[str, Any]]], now: float) -> TriageResult:
        waiting = [p for p in orphans.get(parent_key, ()) if p["key"] != post.key]
        # Official replies always wait (they stop an SLA clock, and only the directory's own
        # accounts send them), so only citizens' replies count against the limit.
        citizens_waiting = sum(1 for p in waiting if not p.get("official_opd"))
        if official_opd is None and citizens_waiting >= self.max_waiting_replies:
            return self._new(post, post.key, extra_reasons=[f"too_many_waiting_replies[{parent_key}]"])
        waiting.append({"key": post.key, "post": post.to_json(), "official_opd": official_opd, "since": now})
        outcome = "response_pending" if official_opd else "reply_pending"
        record = self._record(post, outcome=outcome, kind=OFFICIAL_KIND if official_opd else None,
                              opd=official_opd, reasons=[f"waiting_for_parent[{parent_key}]"])
        return TriageResult(record, orphan_updates={parent_key: waiting})

    def _settle_orphans(self, result: TriageResult, parent_key: str, parent: ThreadEntry,
                        orphans: Mapping[str, list[dict[str, Any]]]) -> None:
        """Settle the replies waiting on `parent_key` against the post that just arrived (its
        entry is `parent`), then the replies waiting on those replies, exactly as if they had
        arrived in order."""
        queue: list[tuple[str, ThreadEntry]] = [(parent_key, parent)]
        while queue:
            key, entry = queue.pop(0)
            waiting = orphans.get(key)
            if not waiting:
                continue
            for pending in waiting:
                reply = RawPost.parse(pending["post"])
                if pending.get("official_opd"):
                    settled = self._official(reply, pending["official_opd"], entry)
                elif entry.complaint_id:
                    settled = self._mention(reply, key, entry, via="reply_to")
                    entry = settled.state_updates.get(key, entry)
                    queue.append((reply.key, settled.state_updates[reply.key]))
                else:
                    settled = self._new(reply, reply.key)
                result.absorb(settled)
            result.orphan_updates[key] = None

    def _redelivery(self, post: RawPost, entry: ThreadEntry) -> TriageResult:
        record = self._record(post, outcome="redelivery", reasons=["dedupe:same_post_key_seen_before"],
                              duplicate_of=post.key, duplicate_via="redelivery", **entry.decision())
        return TriageResult(record)

    def _record(self, post: RawPost, *, outcome: str, reasons: list[str], kind: str | None = None,
                category: str | None = None, priority: str | None = None, opd: str | None = None,
                kecamatan: str | None = None, desa: str | None = None, complaint_id: str | None = None,
                duplicate_of: str | None = None, duplicate_via: str | None = None,
                ignored_reason: str | None = None, needs_review: bool | None = None,
                confidence: float | None = None) -> dict[str, Any]:
        key = post.key
        return {
            "event_id": stable_id("tri", key, outcome),
            "post_key": key,
            "platform": post.platform,
            "post_id": post.post_id,
            "created_at": self._time(post.created_at),
            "outcome": outcome,
            "kind": kind,
            "category": category,
            "priority": priority,
            "opd": opd,
            "kecamatan": kecamatan,
            "desa": desa,
            "complaint_id": complaint_id,
            "duplicate_of": duplicate_of,
            "duplicate_via": duplicate_via,
            "ignored_reason": ignored_reason,
            "needs_review": bool(needs_review),
            "confidence": confidence,
            "reasons": reasons,
        }

    def _new(self, post: RawPost, complaint_key: str, extra_reasons: list[str] | None = None) -> TriageResult:
        config = self.config
        key = post.key
        text = post.text
        normalized = config.normalizer.normalize(text)
        words = normalized.words
        addressed = (*post.addressed_to, *normalized.mentions) if normalized.mentions else post.addressed_to
        decision = decide(config, text, normalized, addressed)
        kind = decision.kind
        reasons = [*extra_reasons, *decision.reasons] if extra_reasons else list(decision.reasons)
        if kind not in config.actionable_kinds:
            record = self._record(post, outcome="ignored", reasons=reasons, kind=kind,
                                  ignored_reason=kind, confidence=decision.confidence)
            result = TriageResult(record, state_updates={key: ThreadEntry(kind=kind)})
            if kind in COPY_KINDS:
                # A copy of a complaint classified otherwise: the clustering stage decides.
                place = config.gazetteer.locate(words)
                result.fingerprints[key] = text
                result.ignored_posts[key] = {"kecamatan": place.kecamatan, "desa": place.desa,
                                             "post": self._ref(post)}
            return result

        place = config.gazetteer.locate(words)
        reasons.extend(place.reasons)
        needs_review = decision.needs_review
        outside = places_elsewhere(config, normalized, place)
        if outside:
            # A road in Bekasi is not the regency's road: the desk decides whether to answer.
            needs_review = True
            reasons.append(f"place_outside_regency[{','.join(outside)}]")
        if needs_review:
            # Unsure decisions go to people: the triage desk reads the post and routes it.
            opd = config.directory.triage_desk
            reasons.append(f"opd:{opd}[needs_review]")
        else:
            owner = assign(decision, place, addressed, config.directory, config.category_owner)
            opd = owner.opd
            reasons.extend(owner.reasons)
        decided = {
            "kind": kind,
            "category": decision.category,
            "priority": decision.priority,
            "opd": opd,
            "kecamatan": place.kecamatan,
            "desa": place.desa,
            "complaint_id": complaint_id_for(complaint_key),
            "needs_review": needs_review,
        }
        record = self._record(post, outcome="opened", reasons=reasons, confidence=decision.confidence, **decided)
        ref = self._ref(post)
        platforms = [post.platform]
        summary = ThreadEntry(**decided, mentions=1, platforms=platforms, opened_at=post.created_at,
                              first_post=ref, seen=complaint_key == key)
        # What summary.summary() returns, from the fields at hand.
        as_sent = {**decided, "mentions": 1, "platforms": platforms, "first_post": ref}
        event = self._complaint_event("opened", post, as_sent, reasons=reasons, excerpt=text[:EXCERPT_CHARS])
        result = TriageResult(record, [event], {complaint_key: summary})
        result.fingerprints[key] = text
        if complaint_key != key:
            result.state_updates[key] = ThreadEntry(**decided, mention_of=complaint_key)
        return result

    def _mention(self, post: RawPost, target_key: str, target: ThreadEntry, via: str) -> TriageResult:
        # A mention of a mention points at the complaint but not at its summary, which lives
        # under the opening post's key: it is attached without updating the counts.
        summary = target.copy()
        is_summary = target.is_summary
        counted = target.counted or {}
        if is_summary and post.key in counted:
            # Replayed after a crash that kept the summary but lost this post's own entry: the
            # event goes out again exactly as it did the first time, and counts once.
            mentions, platforms = counted[post.key]
            as_sent = {**summary.summary(), "mentions": mentions, "platforms": platforms}
        else:
            if is_summary:
                summary.mentions = int(target.mentions) + 1
                if post.platform not in summary.platforms:
                    summary.platforms = [*summary.platforms, post.platform]
                summary.counted = _recent({**counted, post.key: Member(summary.mentions, summary.platforms)})
            as_sent = summary.summary()
        reasons = [f"dedupe:{via}[{target_key}]"]
        decided = target.decision()
        record = self._record(post, outcome="mention", reasons=reasons, duplicate_of=target_key,
                              duplicate_via=via, **decided)
        event = self._complaint_event("duplicate_attached", post, as_sent, reasons=reasons)
        updates: dict[str, ThreadEntry] = {}
        if is_summary:
            # The summary first: a batch's table writes land in the order of their first write
            # (streams/batches.py), and a crash between them must keep the summary, which
            # remembers this post's count, and lose the post's own entry, so that the replay
            # sends the same event (above); the other way round the post would be a redelivery
            # that was never counted, and the next mention would go out with its count.
            updates[target_key] = summary
        if target_key == post.key:
            summary.seen = True
        else:
            updates[post.key] = ThreadEntry(**decided, mention_of=target_key)
        return TriageResult(record, [event], updates)

    def _official(self, post: RawPost, opd: str, parent: ThreadEntry | None) -> TriageResult:
        account = f"official_account[{post.platform}:{post.author_handle}]"
        parent_key = post.parent_key
        entry = ThreadEntry(kind=OFFICIAL_KIND, opd=opd)
        if parent_key is None:
            record = self._record(post, outcome="ignored", kind=OFFICIAL_KIND, opd=opd, reasons=[account],
                                  ignored_reason="official_post_not_a_reply")
            return TriageResult(record, state_updates={post.key: entry})
        if parent is None or not parent.complaint_id:
            record = self._record(post, outcome="ignored", kind=OFFICIAL_KIND, opd=opd,
                                  reasons=[account, f"reply_to[{parent_key}]"],
                                  ignored_reason="official_reply_to_a_post_that_opened_no_complaint")
            return TriageResult(record, state_updates={post.key: entry})
        complaint_id = parent.complaint_id
        reasons = [account, f"reply_to[{parent_key}]"]
        record = self._record(post, outcome="response", kind=OFFICIAL_KIND, opd=opd,
                              complaint_id=complaint_id, duplicate_of=parent_key, reasons=reasons)
        response = {"by": opd, "kind": "first_response", "at": self._time(post.created_at),
                    "channel": post.platform, "post": self._ref(post)}
        event = self._complaint_event("responded", post, without_counts(parent.summary()), reasons=reasons,
                                      response=response)
        return TriageResult(record, [event], {post.key: ThreadEntry(kind=OFFICIAL_KIND, opd=opd,
                                                                    complaint_id=complaint_id)})

    def _complaint_event(self, event_type: str, post: RawPost, summary: Mapping[str, Any], *,
                         reasons: list[str], excerpt: str | None = None,
                         response: dict[str, Any] | None = None) -> dict[str, Any]:
        return complaint_event(
            event_type, summary, cause=post.key, occurred_at=post.created_at, tz=self.config.timezone,
            post=self._ref(post), reasons=reasons, excerpt=excerpt, response=response,
            formatted_at=self._time(post.created_at))

    def respond_by_post(self, response: DeskResponse, state: Mapping[str, ThreadEntry]) -> dict[str, Any] | None:
        """A desk response naming the complaint by its first post: the complaint event, if the
        post is a known complaint."""
        entry = state.get(response.post_key or "")
        if entry is None or not entry.complaint_id:
            return None
        return desk_response_event(response, entry.summary(), self.config.timezone)


def decide(config: TanggapConfig, text: str, normalized: NormalizedText, addressed: tuple[str, ...]) -> Classification:
    """Classify one post with the configuration's rules and, where it has one, its model."""
    model = config.model
    if model is None:
        return classify(normalized, config.rules)
    official = bool(addressed) and bool(config.directory.opds_for_handles(addressed))
    scores = model.score(normalized, text, official)
    return classify(normalized, config.rules, scores, config.review,
                    lambda: model.score_passages(normalized, official),
                    lambda: places_elsewhere(config, normalized))


def places_elsewhere(config: TanggapConfig, normalized: NormalizedText, place: Place | None = None) -> list[str]:
    """The places well outside the regency (regency.toml outside_places) a post names, when it
    names no kecamatan or desa of the regency (`place`: where the post was located already)."""
    if place is None:
        place = config.gazetteer.locate(normalized.words)
    if place.kecamatan is not None or place.desa is not None:
        return []
    return sorted({m.payload for m in config.outside_places.find(normalized.words)})


def without_counts(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A complaint summary for a response event: without its mention count and platforms.

    Triage remembers what it counted for each mention (``counted``), so a mention replayed after
    a crash goes out with its first count. A response is not a mention and is not remembered; the
    summary's counts may have moved on when it is replayed, so its event would go out again
    under the same id with other counts. The clustering stage, which holds the counts of the
    merged complaint anyway, fills them in and remembers what it sent
    (agents.domain.cluster.Clusterer._as_first_sent)."""
    return {**summary, "mentions": None, "platforms": None}


RECENT_MENTIONS = 64
"""Mentions whose counts a complaint summary remembers (most recent first out): enough to replay
any batch a crash interrupted, bounded however viral the complaint gets."""


def _recent(counted: dict[str, list]) -> dict[str, list]:
    if len(counted) <= RECENT_MENTIONS:
        return counted
    return dict(list(counted.items())[-RECENT_MENTIONS:])


def complaint_event(event_type: str, summary: Mapping[str, Any], *, cause: str, occurred_at: float, tz: Any,
                    post: dict[str, Any] | None = None, reasons: list[str] | None = None,
                    excerpt: str | None = None, response: dict[str, Any] | None = None,
                    formatted_at: str | None = None) -> dict[str, Any]:
    """`formatted_at`: `occurred_at` already formatted in `tz`, where the caller has it."""
    complaint_id = summary["complaint_id"]
    return {
        "event_id": stable_id("evt", complaint_id, event_type, cause),
        "type": event_type,
        "complaint_id": complaint_id,
        "occurred_at": format_time(occurred_at, tz) if formatted_at is None else formatted_at,
        "kind": summary.get("kind"),
        "category": summary.get("category"),
        "priority": summary.get("priority"),
        "opd": summary.get("opd"),
        "kecamatan": summary.get("kecamatan"),
        "desa": summary.get("desa"),
        "needs_review": bool(summary.get("needs_review")),
        "mentions": summary.get("mentions"),
        "platforms": summary.get("platforms"),
        "first_post": summary.get("first_post"),
        "post": post,
        "excerpt": excerpt,
        "response": response,
        "reasons": reasons or [],
    }


def desk_response_event(response: DeskResponse, summary: Mapping[str, Any], tz: Any) -> dict[str, Any]:
    event_type = "resolved" if response.kind == "resolved" else "responded"
    body = {"by": response.by, "kind": response.kind, "at": format_time(response.at, tz),
            "channel": response.channel or "desk", "post": None}
    return complaint_event(event_type, without_counts(summary), cause=response.event_id, occurred_at=response.at, tz=tz,
                           reasons=[f"desk_response[{response.event_id}]"], response=body)
