"""Subcommands of the ``normlaws`` command line, one module each."""
