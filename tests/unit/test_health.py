"""Readiness beyond faust's: partitions whose lag does not move, sends the broker does not
acknowledge, a broker that has not answered for a while (traffic or not)."""

from __future__ import annotations

import inspect

from streams.health import BrokerContact, PublishWatch, StallWatch, broker_contact_problem


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


def test_the_broker_counts_as_unreachable_from_the_configured_age_of_its_last_answer():
    assert broker_contact_problem(2.9, 3) is None
    assert broker_contact_problem(3.0, 3) == "broker unreachable for 3 s (no answer to any request; limit 3 s)"
    assert broker_contact_problem(47.6, 20).startswith("broker unreachable for 48 s")


def test_broker_contact_follows_the_newest_answer_and_recovers_with_the_next_one():
    clock = Clock()
    contact = BrokerContact(20, clock)
    assert contact.age() == 0 and contact.problem() is None  # before any answer: counted from the start
    clock.now += 19
    assert contact.observe([]) == 19 and contact.problem() is None
    clock.now += 1
    assert contact.observe([]) == 20 and "unreachable for 20 s" in contact.problem()
    # Connections answer (the newest counts; an older time or an old connection changes nothing).
    assert contact.observe([clock.now - 30, clock.now - 0.5]) == 0.5 and contact.problem() is None
    clock.now += 10
    assert contact.observe([clock.now - 40]) == 10.5  # a time older than the newest seen is ignored
    clock.now += 10
    assert contact.observe([]) == 20.5 and contact.problem().startswith("broker unreachable for")
    assert contact.problem(grace_seconds=60) is None  # during a rebalance: JoinGroup may wait
    clock.now += 60
    assert "limit 80 s" in contact.problem(grace_seconds=60)
    contact.observe([clock.now])  # the broker answers again
    assert contact.age() == 0 and contact.problem() is None


def test_the_answer_times_are_read_from_every_connection_of_the_consumer_and_the_producer(monkeypatch):
    from types import SimpleNamespace

    from streams import app as app_module
    from streams import faust_fixes

    consumer = SimpleNamespace(_client=SimpleNamespace(_conns={("0", 0): SimpleNamespace(_last_action=5.0),
                                                               ("0", 1): SimpleNamespace(_last_action=7.5)}))
    producer = SimpleNamespace(_client=SimpleNamespace(_conns={("0", 0): SimpleNamespace(_last_action=6.0),
                                                               "bootstrap": SimpleNamespace()}))
    monkeypatch.setattr(faust_fixes, "worker_consumers", [consumer])
    app = SimpleNamespace(_producer=SimpleNamespace(_producer=producer))
    assert sorted(app_module._broker_answer_times(app)) == [5.0, 6.0, 7.5]
    monkeypatch.setattr(faust_fixes, "worker_consumers", [])
    assert app_module._broker_answer_times(SimpleNamespace(_producer=None)) == []  # nothing started yet


def test_aiokafka_stamps_a_connection_when_an_answer_arrives_and_only_then():
    """`_broker_answer_times` reads aiokafka's private `_last_action`: it must be the time of the
    last response frame (set in `_handle_frame`), not of a request sent, and a connection must
    have had an answer (ApiVersions, in `connect`) before its client lists it."""
    import aiokafka
    from aiokafka.client import AIOKafkaClient
    from aiokafka.conn import AIOKafkaConnection

    assert aiokafka.__version__ == "0.14.0", "review streams/app.py:_broker_answer_times against this aiokafka"
    assert "self._last_action = time.monotonic()" in inspect.getsource(AIOKafkaConnection._handle_frame)
    for method in (AIOKafkaConnection.send, AIOKafkaConnection._send_sasl_token, AIOKafkaConnection.connect):
        assert "_last_action" not in inspect.getsource(method)
    assert "_do_version_lookup" in inspect.getsource(AIOKafkaConnection.connect)
    assert "self._conns[conn_id] = await create_conn(" in inspect.getsource(AIOKafkaClient._get_conn)
