"""Two equilibrium laws of the adaptive rules that need no gradient constant C, derived in the moment models.

Both are read off :mod:`normlaws.theory.moments` (``MODELS['adamw']``, ``MODELS['adam']``, ``MODELS['rmsprop']``:
the Section 4 noise model with the preconditioner at its mean, the normalized gradient ``e = P g`` of unit
variance per coordinate, independent of the state).

**AdamW's RMS law** (``later.adamw.rms``). Decoupled decay with preconditioned noise has no feedback: the moment
map is linear, ``E w_j^2 = s_00`` per coordinate exactly (``q = 1`` per coordinate), so
``RMS(w)^2 = N*/d = s_00 -> eta/(2 lam)`` and ``RMS(w) -> sqrt(eta/(2 lam))``, whatever C. The moment map's
eigenvalues are the products of ``M``'s (``A = 1 - eta lam`` and ``beta1``): the slowest is ``A^2``, so every
second moment relaxes as ``A^(2t)``, time constant ``-1/(2 log(1 - eta lam)) ~ 1/(2 eta lam)`` steps, exactly
in the model and independent of C and d.

**Adam + L2's stationary identity** (``later.adam.l2_identity``, ``later.rmsprop_torch.l2_identity``). With L2 in
the gradient each coordinate decays at ``c_j = 2 lam P_j`` (``P_j = 1/(sqrt(v_j) + eps)`` as applied), so per
coordinate ``c_j E w_j^2 = c_j s_00(c_j) = eta/2 (1 + O(eta c_j))``: summed,
``4 lam sum_j P_j w_j^2 = eta d (1 + O(eta c))`` -- in the suite's convention (penalty ``lam ||w||^2``;
torch's ``weight_decay = 2 lam``: ``2 wd sum_j w_j^2/sqrt(v_j) = eta d``), with neither C nor the norm in it.
The identity needs the normalized noise to have unit power, ``E (P_j g_j)^2 = 1`` (``v_j`` tracking
``E g_j^2``); its general form is ``4 lam sum_j P_j w_j^2 = eta sum_j E (P_j g_j)^2``.
"""
from __future__ import annotations

from functools import partial

import sympy as sp

from .claim import Claim, Printed
from .derivation import Derivation, Step, simplified
from .moments import MODELS, _lead, _lead_coupled, c_l2, moment_jacobian, relaxation_leading, stationary_moments
from .symbols import beta1, eta, lam

_mu = sp.Symbol("mu")
A_dec = 1 - eta * lam


def adamw_rms_derivation() -> Derivation:
    """``RMS(w)^2 = s_00`` of AdamW's moment model, its leading order ``eta/(2 lam)`` and its relaxation time."""
    s00 = sp.factor(stationary_moments("adamw")[0, 0])
    lead = _lead(s00)
    J = moment_jacobian("adamw")
    charpoly = sp.factor(J.charpoly(_mu).as_expr())
    expected = (_mu - A_dec**2) * (_mu - A_dec * beta1) * (_mu - beta1**2)
    tau = -1 / (2 * sp.log(A_dec))
    tau_lead = sp.limit(tau * eta * lam, eta, 0) / (eta * lam)
    return Derivation(
        result=sp.sqrt(s00),
        steps=[Step(f"AdamW's moment model: {MODELS['adamw'].note}", MODELS["adamw"].M),
               Step("per coordinate E||e_j||^2 = 1, so E w_j^2 = s_00 (the stationary S/q, exact: no feedback)", s00),
               Step("RMS(w)^2 = E||w||^2/d = s_00, to leading order as eta lam -> 0", lead),
               Step("the moment map's characteristic polynomial: eigenvalues A^2, A beta1, beta1^2 (A = 1 - eta lam)",
                    charpoly),
               Step("the slowest, A^2, sets the relaxation of every second moment: time constant (steps)", tau),
               Step("to leading order", tau_lead)],
        proofs={"leading_rms_sq": simplified(lead - eta / (2 * lam)),
                "eigenvalues": sp.expand(J.charpoly(_mu).as_expr() - expected),
                "relaxation_matches_moments": simplified(tau_lead - relaxation_leading("adamw"))},
        summary="AdamW (decoupled decay lam, preconditioned noise of unit power per coordinate): RMS(w)^2 = s_00 "
                "exactly in the model, -> eta/(2 lam), so RMS(w) -> sqrt(eta/(2 lam)) whatever the gradient scale; "
                "every second moment relaxes as (1 - eta lam)^(2t): time constant -1/(2 log(1 - eta lam)) ~ "
                "1/(2 eta lam) steps",
        extras={"rms_sq": s00, "rms_sq_leading": lead, "rms_leading": sp.sqrt(lead), "relaxation": tau,
                "relaxation_leading": tau_lead})


def l2_identity_derivation(rule: str) -> Derivation:
    """``c E w^2`` per coordinate in the coupled model of ``rule`` ('adam' or 'rmsprop'): ``eta/2`` to leading order.

    The model's ``c_L2 = 2 lam P`` with ``P`` the preconditioner: summed over coordinates, ``4 lam sum_j P_j w_j^2``
    over ``eta d`` is ``2 c s_00/eta``.
    """
    s00 = sp.factor(stationary_moments(rule)[0, 0])
    ratio = sp.factor(2 * c_l2 * s00 / eta)            # 4 lam P E w^2/eta per coordinate, unit noise power
    lead = _lead_coupled(ratio)
    beta = beta1 if rule == "adam" else sp.Integer(0)
    closed = 2 * (1 + beta) / (2 * (1 + beta) - c_l2 * eta * (1 - beta))
    return Derivation(
        result=ratio,
        steps=[Step(f"the coupled model ({MODELS[rule].title}): {MODELS[rule].note}", MODELS[rule].M),
               Step("per coordinate j, with P_j frozen at its mean and unit noise power: E w_j^2 = s_00(c_j), "
                    "c_j = 2 lam P_j", s00),
               Step("so 4 lam P_j E w_j^2/eta = 2 c_j s_00(c_j)/eta", ratio),
               Step("to leading order (eta c -> 0): summed over the d coordinates, 4 lam sum_j P_j w_j^2 = eta d",
                    lead),
               Step("with noise power E(P_j g_j)^2 = p_j instead of 1 the model is linear in it: "
                    "4 lam sum_j P_j w_j^2 = eta sum_j p_j (1 + O(eta c))")],
        proofs={"leading_is_one": simplified(lead - 1), "closed_form": simplified(ratio - closed)},
        summary=f"{MODELS[rule].title}: at equilibrium 4 lam sum_j w_j^2/(sqrt(v_j) + eps) = eta d (1 + O(eta c)) "
                "(canonical lam; torch's wd = 2 lam: 2 wd sum_j w_j^2/sqrt(v_j) = eta d), with no C in it; "
                "exactly 2(1 + beta1)/(2(1 + beta1) - eta c (1 - beta1)) per coordinate in the model",
        extras={"ratio": ratio, "ratio_leading": lead, "c_symbol": c_l2})


_NONE_KOSSON = Printed(None, "none", "", text="paraphrased, not transcribed (the paper's text is not available "
                       "here): Kosson et al. 2024 state RMS(w) -> sqrt(eta/(2 lam)) for AdamW at equilibrium")
_NONE_L2 = Printed(None, "none", "", text="derived here; Kosson et al. 2024 discuss Adam + L2's per-coordinate "
                   "equilibrium in words")

CLAIMS = [
    Claim(id="later.adamw.rms", title="AdamW: RMS of the weights at equilibrium, and its relaxation time",
          statement="Under AdamW the RMS of a scale-invariant weight settles at sqrt(eta/(2 lam)) (to leading order) "
                    "whatever the gradient scale, relaxing with time constant -1/(2 log(1 - eta lam)) steps.",
          source="Kosson et al. 2024 (arXiv 2305.17212); derived in the moment model", printed=_NONE_KOSSON,
          derive=adamw_rms_derivation, convention="decoupled (1 - eta lam)", tags=("later", "angular")),
    Claim(id="later.adam.l2_identity", title="Adam + L2: the stationary identity 4 lam sum P_j w_j^2 = eta d",
          statement="Under Adam with L2 in the gradient, at equilibrium 4 lam sum_j w_j^2/(sqrt(v_j) + eps) = eta d "
                    "to leading order (d the unit's coordinates), with no gradient constant in it.",
          source="derived in the moment model (Kosson et al. 2024 discuss Adam + L2)", printed=_NONE_L2,
          derive=partial(l2_identity_derivation, "adam"), variables=(eta, c_l2), tags=("later",)),
    Claim(id="later.rmsprop_torch.l2_identity",
          title="RMSProp (torch's) + L2: the stationary identity 4 lam sum P_j w_j^2 = eta d",
          statement="Under torch's RMSprop with L2 in the gradient, at equilibrium 4 lam sum_j w_j^2/(sqrt(v_j) + "
                    "eps) = eta d to leading order.",
          source="derived in the moment model (epsilon -> 0: inside or outside the root alike)", printed=_NONE_L2,
          derive=partial(l2_identity_derivation, "rmsprop"), variables=(eta, c_l2), tags=("later",)),
]
