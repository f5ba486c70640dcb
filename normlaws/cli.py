"""The ``normlaws`` command line: ``main(argv) -> int``.

Each subcommand is a module in ``normlaws.commands`` with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Bad input gets one line on stderr and exit code 2, never a traceback: a bad option
(``normlaws.validate``), a bad file (``normlaws.schema``), a full or read-only disk and an unwritable standard
output alike. Set ``NORMLAWS_TRACEBACK=1`` to see the traceback behind such a line.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .errors import UsageError, is_environment_error, os_error_line

#: subcommand name -> module in normlaws.commands
COMMANDS = {
    "claims": "claims",
    "derive": "derive",
    "train": "train",
    "sweep": "sweep",
    "figures": "figures",
    "bench": "bench",
    "report": "report",
    "verify": "verify",
    "audit": "audit",
    "advise": "advise",
    "monitor": "monitor",
    "simulate": "simulate",
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message):  # noqa: D401 - argparse's hook
        raise UsageError(f"{self.prog}: {message}")


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The full parser, with one subparser per command; given ``argv``, only the command it names is imported and
    gets its options (some commands import numpy, scipy or torch: seconds on a small machine)."""
    chosen = next((a for a in argv or () if not a.startswith("-")), None)
    chosen = chosen if chosen in COMMANDS else None
    parser = _Parser(prog="normlaws", description="Verify the theory of L2 regularization with "
                     "Batch, Weight and Layer Normalization: symbolic, Monte-Carlo and training legs.")
    parser.add_argument("--version", action="version", version=f"normlaws {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        if chosen not in (None, name):   # another command: its module is not even imported
            sub.add_parser(name)
            continue
        module = importlib.import_module(f"normlaws.commands.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _stdout_closed() -> bool:
    """Whether file descriptor 1 is closed (``normlaws ... >&-``)."""
    try:
        os.fstat(1)
    except OSError:
        return True
    return sys.stdout is None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the flush at exit cannot fail a second time (and a closed
    descriptor 1 is not reused by the next file this process opens)."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    if null != 1:
        os.close(null)


def _error(message: str) -> int:
    print(f"normlaws: error: {message}" if not message.startswith("normlaws") else f"error: {message}",
          file=sys.stderr)
    return 2


def _size_sympy_caches() -> None:
    """SymPy memoizes its core operations in LRU caches of ``SYMPY_CACHE_SIZE`` entries each (1000 by default), sized
    when SymPy is first imported (the command line imports it only after this). The derivations revisit more
    sub-expressions than that: with 10000 a cold run of all of them takes about 10 % less CPU, every result the
    same. Set for the command line only (a library import of normlaws leaves the user's SymPy as it is); a value
    already in the environment is kept."""
    os.environ.setdefault("SYMPY_CACHE_SIZE", "10000")


def main(argv=None) -> int:
    """Run the command line; return the exit code (0 ok, 1 a check of the suite failed, 2 bad input)."""
    _size_sympy_caches()
    if _stdout_closed():
        _silence_stdout()
        return _error("standard output is closed; redirect it to a file or /dev/null instead")
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(argv).parse_args(argv)
        if not getattr(args, "_run", None):
            build_parser().print_help()
            return 2
        code = int(args._run(args) or 0)
        sys.stdout.flush()  # here, not at exit: a full or closed stdout is one line like any other error
        return code
    except (UsageError, argparse.ArgumentTypeError) as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print("normlaws: interrupted; records written so far are kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        _silence_stdout()
        return 0
    except OSError as exc:
        if not is_environment_error(exc) or os.environ.get("NORMLAWS_TRACEBACK"):
            raise
        if exc.filename is None and _is_stdout(exc):
            _silence_stdout()
            return _error(f"cannot write to standard output: {exc.strerror}")
        return _error(os_error_line(exc))


def _is_stdout(exc: OSError) -> bool:
    """Whether an ``OSError`` without a file name came from standard output (checked by flushing it again)."""
    try:
        sys.stdout.flush()
    except OSError:
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
