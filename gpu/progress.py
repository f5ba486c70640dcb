"""A small progress bar on stderr: redrawn in place on a terminal, a line every 10 % otherwise."""
from __future__ import annotations

import sys
import time


class Progress:
    """Counts units of work towards ``total``; ``advance(n)`` is cheap (redraws at most 5 times a second)."""

    def __init__(self, total: int, label: str = "", stream=None, enabled: bool = True):
        self.total, self.label, self.done = max(int(total), 1), label, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self._last = time.monotonic()
        self._last_decile = -1
        self.note = ""

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """Count ``n`` more units (and update the note shown after the bar)."""
        self.done += n
        if note is not None:
            self.note = note
        now = time.monotonic()
        if not self.enabled:
            return
        if self.tty and (now - self._last > 0.2 or self.done >= self.total):
            self._last = now
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif not self.tty and (10 * self.done) // self.total > self._last_decile:
            self._last_decile = (10 * self.done) // self.total
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        """The bar as one line: label, bar, count, elapsed and remaining time, note."""
        frac = min(self.done / self.total, 1.0)
        elapsed = time.monotonic() - self.start
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
        return (f"{self.label} [{bar}] {self.done}/{self.total} {elapsed:5.0f}s"
                f" (~{eta:.0f}s left) {self.note}")[:160]

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self.tty:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
