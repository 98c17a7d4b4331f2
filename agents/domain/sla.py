"""SLA policies and the clocks of one complaint, as pure functions.

A clock (agents.domain.state.Clock; it lives in a faust table) has one StageClock per *stage*: the first
response, and (for every policy that has one) the resolution. Each stage has a budget in its
calendar's time (working time, or round the clock) and raises *levels* as that budget is spent:
`at_risk` (a configurable share, default 75%), `breached` (100%) and escalations at multiples
of the budget (default 2x to the OPD head, 3x to the Sekda). A response stops the first-response
stage with `met` or `answered_late`; a `resolved` event stops both stages.

Outcomes are decided by event time: a response counts as on time when its own timestamp is
not after the deadline, however late it reaches the pipeline. Each (complaint, stage, level)
is emitted at most once (the clock remembers it) and its event id is a hash of exactly those
three, so a re-emission after a crash carries the same id.

Pausing: while the desk waits for the citizen, every running stage is paused; the working (or
wall) time spent so far is kept and, on the citizen's next post, the remaining budget restarts
from that instant, so thresholds and the deadline move by the paused time.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.domain.calendar import Calendar
from agents.domain.state import STAGE_FIRST_RESPONSE, Clock, EarlyEvent, StageClock
from schemas.events import BREACH_EVENT_TYPE_PREFIX, format_time, parse_time, stable_id

STAGE_RESOLUTION = "resolution"
STAGES = (STAGE_FIRST_RESPONSE, STAGE_RESOLUTION)
WHEN_KEYS = ("kind", "category", "priority", "opd")

LEVEL_AT_RISK = "at_risk"
LEVEL_BREACHED = "breached"
LEVEL_ESCALATED_OPD_HEAD = "escalated_opd_head"
LEVEL_ESCALATED_SEKDA = "escalated_sekda"
OUTCOME_MET = "met"
OUTCOME_ANSWERED_LATE = "answered_late"

EXCERPT_CHARS = 160
RESPONSE_KIND_WAITING = "waiting_for_citizen"


@dataclass(frozen=True, slots=True)
class Budget:
    hours: float | None
    working_days: int | None
    round_the_clock: bool

    def describe(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days} working days"
        return f"{self.hours:g} hours {'round the clock' if self.round_the_clock else 'working time'}"


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    when: Mapping[str, frozenset[str]]
    first_response: Budget
    resolution: Budget | None = None

    def matches(self, complaint: Mapping[str, Any]) -> bool:
        for key, allowed in self.when.items():
            if complaint.get(key) not in allowed:
                return False
        return True

    def budgets(self) -> dict[str, Budget]:
        stages = {STAGE_FIRST_RESPONSE: self.first_response}
        if self.resolution is not None:
            stages[STAGE_RESOLUTION] = self.resolution
        return stages


@dataclass(frozen=True, slots=True)
class Level:
    """An alert raised when `multiple` of a stage's budget is spent; `escalate_to` names who is
    told (`opd_head` or `sekda`), None for plain alerts."""

    name: str
    multiple: float
    escalate_to: str | None = None


DEFAULT_LEVELS = (
    Level(LEVEL_AT_RISK, 0.75),
    Level(LEVEL_BREACHED, 1.0),
    Level(LEVEL_ESCALATED_OPD_HEAD, 2.0, "opd_head"),
    Level(LEVEL_ESCALATED_SEKDA, 3.0, "sekda"),
)


@dataclass(frozen=True)
class SlaPolicies:
    policies: tuple[Policy, ...]
    working: Calendar
    round_the_clock: Calendar
    round_the_clock_opds: frozenset[str]
    levels: tuple[Level, ...] = DEFAULT_LEVELS
    """Sorted by multiple; always contains `breached` at 1.0."""
    opd_heads: Mapping[str, str] = field(default_factory=dict)
    sekda: str = "Sekretaris Daerah"

    def select(self, complaint: Mapping[str, Any]) -> Policy | None:
        for policy in self.policies:
            if policy.matches(complaint):
                return policy
        return None

    def calendar_for(self, budget: Budget, opd: str | None) -> Calendar:
        if budget.round_the_clock or opd in self.round_the_clock_opds:
            return self.round_the_clock
        return self.working

    def calendar_named(self, working_clock: bool) -> Calendar:
        return self.working if working_clock else self.round_the_clock

    def deadline(self, budget: Budget, opd: str | None, opened_at: float) -> float:
        calendar = self.calendar_for(budget, opd)
        if budget.working_days is not None:
            return calendar.add_days(opened_at, budget.working_days)
        return calendar.add(opened_at, (budget.hours or 0.0) * 3600.0)

    def level(self, name: str) -> Level:
        return next(level for level in self.levels if level.name == name)

    def escalation_target(self, level: Level, opd: str | None) -> str | None:
        if level.escalate_to == "opd_head":
            return self.opd_heads.get(opd or "", f"Kepala {opd}")
        if level.escalate_to == "sekda":
            return self.sekda
        return None


# --- personal data ------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")
_NINE_DIGITS = re.compile(r"\d{9}")
_EMAIL_AROUND_AT = re.compile(r"[\w.+-]@[\w-]+\.[\w.-]")


def _may_hold_email(text: str) -> bool:
    """Whether some "@" has what an e-mail address has around it (cheaper than searching for one)."""
    at = text.find("@", 1)
    while at != -1:
        if _EMAIL_AROUND_AT.match(text, at - 1):
            return True
        at = text.find("@", at + 1)
    return False


_REDACTIONS = (
    # (pattern, replacement, a test the text passes whenever the pattern can match it), the
    # patterns that need a digit last
    (re.compile(r"https?://\S+|www\.\S+"), "[url]", lambda text: "http" in text or "www." in text),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]", _may_hold_email),
    (re.compile(r"@\w[\w.]*"), "@[akun]", lambda text: "@" in text),
    (re.compile(r"\b\d{16}\b"), "[nik]", _NINE_DIGITS.search),  # NIK, the national identity number
    (re.compile(r"(?:\+62|\b62|\b0)8[\d\s.-]{7,14}\d"), "[telepon]", lambda text: "08" in text or "628" in text),
    (re.compile(r"\b\d{9,}\b"), "[nomor]", _NINE_DIGITS.search),  # account, KK and other long numbers
)
_WITHOUT_DIGITS = _REDACTIONS[:3]
"""The patterns that can match a text without digits (no replacement adds a digit)."""


def redact(text: str | None, limit: int = EXCERPT_CHARS) -> str | None:
    """An excerpt for alerting systems: links, e-mail addresses, handles, NIK, phone and other
    long numbers replaced by placeholders, cut at `limit` characters. Most excerpts have none of
    them: a pattern runs only on a text that has what it needs (a link's prefix, what surrounds
    an e-mail's "@", an "@", a digit and then a run of nine digits or a phone number's prefix)."""
    if not text:
        return None
    for pattern, replacement, may_match in _REDACTIONS if _DIGIT.search(text) else _WITHOUT_DIGITS:
        if may_match(text):
            text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- clocks -------------------------------------------------------------------------------------


def open_clock(opened: Mapping[str, Any], policies: SlaPolicies, *, excerpt: bool = True) -> Clock | None:
    """The clock for a complaint's `opened` event, or None if no policy applies. `excerpt`
    False: the clock keeps no excerpt, for readers that never alert (the backtest)."""
    policy = policies.select(opened)
    if policy is None:
        return None
    opened_at = parse_time(opened["occurred_at"])
    opd = opened.get("opd")
    first_post = opened.get("first_post") or {}
    stages = {}
    for name, budget in policy.budgets().items():
        calendar = policies.calendar_for(budget, opd)
        deadline = policies.deadline(budget, opd, opened_at)
        stages[name] = StageClock(working_clock=calendar is policies.working,
                                  budget=calendar.between(opened_at, deadline), deadline=deadline, anchor=opened_at)
    return Clock(
        complaint_id=opened["complaint_id"], policy=policy.id, opened_at=opened_at, opd=opd,
        category=opened.get("category"), priority=opened.get("priority"), kecamatan=opened.get("kecamatan"),
        platform=first_post.get("platform"), url=first_post.get("url"), author=first_post.get("author_handle"),
        excerpt=redact(opened.get("excerpt")) if excerpt else None, mentions=opened.get("mentions") or 1, stages=stages)


def threshold(stage: StageClock, level: Level, policies: SlaPolicies) -> float | None:
    """When `level` falls due on a running stage (None while paused or stopped)."""
    anchor = stage.anchor
    if anchor is None or stage.stopped_at is not None:
        return None
    if level.multiple == 1.0:
        return stage.deadline
    calendar = policies.working if stage.working_clock else policies.round_the_clock
    return calendar.add(anchor, max(0.0, level.multiple * stage.budget - stage.spent))


def due_levels(clock: Clock, now: float, policies: SlaPolicies) -> list[tuple[str, Level, float]]:
    """(stage, level, due instant) of every level past due at `now` and not emitted yet, in
    order of due instant."""
    due = []
    for name, stage in clock.stages.items():
        if not stage.is_running:
            continue
        for level in policies.levels:
            if level.name in stage.emitted:
                continue
            at = threshold(stage, level, policies)
            if at is not None and now > at:
                due.append((name, level, at))
    due.sort(key=lambda item: item[2])
    return due


def next_due(clock: Clock, policies: SlaPolicies) -> float | None:
    """The earliest instant at which some level of a running stage falls due; None if none will."""
    earliest = None
    for stage in clock.stages.values():
        if not stage.is_running:
            continue
        for level in policies.levels:
            if level.name not in stage.emitted:
                at = threshold(stage, level, policies)
                if at is not None and (earliest is None or at < earliest):
                    earliest = at
                break  # levels are sorted: the first not emitted is the stage's next one
    return earliest


def is_due(clock: Clock, now: float, policies: SlaPolicies) -> bool:
    at = next_due(clock, policies)
    return at is not None and now > at


def pause(clock: Clock, at: float, policies: SlaPolicies) -> bool:
    """Stop counting: the desk is waiting for the citizen. False if already paused or nothing runs."""
    if clock.paused_at is not None:
        return False
    paused = False
    for stage in clock.stages.values():
        if not stage.is_running:
            continue
        calendar = policies.calendar_named(stage.working_clock)
        stage.spent += calendar.between(stage.anchor, at)
        stage.anchor = None
        paused = True
    if paused:
        clock.paused_at = at
    return paused


def resume(clock: Clock, at: float, policies: SlaPolicies) -> bool:
    """Count again from `at` (not before the pause): the remaining budget moves the deadline."""
    paused_at = clock.paused_at
    if paused_at is None:
        return False
    start = max(at, paused_at)
    for stage in clock.stages.values():
        if stage.stopped_at is not None or stage.anchor is not None:
            continue
        calendar = policies.calendar_named(stage.working_clock)
        stage.anchor = start
        stage.deadline = calendar.add(start, max(0.0, stage.budget - stage.spent))
    clock.paused_at = None
    return True


def reprioritize(clock: Clock, priority: str | None, policies: SlaPolicies) -> bool:
    """A complaint's priority was raised (`reprioritized`: it went viral). Every stage still
    running gets the budget of the policy the complaint now matches, counted from its opening,
    when that is tighter than its own: a raise never gives the desk more time. Levels already
    emitted stay emitted; a threshold the new budget puts in the past falls due at the next tick,
    with its lateness. False if nothing changed (an older raise replayed, or no tighter budget)."""
    if priority is None or priority == clock.priority:
        return False
    policy = policies.select({"category": clock.category, "opd": clock.opd, "priority": priority})
    clock.priority = priority
    if policy is None:
        return True
    opened_at = clock.opened_at
    for name, budget in policy.budgets().items():
        stage = clock.stages.get(name)
        if stage is None or stage.stopped_at is not None:
            continue
        calendar = policies.calendar_named(stage.working_clock)
        # In the stage's own calendar, so the budget and the time spent stay comparable.
        tighter = calendar.between(opened_at, policies.deadline(budget, clock.opd, opened_at))
        if tighter >= stage.budget:
            continue
        stage.budget = tighter
        if stage.anchor is not None:  # running; a paused stage's deadline is set on resume
            stage.deadline = calendar.add(stage.anchor, max(0.0, tighter - stage.spent))
    clock.policy = policy.id
    return True


def is_citizen_post(clock: Clock, post: Mapping[str, Any] | None) -> bool:
    """Whether an attached post is the complaining citizen's own (same handle). Platforms without
    handles (WhatsApp) cannot tell, so any post in the thread counts."""
    author = clock.author
    handle = (post or {}).get("author_handle")
    if not author or not handle:
        return True
    return author.lower() == handle.lower()


@dataclass(frozen=True, slots=True)
class Response:
    """What a response did to one stage."""

    stage: str
    outcome: str  # "met" or "answered_late"
    wall_seconds: float
    working_seconds: float
    late: bool
    backfill_breach: bool
    """The response was late and the breach had not been emitted yet: emit it now."""


def stop_stage(clock: Clock, stage_name: str, at: float, by: str | None,
               policies: SlaPolicies) -> Response | None:
    """Stop a stage at a response's event time; a stopped or absent stage gives None."""
    stage = clock.stages.get(stage_name)
    if stage is None or stage.stopped_at is not None:
        return None
    if stage.anchor is None:  # paused: late only if the budget was used up before the pause
        late = stage.spent > stage.budget
    else:
        late = at > stage.deadline
    stage.stopped_at = at
    stage.stopped_by = by
    opened_at = clock.opened_at
    wall = max(0.0, at - opened_at)
    working = policies.calendar_named(stage.working_clock).between(opened_at, at)
    backfill = late and LEVEL_BREACHED not in stage.emitted
    if backfill:
        stage.emitted.append(LEVEL_BREACHED)
    outcome = OUTCOME_ANSWERED_LATE if late else OUTCOME_MET
    stage.emitted.append(outcome)
    return Response(stage_name, outcome, wall, working, late, backfill)


def record_response(clock: Clock, at: float, by: str | None, policies: SlaPolicies) -> Response | None:
    """A first response stops the first-response stage; later responses change nothing (None)."""
    return stop_stage(clock, STAGE_FIRST_RESPONSE, at, by, policies)


def record_resolution(clock: Clock, at: float, by: str | None, policies: SlaPolicies) -> list[Response]:
    """`resolved` stops every stage still running: resolving a complaint also answers it."""
    return [r for name in STAGES if (r := stop_stage(clock, name, at, by, policies)) is not None]


def mark_emitted(clock: Clock, stage: str, level: str) -> None:
    clock.stages[stage].emitted.append(level)


# -- complaint events on a clock -------------------------------------------------------------------

ResponsesRecorded = Callable[[Clock, list[Response], float], None]
"""Called with a clock, the responses an event just recorded on it and the event's instant, at
the moment they are recorded (the clock as it is then: an `opened` that applies buffered events
calls it once per event)."""


@dataclass(frozen=True, slots=True)
class ClockStep:
    """What one complaint event did to its complaint's entry in the clock table."""

    outcome: str
    """``opened``, ``updated``, ``buffered`` (the event overtook its complaint's ``opened``:
    kept for then), ``redelivered`` (an ``opened`` of a clock that is open), ``unmatched`` (no
    SLA policy matches the complaint) or ``ignored`` (an event type clocks do not hear)."""
    entry: Clock | None = None
    """The entry to store under the complaint id (None: the table does not change)."""


def step_clock(entry: Clock | None, complaint: Mapping[str, Any], policies: SlaPolicies,
               on_responses: ResponsesRecorded, *, excerpt: bool = True) -> ClockStep:
    """Apply one complaint event (the `complaints` topic's shape) to its clock table entry.

    Events arrive from more than one producer, so a response or a copy may overtake its
    complaint's ``opened``: it is buffered in the entry and applied, in arrival order, when the
    clock opens. A redelivered copy of an older ``duplicate_attached`` carries its first count,
    so the clock's mention count only ever rises. `excerpt`: as for :func:`open_clock`."""
    event_type = complaint["type"]
    is_open = entry is not None and entry.stages is not None
    if event_type == "opened":
        if is_open:
            return ClockStep("redelivered")
        state = open_clock(complaint, policies, excerpt=excerpt)
        if state is None:
            return ClockStep("unmatched")
        for early in (entry.early or ()) if entry is not None else ():
            _apply_event(state, early, policies, on_responses)
        return ClockStep("opened", state)
    event = _early_event(complaint)
    if event is None:
        return ClockStep("ignored")
    if not is_open:
        pending = entry if entry is not None else Clock()
        if pending.early is None:
            pending.early = []
        pending.early.append(event)
        return ClockStep("buffered", pending)
    if event_type == "duplicate_attached" and complaint.get("mentions"):
        entry.mentions = max(entry.mentions or 1, complaint["mentions"])
    _apply_event(entry, event, policies, on_responses)
    return ClockStep("updated", entry)


def _early_event(complaint: Mapping[str, Any]) -> EarlyEvent | None:
    """What a clock hears of an event (and what a buffered event keeps): its type, instant, who
    responded and the response's kind, and its detail: the attached post of a
    ``duplicate_attached``, the new priority of a ``reprioritized``."""
    event_type = complaint["type"]
    if event_type in ("responded", "resolved"):
        response = complaint["response"]
        return EarlyEvent(event_type, parse_time(response["at"]), response["by"], response.get("kind"), None)
    if event_type == "duplicate_attached":
        return EarlyEvent(event_type, parse_time(complaint["occurred_at"]), None, None, complaint.get("post"))
    if event_type == "reprioritized":
        return EarlyEvent(event_type, parse_time(complaint["occurred_at"]), None, None,
                          {"priority": complaint.get("priority")})
    return None


def _apply_event(state: Clock, event: EarlyEvent, policies: SlaPolicies, on_responses: ResponsesRecorded) -> None:
    event_type, at, by, kind, detail = event
    if event_type == "resolved":
        on_responses(state, record_resolution(state, at, by, policies), at)
    elif event_type == "responded" and kind == RESPONSE_KIND_WAITING:
        pause(state, at, policies)
    elif event_type == "responded":
        response = record_response(state, at, by, policies)
        on_responses(state, [response] if response else [], at)
    elif event_type == "duplicate_attached" and is_citizen_post(state, detail):
        resume(state, at, policies)
    elif event_type == "reprioritized":
        reprioritize(state, (detail or {}).get("priority"), policies)


def sla_event_id(complaint_id: str, stage: str, level: str) -> str:
    return stable_id("brc", complaint_id, stage, level)


def sla_event(clock: Clock, stage_name: str, level: str, *, emitted_at: float, due_at: float,
              policies: SlaPolicies, source: str, tz: Any, response: Response | None = None) -> dict[str, Any]:
    """A CloudEvents 1.0 (structured JSON) SLA event; its id depends only on the complaint, stage
    and level, so a re-emission after a crash carries the same id.

    `due_at` is when the level fell due (its threshold, or the response time for an outcome);
    `lateness_seconds` is how much later than that the event was emitted (a worker that was down
    emits late and says so)."""
    complaint_id = clock.complaint_id
    stage = clock.stages[stage_name]
    deadline = stage.deadline
    calendar = policies.calendar_named(stage.working_clock)
    stopped_at = stage.stopped_at
    overdue_until = stopped_at if stopped_at is not None else emitted_at
    overdue_wall = max(0.0, overdue_until - deadline)
    overdue_working = calendar.between(deadline, overdue_until)
    known = next((lv for lv in policies.levels if lv.name == level), None)
    target = policies.escalation_target(known, clock.opd) if known else None
    return {
        "specversion": "1.0",
        "id": sla_event_id(complaint_id, stage_name, level),
        "source": source,
        "type": BREACH_EVENT_TYPE_PREFIX + level,
        "subject": complaint_id,
        "time": format_time(emitted_at),
        "datacontenttype": "application/json",
        "data": {
            "complaint_id": complaint_id,
            "stage": stage_name,
            "level": level,
            "policy": clock.policy,
            "opd": clock.opd,
            "kecamatan": clock.kecamatan,
            "category": clock.category,
            "priority": clock.priority,
            "platform": clock.platform,
            "opened": format_time(clock.opened_at, tz),
            "deadline": format_time(deadline, tz),
            "emitted": format_time(emitted_at, tz),
            "overdue_wall_seconds": round(overdue_wall, 3),
            "overdue_working_seconds": round(overdue_working, 3),
            "lateness_seconds": round(max(0.0, emitted_at - due_at), 3),
            "escalation_target": target,
            "responded_at": format_time(stopped_at, tz) if stopped_at is not None else None,
            "latency_wall_seconds": round(response.wall_seconds, 3) if response else None,
            "latency_working_seconds": round(response.working_seconds, 3) if response else None,
            "mentions": clock.mentions or 1,
            "post_urls": [clock.url] if clock.url else [],
            "excerpt": clock.excerpt,
        },
    }


# --- the deadline index -------------------------------------------------------------------------

GAUGE_CLOSED, GAUGE_OPEN, GAUGE_AT_RISK, GAUGE_OVERDUE = 0, 1, 2, 3
"""Where a clock stands for the per-OPD gauges: not awaiting a first response, awaiting it,
awaiting it and at risk, awaiting it past the deadline (breach emitted)."""


def gauge_state(clock: Clock) -> int:
    stage = clock.stages.get(STAGE_FIRST_RESPONSE)
    if stage is None or stage.stopped_at is not None:
        return GAUGE_CLOSED
    if LEVEL_BREACHED in stage.emitted:
        return GAUGE_OVERDUE
    if LEVEL_AT_RISK in stage.emitted:
        return GAUGE_AT_RISK
    return GAUGE_OPEN


def index_entry(clock: Clock, policies: SlaPolicies) -> tuple[float | None, str | None, int]:
    """(next due instant, OPD, gauge state), also stored in the clock (`next_due`, `gauge`) so an
    index rebuild reads two fields per clock instead of doing calendar arithmetic."""
    clock.next_due = next_due(clock, policies)
    clock.gauge = gauge_state(clock)
    return clock.next_due, clock.opd, clock.gauge


class DeadlineIndex:
    """The next due instant of every clock of this worker's partitions, in a heap.

    Finding the due clocks costs O(due x log n): a tick with nothing due looks at the heap's
    head only. Entries are replaced lazily: `set` pushes the new instant and records it in
    `_due`, and a popped entry that no longer matches `_due` is stale and skipped. The per-OPD
    counts behind the open/at-risk/overdue gauges are kept incrementally for the same reason.
    """

    __slots__ = ("_heap", "_due", "counts", "dirty")

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, tuple[float | None, str | None, int]] = {}
        self.counts: dict[tuple[str | None, int], int] = {}
        self.dirty = True

    def __len__(self) -> int:
        return len(self._due)

    def clear(self) -> None:
        self._heap.clear()
        self._due.clear()
        self.counts.clear()
        self.dirty = True

    def _count(self, opd: str | None, state: int, delta: int) -> None:
        if state != GAUGE_CLOSED:
            key = (opd, state)
            self.counts[key] = self.counts.get(key, 0) + delta
            self.dirty = True

    def set(self, complaint_id: str, due: float | None, opd: str | None = None, state: int = GAUGE_CLOSED) -> None:
        old = self._due.get(complaint_id)
        if old is not None:
            self._count(old[1], old[2], -1)
        if due is None and state == GAUGE_CLOSED:
            self._due.pop(complaint_id, None)
            return
        self._due[complaint_id] = (due, opd, state)
        self._count(opd, state, +1)
        if due is not None and (old is None or old[0] != due):
            heapq.heappush(self._heap, (due, complaint_id))

    def discard(self, complaint_id: str) -> None:
        self.set(complaint_id, None)

    def rebuild(self, entries: Iterable[tuple[str, float | None, str | None, int]]) -> None:
        """Replace everything with (complaint id, due, OPD, gauge state) entries: one heapify."""
        self.clear()
        due_map = self._due
        heap = self._heap
        counts = self.counts
        for complaint_id, due, opd, state in entries:
            if due is None and state == GAUGE_CLOSED:
                continue
            due_map[complaint_id] = (due, opd, state)
            if state != GAUGE_CLOSED:
                counts[(opd, state)] = counts.get((opd, state), 0) + 1
            if due is not None:
                heap.append((due, complaint_id))
        heapq.heapify(heap)

    def next_due(self) -> float | None:
        heap, due_map = self._heap, self._due
        while heap:
            due, complaint_id = heap[0]
            entry = due_map.get(complaint_id)
            if entry is not None and entry[0] == due:
                return due
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float, retry_at: float) -> list[str]:
        """Clocks due at `now`; each is re-armed at `retry_at` in case the check it triggers is
        lost (the owner replaces the entry with the clock's real next instant when it acts)."""
        heap, due_map = self._heap, self._due
        found: list[str] = []
        while heap and heap[0][0] < now:
            due, complaint_id = heapq.heappop(heap)
            entry = due_map.get(complaint_id)
            if entry is None or entry[0] != due:
                continue
            found.append(complaint_id)
        for complaint_id in found:
            _, opd, state = due_map[complaint_id]
            due_map[complaint_id] = (retry_at, opd, state)
            heapq.heappush(heap, (retry_at, complaint_id))
        return found

    def gauges(self) -> tuple[dict[str | None, int], dict[str | None, int], dict[str | None, int]]:
        """Per OPD: clocks awaiting a first response, of those at risk, of those overdue."""
        waiting: dict[str | None, int] = {}
        at_risk: dict[str | None, int] = {}
        overdue: dict[str | None, int] = {}
        for (opd, state), count in self.counts.items():
            waiting[opd] = waiting.get(opd, 0) + count
            if state == GAUGE_AT_RISK:
                at_risk[opd] = at_risk.get(opd, 0) + count
            elif state == GAUGE_OVERDUE:
                overdue[opd] = overdue.get(opd, 0) + count
        self.dirty = False
        return waiting, at_risk, overdue
