"""The doctests of ``normlaws.simulate`` (the bias laws, the quick start)."""
import doctest
import importlib

import pytest

MODULES = ["normlaws.simulate", "normlaws.simulate.bias"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    failures, tried = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0
