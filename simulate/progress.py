"""A tiny progress line on stderr, shown only on a terminal or once a run has taken a few seconds."""
from __future__ import annotations

import sys
import time


class Progress:
    """Counts work units towards ``total``; silent for runs shorter than ``after`` seconds.

    On a terminal the line is redrawn in place (at most 5 times a second); elsewhere a line is written at
    every 10 % once the run has lasted ``after`` seconds. ``enabled=False`` silences it entirely.
    """

    def __init__(self, total: int, label: str = "", enabled: bool = True, after: float = 3.0, stream=None):
        self.total, self.label, self.done = max(int(total), 1), label, 0
        self.enabled, self.after = enabled, after
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = self._last = time.monotonic()
        self._decile = -1
        self._shown = False

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units."""
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.start < self.after:
            return
        if self.tty and now - self._last > 0.2:
            self._last, self._shown = now, True
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif not self.tty and (10 * self.done) // self.total > self._decile:
            self._decile, self._shown = (10 * self.done) // self.total, True
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        """Label, bar, percentage, elapsed and estimated remaining seconds."""
        frac = min(self.done / self.total, 1.0)
        elapsed = time.monotonic() - self.start
        left = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
        return f"{self.label} [{bar}] {100 * frac:3.0f}% {elapsed:5.1f}s (~{left:.0f}s left)"[:120]

    def close(self) -> None:
        """Finish the line (only if something was shown)."""
        if self.enabled and self._shown and self.tty:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
