"""Li & Arora 2020 (arXiv 1910.07454): SGD with momentum and L2 on a scale-invariant loss equals SGD with momentum,
no L2 and an exponentially growing learning rate, step for step (canonical convention; torch's wd = 2 lam).
"""
from __future__ import annotations

import sympy as sp

from .claim import Claim
from .derivation import Derivation, Step, simplified
from .paraphrase import alpha_la, paraphrased
from .paraphrase import step_k as _k
from .symbols import eta, lam, rho

_h = sp.Symbol("h", positive=True)


_W, _B, _G = sp.symbols("W B G", real=True)        # w_k, b_{k-1}, grad L(w_k) (read along any direction)


def li_arora_quadratic() -> sp.Expr:
    """``alpha^2 - (1 + rho - 2 eta lam) alpha + rho`` (canonical convention): its roots are the growth factors."""
    return alpha_la**2 - (1 + rho - 2 * eta * lam) * alpha_la + rho


def li_arora_lambda() -> sp.Expr:
    """The quadratic solved for ``lam`` (so that substituting it proves an identity for both roots at once)."""
    return sp.solve(li_arora_quadratic(), lam)[0]


def li_arora_derivation() -> Derivation:
    """SGD + momentum + L2 with ``(eta, lam, rho)`` equals SGD + momentum without L2 at ``eta_k = eta alpha^(-2k-1)``.

    WD run: ``b_k = rho b_{k-1} + grad L(w_k) + 2 lam w_k``, ``w_{k+1} = w_k - eta b_k``, ``b_{-1} = 0``.
    Tilde run: ``bt_k = rho bt_{k-1} + grad L(wt_k)``, ``wt_{k+1} = wt_k - eta_k bt_k``. Invariant of the
    induction: ``wt_k = alpha^-k w_k`` and ``bt_{k-1} = alpha^(k-1) (b_{k-1} - (1 - alpha) w_{k-1}/eta)``.
    """
    lam_root = li_arora_lambda()
    w_prev = _W + eta * _B                                   # w_{k-1} = w_k + eta b_{k-1}
    bt_prev = alpha_la ** (_k - 1) * (_B - (1 - alpha_la) * w_prev / eta)
    grad_tilde = alpha_la**_k * _G                           # degree -1: grad L(alpha^-k w) = alpha^k grad L(w)
    b_next = rho * _B + _G + 2 * lam * _W
    bt_next = rho * bt_prev + grad_tilde
    eta_k = eta * alpha_la ** (-2 * _k - 1)
    w_next = _W - eta * b_next
    wt_next = alpha_la ** (-_k) * _W - eta_k * bt_next
    buffer_residual = sp.expand(bt_next - alpha_la**_k * (b_next - (1 - alpha_la) * _W / eta))
    weight_residual = sp.expand(wt_next - alpha_la ** (-_k - 1) * w_next)
    W0 = sp.Symbol("W_0", real=True)
    bt_init = -(1 - alpha_la) * W0 / (eta * alpha_la)
    disc = sp.expand((1 + rho - 2 * eta * lam) ** 2 - 4 * rho)
    disc_factored = ((1 - sp.sqrt(rho)) ** 2 - 2 * eta * lam) * ((1 + sp.sqrt(rho)) ** 2 - 2 * eta * lam)
    big_root = ((1 + rho - 2 * eta * lam) + sp.sqrt(disc)) / 2
    growth_lead = 1 - 2 * eta * lam / (1 - rho)
    return Derivation(
        result=eta_k,
        steps=[Step("wt_k = alpha^-k w_k, grad L(wt_k) = alpha^k grad L(w_k) (scale invariance, degree -1)"),
               Step("induction on bt_{k-1} = alpha^(k-1) (b_{k-1} - (1 - alpha) w_{k-1}/eta): the buffer residual "
                    "vanishes iff alpha is a root of", li_arora_quadratic()),
               Step("then wt_{k+1} = alpha^-(k+1) w_{k+1} with the tilde learning rate", eta_k),
               Step("the induction starts at b_{-1} = 0 (w_{-1} = w_0) only if the tilde buffer starts at", bt_init),
               Step("real roots need a non-negative discriminant, i.e. 2 eta lam <= (1 - sqrt(rho))^2", disc_factored),
               Step("the larger root, to leading order: eta_k grows like exp(4 eta lam k/(1 - rho))", growth_lead),
               Step("without momentum (rho = 0): alpha = 1 - 2 eta lam and the buffer does not matter")],
        proofs={"buffer_induction": simplified(buffer_residual.subs(lam, lam_root)),
                "weight_induction": simplified(weight_residual.subs(lam, lam_root)),
                "first_step": simplified((W0 - eta_k.subs(_k, 0) * (rho * bt_init + _G)
                                           - (W0 - eta * (_G + 2 * lam * W0)) / alpha_la).subs(lam, lam_root)),
                "discriminant": sp.expand(disc - disc_factored),
                "root_leading": sp.cancel(sp.expand(li_arora_quadratic().subs(
                    {eta: eta * _h, alpha_la: growth_lead.subs(eta, eta * _h)}, simultaneous=True)).coeff(_h, 1)),
                "no_momentum_root": sp.expand(li_arora_quadratic().subs({rho: 0, alpha_la: 1 - 2 * eta * lam}))},
        summary="SGD with momentum rho and L2 lam (canonical) is, step for step, SGD with momentum rho and no L2 at "
                "eta_k = eta alpha^(-2k-1) on wt_k = alpha^-k w_k, alpha a root of alpha^2 - (1 + rho - 2 eta lam) "
                "alpha + rho = 0 (torch: wd = 2 lam), provided the tilde buffer starts at -(1 - alpha) w_0/(eta "
                "alpha), not at 0; the roots are real iff 2 eta lam <= (1 - sqrt(rho))^2",
        extras={"quadratic": li_arora_quadratic(), "initial_buffer": bt_init, "discriminant": disc,
                "reality_bound": (1 - sp.sqrt(rho)) ** 2 / 2, "big_root": big_root, "growth_leading": growth_lead})


CLAIMS = [
    Claim(id="later.li_arora.exp_lr", title="Weight decay + momentum = exponentially growing learning rate",
             statement="For a scale-invariant loss, SGD with momentum and L2 equals SGD with momentum, no L2 and an "
                       "exponentially growing learning rate, step for step.",
             source="Li & Arora 2020 (arXiv 1910.07454)", printed=paraphrased("later.li_arora.exp_lr"),
             derive=li_arora_derivation, variables=(eta,), tags=("later",)),
]
