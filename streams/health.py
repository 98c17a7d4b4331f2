"""What readiness must know beyond faust's own state: a partition whose lag does not move, and
a worker that cannot publish.

faust's readiness (group joined, no rebalance, tables recovered) stays true while an agent reads
nothing: a partition of the embedded broker whose fetches come back empty held ~8,500 records for
10-13 minutes with `/ready` answering 200. `StallWatch` sees a partition this worker is assigned
whose lag (end offset minus committed offset) is above zero and whose committed offset has not
moved for TANGGAP_STALL_SECONDS; `PublishWatch` sees sends to the broker (a batch's outputs, an
ingest request's posts) that have waited, or failed, for as long. Either makes the worker not
ready, with the reason on `/ready`, and `tanggap_partition_stalled` feeds the
`TanggapPartitionStalled` alert.

Both need traffic: an idle worker whose broker stops answering has no lag and sends nothing, and
stayed ready. `BrokerContact` needs none: it is fed the time of the last answer the worker's
Kafka connections received (fetches, which an idle consumer keeps making, group heartbeats,
metadata, produce), and after TANGGAP_BROKER_UNREACHABLE_SECONDS without one the worker is not
ready ("broker unreachable for N s"; `tanggap_broker_last_contact_age_seconds`). It recovers
with the first answer.

`/live` keeps answering while the event loop runs in all these cases: a restart does not bring a
broker back, and a stalled partition is for an operator (docs/operations.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Progress:
    committed: int | None
    since: float
    lagging: bool = False


class StallWatch:
    """Partitions with lag whose committed offset has not moved for `stall_seconds`."""

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds = stall_seconds
        self.clock = clock
        self._progress: dict[Any, _Progress] = {}
        self.stalled: dict[Any, float] = {}
        """Stalled partitions and for how long their committed offset has not moved."""

    def observe(self, positions: Iterable[tuple[Any, int | None, int | None]]) -> dict[Any, float]:
        """`positions`: (partition, committed offset, end offset) of every partition this worker
        is assigned now; partitions no longer listed are forgotten. Returns the stalled ones."""
        now = self.clock()
        seen = set()
        stalled: dict[Any, float] = {}
        for tp, committed, end in positions:
            seen.add(tp)
            progress = self._progress.get(tp)
            if progress is None or progress.committed != committed:
                self._progress[tp] = progress = _Progress(committed, now)
            lag = (end or 0) - (committed or 0)
            if lag <= 0:
                progress.lagging = False  # caught up: nothing is waiting
                continue
            if not progress.lagging:  # records arrived since the last look: the wait starts now
                progress.lagging, progress.since = True, now
            if now - progress.since >= self.stall_seconds:
                stalled[tp] = now - progress.since
        for tp in list(self._progress):
            if tp not in seen:
                del self._progress[tp]
        self.stalled = stalled
        return stalled


class PublishWatch:
    """Sends to the broker that have been waiting, or that failed, within `stall_seconds`."""

    def __init__(self, stall_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_seconds = stall_seconds
        self.clock = clock
        self._in_flight: dict[int, float] = {}
        self._next = 0
        self.failed_at: float | None = None

    def begin(self) -> int:
        self._next += 1
        self._in_flight[self._next] = self.clock()
        return self._next

    def end(self, token: int, ok: bool) -> None:
        self._in_flight.pop(token, None)
        if ok:
            self.failed_at = None
        else:
            self.failed_at = self.clock()

    def problem(self) -> str | None:
        """Why this worker cannot publish, or None."""
        now = self.clock()
        oldest = min(self._in_flight.values(), default=None)
        if oldest is not None and now - oldest >= self.stall_seconds:
            return f"a send to the broker has waited {now - oldest:.0f} s"
        if self.failed_at is not None and now - self.failed_at < self.stall_seconds:
            return "the broker did not acknowledge a send in time"
        return None


class BrokerContact:
    """How long since this worker last had an answer from a broker, and whether that is too long.

    `observe` takes the times (of `clock`) of the last answer on each of the worker's broker
    connections; the newest one counts. Before any answer the wait counts from the creation of
    the watch."""

    def __init__(self, unreachable_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.unreachable_seconds = unreachable_seconds
        self.clock = clock
        self.last_answer = clock()

    def observe(self, answered_at: Iterable[float]) -> float:
        """Take the connections' last-answer times; returns the age of the newest answer."""
        newest = max(answered_at, default=None)
        if newest is not None and newest > self.last_answer:
            self.last_answer = newest
        return self.age()

    def age(self) -> float:
        return max(0.0, self.clock() - self.last_answer)

    def problem(self, grace_seconds: float = 0.0) -> str | None:
        """Why the broker counts as unreachable, or None. `grace_seconds` lengthens the limit
        while a request may legitimately wait that long unanswered (a rebalance's JoinGroup)."""
        return broker_contact_problem(self.age(), self.unreachable_seconds + grace_seconds)


def broker_contact_problem(age: float, unreachable_seconds: float) -> str | None:
    """The readiness reason for a worker whose last answer from a broker is `age` seconds old."""
    if age >= unreachable_seconds:
        return f"broker unreachable for {age:.0f} s (no answer to any request; limit {unreachable_seconds:g} s)"
    return None
