"""Run the doctests of the theory modules and the hub (closed forms that fit in a line)."""
import doctest
import importlib
import pkgutil

import pytest

import normlaws
import normlaws.theory

MODULES = sorted({f"normlaws.theory.{m.name}" for m in pkgutil.iter_modules(normlaws.theory.__path__)}
                 | {"normlaws.conventions", "normlaws.records", "normlaws.validate", "normlaws.commands.derive"})


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
