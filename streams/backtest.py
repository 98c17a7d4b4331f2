"""`tanggap backtest`: what the SLA figures would have been, from an archive, without Kafka.

    tanggap backtest POSTS [--responses RESPONSES] [--config DIR] [--compare DIR] [--until T|end]

Posts (and desk responses) are taken in event-time order and run through the stream's own
domain code: `Triage` (dedupe, classify, assign), `Clusterer` (near-duplicates) and the SLA
stage's `agents.domain.sla.step_clock` for every complaint event, with the due levels of
`agents.domain.sla` (agents/sla.py runs the same functions in the stream). The clock is the
event time: before an input at instant t is processed, every level that fell due before t is
emitted, in order, so a deadline passes between the posts of the archive as it would have
passed in the stream. After the last input the clock runs to `--until`: by default the last
input's instant (complaints still within their budget then are *open*), `end` to let every
deadline pass (what a stream whose clock runs on reports), or an RFC 3339 instant.

Per OPD and category: complaints, answered (first response), answered in time, breached (the
first response's deadline passed unanswered, also when answered later), escalated (the first
response escalated to the OPD head or the Sekda), open (awaiting a first response, deadline not
passed at the end of the clock), and first-response latency p50/p90 in wall and working
time (nearest rank, seconds). Deterministic: the same inputs and configuration give the same
report, byte for byte.
"""

from __future__ import annotations

import csv
import gc
import heapq
import io
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from agents.domain.cluster import RESOLUTION_NOTICE, Clusterer, ClusterPolicy, route
from agents.domain.config import TanggapConfig
from agents.domain.sla import (
    LEVEL_BREACHED,
    STAGE_FIRST_RESPONSE,
    Response,
    SlaPolicies,
    mark_emitted,
    step_clock,
    threshold,
)
from agents.domain.state import Clock, ClusterEntry, StageClock, ThreadEntry
from agents.domain.triage import Triage, desk_response_event
from schemas.events import DeskResponse, InvalidInput, RawPost, format_time, parse_time

QUANTILES = (0.5, 0.9)
COLUMNS = ("opd", "category", "complaints", "answered", "answered_in_time", "breached", "escalated", "open",
           "latency_wall_p50", "latency_wall_p90", "latency_working_p50", "latency_working_p90")
ALL = "(all)"
UNTIL_END = "end"


@contextmanager
def _without_collections() -> Iterator[None]:
    """A backtest keeps what it allocates (inputs, thread and cluster entries, clocks) until the
    end, and what it drops is freed by reference counting (it makes no reference cycles): the
    cyclic garbage collector would find nothing to free, only walk every kept object once per
    generation it passes through. So it is off while a backtest parses and runs, and what was
    allocated meanwhile joins the oldest generation unwalked (`gc.freeze` then `gc.unfreeze`);
    re-enabling alone would walk it all at the next allocation."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


# --- the SLA clocks in event time ---------------------------------------------------------------

@dataclass(slots=True)
class ClockOutcome:
    """What happened to one complaint's clock."""

    opd: str | None
    category: str | None
    answered: bool = False
    in_time: bool = False
    breached: bool = False
    escalated: bool = False
    wall_seconds: float | None = None
    working_seconds: float | None = None


def _schedule_inputs(state: Clock | None) -> list[tuple] | None:
    """What the thresholds of an open clock's levels depend on (agents.domain.sla.threshold), per
    stage: equal before and after an event, the scheduled levels still stand."""
    if state is None or state.stages is None:
        return None
    return [(stage.anchor, stage.stopped_at, stage.deadline, stage.budget, stage.spent, len(stage.emitted))
            for stage in state.stages.values()]


class EventTimeClocks:
    """The `sla` agent's handling of complaint events (agents/sla.py), with the deadline
    index replaced by a heap advanced in event time."""

    def __init__(self, policies: SlaPolicies) -> None:
        self.policies = policies
        self.clocks: dict[str, Clock] = {}
        self.outcomes: dict[str, ClockOutcome] = {}
        self.sla_events = 0
        """How many SLA events (levels and response outcomes) the clocks emitted."""
        self._heap: list[tuple[float, int, int, int, str, int, str]] = []
        """(instant, store, stage position, level position, complaint id, clock version, stage) of
        the next level to come of every running stage."""
        self._version: dict[str, int] = {}
        self._stores = 0
        self._escalations = frozenset(level.name for level in policies.levels if level.escalate_to)
        self.unmatched = 0

    # the agent's steps ------------------------------------------------------------------------

    def _store(self, state: Clock) -> None:
        """Keep the clock and schedule its stages' next levels. A level's threshold changes only
        with the clock's state (a response, pause, resume, raise), never by the emission of
        another level, so every change schedules again under a new version and the older entries
        go stale; a stage's later levels are scheduled as the earlier ones are emitted
        (:meth:`_schedule`). Entries order by (instant, store, stage, level): the order in which
        scheduling every level at every change would emit them."""
        complaint_id = state.complaint_id
        self.clocks[complaint_id] = state
        version = self._version.get(complaint_id, 0) + 1
        self._version[complaint_id] = version
        self._stores += 1
        for position, (stage_name, stage) in enumerate(state.stages.items()):
            self._schedule(complaint_id, version, self._stores, position, stage_name, stage, 0)

    def _schedule(self, complaint_id: str, version: int, store: int, position: int, stage_name: str,
                  stage: StageClock, first: int) -> None:
        """Schedule the stage's first level from `first` on that it has not emitted, if it runs."""
        levels = self.policies.levels
        emitted = stage.emitted
        for number in range(first, len(levels)):
            level = levels[number]
            if level.name in emitted:
                continue
            at = threshold(stage, level, self.policies)
            if at is not None:  # None: not running, nothing of this stage falls due
                heapq.heappush(self._heap, (at, store, position, number, complaint_id, version, stage_name))
            return

    def _emit(self, state: Clock, stage: str, level: str) -> None:
        self.sla_events += 1
        if stage != STAGE_FIRST_RESPONSE:
            return
        if level in self._escalations:
            self.outcomes[state.complaint_id].escalated = True
        if level == LEVEL_BREACHED:
            self.outcomes[state.complaint_id].breached = True

    def _outcome(self, state: Clock) -> ClockOutcome:
        outcome = self.outcomes.get(state.complaint_id)
        if outcome is None:
            outcome = self.outcomes[state.complaint_id] = ClockOutcome(state.opd, state.category)
        return outcome

    def _responses_recorded(self, state: Clock, responses: list[Response], at: float) -> None:
        for response in responses:
            outcome = self._outcome(state)
            if response.backfill_breach:
                self._emit(state, response.stage, LEVEL_BREACHED)
            self._emit(state, response.stage, response.outcome)
            if response.stage == STAGE_FIRST_RESPONSE:
                outcome.answered = True
                outcome.in_time = not response.late
                outcome.wall_seconds = response.wall_seconds
                outcome.working_seconds = response.working_seconds

    def complaint_event(self, complaint: dict[str, Any]) -> None:
        """What the `sla` stage does with a complaint event (agents.domain.sla.step_clock; the
        report reads no excerpt, so the clocks keep none). An event that leaves every threshold
        as it was (most attached duplicates) schedules nothing."""
        complaint_id = complaint["complaint_id"]
        entry = self.clocks.get(complaint_id)
        before = _schedule_inputs(entry)
        step = step_clock(entry, complaint, self.policies, self._responses_recorded, excerpt=False)
        if step.outcome == "unmatched":
            self.unmatched += 1
        elif step.outcome == "buffered":
            self.clocks[complaint_id] = step.entry
        elif step.entry is not None and (step.outcome != "updated" or _schedule_inputs(step.entry) != before):
            self._outcome(step.entry)
            self._store(step.entry)

    def advance(self, now: float) -> None:
        """Emit every level due before `now` (the stream's tick emits a level when `now >
        threshold`, agents.domain.sla.due_levels), in order of due instant."""
        heap = self._heap
        if not heap or heap[0][0] >= now:
            return
        if now == math.inf:
            self._every_level_falls_due()
            return
        versions, levels, clocks = self._version, self.policies.levels, self.clocks
        while heap and heap[0][0] < now:
            _, store, position, number, complaint_id, version, stage = heapq.heappop(heap)
            if versions[complaint_id] != version:
                continue  # stale: the clock changed since this was scheduled
            state = clocks[complaint_id]
            level = levels[number].name
            mark_emitted(state, stage, level)
            self._emit(state, stage, level)
            self._schedule(complaint_id, version, store, position, stage, state.stages[stage], number + 1)

    def _every_level_falls_due(self) -> None:
        """The clock at infinity: every running stage emits each of its levels still to come
        (from its scheduled one on), and no clock changes any more, so there is no order to keep."""
        versions, levels, clocks = self._version, self.policies.levels, self.clocks
        for _, _, _, number, complaint_id, version, stage in self._heap:
            if versions[complaint_id] != version:
                continue
            state = clocks[complaint_id]
            emitted = state.stages[stage].emitted
            for level in levels[number:]:
                if level.name not in emitted:
                    mark_emitted(state, stage, level.name)
                    self._emit(state, stage, level.name)
        self._heap.clear()

    def open_at(self, complaint_id: str) -> bool:
        state = self.clocks.get(complaint_id)
        stage = state.stages.get(STAGE_FIRST_RESPONSE) if state is not None and state.is_open else None
        return stage is not None and stage.stopped_at is None and LEVEL_BREACHED not in stage.emitted


# --- the inputs ---------------------------------------------------------------------------------

@dataclass
class Inputs:
    posts: list[RawPost]
    responses: list[DeskResponse]
    invalid_posts: list[dict[str, Any]] = field(default_factory=list)
    invalid_responses: list[dict[str, Any]] = field(default_factory=list)


@_without_collections()
def parse_inputs(post_lines: Iterable[tuple[int, bytes]], response_lines: Iterable[tuple[int, bytes]]) -> Inputs:
    inputs = Inputs([], [])
    for target, invalid, parse, lines in ((inputs.posts, inputs.invalid_posts, RawPost.parse, post_lines),
                                          (inputs.responses, inputs.invalid_responses, DeskResponse.parse, response_lines)):
        for number, line in lines:
            try:
                value = orjson.loads(line)
                if isinstance(value, dict):
                    value.pop("expect", None)
                target.append(parse(value if isinstance(value, dict) else line))
            except (InvalidInput, orjson.JSONDecodeError) as exc:
                reason = exc.reason if isinstance(exc, InvalidInput) else "invalid_json"
                invalid.append({"line": number, "reason": reason, "detail": str(exc)})
    return inputs


# --- one run ------------------------------------------------------------------------------------

@dataclass
class Run:
    config: str
    clocks: EventTimeClocks
    complaints: dict[str, ClockOutcome]
    decisions: int
    unknown_responses: int
    until: float | None

    @_without_collections()
    def rows(self) -> list[dict[str, Any]]:
        """Per (OPD, category), per OPD (category "(all)") and the total ("(all)", "(all)")."""
        groups: dict[tuple[str, str], list[tuple[bool, ClockOutcome]]] = {}
        open_at = self.clocks.open_at
        for complaint_id, outcome in self.complaints.items():
            opd, category = outcome.opd or "-", outcome.category or "-"
            member = (open_at(complaint_id), outcome)
            for key in ((opd, category), (opd, ALL), (ALL, ALL)):
                groups.setdefault(key, []).append(member)
        rows = []
        for (opd, category), members in sorted(groups.items(), key=lambda item: (item[0][0] == ALL, item[0][0],
                                                                                 item[0][1] == ALL, item[0][1])):
            wall = sorted(o.wall_seconds for _, o in members if o.wall_seconds is not None)
            working = sorted(o.working_seconds for _, o in members if o.working_seconds is not None)
            row = {
                "opd": opd, "category": category, "complaints": len(members),
                "answered": sum(o.answered for _, o in members),
                "answered_in_time": sum(o.in_time for _, o in members),
                "breached": sum(o.breached for _, o in members),
                "escalated": sum(o.escalated for _, o in members),
                "open": sum(is_open for is_open, _ in members),
            }
            for name, values in (("wall", wall), ("working", working)):
                for q in QUANTILES:
                    row[f"latency_{name}_p{int(q * 100)}"] = nearest_rank(values, q)
            rows.append(row)
        return rows


def nearest_rank(values: list[float], q: float) -> float | None:
    """The q-quantile by nearest rank: an observed value, the same on every run."""
    if not values:
        return None
    return round(values[max(0, math.ceil(q * len(values)) - 1)], 3)


class _EventTimeStream:
    """The stream's stages over dicts: triage, clustering and the SLA clocks, fed in event time."""

    def __init__(self, config: TanggapConfig, policy: ClusterPolicy | None) -> None:
        self.config = config
        self.triage = Triage(config)
        self.clusterer = Clusterer(policy, config.timezone)
        self.clocks = EventTimeClocks(config.sla)
        self.state: dict[str, ThreadEntry] = {}
        self.orphans: dict[str, list[dict]] = {}
        self.clusters: dict[str, ClusterEntry] = {}
        self.decisions = 0
        self.unknown_responses = 0

    def post(self, post: RawPost) -> None:
        self._apply(self.triage.process(post, self.state, self.orphans, now=post.created_at))

    def response(self, response: DeskResponse) -> None:
        if response.by not in self.config.directory.opds:
            self.unknown_responses += 1
        elif response.complaint_id:
            complaint = desk_response_event(response, {"complaint_id": response.complaint_id}, self.config.timezone)
            self.clocks.complaint_event(complaint)
            if complaint["type"] == "resolved":
                self._clustered({RESOLUTION_NOTICE: {"complaint_id": response.complaint_id}})
        else:
            complaint = self.triage.respond_by_post(response, self.state)
            if complaint is None:
                self.unknown_responses += 1
            else:
                self._clustered({"records": [], "events": [complaint]})

    def release_waiting_replies(self) -> None:
        """The end of the archive: replies whose parent never came are decided on their own."""
        for parent_key in sorted(self.orphans):
            released = self.triage.release(parent_key, self.orphans, self.state)
            if released is not None:
                self._apply(released)

    def _clustered(self, envelope: dict[str, Any]) -> None:
        result = self.clusterer.process(envelope, self.clusters)
        result.apply(self.clusters)
        self.decisions += len(result.records)
        for complaint in result.events:
            self.clocks.complaint_event(complaint)

    def _apply(self, result: Any) -> None:
        result.apply(self.state, self.orphans)
        direct, envelopes = route(result)
        self.decisions += len(direct)
        for envelope in envelopes.values():
            self._clustered(envelope)


def run(config: TanggapConfig, inputs: Inputs, *, policy: ClusterPolicy | None = None,
        until: float | str | None = None, config_label: str = "") -> Run:
    """Triage, clustering and the SLA clocks over `inputs`, in event time."""
    with _without_collections():
        stream = _EventTimeStream(config, policy)
        # Event-time order; posts before responses at the same instant, then input order.
        timeline = [(post.created_at, 0, i) for i, post in enumerate(inputs.posts)]
        timeline += [(response.at, 1, i) for i, response in enumerate(inputs.responses)]
        timeline.sort()
        last = None
        for at, source, index in timeline:
            stream.clocks.advance(at)
            last = at
            if source == 0:
                stream.post(inputs.posts[index])
            else:
                stream.response(inputs.responses[index])
        stream.release_waiting_replies()
        horizon = math.inf if until == UNTIL_END else last if until is None else float(until)
        if horizon is not None:
            stream.clocks.advance(horizon)
    complaints = dict(stream.clocks.outcomes)
    return Run(config_label or str(config.directory_path), stream.clocks, complaints, stream.decisions,
               stream.unknown_responses, None if horizon in (None, math.inf) else horizon)


# --- reports ------------------------------------------------------------------------------------

def report(runs: list[Run], inputs: Inputs, *, posts_path: str, responses_path: str | None, until: Any, tz: Any) -> dict[str, Any]:
    return {
        "posts": {"file": posts_path, "read": len(inputs.posts), "invalid": len(inputs.invalid_posts)},
        "responses": {"file": responses_path, "read": len(inputs.responses), "invalid": len(inputs.invalid_responses)},
        "until": UNTIL_END if until == UNTIL_END else (format_time(runs[0].until, tz) if runs[0].until is not None else None),
        "runs": [{"config": r.config, "decisions": r.decisions, "unknown_responses": r.unknown_responses,
                  "sla_events": r.clocks.sla_events, "complaints_without_policy": r.clocks.unmatched,
                  "rows": r.rows()} for r in runs],
        "invalid_posts": inputs.invalid_posts,
        "invalid_responses": inputs.invalid_responses,
    }


def to_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("config", *COLUMNS))
    for run_doc in document["runs"]:
        for row in run_doc["rows"]:
            writer.writerow((run_doc["config"], *("" if row[c] is None else row[c] for c in COLUMNS)))
    return out.getvalue()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def render(document: dict[str, Any]) -> str:
    runs = document["runs"]
    lines = [f"posts {document['posts']['read']:,} ({document['posts']['invalid']:,} invalid), "
             f"responses {document['responses']['read']:,} ({document['responses']['invalid']:,} invalid), "
             f"clock until {document['until'] or 'the last input'}"]
    header = (f"{'OPD':<16}{'category':<22}{'compl.':>7}{'answ.':>7}{'in time':>8}{'breach':>7}{'escal.':>7}"
              f"{'open':>6}{'p50 wall':>9}{'p90 wall':>9}{'p50 work':>9}{'p90 work':>9}")
    if len(runs) == 1:
        lines += ["", header]
        for row in runs[0]["rows"]:
            lines.append(_row_line(row))
        return "\n".join(lines)
    # Two configurations side by side: each row of either, base / compare.
    base, other = ({(r["opd"], r["category"]): r for r in run_doc["rows"]} for run_doc in runs[:2])
    lines += ["", f"A: {runs[0]['config']}", f"B: {runs[1]['config']}", "",
              f"{'OPD':<16}{'category':<22}{'complaints A/B':>15}{'in time A/B':>13}{'breached A/B':>14}"
              f"{'escal. A/B':>12}{'p50 work A/B':>16}{'p90 work A/B':>16}"]
    keys = sorted(set(base) | set(other), key=lambda k: (k[0] == ALL, k[0], k[1] == ALL, k[1]))
    for key in keys:
        a, b = base.get(key, {}), other.get(key, {})

        def pair(column: str, duration: bool = False) -> str:
            left, right = a.get(column), b.get(column)
            if duration:
                return f"{_duration(left)}/{_duration(right)}"
            return f"{left if left is not None else '-'}/{right if right is not None else '-'}"

        lines.append(f"{key[0][:15]:<16}{key[1][:21]:<22}{pair('complaints'):>15}{pair('answered_in_time'):>13}"
                     f"{pair('breached'):>14}{pair('escalated'):>12}{pair('latency_working_p50', True):>16}"
                     f"{pair('latency_working_p90', True):>16}")
    return "\n".join(lines)


def _row_line(row: dict[str, Any]) -> str:
    return (f"{row['opd'][:15]:<16}{row['category'][:21]:<22}{row['complaints']:>7}{row['answered']:>7}"
            f"{row['answered_in_time']:>8}{row['breached']:>7}{row['escalated']:>7}{row['open']:>6}"
            f"{_duration(row['latency_wall_p50']):>9}{_duration(row['latency_wall_p90']):>9}"
            f"{_duration(row['latency_working_p50']):>9}{_duration(row['latency_working_p90']):>9}")


def parse_until(value: str | None) -> float | str | None:
    if value is None or value == UNTIL_END:
        return value
    try:
        return parse_time(value)
    except ValueError:
        raise ValueError(f"--until: {value!r} is neither `end` nor an RFC 3339 instant with an offset") from None


def write_outputs(document: dict[str, Any], prefix: str | Path) -> tuple[Path, Path]:
    json_path, csv_path = Path(f"{prefix}.json"), Path(f"{prefix}.csv")
    json_path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    csv_path.write_text(to_csv(document))
    return json_path, csv_path
