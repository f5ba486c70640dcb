"""The paper's displayed update rules and rescaled updates, transcribed exactly as printed, against derivations.

Sections 3.1 and 5.1-5.4 display each update rule and its form at ``w = alpha w'``. Every display is a claim
here (the rescalings' hyperparameter tuples are in ``updates``): the printed expression is kept as printed, typos
included, and the verdict says what is wrong with it. Quantities the paper leaves abstract are symbols: ``G``
stands for ``grad L_{lambda alpha^2}(w')`` (or ``grad L_lambda(w_t)``), ``Lval`` for the loss value, read along
one coordinate.
"""
from __future__ import annotations

from functools import partial

import sympy as sp

from .claim import Claim, Printed
from .compare import Verdict, judged
from .derivation import Derivation, Step
from .symbols import alpha, eta, lam, rho

G = sp.Symbol("G", real=True)              # a gradient coordinate: grad L_{lambda alpha^2}(w') or grad L_lambda(w_t)
L_val = sp.Symbol("L_value", real=True)    # the loss value L_{lambda alpha^2}(w')
w_ = sp.Symbol("w", real=True)             # a weight coordinate (w' in the rescaled displays)
v_ = sp.Symbol("v", real=True)             # a velocity coordinate
g_acc = sp.Symbol("g", positive=True)      # RMSProp's accumulator coordinate g'_t
eta_star, lam_prime = sp.symbols("eta_star lamdaprime", positive=True)
alpha_prime = sp.Symbol("alphaprime", positive=True)   # the undefined alpha' of Sec. 5.3's display


# ---- Section 3.1 -------------------------------------------------------------------------------------------------
def sgd_rescaled() -> Derivation:
    """SGD at ``w = alpha w'``: ``alpha w' - eta grad L_lambda(alpha w') = alpha w' - (eta/alpha) G``."""
    grad_at_alpha_w = G / alpha            # grad L_lambda(alpha w') = grad L_{lambda alpha^2}(w')/alpha (grad.scaling.l2)
    step = alpha * w_ - eta * grad_at_alpha_w
    return Derivation(result=step,
                      steps=[Step("grad L_lambda(alpha w') = grad L_{lambda alpha^2}(w')/alpha (claim grad.scaling.l2)",
                                  grad_at_alpha_w),
                             Step("one SGD step from alpha w'", step)],
                      proofs={"divided by alpha it is SGD on w' at eta/alpha^2": sp.expand(step / alpha
                                                                                         - (w_ - eta / alpha**2 * G))},
                      summary="alpha w' <- alpha w' - (eta/alpha) grad L_{lambda alpha^2}(w'), as printed")


def optimal_transfer() -> Derivation:
    """The optimal learning rate at ``lam'`` from the one at ``lam``, by the rescaling with ``alpha^2 = lam'/lam``."""
    a2 = lam_prime / lam
    moved = sp.Matrix([eta_star / a2, lam * a2])    # (eta, lam) -> (eta/alpha^2, lam alpha^2) (update.sgd.equivariance)
    return Derivation(result=moved[0] - lam / lam_prime * eta_star,
                      steps=[Step("the rescaling of SGD with alpha^2 = lambda'/lambda maps (eta*, lambda) to", moved),
                             Step("so the optimal rate for lambda' is", moved[0])],
                      proofs={"lambda goes to lambda'": moved[1] - lam_prime,
                              "the transferred rate": moved[0] - lam / lam_prime * eta_star},
                      summary="the optimal learning rate for lambda' is (lambda/lambda') eta*: the printed equation puts "
                              "eta* on both sides")


# ---- Section 5.1: momentum, as printed ---------------------------------------------------------------------------
def momentum_step(form: str) -> Derivation:
    """The first step's displacement ``w_1 - w_0`` from ``v_0 = 0`` (Sutskever et al. 2013: ``w' = w + v'``)."""
    v_next = rho * 0 - eta * G
    step = v_next
    descent = sp.expand(G * step)          # the loss's first-order change along the step
    return Derivation(result=step,
                      steps=[Step(f"{form}: v_1 = rho v_0 - eta grad L_lambda(.) with v_0 = 0", v_next),
                             Step("w_1 = w_0 + v_1 (Sutskever et al. 2013): the displacement", step),
                             Step("the loss's first-order change G . (w_1 - w_0): negative, a descent step", descent)],
                      proofs={"descent": descent + eta * G**2},
                      summary="with w_{t+1} = w_t + v_{t+1} the step descends (G . dw = -eta |G|^2); the printed "
                              "w_t - v_{t+1} moves by +eta G and ascends the loss",
                      extras={"descent": descent})


# ---- Section 5.2: RMSProp's rescaled display ---------------------------------------------------------------------
def rmsprop_rescaled_accumulator() -> Derivation:
    """The accumulator's new term at ``w = alpha w'``: ``(1 - rho) (grad L_lambda(alpha w'))^2 = (1 - rho) G^2/alpha^2``."""
    term = (1 - rho) * (G / alpha) ** 2
    return Derivation(result=term,
                      steps=[Step("RMSProp squares the gradient; at alpha w' it is G/alpha (grad.scaling.l2)", term)],
                      proofs={"degree -2": sp.expand(term * alpha**2 - (1 - rho) * G**2)},
                      summary="the accumulator gains (1 - rho) (grad L_{lambda alpha^2}(w'))^2/alpha^2: the printed "
                              "first line squares the loss L_{lambda alpha^2}(w') itself (a missing grad)")


# ---- Section 5.3: Adam's state scaling ---------------------------------------------------------------------------
def adam_state_scaling() -> Derivation:
    """Adam's moments at ``w = alpha w'``: ``v = v'/alpha`` (degree -1, like the gradient), ``g = g'/alpha^2``."""
    v1, g1 = sp.symbols("vprime gprime", positive=True)
    return Derivation(result=sp.Matrix([v1 / alpha, g1 / alpha**2]),
                      steps=[Step("the first moment averages gradients (degree -1), the second their squares (-2)")],
                      proofs={}, summary="v_t = v'_t/alpha and g_t = g'_t/alpha^2 (update.adam.equivariance proves the "
                                         "whole step); the printed v'_t/alpha' has an undefined alpha'")


# ---- Section 5.4: Hessian-free optimization ----------------------------------------------------------------------
def hessian_free() -> Derivation:
    """Conjugate gradient on ``H d = -g`` from ``d = 0`` at ``(H/alpha^2, g/alpha)`` gives ``alpha`` times the
    iterates at ``(H, g)``: by induction on CG's recursion, and explicitly for the first iterate on a 2x2 ``H``."""
    h11, h12, h22, g1, g2 = sp.symbols("h11 h12 h22 g1 g2", real=True)
    H, g = sp.Matrix([[h11, h12], [h12, h22]]), sp.Matrix([g1, g2])

    def first_iterate(H_, g_):
        return ((g_.T * g_)[0] / (g_.T * H_ * g_)[0]) * (-g_)

    explicit = (first_iterate(H / alpha**2, g / alpha) - alpha * first_iterate(H, g)).applyfunc(sp.cancel)
    # the recursion on scalars: if d, r, p are alpha, 1/alpha, 1/alpha times theirs and H is H/alpha^2, then
    # a = r.r/(p.H p) is alpha^2 a, d + a p is alpha (d + a p), r - a H p is (r - a H p)/alpha, beta is unchanged
    rr, pHp, rr_new = sp.symbols("rr pHp rr_new", positive=True)
    a_scaled = (rr / alpha**2) / (pHp / alpha**4)
    beta_scaled = (rr_new / alpha**2) / (rr / alpha**2)
    return Derivation(result=first_iterate(H, g),
                      steps=[Step("CG minimises d^T H d/2 + g^T d over the Krylov space of (H, g); at (H/alpha^2, "
                                  "g/alpha) that space is the same and d = alpha d' maps one problem onto the other"),
                             Step("first CG iterate", first_iterate(H, g)),
                             Step("step length a = r.r/(p.H p) at the scaled problem", a_scaled)],
                      proofs={"first iterate": explicit, "step length scales by alpha^2": a_scaled - alpha**2 * rr / pHp,
                              "beta unchanged": beta_scaled - rr_new / rr,
                              "d + a p scales by alpha": sp.expand(alpha**2 * (rr / pHp) * (1 / alpha) - alpha * rr / pHp)},
                      summary="Hessian-free steps (truncated CG from zero) are alpha times larger at w = alpha w': like "
                              "Newton's, their effective learning rate does not depend on the weights' scale")


def judge_hessian_free(dv: Derivation) -> Verdict:
    return judged(dv.check() == {}, "CG's iterates at (H/alpha^2, g/alpha) are exactly alpha times those at (H, g) "
                  "(its recursion scales term by term): the step scales with the weights, so eta_eff = eta")


def judge_descent(dv: Derivation) -> Verdict:
    """The printed ``w_{t+1} = w_t - v_{t+1}`` moves by minus the derived displacement: is that a descent step?"""
    printed_change = sp.expand(G * (-dv.result))            # G . dw for the printed update
    descends = bool(printed_change.subs({G: 1, eta: sp.Rational(1, 10)}) < 0)
    return judged(descends, f"as printed, w_(t+1) = w_t - v_(t+1) changes the loss by {sp.sstr(printed_change)} to "
                  "first order from rest: positive, a gradient ascent step", partial="with w_(t+1) = w_t + v_(t+1) "
                  "(Sutskever et al. 2013, whom the paper cites) the step descends, and the rest of Sec. 5.1 follows")


CLAIMS = [
    Claim(id="sec31.sgd.rescaled_update", title="SGD at w = alpha w'", statement="alpha w'_t <- alpha w'_t - "
          "eta/alpha grad L_{lambda alpha^2}(w'_t)", source="Sec. 3.1",
          printed=Printed(alpha * w_ - eta / alpha * G, "exact", "Sec. 3.1, the SGD update written at w = alpha w'"),
          derive=sgd_rescaled, variables=(), tags=("display",)),
    Claim(id="lr.optimal.transfer", title="The optimal learning rate carried from lambda to lambda'",
          statement="Hence eta* = lambda/lambda' eta* is the optimal learning rate for lambda'.", source="Sec. 3.1",
          printed=Printed(sp.Eq(eta_star, lam / lam_prime * eta_star), "identity", "Sec. 3.1 (eta* = lambda/lambda' "
                          "eta*, as printed: eta* on both sides)"),
          derive=optimal_transfer, condition="the left side is the optimal rate for lambda', a new quantity equal to "
          "(lambda/lambda') eta* (as printed, with eta* on both sides, it holds only at lambda' = lambda)",
          tags=("display", "optimal-lr")),
    Claim(id="sec51.momentum.update", title="Heavy-ball momentum as printed", statement="v_{t+1} <- rho v_t - eta grad "
          "L_lambda(w_t); w_{t+1} <- w_t - v_{t+1}", source="Sec. 5.1, first display",
          printed=Printed(None, "verbal", "Sec. 5.1, first display (w_{t+1} <- w_t - v_{t+1})",
                          text="v_{t+1} <- rho v_t - eta grad L_lambda(w_t); w_{t+1} <- w_t - v_{t+1}"),
          derive=partial(momentum_step, "heavy-ball"), judge=judge_descent, tags=("display", "typo")),
    Claim(id="sec51.nesterov.update", title="Nesterov momentum as printed", statement="v_{t+1} <- rho v_t - eta grad "
          "L_lambda(w_t + rho v_t); w_{t+1} <- w_t - v_{t+1}", source="Sec. 5.1, second display",
          printed=Printed(None, "verbal", "Sec. 5.1, second display (w_{t+1} <- w_t - v_{t+1})",
                          text="v_{t+1} <- rho v_t - eta grad L_lambda(w_t + rho v_t); w_{t+1} <- w_t - v_{t+1}"),
          derive=partial(momentum_step, "Nesterov"), judge=judge_descent, tags=("display", "typo")),
    Claim(id="sec52.rmsprop.rescaled_update", title="RMSProp's accumulator at w = alpha w', as printed",
          statement="g'_{t+1}/alpha^2 <- rho g'_t/alpha^2 + (1 - rho) L_{lambda alpha^2}(w'_t)^2/alpha^2",
          source="Sec. 5.2, the rescaled display, first line",
          printed=Printed((1 - rho) * L_val**2 / alpha**2, "exact", "Sec. 5.2, rescaled display, first line ((1 - "
                          "rho) L_{lambda alpha^2}(w'_t)^2/alpha^2)", intended=(1 - rho) * G**2 / alpha**2),
          derive=rmsprop_rescaled_accumulator, variables=(), tags=("display", "typo")),
    Claim(id="update.adam.state_scaling", title="Adam's moments at w = alpha w', as printed",
          statement="w_t = alpha w'_t, v_t = v'_t/alpha', g_t = g'_t/alpha^2", source="Sec. 5.3",
          printed=Printed(sp.Matrix([sp.Symbol("vprime", positive=True) / alpha_prime,
                                     sp.Symbol("gprime", positive=True) / alpha**2]), "exact",
                          "Sec. 5.3 (v_t = v'_t/alpha', g_t = g'_t/alpha^2)", text="alpha' is defined nowhere",
                          intended=sp.Matrix([sp.Symbol("vprime", positive=True) / alpha,
                                              sp.Symbol("gprime", positive=True) / alpha**2])),
          derive=adam_state_scaling, variables=(), tags=("display", "typo")),
    Claim(id="sec54.hessian_free", title="Hessian-free optimization is not affected by the weights' scale",
          statement="Like Newton's method, Hessian Free optimization is not affected by the scaling of weights.",
          source="Sec. 5.4", printed=Printed(None, "verbal", "Sec. 5.4", text="Like Newton's method, Hessian Free "
                                             "optimization is not affected by the scaling of weights."),
          derive=hessian_free, judge=judge_hessian_free, tags=("verbal",)),
]
