"""The embedded broker's adaptive fetch wait (streams/fetchwait.py)."""

from __future__ import annotations

from types import SimpleNamespace

from streams.fetchwait import AdaptiveFetchWait


def test_the_wait_grows_while_records_wait_unread_holds_while_they_flow_and_drops_once_caught_up():
    fetcher = SimpleNamespace(_fetch_max_wait_ms=1500)
    tuner = AdaptiveFetchWait(fetcher, floor_ms=20, ceiling_ms=2000)
    assert fetcher._fetch_max_wait_ms == 20
    assert [tuner.observe(0, 500) for _ in range(8)] == [40, 80, 160, 320, 640, 1280, 2000, 2000]
    assert tuner.observe(400, 100) == 2000 and fetcher._fetch_max_wait_ms == 2000
    assert tuner.observe(100, 0) == 20 and fetcher._fetch_max_wait_ms == 20
    assert tuner.observe(0, 0) == 20  # idle and caught up: the short wait that keeps hops fast
