"""The delay between attempts of a retried operation: exponential, with a ceiling.

Used where the pipeline retries what the network refused: the batch sender waiting for the
broker (streams/batches.py) and the Alertmanager bridge (streams/alert_bridge.py)."""

from __future__ import annotations

from dataclasses import dataclass

_MAX_DOUBLINGS = 64
"""Doublings beyond this are the ceiling anyway; an unbounded power overflows a float after
about a thousand attempts, and a retry loop may run that long."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """`first` seconds before the second attempt, doubling with every failed attempt up to
    `ceiling` seconds."""

    first: float
    ceiling: float

    def delay(self, failed: int) -> float:
        """Seconds to wait after the `failed`-th failed attempt (1 for the first failure)."""
        return min(self.ceiling, self.first * 2.0 ** min(max(failed - 1, 0), _MAX_DOUBLINGS))
