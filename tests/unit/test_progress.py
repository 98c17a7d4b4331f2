"""Progress lines for long commands: throttled, to stderr, with a closing summary."""

from __future__ import annotations

import io

from streams.progress import Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_every_few_seconds_and_a_summary():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress("published", total=300, stream=out, clock=clock)
    for _ in range(100):
        clock.now += 0.01
        progress.advance()
    assert out.getvalue() == "", "no line before the interval"
    clock.now = 12.0
    progress.advance(200)
    clock.now = 15.0
    progress.finish("done")
    lines = out.getvalue().splitlines()
    assert lines[0] == "published: 300/300 (100%), 25/s"
    assert lines[1] == "published: 300 in 15.0s (20/s); done"


def test_without_a_total_it_counts():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress("triaged", stream=out, clock=clock)
    clock.now = 2.0
    progress.advance(1000)
    progress.finish()
    assert out.getvalue() == "triaged: 1,000 in 2.0s (500/s)\n"
