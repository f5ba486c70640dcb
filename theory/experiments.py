"""What the theory says about the paper's Section 6 sentences on its figures (the figures themselves are not in the
shared text; their measured counterparts are the training leg's).

Each claim derives the quantity a sentence reasons with (the equilibrium effective learning rate, the relaxation
time, normalized SGD's dependence on lambda) and decides the sentence's reasoning; whether the paper's plots show
what it says is a matter for the training leg (``gpu``), which tests the derived laws on real CIFAR-10.
"""
from __future__ import annotations

import sympy as sp

from . import section4, updates
from .claim import Claim, Printed
from .compare import Verdict, judged, log_derivative
from .derivation import Derivation, Step, simplified
from .symbols import C, eta, lam, rho


def _slope(invariant: sp.Expr) -> sp.Expr:
    """``d ln eta/d ln lambda`` along a level set of ``invariant`` (a monomial in eta and lambda)."""
    e_eta = log_derivative(invariant, eta)
    e_lam = log_derivative(invariant, lam)
    return sp.simplify(-e_lam / e_eta)


def fig1_regions() -> Derivation:
    """SGD-type rules: the equilibrium ``eta_eff`` and the relaxation time, as functions of ``lam``."""
    eff = section4._lead(section4.equilibrium_eff_lr("nesterov"))
    tau = section4.sgd_relaxation().extras["leading"]
    d_eff, d_tau = sp.simplify(sp.diff(eff, lam)), sp.simplify(sp.diff(tau, lam))
    return Derivation(result=sp.Matrix([d_eff, d_tau]),
                      steps=[Step("equilibrium eta_eff (Nesterov, leading order): grows with lambda", eff),
                             Step("the norm's relaxation time (steps): longest at small eta lambda", tau)],
                      proofs={"eta_eff is a function of eta lambda": simplified(
                          eff - eff.subs({eta: eta * 2, lam: lam / 2}))},
                      summary="the effective learning rate at equilibrium grows with lambda (~ sqrt(eta lambda)) and "
                              "the time to reach equilibrium falls with it (~ 1/(8 eta lambda)): low lambda means a "
                              "low effective learning rate and the slowest convergence",
                      extras={"d_eff": d_eff, "d_tau": d_tau})


def judge_fig1(dv: Derivation) -> Verdict:
    point = {eta: sp.Rational(1, 100), lam: sp.Rational(1, 10**3), C: 1, rho: sp.Rational(9, 10)}
    d_eff, d_tau = (float(dv.extras[k].subs(point)) for k in ("d_eff", "d_tau"))
    return judged(d_eff < 0 and d_tau > 0, f"d eta_eff/d lambda = {d_eff:.3g} > 0 and d tau/d lambda = {d_tau:.3g} < 0 "
                  "(eta = 0.01, lambda = 1e-3): at low lambda the effective learning rate is low and training is "
                  "furthest from equilibrium", partial="with the printed eta_eff = sqrt(eta/lambda) the reasoning is "
                  "consistent; with the derived one, a high effective learning rate and fast convergence both go with "
                  "large eta lambda")


def fig2_diagonals() -> Derivation:
    """The slope ``d ln eta/d ln lambda`` of the lines of constant equilibrium ``eta_eff``: printed and derived."""
    derived = sp.Matrix([_slope(updates.invariant_monomial("nesterov")), _slope(updates.invariant_monomial("adam"))])
    return Derivation(result=derived,
                      steps=[Step("constant eta_eff at equilibrium = constant invariant monomial: eta lambda "
                                  "(Nesterov), eta^2 lambda (Adam)", sp.Matrix([updates.invariant_monomial("nesterov"),
                                                                                updates.invariant_monomial("adam")])),
                             Step("their slopes in the (log lambda, log eta) plane", derived)],
                      proofs={"slopes": derived - sp.Matrix([-1, -sp.Rational(1, 2)])},
                      summary="the test error should be constant along eta lambda = const (Nesterov, slope -1) and "
                              "eta^2 lambda = const (Adam, slope -1/2): the anti-diagonals of a log-log grid, not the "
                              "diagonals eta/lambda = const and eta^2/lambda = const of the printed formulas")


def fig3_normalized() -> Derivation:
    """Normalized SGD: the relative change of its effective learning rate caused by lambda."""
    eff = updates.normalized_sgd_derivation().result
    relative = sp.simplify(eff / eta - 1)
    return Derivation(result=relative,
                      steps=[Step("normalized SGD with L2 = normalized SGD without at eta/(1 - 2 eta lam)", eff),
                             Step("the relative change lambda causes", relative)],
                      proofs={"relative": relative - 2 * eta * lam / (1 - 2 * eta * lam)},
                      summary="lambda changes normalized SGD only by the factor 1/(1 - 2 eta lambda) on eta: "
                              "negligible for small eta lambda, large as 2 eta lambda approaches 1 (and the step flips "
                              "beyond): 'only for large lambda' is right; the mechanism is this rescaled step",
                      extras={"relative": relative})


def judge_fig3(dv: Derivation) -> Verdict:
    small = float(dv.extras["relative"].subs({eta: sp.Rational(1, 10), lam: sp.Rational(1, 10**4)}))
    large = float(dv.extras["relative"].subs({eta: sp.Rational(1, 10), lam: 2}))
    return judged(small < 1e-3 < 0.5 < large, f"the step changes by {small:.1e} at eta = 0.1, lambda = 1e-4 and by "
                  f"{large:.2f} at lambda = 2: lambda matters only when eta lambda is not small")


def _said(where: str, quote: str) -> Printed:
    return Printed(None, "verbal", where, text=quote)


CLAIMS = [
    Claim(id="sec6.fig1.regions", title="Where the norm has time to converge (Figure 1)",
          statement="the effect of eta is seen best with low lambda, that is, when the effective learning rate is high. "
                    "In these regions training has time to converge",
          source="Sec. 6, Figure 1", printed=_said("Sec. 6, Figure 1", "The effect of lambda s seen most clearly for "
                                                  "high eta, while the effect of eta is seen best with low lambda, that "
                                                  "is, when the effective learning rate is high. In these regions "
                                                  "training has time to converge"),
          derive=fig1_regions, judge=judge_fig1, tags=("experiment", "verbal")),
    Claim(id="sec6.fig2.diagonals", title="Along which lines the test error is constant (Figure 2)",
          statement="Along the diagonals where the effective learning rate is constant, the test error is also roughly "
                    "constant.", source="Sec. 6, Figure 2",
          printed=Printed(sp.Matrix([_slope(eta / lam), _slope(eta**2 / lam)]), "exact",
                          "Sec. 6, Figure 2 (eta_eff = sqrt(eta/lambda) for Nesterov, cbrt(eta^2/lambda) for Adam: "
                          "constant along eta/lambda and eta^2/lambda)",
                          text="slopes d ln eta/d ln lambda of the lines of constant printed eta_eff"),
          derive=fig2_diagonals, tags=("experiment", "optimal-lr")),
    Claim(id="sec6.fig3.normalized", title="Normalized weights: lambda matters only when large (Figure 3)",
          statement="When normalizing the weights after each update we see that the effect of the regularization "
                    "parameter almost disappears. Only for large lambda is the test error worse, because then eta "
                    "lambda w constitutes a significant part of the gradient.", source="Sec. 6, Figure 3",
          printed=_said("Sec. 6, Figure 3", "When normalizing the weights after each update we see that the effect of "
                        "the regularization parameter almost disappears. Only for large lambda is the test error worse"),
          derive=fig3_normalized, judge=judge_fig3, tags=("experiment", "verbal")),
]
