"""The time SLA deadlines are checked against.

Production uses the wall clock. Demos and replays of recorded posts use a simulated clock that
starts at the event time of the first post the worker processes and runs `speed` times faster
than real time, so three days of posts and their deadlines play out in seconds. Deadlines and
response outcomes are always computed from event timestamps; only "has this deadline passed
yet?" asks the clock.
"""

from __future__ import annotations

import time


class WallClock:
    simulated = False

    def now(self) -> float:
        return time.time()

    def started(self) -> bool:
        return True

    def observe_event_time(self, event_time: float) -> None:
        """Real time needs no anchor."""

    def lagged(self, wall_seconds: float) -> float:
        """The clock's reading `wall_seconds` ago."""
        return self.now() - wall_seconds


class SimulatedClock:
    simulated = True

    def __init__(self, speed: float, wall=time.monotonic) -> None:
        self.speed = speed
        self._wall = wall
        self._anchor_wall: float | None = None
        self._anchor_time = 0.0

    def observe_event_time(self, event_time: float) -> None:
        if self._anchor_wall is None:
            self._anchor_wall = self._wall()
            self._anchor_time = event_time

    def started(self) -> bool:
        return self._anchor_wall is not None

    def now(self) -> float:
        if self._anchor_wall is None:
            return float("-inf")
        return self._anchor_time + (self._wall() - self._anchor_wall) * self.speed

    def lagged(self, wall_seconds: float) -> float:
        return self.now() - wall_seconds * self.speed


def make_clock(speed: float | None) -> WallClock | SimulatedClock:
    return SimulatedClock(speed) if speed else WallClock()
