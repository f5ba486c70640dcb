"""Errors that the command line turns into one clear line on stderr and exit code 2."""
from __future__ import annotations

import errno


class UsageError(ValueError):
    """Bad input from the user: an argument, a file or an environment the command cannot work with."""


class MissingPart(RuntimeError):
    """An optional part (torch, a TeX engine, the data, a GPU) is not there; the leg is skipped, not failed."""


def require_torch(what: str = "this command", error: type = UsageError):
    """Import torch, or raise ``error`` with one line saying that ``what`` needs it and how to install it."""
    try:
        import torch
    except ModuleNotFoundError:
        raise error(f"{what} needs torch: pip install 'normlaws[torch]'") from None
    return torch


#: errors of the environment rather than of the program: a full or read-only disk, permissions, a file where
#: a folder belongs. A command ends on them with one line (exit 2), never a traceback, and no stage or sweep
#: group swallows them as "this check crashed" (they would hit every later stage too).
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                                errno.EIO, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.EMFILE,
                                errno.ENFILE, errno.ENOENT, errno.EEXIST, errno.ELOOP, errno.EXDEV})


def is_environment_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an :data:`ENVIRONMENT_ERRNOS` ``OSError`` (or a :class:`UsageError`): pass it on."""
    return isinstance(exc, UsageError) or (isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS)


def os_error_line(exc: OSError) -> str:
    """One line for an ``OSError``: the file and the system's reason.

    >>> os_error_line(OSError(28, "No space left on device", "out/records.jsonl"))
    'out/records.jsonl: No space left on device'
    """
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    return f"{where}: {reason}" if where else reason
