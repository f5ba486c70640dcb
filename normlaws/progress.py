"""The one progress display of the suite (Monte-Carlo chains, checks, training sweeps, audits): tqdm's.

On a terminal a tqdm bar is redrawn in place (at most 5 times a second); elsewhere (a CI log, a file) tqdm's line
is written once at the first unit and at every 10 %, so logs stay readable. Silent for runs shorter than
``after`` seconds, and entirely with ``enabled=False``. Part of the core: it imports nothing of the project.
"""
from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    """Counts units of work towards ``total``; ``advance(n)`` is cheap."""

    def __init__(self, total: int, label: str = "", enabled: bool = True, after: float = 0.0, stream=None):
        self.total, self.label, self.done, self.note = max(int(total), 1), label, 0, ""
        self.enabled, self.after = enabled, after
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self._decile, self._shown = -1, False
        self._bar = (tqdm(total=self.total, desc=label, file=self.stream, delay=after, mininterval=0.2, leave=True,
                          dynamic_ncols=True) if enabled and self.tty else None)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """Count ``n`` more units (and replace the note shown after the bar)."""
        self.done += n
        if note is not None:
            self.note = note
        if self._bar is not None:
            if note is not None:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(n)
            return
        if not self.enabled or time.monotonic() - self.start < self.after:
            return
        if (10 * self.done) // self.total > self._decile:
            self._decile, self._shown = (10 * self.done) // self.total, True
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        """tqdm's one-line meter: label, percentage, bar, count, elapsed and remaining time, rate, note."""
        return tqdm.format_meter(min(self.done, self.total), self.total, time.monotonic() - self.start,
                                 prefix=self.label, postfix=self.note or None, ncols=120)

    def close(self) -> None:
        """End the display (a terminal's bar is left on its own line)."""
        if self._bar is not None:
            self._bar.close()
