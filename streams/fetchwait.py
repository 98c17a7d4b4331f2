"""An adaptive fetch wait for the embedded broker (Tansu), and only for it.

Tansu holds every fetch for the whole `fetch_max_wait_ms` when no new data arrives, so a short
wait (20 ms) keeps the latency of each topic hop low. But its fetch latency grows with the depth
of the partition (it keeps every record in memory, one batch per record): reading a deep
partition takes 100-540 ms, and a fetch whose wait is shorter comes back empty, every time, so a
consumer with a backlog in a deep partition reads nothing at all (bench/embedded_fetch.py).

The wait therefore adapts: it starts at the configured floor (TANGGAP_FETCH_MAX_WAIT_MS); when a
consumer has records waiting in partitions it is not holding back (paused) and read none, or a
trickle (fewer than TRICKLE), in two looks in a row (0.5 s), the wait doubles, up to CEILING_MS; after four looks in a row that read
records it halves back towards the floor, and a consumer that has caught up fetches with the floor (the embedded broker
holds every fetch for the whole wait, so a long wait is latency on every hop). Real Kafka answers a fetch as soon as data is there and never needs
this: it is switched on only by `tanggap run`'s embedded tuning and the tests' broker
(TANGGAP_FETCH_WAIT_ADAPTIVE).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

CEILING_MS = 2000
TRICKLE = 50
"""A look that read fewer records than this (or than were waiting, if fewer) is starved: from the
start of a deep partition a 20 ms fetch brings one record, not none."""


class AdaptiveFetchWait:
    """Adjusts `fetcher._fetch_max_wait_ms` of one aiokafka consumer (aiokafka 0.14 reads it
    whenever it builds a fetch request)."""

    def __init__(self, fetcher: Any, floor_ms: int, ceiling_ms: int = CEILING_MS, patience: int = 2) -> None:
        self.fetcher = fetcher
        self.floor_ms = floor_ms
        self.ceiling_ms = max(ceiling_ms, floor_ms)
        self.patience = patience
        """Looks in a row with records waiting and none read before the wait doubles."""
        self.wait_ms = floor_ms
        self._starved = 0
        self._fed = 0
        self._apply()

    def _apply(self) -> None:
        self.fetcher._fetch_max_wait_ms = self.wait_ms

    def observe(self, records: int, lag: int) -> int:
        """`records` read since the last call, `lag` records waiting now in partitions the
        consumer is not holding back (faust pauses partitions whose buffers are full: their
        records wait for the agent, not for a fetch); returns the wait."""
        before = self.wait_ms
        if lag <= 0:
            self._starved = self._fed = 0
            self.wait_ms = self.floor_ms
        elif records < min(lag, TRICKLE):
            self._starved += 1
            self._fed = 0
            if self._starved >= self.patience:
                self._starved = 0
                self.wait_ms = min(self.ceiling_ms, self.wait_ms * 2)
        else:
            # Records flow: back towards the floor, since the embedded broker holds every fetch
            # for the whole wait and a long wait is latency on every hop. Where the floor is too
            # short (a deep partition) the wait climbs again: it settles around what works.
            self._starved = 0
            self._fed += 1
            if self._fed >= 2 * self.patience:  # slower down than up: a drain keeps its pace
                self._fed = 0
                self.wait_ms = max(self.floor_ms, self.wait_ms // 2)
        if self.wait_ms != before:
            self._apply()
            if self.wait_ms == self.ceiling_ms and before < self.ceiling_ms:
                log.info("fetch wait raised to %d ms: records wait and fetches of %d ms came back empty",
                         self.wait_ms, before)
        return self.wait_ms
