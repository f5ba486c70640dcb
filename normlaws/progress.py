"""One progress line on stderr for long runs (Monte-Carlo chains, training sweeps).

On a terminal the line is redrawn in place (at most 5 times a second); elsewhere a line is written at every
10 %. It stays silent for runs shorter than ``after`` seconds, and entirely with ``enabled=False``.
"""
from __future__ import annotations

import sys
import time


class Progress:
    """Counts units of work towards ``total``; ``advance(n)`` is cheap."""

    def __init__(self, total: int, label: str = "", enabled: bool = True, after: float = 0.0, stream=None):
        self.total, self.label, self.done = max(int(total), 1), label, 0
        self.enabled, self.after = enabled, after
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = self._last = time.monotonic()
        self._decile = -1
        self._shown = False
        self.note = ""

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """Count ``n`` more units (and replace the note shown after the bar)."""
        self.done += n
        if note is not None:
            self.note = note
        now = time.monotonic()
        if not self.enabled or now - self.start < self.after:
            return
        if self.tty and (now - self._last > 0.2 or self.done >= self.total):
            self._last, self._shown = now, True
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif not self.tty and (10 * self.done) // self.total > self._decile:
            self._decile, self._shown = (10 * self.done) // self.total, True
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        """The bar as one line: label, bar, count, elapsed and estimated remaining seconds, note."""
        frac = min(self.done / self.total, 1.0)
        elapsed = time.monotonic() - self.start
        left = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
        return f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.0f}s (~{left:.0f}s left) {self.note}"[:160]

    def close(self) -> None:
        """End the line (only if something was shown)."""
        if self.enabled and self._shown and self.tty:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
