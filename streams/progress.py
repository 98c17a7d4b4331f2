"""Progress and a closing summary for long commands (replay, triage, eval).

On a terminal the line updates in place a few times a second; in a log (CI, a pipe) a line is
written every few seconds instead, so a long job shows it is alive without flooding the log.
Everything goes to stderr: stdout stays the command's data.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None,
                 clock=time.monotonic) -> None:
        self.label = label
        self.total = total
        self.count = 0
        self.stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._started = clock()
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._interval = 0.2 if self._interactive else 10.0
        self._last_shown = self._started

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = self._clock()
        if now - self._last_shown >= self._interval:
            self._last_shown = now
            self._write(self._status(now), final=False)

    def _rate(self, now: float) -> float:
        elapsed = now - self._started
        return self.count / elapsed if elapsed > 0 else 0.0

    def _status(self, now: float) -> str:
        done = f"{self.count:,}" if self.total is None else f"{self.count:,}/{self.total:,} ({self.count / max(self.total, 1):.0%})"
        return f"{self.label}: {done}, {self._rate(now):,.0f}/s"

    def _write(self, line: str, final: bool) -> None:
        if self._interactive:
            self.stream.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, summary: str | None = None) -> None:
        """Write the closing summary: how many, how long, how fast (and what `summary` adds)."""
        now = self._clock()
        elapsed = now - self._started
        line = f"{self.label}: {self.count:,} in {elapsed:.1f}s ({self._rate(now):,.0f}/s)"
        self._write(line + (f"; {summary}" if summary else ""), final=True)
