"""The later results (theory/later.py): symbolic proofs, closed forms against numbers, Monte-Carlo legs.

Every expected value below is either a derivation's own residual (must be exactly 0), a value the simulation
measures (``simulate/later_checks.py``: tolerances are ``Z * SE + derived bias``, stated there), or a
consequence that holds whatever the formula (a limit, a special case). Nothing is copied from a paper.
"""
import math

import numpy as np
import pytest
import sympy as sp

from normlaws import registry
from normlaws.simulate import later_checks as lc
from normlaws.theory import later, section4
from normlaws.theory.compare import AGREES_LEADING, AGREES_SCALING, DISAGREES, NOT_COMPARABLE, SCALING
from normlaws.theory.symbols import beta1, eta, lam, rho

LATER_IDS = [c.id for c in later.CLAIMS]


# ---- the registry ------------------------------------------------------------------------------------------------
def test_later_claims_are_registered_with_legs():
    ids = [c.id for c in registry.claims()]
    assert set(LATER_IDS) <= set(ids)
    for cid in lc.CHECKS:
        assert cid in ids, f"a Monte-Carlo check for an unknown claim {cid}"


@pytest.mark.parametrize("claim_id", LATER_IDS)
def test_later_proofs_reduce_to_zero(claim_id):
    claim = next(c for c in later.CLAIMS if c.id == claim_id)
    assert claim.proof_failures() == {}


def test_paraphrased_claims_keep_form_none_and_printed_ones_compare():
    for c in later.CLAIMS:
        if c.id in later.PARAPHRASED:
            assert c.printed.form == "none" and c.verdict.kind == NOT_COMPARABLE
            assert "paraphrased" in c.printed.text
    by_id = {c.id: c for c in later.CLAIMS}
    # read in the summary's own notation (grad L(w_hat) at the unit vector) the first-order step agrees; the
    # literal reading is noted, not held against Hoffer et al. (a third-party summary's notation)
    formula = by_id["later.hoffer.sphere_step_formula"]
    assert formula.verdict.kind.startswith("agrees") and "summary's notation" in formula.printed.text
    assert by_id["later.hoffer.sphere_step"].verdict.kind == AGREES_SCALING
    assert by_id["later.growth.sgd"].verdict.kind == "agrees exactly"


# ---- closed forms ---------------------------------------------------------------------------------------------
def test_exact_angles_of_the_linear_rules():
    assert sp.expand(later.cos_angle("sgd") - (1 - 2 * eta * lam)) == 0
    assert sp.simplify(later.cos_angle("momentum") - (1 - 2 * eta * lam / (1 + rho))) == 0
    assert sp.simplify(later.cos_angle("adamw") - (1 + beta1 - eta * lam) / (1 + beta1 - beta1 * eta * lam)) == 0
    # without momentum, heavy-ball and Nesterov are SGD, and AdamW's angle is the decay factor's
    assert sp.simplify(later.cos_angle("momentum").subs(rho, 0) - later.cos_angle("sgd")) == 0
    assert sp.simplify(later.cos_angle("nesterov").subs(rho, 0) - later.cos_angle("sgd")) == 0
    assert sp.simplify(later.cos_angle("adamw").subs(beta1, 0) - (1 - eta * lam)) == 0


def test_leading_angles_and_relaxation_times():
    assert sp.simplify(later.angle_leading("momentum") ** 2 - 4 * eta * lam / (1 + rho)) == 0
    assert sp.simplify(later.angle_leading("adamw") ** 2 - 2 * eta * lam * (1 - beta1) / (1 + beta1)) == 0
    assert sp.simplify(later.relaxation_leading("sgd") - section4.sgd_relaxation().extras["leading"]) == 0
    assert sp.simplify(later.relaxation_leading("momentum") - (1 - rho) / (8 * eta * lam)) == 0
    assert sp.simplify(later.relaxation_leading("adamw") - 1 / (2 * eta * lam)) == 0


def test_torch_nesterov_iterate_turns_faster_than_heavy_ball_at_leading_order():
    ratio = sp.simplify(later.angle_leading("nesterov_torch") ** 2 / later.angle_leading("momentum") ** 2)
    assert sp.simplify(ratio - (1 + 2 * rho - 2 * rho**3)) == 0
    assert float(ratio.subs(rho, 0.9)) == pytest.approx(1.342)
    # the paper's variable w (Sutskever's form) turns like heavy-ball
    assert sp.simplify(later.angle_leading("nesterov") ** 2 - later.angle_leading("momentum") ** 2) == 0


def test_numeric_relaxation_time_tends_to_its_leading_order():
    # the relative gap to the leading order must shrink in proportion to eta*lam (a first-order correction)
    for rule, kw in (("sgd", {}), ("momentum", {"rho": 0.9}), ("adamw", {"beta1": 0.9})):
        gaps = []
        for lam_ in (1e-2, 1e-3):
            lead = lc.value(later.relaxation_leading(rule), 1e-3, lam_, **kw)
            exact = lc.relaxation_time(rule, 1e-3, lam_, **{"rho": 0.9, "beta1": 0.9, **kw})
            gaps.append(abs(exact / lead - 1))
        assert gaps[1] < 1e-3 and gaps[1] < gaps[0] / 5, (rule, gaps)


def test_lion_without_interpolation_is_an_uncorrelated_random_walk():
    assert lc.lion_Q(0.01, 0.2, 0.0, 0.99) == 0.0
    eq = lc.lion_equilibrium(0.01, 0.2, 100, beta1=0.0)
    assert eq["cos"] == pytest.approx(1 - 0.01 * 0.2, rel=1e-15)
    assert eq["N"] == pytest.approx(0.01**2 * 100 / (1 - (1 - 0.002) ** 2), rel=1e-12)


def test_lion_sign_correlation_sum_converges_and_is_large_for_default_betas():
    q = lc.lion_Q(1e-3, 0.1, 0.9, 0.99)
    assert q == pytest.approx(lc.lion_Q(1e-3, 0.1, 0.9, 0.99, tail=1e-15), abs=1e-12)
    assert q > 10      # the interpolated momentum correlates the signs over ~1/(1 - beta2) steps


def test_li_arora_growth_factor_and_reality_condition():
    a = lc.li_arora_alpha(0.1, 5e-4, 0.9)
    assert a * a - (1 + 0.9 - 2 * 0.1 * 5e-4) * a + 0.9 == pytest.approx(0.0, abs=1e-15)
    bound = float(later.li_arora_derivation().extras["reality_bound"].subs(rho, 0.9))   # (1 - sqrt(rho))^2/2
    lc.li_arora_alpha(1.0, bound * 0.999, 0.9)
    with pytest.raises(ValueError, match="complex growth factor"):
        lc.li_arora_alpha(1.0, bound * 1.001, 0.9)


def test_li_arora_identity_needs_the_nonzero_initial_buffer():
    loss = lc.ToyLoss(steps=200)
    good, *_ = lc.li_arora_paths(steps=200, loss=loss)
    bad, *_ = lc.li_arora_paths(steps=200, loss=loss, zero_buffer=True)
    assert good < 1e-12 < 1e-4 < bad   # rounding-sized versus an O(eta lam/(1 - rho)) error from step one


def test_momentum_growth_closed_form_fails_without_orthogonality():
    # the recursion s_t = rho (s_{t-1} - eta P_{t-1}) is what <w, grad L> = 0 buys; a radial gradient breaks it
    inc, claimed = later.growth_momentum_closed_form(3)
    assert sp.expand(inc - claimed) == 0
    w, g = later._orthogonal_setup()
    assert sp.simplify(w.dot(g)) == 0


# ---- Monte-Carlo legs ---------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("claim_id", list(lc.CHECKS))
def test_montecarlo_leg_agrees_at_quick_size(claim_id):
    result = lc.CHECKS[claim_id]("quick")
    assert result["status"] == "agrees", result["detail"]
    for comp in result["components"]:
        assert comp["tolerance"] >= 0 and math.isfinite(comp["measured"])


def _chord_component(run, predicted_chord):
    chord, se = lc._ratio_se(run["chord"], run["N"])
    return lc._component("chord", chord, predicted_chord, se, 2 * lc._transient(run) * predicted_chord)


def test_simulation_tells_nesterov_from_heavy_ball():
    # the same simulated Nesterov run (torch's iterate), compared with heavy-ball's exact chord: must be rejected
    run = lc.run_linear("nesterov_torch", "quick")
    wrong = lc.value(later.chord_ratio("momentum"), run["eta"], run["lam"], rho=0.9)
    assert not _chord_component(run, wrong)["agrees"]
    assert _chord_component(run, run["prediction"]["chord"])["agrees"]


def test_simulation_rejects_the_random_walk_angle_for_lion():
    run = lc.run_lion("quick")
    theta, se = lc._mean_se(run["angle"])
    random_walk = math.sqrt(2 * run["eta"] * run["lam"])
    assert abs(theta - random_walk) > 50 * (lc.Z * se + theta / run["d"])
    verdict = later.paraphrase_verdict("later.angle.lion")
    assert verdict.kind == DISAGREES and verdict.holds == SCALING   # same exponents, wrong constant sqrt(1 + 2 Q1)


def test_simulation_rejects_the_sgd_form_of_defazio_for_momentum():
    run = lc.run_linear("momentum", "quick")
    measured, se = lc._ratio_se(run["grad2"], run["N"])
    sgd_form = (later.PARAPHRASED["later.defazio.momentum"][0] ** 2).subs({eta: run["eta"], lam: run["lam"]})
    assert abs(measured - float(sgd_form)) > 100 * lc.Z * se
    momentum = later.paraphrase_verdict("later.defazio.momentum")
    assert momentum.kind == DISAGREES and momentum.holds == SCALING
    assert later.paraphrase_verdict("later.defazio.sgd").kind == AGREES_LEADING


def test_side_by_side_table_has_every_component():
    rows = lc.side_by_side("quick")
    assert {r["claim"] for r in rows} == set(lc.CHECKS)
    assert all(r["verdict"] == "agrees" for r in rows)
    assert all(np.isfinite(r["predicted"]) for r in rows)
