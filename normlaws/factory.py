"""The model an audit probes: ``package.module:function`` imported and called, like pytest's ``conftest.py``.

FACTORY is code the user names, and it runs: its module is imported (top-level code included) and the function
is called with no arguments. Everything that can go wrong there (no such module, a syntax error, an exception,
``sys.exit``, a result that is not an ``nn.Module``) is one :class:`~normlaws.errors.UsageError` line. The
current directory comes first on the import path, so a ``models.py`` beside you is found without ``PYTHONPATH``.
"""
from __future__ import annotations

import importlib
import os
import sys

from .errors import UsageError, require_torch


def load_factory(spec: str):
    """The callable named by ``package.module:function`` (a ``UsageError`` naming what is wrong).

    The module is imported, so its top-level code runs (as pytest runs a ``conftest.py``); the current
    directory comes first on the import path, so a ``models.py`` beside you is found without ``PYTHONPATH``.
    An import that fails in any way (a syntax error, an exception, ``sys.exit``) is one line.
    """
    if spec.count(":") != 1 or not all(spec.split(":")):
        raise UsageError(f"FACTORY must look like package.module:function, got {spec!r}")
    module_name, attr = spec.split(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from None
    except SyntaxError as exc:
        raise UsageError(f"cannot import {module_name!r}: syntax error in {exc.filename}, line {exc.lineno}: "
                         f"{exc.msg}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's module: whatever it raises is one line
        raise UsageError(f"importing {module_name!r} raised {_raised(exc)}") from None
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(factory):
        raise UsageError(f"{spec} is not callable")
    return factory


def _raised(exc: BaseException) -> str:
    """``SystemExit(3)`` as 'sys.exit(3)', others as 'Name: message' (first line)."""
    if isinstance(exc, SystemExit):
        return f"sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def build_model(spec: str):
    """Call the factory ``spec`` with no arguments; it must return an ``nn.Module``."""
    torch = require_torch("normlaws audit")
    factory = load_factory(spec)
    try:
        model = factory()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's factory: whatever it raises is one line
        raise UsageError(f"{spec}() failed: {_raised(exc)}") from None
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"{spec}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def sample_input(shape, seed: int = 0):
    """A seeded standard-normal float64 input of ``shape``."""
    torch = require_torch("normlaws audit")
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
