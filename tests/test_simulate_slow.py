"""Larger Monte-Carlo confirmations (``--run-slow``): every quick check, the exponent fits of SGD, Nesterov, Adam
and AdamW, the RMSProp finding's mechanism, BN-unit dynamics, and full-size steady states.

Tolerances as in the checks (``Z * SE + derived bias``); fixed seeds.
"""
import pytest

from normlaws.simulate import Hyper, Spec, checks, exponents, simulate
from normlaws.simulate import bias as B
from normlaws.simulate import predict
from normlaws.simulate.bench import bench

pytestmark = pytest.mark.slow

#: where the simulation disagrees with the closure (findings, reported with numbers by the checks): RMSProp's
#: accumulator is a finite window that contains the current gradient, which the closure leaves out
FINDINGS = {"table1.rmsprop.norm", "table1.rmsprop.eff_lr_eq", "sec52.rmsprop.recursion"}


@pytest.mark.timeout(600)
def test_every_quick_check_runs_and_only_the_known_findings_disagree():
    results = checks.run_all("quick", 0, progress=False)
    assert not [cid for cid, r in results.items() if r["status"] == "skipped"]
    disagree = {cid for cid, r in results.items() if r["status"] == "disagrees"}
    assert disagree == FINDINGS
    assert sum(r["wall_seconds"] for r in results.values()) < 120


@pytest.mark.timeout(600)
@pytest.mark.parametrize("rule", ["sgd", "nesterov", "adam", "adamw"])
def test_exponent_fits_agree_with_the_derived_exponents(rule):
    out = exponents(rule, progress=False)
    assert out["status"] == "agrees", out["fixed_product"]["detail"] + " | " + out["fixed_ratio"]["detail"]


@pytest.mark.timeout(600)
def test_rmsprop_gap_closes_as_rho_tends_to_one():
    """At rho = 0.99 the accumulator's window effect, -(1-rho)/4 = -0.25 %, is inside the tolerance."""
    r = checks.equilibrium("rmsprop", "quick", 0, rho=0.99)
    from normlaws.simulate import estimate
    e = estimate(r.blocks["N"])
    N_star = float(predict.closure_N("rmsprop", r.spec.hyper, 64, 64.0))
    bias, _ = B.closure_bias("rmsprop", "N", 64, r.spec.hyper)
    assert abs(e.mean - N_star) <= checks.Z * e.se + abs(bias + 0.0025) * N_star
    gap_09 = checks.CHECKS["table1.rmsprop.norm"]("quick", 0)["relative_error"]
    assert abs(e.mean / N_star - 1) < abs(gap_09) / 3


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backward", ["stop_gradient", "full"])
def test_bn_unit_norm_follows_the_closure_with_its_measured_C(backward):
    out = simulate(Spec("sgd", Hyper(eta=0.1, lam=0.01), model="bn-unit", backward=backward, d=16, batch=32,
                        chains=128, seed=5, progress=False))
    assert out["rows"][0]["verdict"] == "agrees"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("claim", ["table1.sgd.norm", "sec4.sgd.fixed_point", "table1.adamw.norm"])
def test_full_size_steady_states(claim):
    assert checks.CHECKS[claim]("full", 1)["status"] == "agrees"


@pytest.mark.timeout(300)
def test_benchmark_runs():
    rows = bench(seconds=0.2, quick=True)["rows"]
    assert all(v > 0 for v in rows.values())
