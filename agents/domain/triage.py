"""Dedupe, classify and assign one post: the pure core shared by the stream and `tanggap triage`.

`Triage.process` reads the thread state (a mapping: a faust table in the stream, a dict in the
batch CLI) and returns the decision record, the complaint events and the state updates; the
caller applies the updates. Nothing here does I/O, so the same inputs give the same outputs in
both places, and reprocessing after a crash gives the same event ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.domain.assign import assign
from agents.domain.classify import classify
from agents.domain.dedupe import complaint_id_for, is_processed
from schemas.events import DeskResponse, RawPost, format_time, stable_id

if TYPE_CHECKING:
    from agents.domain.config import TanggapConfig

OFFICIAL_KIND = "respon_resmi"
"""Kind recorded for posts by an official account: they are responses, not citizen posts."""
EXCERPT_CHARS = 280


@dataclass(slots=True)
class TriageResult:
    record: dict[str, Any]
    """The decision for this post (published on `posts.triaged`)."""
    complaint_events: list[dict[str, Any]] = field(default_factory=list)
    state_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    late_records: list[dict[str, Any]] = field(default_factory=list)
    """Final decisions for earlier posts that were waiting on this one (official replies that
    arrived before the complaint they answer); they supersede those posts' pending records."""


def _post_ref(post: RawPost, tz: Any) -> dict[str, Any]:
    return {
        "key": post.key,
        "platform": post.platform,
        "post_id": post.post_id,
        "url": post.url,
        "author_handle": post.author_handle,
        "created_at": format_time(post.created_at, tz),
    }


_DECISION_FIELDS = ("kind", "category", "priority", "opd", "kecamatan", "desa", "complaint_id")


class Triage:
    """Thread state is a mapping from post keys to entries:

    - a post processed here: its decision (and, for a complaint's opening post, the complaint
      summary: mentions, platforms, first post);
    - a placeholder (``seen: False``) for a post not processed yet that others point at:
      official replies waiting for it, or the complaint its repost opened first.

    Placeholders exist because posts of one thread reach their partition out of order (they
    are produced to `posts.raw` under their own keys, on different partitions).
    """

    def __init__(self, config: TanggapConfig) -> None:
        self.config = config

    def process(self, post: RawPost, state: Mapping[str, Mapping[str, Any]]) -> TriageResult:
        own = state.get(post.key)
        if is_processed(own):
            return self._redelivery(post, own or {})
        parent_key = post.parent_key
        parent = state.get(parent_key) if parent_key else None

        official_opd = self.config.directory.official_opd(post.platform, post.author_handle)
        if official_opd is not None:
            return self._official(post, official_opd, parent)
        if parent is not None and parent.get("complaint_id"):
            return self._mention(post, parent_key or "", parent, via="repost_of" if post.repost_of else "reply_to")
        if own is not None and own.get("complaint_id"):
            # A repost of this post arrived first and opened the complaint under this key.
            return self._mention(post, post.key, own, via="reposted_before_original")
        # A repost's text is its original's: when the original is not known yet, the complaint
        # is opened under the original's key so that the original joins it when it arrives.
        return self._new(post, complaint_key=parent_key if post.repost_of else post.key, state=state)

    def _redelivery(self, post: RawPost, entry: Mapping[str, Any]) -> TriageResult:
        record = self._record(post, outcome="redelivery", reasons=["dedupe:same_post_key_seen_before"],
                              duplicate_of=post.key, duplicate_via="redelivery",
                              **{f: entry.get(f) for f in _DECISION_FIELDS})
        return TriageResult(record)

    def _record(self, post: RawPost, *, outcome: str, reasons: list[str], kind: str | None = None,
                category: str | None = None, priority: str | None = None, opd: str | None = None,
                kecamatan: str | None = None, desa: str | None = None, complaint_id: str | None = None,
                duplicate_of: str | None = None, duplicate_via: str | None = None,
                ignored_reason: str | None = None) -> dict[str, Any]:
        return {
            "event_id": stable_id("tri", post.key, outcome),
            "post_key": post.key,
            "platform": post.platform,
            "post_id": post.post_id,
            "created_at": format_time(post.created_at, self.config.timezone),
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
            "reasons": reasons,
        }

    def _new(self, post: RawPost, complaint_key: str, state: Mapping[str, Mapping[str, Any]]) -> TriageResult:
        config = self.config
        placeholder = state.get(complaint_key)
        waiting = list((placeholder or {}).get("pending_responses", ()))
        normalized = config.normalizer.normalize(post.text)
        decision = classify(normalized, config.rules)
        reasons = list(decision.reasons)
        if decision.kind not in config.actionable_kinds:
            if waiting:
                reasons.append(f"official_replies_to_a_post_that_opened_no_complaint[{len(waiting)}]")
            record = self._record(post, outcome="ignored", reasons=reasons, kind=decision.kind,
                                  ignored_reason=decision.kind)
            return TriageResult(record, state_updates={post.key: {"kind": decision.kind}})

        place = config.gazetteer.locate(normalized.words)
        addressed = (*post.addressed_to, *normalized.mentions)
        owner = assign(decision, place, addressed, config.directory, config.category_owner)
        reasons.extend(place.reasons)
        reasons.extend(owner.reasons)
        decided = {
            "kind": decision.kind,
            "category": decision.category,
            "priority": decision.priority,
            "opd": owner.opd,
            "kecamatan": place.kecamatan,
            "desa": place.desa,
            "complaint_id": complaint_id_for(complaint_key),
        }
        record = self._record(post, outcome="opened", reasons=reasons, **decided)
        summary = {**decided, "mentions": 1, "platforms": [post.platform], "opened_at": post.created_at,
                   "first_post": _post_ref(post, self.config.timezone)}
        if complaint_key != post.key:
            summary["seen"] = False
        event = self._complaint_event("opened", post, summary, reasons=reasons,
                                      excerpt=post.text[:EXCERPT_CHARS])
        result = TriageResult(record, [event], {complaint_key: summary})
        if complaint_key != post.key:
            result.state_updates[post.key] = {**decided, "mention_of": complaint_key}
        for pending in waiting:
            reply = RawPost.parse(pending["post"])
            answered = self._official(reply, pending["opd"], summary)
            result.complaint_events.extend(answered.complaint_events)
            result.state_updates.update(answered.state_updates)
            result.late_records.append(answered.record)
        return result

    def _mention(self, post: RawPost, target_key: str, target: Mapping[str, Any], via: str) -> TriageResult:
        # A mention of a mention points at the complaint but not at its summary, which lives
        # under the opening post's key: it is attached without updating the counts.
        summary = dict(target)
        is_summary = "mentions" in target
        if is_summary:
            summary["mentions"] = int(target["mentions"]) + 1
            if post.platform not in summary["platforms"]:
                summary["platforms"] = [*summary["platforms"], post.platform]
        reasons = [f"dedupe:{via}[{target_key}]"]
        decided = {f: target.get(f) for f in _DECISION_FIELDS}
        record = self._record(post, outcome="mention", reasons=reasons, duplicate_of=target_key,
                              duplicate_via=via, **decided)
        event = self._complaint_event("duplicate_attached", post, summary, reasons=reasons)
        updates: dict[str, dict[str, Any]] = {}
        if target_key == post.key:
            summary.pop("seen", None)
        else:
            updates[post.key] = {**decided, "mention_of": target_key}
        if is_summary:
            updates[target_key] = summary
        return TriageResult(record, [event], updates)

    def _official(self, post: RawPost, opd: str, parent: Mapping[str, Any] | None) -> TriageResult:
        account = f"official_account[{post.platform}:{post.author_handle}]"
        parent_key = post.parent_key
        if parent_key is None:
            record = self._record(post, outcome="ignored", kind=OFFICIAL_KIND, opd=opd, reasons=[account],
                                  ignored_reason="official_post_not_a_reply")
            return TriageResult(record, state_updates={post.key: {"kind": OFFICIAL_KIND}})
        if parent is None or not parent.get("complaint_id"):
            if is_processed(parent):
                record = self._record(post, outcome="ignored", kind=OFFICIAL_KIND, opd=opd,
                                      reasons=[account, f"reply_to[{parent_key}]"],
                                      ignored_reason="official_reply_to_a_post_that_opened_no_complaint")
                return TriageResult(record, state_updates={post.key: {"kind": OFFICIAL_KIND}})
            # The post it answers has not arrived yet: the reply waits in a placeholder.
            placeholder = dict(parent or {"seen": False})
            placeholder["pending_responses"] = [*placeholder.get("pending_responses", ()),
                                                {"post": post.to_json(), "opd": opd}]
            record = self._record(post, outcome="response_pending", kind=OFFICIAL_KIND, opd=opd,
                                  reasons=[account, f"reply_to_unseen_post[{parent_key}]"])
            return TriageResult(record, state_updates={parent_key: placeholder, post.key: {"kind": OFFICIAL_KIND}})
        complaint_id = parent["complaint_id"]
        reasons = [account, f"reply_to[{parent_key}]"]
        record = self._record(post, outcome="response", kind=OFFICIAL_KIND, opd=opd,
                              complaint_id=complaint_id, duplicate_of=parent_key, reasons=reasons)
        response = {"by": opd, "kind": "first_response", "at": format_time(post.created_at, self.config.timezone),
                    "channel": post.platform, "post": _post_ref(post, self.config.timezone)}
        event = self._complaint_event("responded", post, parent, reasons=reasons, response=response)
        return TriageResult(record, [event], {post.key: {"kind": OFFICIAL_KIND, "response_to": complaint_id}})

    def _complaint_event(self, event_type: str, post: RawPost, summary: Mapping[str, Any], *,
                         reasons: list[str], excerpt: str | None = None,
                         response: dict[str, Any] | None = None) -> dict[str, Any]:
        return complaint_event(
            event_type, summary, cause=post.key, occurred_at=post.created_at, tz=self.config.timezone,
            post=_post_ref(post, self.config.timezone), reasons=reasons, excerpt=excerpt, response=response)

    def respond_by_post(self, response: DeskResponse, state: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
        """A desk response naming the complaint by its first post: the complaint event, if the
        post is a known complaint."""
        entry = state.get(response.post_key or "")
        if entry is None or not entry.get("complaint_id"):
            return None
        return desk_response_event(response, entry, self.config.timezone)


def complaint_event(event_type: str, summary: Mapping[str, Any], *, cause: str, occurred_at: float, tz: Any,
                    post: dict[str, Any] | None = None, reasons: list[str] | None = None,
                    excerpt: str | None = None, response: dict[str, Any] | None = None) -> dict[str, Any]:
    complaint_id = summary["complaint_id"]
    return {
        "event_id": stable_id("evt", complaint_id, event_type, cause),
        "type": event_type,
        "complaint_id": complaint_id,
        "occurred_at": format_time(occurred_at, tz),
        "kind": summary.get("kind"),
        "category": summary.get("category"),
        "priority": summary.get("priority"),
        "opd": summary.get("opd"),
        "kecamatan": summary.get("kecamatan"),
        "desa": summary.get("desa"),
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
    return complaint_event(event_type, summary, cause=response.event_id, occurred_at=response.at, tz=tz,
                           reasons=[f"desk_response[{response.event_id}]"], response=body)
