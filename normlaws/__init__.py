"""normlaws: verify, three independent ways, how L2 regularization interacts with normalization layers.

The hub of the suite: the registry of claims (``normlaws.registry``), the conventions
(``normlaws.conventions``), result records (``normlaws.records``) and the command line (``normlaws.cli``).
"""
__version__ = "0.1.0"
