"""The later results (theory/angular, lion, grad_ratio, li_arora, norm_growth, hoffer): symbolic proofs, closed
forms against numbers, Monte-Carlo legs.

Every expected value below is either a derivation's own residual (must be exactly 0), a value the simulation
measures (``simulate/angular_checks.py``, ``simulate/identity_checks.py``: tolerances are ``Z * SE + derived
bias``, stated there), or a consequence that holds whatever the formula (a limit, a special case). Nothing is
copied from a paper.
"""
import math

import pytest
import sympy as sp

from normlaws import registry
from normlaws.outcome import Z, component
from normlaws.simulate import angular_checks as ac
from normlaws.simulate import identity_checks as ic
from normlaws.simulate import predict
from normlaws.theory import angular, grad_ratio, hoffer, li_arora, lion, moments, norm_growth, paraphrase, section4
from normlaws.theory.compare import AGREES_LEADING, AGREES_SCALING, DISAGREES, NOT_COMPARABLE, SCALING
from normlaws.theory.symbols import C, beta1, eta, lam, rho

LATER_CLAIMS = [c for m in (angular, lion, grad_ratio, li_arora, norm_growth, hoffer) for c in m.CLAIMS]
LATER_IDS = [c.id for c in LATER_CLAIMS]
CHECKS = {**ac.CHECKS, **ic.CHECKS}


def value(expr, eta, lam, **values) -> float:
    return float(predict.evaluate(expr, eta=eta, lam=lam, **{"C": 1.0, "d": 1.0, **values}))


# ---- the registry ------------------------------------------------------------------------------------------------
def test_later_claims_are_registered_with_legs():
    ids = [c.id for c in registry.claims()]
    assert set(LATER_IDS) <= set(ids)
    for cid in CHECKS:
        assert cid in ids, f"a Monte-Carlo check for an unknown claim {cid}"


@pytest.mark.parametrize("claim_id", LATER_IDS)
def test_later_proofs_reduce_to_zero(claim_id):
    claim = next(c for c in LATER_CLAIMS if c.id == claim_id)
    assert claim.proof_failures() == {}


def test_paraphrased_claims_keep_form_none_and_printed_ones_compare():
    for c in LATER_CLAIMS:
        if c.id in paraphrase.PARAPHRASED:
            assert c.printed.form == "none" and c.verdict.kind == NOT_COMPARABLE
            assert "paraphrased" in c.printed.text
    by_id = {c.id: c for c in LATER_CLAIMS}
    # read in the summary's own notation (grad L(w_hat) at the unit vector) the first-order step agrees; the
    # literal reading is noted, not held against Hoffer et al. (a third-party summary's notation)
    formula = by_id["later.hoffer.sphere_step_formula"]
    assert formula.verdict.kind.startswith("agrees") and "summary's notation" in formula.printed.text
    assert by_id["later.hoffer.sphere_step"].verdict.kind == AGREES_SCALING
    assert by_id["later.growth.sgd"].verdict.kind == "agrees exactly"


# ---- closed forms ---------------------------------------------------------------------------------------------
def test_exact_angles_of_the_linear_rules():
    assert sp.expand(moments.cos_angle("sgd") - (1 - 2 * eta * lam)) == 0
    assert sp.simplify(moments.cos_angle("momentum") - (1 - 2 * eta * lam / (1 + rho))) == 0
    assert sp.simplify(moments.cos_angle("adamw") - (1 + beta1 - eta * lam) / (1 + beta1 - beta1 * eta * lam)) == 0
    # without momentum, heavy-ball and Nesterov are SGD, and AdamW's angle is the decay factor's
    assert sp.simplify(moments.cos_angle("momentum").subs(rho, 0) - moments.cos_angle("sgd")) == 0
    assert sp.simplify(moments.cos_angle("nesterov").subs(rho, 0) - moments.cos_angle("sgd")) == 0
    assert sp.simplify(moments.cos_angle("adamw").subs(beta1, 0) - (1 - eta * lam)) == 0


def test_leading_angles_and_relaxation_times():
    assert sp.simplify(moments.angle_leading("momentum") ** 2 - 4 * eta * lam / (1 + rho)) == 0
    assert sp.simplify(moments.angle_leading("adamw") ** 2 - 2 * eta * lam * (1 - beta1) / (1 + beta1)) == 0
    assert sp.simplify(moments.relaxation_leading("sgd") - section4.sgd_relaxation().extras["leading"]) == 0
    assert sp.simplify(moments.relaxation_leading("momentum") - (1 - rho) / (8 * eta * lam)) == 0
    assert sp.simplify(moments.relaxation_leading("adamw") - 1 / (2 * eta * lam)) == 0


def test_torch_nesterov_iterate_turns_faster_than_heavy_ball_at_leading_order():
    ratio = sp.simplify(moments.angle_leading("nesterov_torch") ** 2 / moments.angle_leading("momentum") ** 2)
    assert sp.simplify(ratio - (1 + 2 * rho - 2 * rho**3)) == 0
    assert float(ratio.subs(rho, 0.9)) == pytest.approx(1.342)
    # the paper's variable w (Sutskever's form) turns like heavy-ball
    assert sp.simplify(moments.angle_leading("nesterov") ** 2 - moments.angle_leading("momentum") ** 2) == 0


def test_numeric_relaxation_time_tends_to_its_leading_order():
    # the relative gap to the leading order must shrink in proportion to eta*lam (a first-order correction)
    for rule, kw in (("sgd", {}), ("momentum", {"rho": 0.9}), ("adamw", {"beta1": 0.9})):
        gaps = []
        for lam_ in (1e-2, 1e-3):
            lead = value(moments.relaxation_leading(rule), 1e-3, lam_, **kw)
            exact = predict.relaxation_time(rule, 1e-3, lam_, **{"rho": 0.9, "beta1": 0.9, **kw})
            gaps.append(abs(exact / lead - 1))
        assert gaps[1] < 1e-3 and gaps[1] < gaps[0] / 5, (rule, gaps)


def test_lion_without_interpolation_is_an_uncorrelated_random_walk():
    assert predict.lion_Q(0.01, 0.2, 0.0, 0.99) == 0.0
    eq = predict.lion_equilibrium(0.01, 0.2, 100, beta1=0.0)
    assert eq["cos"] == pytest.approx(1 - 0.01 * 0.2, rel=1e-15)
    assert eq["N"] == pytest.approx(0.01**2 * 100 / (1 - (1 - 0.002) ** 2), rel=1e-12)


def test_lion_sign_correlation_sum_converges_and_is_large_for_default_betas():
    q = predict.lion_Q(1e-3, 0.1, 0.9, 0.99)
    assert q == pytest.approx(predict.lion_Q(1e-3, 0.1, 0.9, 0.99, tail=1e-15), abs=1e-12)
    assert q > 10      # the interpolated momentum correlates the signs over ~1/(1 - beta2) steps


def test_li_arora_growth_factor_and_reality_condition():
    a = ic.li_arora_alpha(0.1, 5e-4, 0.9)
    assert a * a - (1 + 0.9 - 2 * 0.1 * 5e-4) * a + 0.9 == pytest.approx(0.0, abs=1e-15)
    bound = float(li_arora.li_arora_derivation().extras["reality_bound"].subs(rho, 0.9))   # (1 - sqrt(rho))^2/2
    ic.li_arora_alpha(1.0, bound * 0.999, 0.9)
    with pytest.raises(ValueError, match="complex growth factor"):
        ic.li_arora_alpha(1.0, bound * 1.001, 0.9)


def test_li_arora_identity_needs_the_nonzero_initial_buffer():
    loss = ic.ToyLoss(steps=200)
    good, *_ = ic.li_arora_paths(steps=200, loss=loss)
    bad, *_ = ic.li_arora_paths(steps=200, loss=loss, zero_buffer=True)
    assert good < 1e-12 < 1e-4 < bad   # rounding-sized versus an O(eta lam/(1 - rho)) error from step one


def test_momentum_growth_closed_form_fails_without_orthogonality():
    # the recursion s_t = rho (s_{t-1} - eta P_{t-1}) is what <w, grad L> = 0 buys; a radial gradient breaks it
    inc, claimed = norm_growth.growth_momentum_closed_form(3)
    assert sp.expand(inc - claimed) == 0
    w, g = norm_growth._orthogonal_setup()
    assert sp.simplify(w.dot(g)) == 0


# ---- Monte-Carlo legs ---------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("claim_id", list(CHECKS))
def test_montecarlo_leg_agrees_at_quick_size(claim_id):
    result = CHECKS[claim_id]("quick")
    assert result["status"] == "agrees", result["detail"]
    for comp in result["components"]:
        assert comp["tolerance"] >= 0 and math.isfinite(comp["measured"])


def _chord_component(run, pred, predicted_chord):
    chord, se = ac._ratio(run, "chord", "N")
    return component("chord", chord, predicted_chord, se, 2 * ac._transient(run, pred) * predicted_chord)


def _claim(claim_id):
    return next(c for c in LATER_CLAIMS if c.id == claim_id)


def test_simulation_tells_nesterov_from_heavy_ball():
    # the same simulated Nesterov run (torch's iterate), compared with heavy-ball's exact chord: must be rejected
    run, pred = ac.run_rule("nesterov_torch", "quick", ac.SEED)
    hyper = run.spec.hyper
    wrong = value(moments.chord_ratio("momentum"), float(hyper.eta), float(hyper.lam), rho=0.9)
    assert not _chord_component(run, pred, wrong)["agrees"]
    assert _chord_component(run, pred, pred["chord"])["agrees"]


def test_simulation_rejects_the_random_walk_angle_for_lion():
    run, _ = ac.run_rule("lion", "quick", ac.SEED)
    theta, se = ac._mean_se(ac._chain_means(run, "angle"))
    random_walk = math.sqrt(2 * float(run.spec.hyper.eta) * float(run.spec.hyper.lam))
    assert abs(theta - random_walk) > 50 * (Z * se + theta / run.spec.d)
    verdict = paraphrase.paraphrase_verdict(_claim("later.angle.lion"))
    assert verdict.kind == DISAGREES and verdict.holds == SCALING   # same exponents, wrong constant sqrt(1 + 2 Q1)


def test_simulation_rejects_the_sgd_form_of_defazio_for_momentum():
    run, _ = ac.run_rule("momentum", "quick", ac.SEED)
    measured, se = ac._ratio(run, "grad_sq", "N")
    hyper = run.spec.hyper
    sgd_form = (paraphrase.PARAPHRASED["later.defazio.momentum"][0] ** 2).subs({eta: float(hyper.eta),
                                                                               lam: float(hyper.lam)})
    assert abs(measured - float(sgd_form)) > 100 * Z * se
    momentum = paraphrase.paraphrase_verdict(_claim("later.defazio.momentum"))
    assert momentum.kind == DISAGREES and momentum.holds == SCALING
    assert paraphrase.paraphrase_verdict(_claim("later.defazio.sgd")).kind == AGREES_LEADING


def test_lr_correction_rates_are_the_derivations():
    # the numeric learning rates of the correction check are the derivation's expressions at numbers
    exact, corrected = ic._correction_rates(0.1, 0.02)
    dv = hoffer.lr_correction_derivation()
    r_t, s_t = (next(x for x in dv.extras["exact"].free_symbols if x.name == n) for n in ("r_t", "s_t"))
    numbers = {eta: 0.1, lam: 0.02, C: 1}
    assert exact(4.0, 9.0) == pytest.approx(float(dv.extras["exact"].subs(numbers).subs({s_t: 2, r_t: 3})), rel=1e-14)
    N_star = value(section4.stationary_N("sgd"), 0.1, 0.02)
    assert corrected(N_star) == pytest.approx(0.1 / (1 - 2 * 0.1 * 0.02), rel=1e-12)   # at s^2 = N*: eta/a
