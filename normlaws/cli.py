"""The ``normlaws`` command line: ``main(argv) -> int``.

Each subcommand is a module in ``normlaws.commands`` with ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Bad input gets one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UsageError

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
    "simulate": "simulate",
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message):  # noqa: D401 - argparse's hook
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one subparser per command."""
    parser = _Parser(prog="normlaws", description="Verify the theory of L2 regularization with "
                     "Batch, Weight and Layer Normalization: symbolic, Monte-Carlo and training legs.")
    parser.add_argument("--version", action="version", version=f"normlaws {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"normlaws.commands.{module_name}")
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit code (0 ok, 1 a check of the suite failed, 2 bad input)."""
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "_run", None):
            build_parser().print_help()
            return 2
        return int(args._run(args) or 0)
    except UsageError as exc:
        print(f"normlaws: error: {exc}" if not str(exc).startswith("normlaws") else f"error: {exc}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("normlaws: interrupted; records written so far are kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
