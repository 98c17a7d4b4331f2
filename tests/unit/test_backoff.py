"""The one retry delay policy of the broker sender and the Alertmanager bridge."""

from streams import alert_bridge, batches
from streams.backoff import Backoff


def test_delay_doubles_from_the_first_up_to_the_ceiling():
    backoff = Backoff(0.1, 1.0)
    assert [backoff.delay(failed) for failed in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_delay_stays_at_the_ceiling_however_many_attempts_failed():
    assert Backoff(0.05, 5.0).delay(100_000) == 5.0


def test_the_sender_and_the_bridge_keep_their_delays():
    assert batches.deliver.__kwdefaults__["backoff"] == Backoff(0.1, 5.0)
    assert [alert_bridge.BACKOFF.delay(failed) for failed in (1, 2, 3, 7, 8)] == [0.5, 1.0, 2.0, 30.0, 30.0]
