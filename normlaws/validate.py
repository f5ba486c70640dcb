"""argparse types that validate input and say in one line what was wrong."""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path


def _number(text: str, kind=float):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a {'number' if kind is float else 'whole number'}")
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def finite_float(text: str) -> float:
    """Any finite number (a BN shift, say)."""
    return _number(text)


def positive_float(text: str) -> float:
    """A finite number > 0 (a learning rate, say)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (an L2 strength, say)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def unit_interval(text: str) -> float:
    """A number in [0, 1) (a momentum or EMA coefficient)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1)")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def nonnegative_int(text: str) -> int:
    """A whole number >= 0 (a seed, say)."""
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def writable_dir(text: str) -> Path:
    """A directory that exists or can be created, and that we can write into."""
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot create directory {text!r}: {exc.strerror}")
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"directory {text!r} is not writable")
    return path


def records_dir(text: str) -> Path:
    """A directory holding a sweep's ``records.jsonl`` (at its top level)."""
    path = Path(text)
    if not (path / "records.jsonl").is_file():
        raise argparse.ArgumentTypeError(f"{text!r} holds no records.jsonl (a 'normlaws sweep --out' folder)")
    return path
