"""The embedded broker's adaptive fetch wait (streams/fetchwait.py)."""

from __future__ import annotations

from types import SimpleNamespace

from streams.fetchwait import AdaptiveFetchWait


def test_the_wait_grows_while_records_wait_unread_and_falls_while_they_flow_or_once_caught_up():
    fetcher = SimpleNamespace(_fetch_max_wait_ms=1500)
    tuner = AdaptiveFetchWait(fetcher, floor_ms=20, ceiling_ms=2000)
    assert fetcher._fetch_max_wait_ms == 20
    # Two looks in a row with records waiting and none read: the wait doubles.
    assert [tuner.observe(0, 500) for _ in range(8)] == [20, 40, 40, 80, 80, 160, 160, 320]
    # Records flowing with more waiting: four looks in a row halve the wait.
    assert [tuner.observe(400, 100) for _ in range(4)] == [320, 320, 320, 160]
    assert fetcher._fetch_max_wait_ms == 160
    assert tuner.observe(0, 100) == 160  # one empty look is not enough
    assert tuner.observe(100, 0) == 20 and fetcher._fetch_max_wait_ms == 20  # caught up: the floor
    assert tuner.observe(0, 0) == 20  # idle and caught up: the short wait that keeps hops fast
    for _ in range(30):
        tuner.observe(0, 500)
    assert tuner.wait_ms == 2000  # the ceiling


def test_a_trickle_from_a_deep_partition_counts_as_starved_but_a_small_backlog_read_whole_does_not():
    tuner = AdaptiveFetchWait(SimpleNamespace(_fetch_max_wait_ms=0), floor_ms=20)
    assert [tuner.observe(1, 36_000) for _ in range(4)] == [20, 40, 40, 80]  # one record a look
    tuner = AdaptiveFetchWait(SimpleNamespace(_fetch_max_wait_ms=0), floor_ms=20)
    assert [tuner.observe(8, 8) for _ in range(4)] == [20, 20, 20, 20]  # read all that was waiting
