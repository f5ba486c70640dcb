"""One validation layer for the command line: numbers with their meaningful ranges, paths, memory bounds.

Every option of every command takes its ``type=`` from here, so bad input is one line naming the option
(argparse's ``argument --eta: ...``) and exit code 2, before anything is read or written. Checks that need
several options at once (a memory estimate, a milestone beyond the last epoch) raise
:class:`~normlaws.errors.UsageError` with the same kind of line. Path types never create anything: a command
creates its output folder when it runs, so a refused invocation leaves the disk as it was.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path

from .errors import UsageError

#: seeds go to numpy's SeedSequence and torch.manual_seed; 32 bits is what every generator accepts
MAX_SEED = 2**32 - 1


class Number:
    """An argparse type for a number in ``[lo, hi]`` (either end open, or absent), with why the range is what it is.

    >>> Number(float, 0, 1, lo_open=True)("0.5")
    0.5
    >>> Number(int, 1, 10_000)("10001")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: '10001' must be <= 10,000
    """

    def __init__(self, kind=float, lo=None, hi=None, *, lo_open: bool = False, hi_open: bool = False,
                 why: str = ""):
        self.kind, self.lo, self.hi, self.lo_open, self.hi_open, self.why = kind, lo, hi, lo_open, hi_open, why
        self.__name__ = "number" if kind is float else "whole number"

    def _show(self, bound) -> str:
        return f"{bound:,d}" if self.kind is int else f"{bound:g}"

    def describe(self) -> str:
        """The range in words: '> 0', '>= 1', 'in [0, 1)'."""
        lo, hi = (None if b is None else self._show(b) for b in (self.lo, self.hi))
        if hi is None:
            return f"{'>' if self.lo_open else '>='} {lo}"
        if lo is None:
            return f"{'<' if self.hi_open else '<='} {hi}"
        return f"in {'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"

    def inside(self, value) -> bool:
        """Whether ``value`` lies in the range."""
        above = self.lo is None or (value > self.lo if self.lo_open else value >= self.lo)
        below = self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)
        return above and below

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except (TypeError, ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a {self.__name__}") from None
        if self.kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if not self.inside(value):
            low = self.lo is not None and not Number(self.kind, self.lo, None, lo_open=self.lo_open).inside(value)
            bound = (f"{'>' if self.lo_open else '>='} {self._show(self.lo)}" if low else
                     f"{'<' if self.hi_open else '<='} {self._show(self.hi)}")
            raise argparse.ArgumentTypeError(f"{text!r} must be {bound}" + (f" ({self.why})" if self.why else ""))
        return value

    def __repr__(self) -> str:
        return f"Number({self.kind.__name__}, {self.describe()})"


finite_float = Number(float)
positive_float = Number(float, 0, None, lo_open=True)
nonnegative_float = Number(float, 0)
unit_interval = Number(float, 0, 1, hi_open=True, why="a momentum or decay coefficient")
positive_int = Number(int, 1)
nonnegative_int = Number(int, 0)
seed = Number(int, 0, MAX_SEED, why="a 32-bit seed")
learning_rate = Number(float, 0, 1e3, lo_open=True, why="a learning rate; above 1000 it means nothing here")
l2_strength = Number(float, 0, 1e3, why="the lambda of lambda*||w||^2; above 1000 it means nothing here")


def text(value: str) -> str:
    """Free text on the command line (a filter, a name): printable, one line, at most 200 characters."""
    if len(value) > 200 or any(not ch.isprintable() for ch in value):
        raise argparse.ArgumentTypeError(f"{value[:40]!r}: text must be printable, one line, <= 200 characters")
    return value


def name(value: str) -> str:
    """A name for another program (a SLURM partition): letters, digits and ``_ . , -``."""
    if not re.fullmatch(r"[A-Za-z0-9_.,-]{1,100}", value):
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a name (letters, digits, _ . , -)")
    return value


def device(value: str) -> str:
    """A torch device name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (availability is checked later)."""
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d{1,3})?", value):
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a device (auto, cpu, cuda, cuda:N, mps)")
    return value


def _path(value: str) -> Path:
    if not value or "\0" in value or len(value) > 4000:
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a path")
    return Path(value)


def writable_dir(value: str) -> Path:
    """A folder that exists and is writable, or that can be created (its nearest existing parent is a writable
    folder). Nothing is created here: the command creates it when it runs."""
    path = _path(value)
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise argparse.ArgumentTypeError(f"{value!r}: {existing} is a dangling link")
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a file, not a folder" if existing == path else
                                         f"cannot create directory {value!r}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot create directory {value!r}: {existing} is not writable"
                                         + (" (read-only file system)" if _read_only(existing) else ""))
    return path


def writable_file(value: str) -> Path:
    """An output file: not a folder, in a folder that exists and is writable or can be created (nothing is
    created here)."""
    path = _path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a folder; name the file")
    writable_dir(str(path.parent) if str(path.parent) else ".")
    return path


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def readable_dir(value: str) -> Path:
    """A folder that exists and can be listed."""
    path = _path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r}: no such folder" if not path.exists() else
                                         f"{value!r} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{value!r}: folder not readable")
    return path


def readable_path(value: str) -> Path:
    """A file or folder that exists and can be read."""
    path = _path(value)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{value!r}: no such file or folder")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{value!r}: not readable")
    return path


def records_dir(value: str) -> Path:
    """A folder holding a sweep's ``records.jsonl`` (at its top level)."""
    path = readable_dir(value)
    if not (path / "records.jsonl").is_file():
        raise argparse.ArgumentTypeError(f"{value!r} holds no records.jsonl (a 'normlaws sweep --out' folder)")
    return path


def overlaps(a: Path, b: Path) -> bool:
    """Whether one of two folders is, or lies inside, the other (links resolved)."""
    a, b = Path(a).resolve(), Path(b).resolve()
    return a == b or a in b.parents or b in a.parents


# ---- memory -----------------------------------------------------------------------------------------------------

def memory_bytes() -> int:
    """Physical memory of this machine in bytes (0 when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(needed: float, what: str, available: int | None = None, where: str = "this machine") -> None:
    """A :class:`UsageError` when ``needed`` bytes exceed half of ``available`` (default: physical memory).

    Half, because the estimate counts the largest arrays only and the rest of the process needs room too.
    """
    available = memory_bytes() if available is None else available
    if available and needed > available / 2:
        raise UsageError(f"{what} needs about {needed / 2**30:.3g} GiB of memory, more than half of "
                         f"{where}'s {available / 2**30:.3g} GiB; choose smaller sizes")


# ---- the training harness's ranges (the command line and the records' schema share them) ---------------------

TRAINING = {
    "eta": learning_rate,
    "lam": l2_strength,
    "epochs": Number(int, 1, 10_000),
    "batch_size": Number(int, 1, 50_000, why="at most the 50,000 training images"),
    "lr_drop": Number(float, 1, 1e6, why="the learning rate is divided by it at each milestone"),
    "width": Number(int, 1, 4096),
    "n_train": Number(int, 1, 50_000, why="CIFAR-10 has 50,000 training images"),
    "n_test": Number(int, 1, 10_000, why="CIFAR-10 has 10,000 test images"),
    "translate": Number(int, 0, 16, why="a shift by more than half of the 32-pixel image leaves it mostly blank"),
    "models": Number(int, 1, 4096),
    "lease": Number(float, 1, 7 * 86_400, why="seconds without a heartbeat before a claim is taken over"),
}
