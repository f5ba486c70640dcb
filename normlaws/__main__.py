"""``python -m normlaws``: the same as the ``normlaws`` command."""
import sys

from .cli import main

sys.exit(main())
