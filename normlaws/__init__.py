"""normlaws: verify, three independent ways, how L2 regularization interacts with normalization layers.

The hub of the suite: the registry of claims (``normlaws.registry``), the conventions
(``normlaws.conventions``), result records (``normlaws.records``) and the command line (``normlaws.cli``).
"""
__version__ = "0.1.0"

import os

# SymPy memoizes its core operations in LRU caches of SYMPY_CACHE_SIZE entries each (1000 by default), sized when
# SymPy is first imported (normlaws imports it only below this line). The derivations revisit more sub-expressions
# than that: with 10000 a cold run of all of them takes about 10 % less CPU, every result the same. A value already
# in the environment is kept.
os.environ.setdefault("SYMPY_CACHE_SIZE", "10000")
