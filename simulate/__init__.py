"""``normlaws.simulate``: Monte-Carlo of the paper's Section 4 model and of a real BN unit (numpy and scipy only).

Many independent chains run at once (chains on one axis, the (eta, lam) grid on the leading one, a Python
loop over time only), with an exact scalar reduction for SGD, standard errors from independent chains and batch
means, a drift test for equilibration, and every prediction lambdified from ``normlaws.theory``.

    >>> from normlaws.simulate import Hyper, Spec, run, estimate
    >>> r = run(Spec("sgd", Hyper(eta=0.1, lam=0.01), chains=64, progress=False))
    >>> round(estimate(r.blocks["N"]).mean / 12.66, 1)         # the closure's N* = 12.66 (C = d = 64)
    1.0

Public API:

- :func:`run` / :class:`Spec` / :class:`Run`: run chains of a rule on a grid; block means per observable.
- :func:`simulate`: one (eta, lam) point measured against the theory (rows with SE, tolerance, verdict).
- :func:`exponents`: the norm's scaling exponents on grids that respect equilibration, with 95 % CIs.
- :data:`CHECKS`: the registry hook, ``{claim_id: check(size, seed) -> dict}`` (in ``.checks``).
- :func:`estimate`, :func:`fit_line`, :func:`jackknife`: the statistics.
- :class:`VectorChains`, :class:`ScalarSGD`, :class:`Section4Noise`, :class:`BNUnit`: the simulators.
- ``normlaws.simulate.bench``: chain-steps per second (``python -m normlaws.simulate.bench``).
"""
from .engine import Run, Spec, timescales, run
from .exponents import exponents
from .models import BNUnit, Section4Noise
from .params import RULES, Hyper
from .rules import VectorChains
from .scalar import ScalarSGD
from .stats import Estimate, estimate, fit_line, jackknife
from .summary import simulate

__all__ = ["run", "Spec", "Run", "simulate", "exponents", "estimate", "Estimate", "fit_line", "jackknife",
           "VectorChains", "ScalarSGD", "Section4Noise", "BNUnit", "Hyper", "RULES", "timescales"]
