"""An adaptive fetch wait for the embedded broker (Tansu), and only for it.

Tansu holds every fetch for the whole `fetch_max_wait_ms` when no new data arrives, so a short
wait (20 ms) keeps the latency of each topic hop low. But its fetch latency grows with the depth
of the partition (it keeps every record in memory, one batch per record): reading a deep
partition takes 100-540 ms, and a fetch whose wait is shorter comes back empty, every time, so a
consumer with a backlog in a deep partition reads nothing at all (bench/embedded_fetch.py).

The wait therefore adapts: it starts at the configured floor (TANGGAP_FETCH_MAX_WAIT_MS); when a
consumer has records waiting (lag) and read none since the last look, the wait doubles, up to
CEILING_MS; the wait that brought records is kept while more are waiting, and a consumer that
has caught up fetches with the floor again (where the hop latency matters). Real Kafka answers a fetch as soon as data is there and never needs
this: it is switched on only by `tanggap run`'s embedded tuning and the tests' broker
(TANGGAP_FETCH_WAIT_ADAPTIVE).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("tanggap.fetchwait")

CEILING_MS = 2000


class AdaptiveFetchWait:
    """Adjusts `fetcher._fetch_max_wait_ms` of one aiokafka consumer (aiokafka 0.14 reads it
    whenever it builds a fetch request)."""

    def __init__(self, fetcher: Any, floor_ms: int, ceiling_ms: int = CEILING_MS) -> None:
        self.fetcher = fetcher
        self.floor_ms = floor_ms
        self.ceiling_ms = max(ceiling_ms, floor_ms)
        self.wait_ms = floor_ms
        self._apply()

    def _apply(self) -> None:
        self.fetcher._fetch_max_wait_ms = self.wait_ms

    def observe(self, records: int, lag: int) -> int:
        """`records` read since the last call, `lag` records waiting now; returns the wait."""
        before = self.wait_ms
        if lag <= 0:
            self.wait_ms = self.floor_ms
        elif records == 0:
            self.wait_ms = min(self.ceiling_ms, self.wait_ms * 2)
        # Records flowing with more waiting: the wait that works is kept until the consumer has
        # caught up (halving it while a backlog drains cut the reading rate by four).
        if self.wait_ms != before:
            self._apply()
            if self.wait_ms == self.ceiling_ms and before < self.ceiling_ms:
                log.info("fetch wait raised to %d ms: records wait and fetches of %d ms came back empty",
                         self.wait_ms, before)
        return self.wait_ms
