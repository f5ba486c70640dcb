"""Symbolic theory (SymPy only): normalizations, update rules, scaling laws and fixed points.

Every closed form of the suite lives here once, as a SymPy expression. The Monte-Carlo (``simulate``) and the
training harness (``gpu``) evaluate ``lambdify``-ed versions of these expressions; nobody re-types a formula.
"""
