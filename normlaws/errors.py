"""Errors that the command line turns into one clear line on stderr and exit code 2."""


class UsageError(ValueError):
    """Bad input from the user: an argument, a file or an environment the command cannot work with."""


class MissingPart(RuntimeError):
    """An optional part (torch, a TeX engine, the data, a GPU) is not there; the leg is skipped, not failed."""
