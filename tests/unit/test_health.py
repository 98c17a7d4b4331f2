"""Readiness beyond faust's: partitions whose lag does not move, sends the broker does not
acknowledge."""

from __future__ import annotations

from streams.health import PublishWatch, StallWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_partition_with_lag_and_no_progress_is_stalled_after_the_configured_time():
    clock = Clock()
    watch = StallWatch(120, clock)
    assert watch.observe([("a", 100, 8600), ("b", 50, 50)]) == {}
    clock.now += 119
    assert watch.observe([("a", 100, 8600), ("b", 50, 50)]) == {}
    clock.now += 2
    assert set(watch.observe([("a", 100, 8600), ("b", 50, 50)])) == {"a"}  # b has no lag: idle, not stalled
    clock.now += 1
    assert watch.observe([("a", 101, 8600), ("b", 50, 50)]) == {}  # it moved
    clock.now += 200
    assert watch.observe([("b", 50, 60)]) == {}  # a was revoked; b's lag just appeared
    clock.now += 121
    assert set(watch.observe([("b", 50, 60)])) == {"b"}
    assert watch.observe([]) == {} and watch.stalled == {}


def test_a_partition_that_caught_up_starts_its_wait_again_when_new_records_arrive():
    clock = Clock()
    watch = StallWatch(10, clock)
    watch.observe([("a", 5, 5)])
    clock.now += 100
    assert watch.observe([("a", 5, 9)]) == {}  # lag new: the clock starts now
    clock.now += 11
    assert set(watch.observe([("a", 5, 9)])) == {"a"}


def test_sends_waiting_or_failing_longer_than_the_limit_make_publishing_a_problem():
    clock = Clock()
    watch = PublishWatch(5, clock)
    token = watch.begin()
    clock.now += 4
    assert watch.problem() is None
    clock.now += 2
    assert "waited 6 s" in watch.problem()
    watch.end(token, ok=False)
    assert watch.problem() == "the broker did not acknowledge a send in time"
    watch.end(watch.begin(), ok=True)
    assert watch.problem() is None
