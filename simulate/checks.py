"""The Monte-Carlo leg, by claim id: ``CHECKS[claim_id](size="quick"|"full", seed=0) -> dict``.

Every check returns ``normlaws.outcome.result``: ``status`` (agrees, disagrees or skipped), the first component's
``predicted``, ``measured``, ``se``, ``tolerance``, and every compared quantity in ``components`` with its bias bound
and where that bound comes from. Tolerances are ``Z * SE + |bias bound|`` (``Z = 4``: with ~100 comparisons run
routinely a 4-sigma tolerance keeps the chance of any false alarm under 1 %, 6e-5 each, while a real discrepancy of
a few standard errors plus the bias is still caught). The checks live by subject:

* ``steady_checks``: Table 1's equilibria (norm, effective learning rate) and the rules' equivariance;
* ``section4_checks``: the one-step recursions, SGD's relaxation time and its growth without decay;
* ``bn_checks``: the BN+ReLU unit's exact second moment and fixed point;
* ``angular_checks``: the angular equilibria (``theory.angular``, ``theory.lion``) and Defazio's ratio;
* ``identity_checks``: Li & Arora's exponential learning rate, norm growth, Hoffer's step and correction;
* ``drop``: the relaxation across a learning-rate drop (``theory.schedules``).
"""
from __future__ import annotations

import time

from normlaws.errors import UsageError
from normlaws.outcome import Z  # noqa: F401  (re-exported: the tolerances' z)
from normlaws.progress import Progress

from . import angular_checks, bn_checks, drop, identity_checks, section4_checks, steady_checks

CHECKS = {**steady_checks.CHECKS, **bn_checks.CHECKS, **section4_checks.CHECKS, **angular_checks.CHECKS,
          **identity_checks.CHECKS, **drop.CHECKS}
#: the equilibrium run shared by the Table 1 checks (tests and the summary reuse it)
equilibrium = steady_checks.equilibrium


def run_all(size: str = "quick", seed: int = 0, ids=None, progress: bool = True) -> dict:
    """Run the checks (all, or those in ``ids``) and return ``{claim_id: result}`` with each one's wall time."""
    chosen = list(CHECKS) if not ids else list(ids)
    unknown = [c for c in chosen if c not in CHECKS]
    if unknown:
        raise UsageError(f"no Monte-Carlo check for {unknown[0]!r}")
    out = {}
    bar = Progress(len(chosen), "Monte-Carlo checks", enabled=progress)
    for claim_id in chosen:
        started = time.perf_counter()
        out[claim_id] = CHECKS[claim_id](size=size, seed=seed)
        out[claim_id]["wall_seconds"] = time.perf_counter() - started
        bar.advance(1, note=claim_id)
    bar.close()
    return out
