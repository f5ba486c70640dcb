"""Checks of the exact identities and the learning-rate correction (``theory.li_arora``, ``theory.norm_growth``,
``theory.hoffer``): ``CHECKS[claim_id](size, seed)``.

Exact identities (Li & Arora's trajectories, the norm-growth identities, the step on the sphere, the direction map
of the learning-rate correction) are checked on float64 paths against rounding bounds stated at each check; Li &
Arora's also in 80-bit extended precision, where an exact identity's discrepancy must shrink with the unit
roundoff. Every number the theory supplies (growth factor, initial buffer, stationary norm, series coefficients)
is evaluated from the theory's expressions; the paths themselves are the optimizers' plain update rules.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp

from normlaws.errors import UsageError
from normlaws.outcome import Z, component, refutation, result
from normlaws.theory import hoffer, li_arora, norm_growth, updates
from normlaws.theory.paraphrase import alpha_la
from normlaws.theory import symbols as S
from normlaws.theory.symbols import eta as ETA, lam as LAM, rho as RHO

from . import predict

BURN_TAUS = 10.0
SEED = 2006_08419
#: (d, chains, window) of the learning-rate-correction runs per size
SIZES = {"quick": {"d": 128, "chains": 192, "window": 800}, "full": {"d": 256, "chains": 512, "window": 3000}}


def _check_size(size: str) -> dict:
    if size not in SIZES:
        raise UsageError(f"unknown size {size!r}; choose quick or full")
    return SIZES[size]


def _mean_se(x: np.ndarray) -> tuple:
    """Mean over chains of per-chain averages, and its standard error (chains independent)."""
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _unit_rows(rng, shape):
    x = rng.standard_normal(shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _tangent_noise(rng, w, C):
    """``g`` orthogonal to each row of ``w`` with ``E||g||^2 = C`` (full-backward BN: exactly orthogonal)."""
    d = w.shape[-1]
    g = rng.standard_normal(w.shape) * math.sqrt(C / (d - 1))
    wh = w / np.linalg.norm(w, axis=-1, keepdims=True)
    return g - (g * wh).sum(-1, keepdims=True) * wh


def _angle(w, w_next):
    """Angle between rows, ``atan2(|perpendicular part of the step|, |w| + radial part)`` (accurate when small)."""
    r = np.linalg.norm(w, axis=-1)
    u = w / r[:, None]
    dw = w_next - w
    radial = (dw * u).sum(-1)
    perp = np.linalg.norm(dw - radial[:, None] * u, axis=-1)
    return np.arctan2(perp, r + radial)


# ==== Hoffer's learning-rate correction ==========================================================================
def _correction_rates(eta: float, lam: float) -> tuple:
    """``(exact(s2, r2), corrected(s2))``: the derivation's learning rates (``extras["exact"]``, its ``result``) as
    numpy functions of the decay-free run's squared norm ``s2`` (and the decayed run's ``r2``), at ``C = 1``."""
    dv = hoffer.lr_correction_derivation()
    numbers = {ETA: eta, LAM: lam, S.C: 1}
    r_t, s_t = (next(x for x in dv.extras["exact"].free_symbols if x.name == n) for n in ("r_t", "s_t"))
    exact = sp.lambdify((s_t, r_t), dv.extras["exact"].subs(numbers).subs({s_t: sp.sqrt(s_t), r_t: sp.sqrt(r_t)}))
    corrected = sp.lambdify(s_t, dv.result.subs(numbers).subs(s_t, sp.sqrt(s_t)))
    return exact, corrected


@lru_cache(maxsize=None)
def run_lr_correction(size: str = "quick", seed: int = SEED, eta: float = 0.1, lam: float = 0.02) -> dict:
    """Decayed SGD, decay-free SGD at ``eta s_t^2/(a N*)`` (corrected) and at ``eta`` (plain), same model.

    Also the exact map: a decay-free run at ``eta s_t^2/(a r_t^2)``, fed the decayed run's noise, whose directions
    must equal the decayed run's to rounding.
    """
    cfg = _check_size(size)
    d, n, window = cfg["d"], cfg["chains"], cfg["window"]
    closure = predict.equilibrium("sgd", eta, lam, d)
    N_star, tau = closure["N"], closure["tau"]
    exact_rate, corrected_rate = _correction_rates(eta, lam)
    burn = int(math.ceil(BURN_TAUS * tau))
    rng = np.random.default_rng([seed, 11])
    start = _unit_rows(rng, (n, d)) * math.sqrt(N_star)
    wd, corr, plain, exact = start.copy(), start.copy(), start.copy(), start.copy()
    sums = {k: np.zeros(n) for k in ("decayed", "corrected", "plain")}
    worst = 0.0
    for step in range(burn + window):
        r2 = (wd * wd).sum(-1)
        g = _tangent_noise(rng, wd, 1.0)
        s2 = (exact * exact).sum(-1)
        exact_next = exact - exact_rate(s2, r2)[:, None] * g / np.sqrt(s2)[:, None]
        wd_next = wd - eta * (g / np.sqrt(r2)[:, None] + 2 * lam * wd)
        new = {}
        for key, x in (("corrected", corr), ("plain", plain)):
            gx = _tangent_noise(rng, x, 1.0)
            sx2 = (x * x).sum(-1)
            lr = corrected_rate(sx2) if key == "corrected" else eta
            new[key] = x - (lr if np.ndim(lr) == 0 else lr[:, None]) * gx / np.sqrt(sx2)[:, None]
        if step >= burn:
            sums["decayed"] += _angle(wd, wd_next)
            sums["corrected"] += _angle(corr, new["corrected"])
            sums["plain"] += _angle(plain, new["plain"])
        unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
        worst = max(worst, float(np.abs(unit(wd_next) - unit(exact_next)).max()))
        wd, exact, corr, plain = wd_next, exact_next, new["corrected"], new["plain"]
    out = {k: v / window for k, v in sums.items()}
    out.update(N_star=N_star, theta=closure["angle"], worst_direction_gap=worst, steps=burn + window, d=d, chains=n,
               burn=burn, window=window, tau=tau)
    return out


def lr_correction_check(size: str = "quick", seed: int = 0) -> dict:
    """Check ``later.hoffer.lr_correction``: equal mean angles with the correction, not without; the exact map."""
    run = run_lr_correction(size, SEED + seed)
    diff = run["decayed"] - run["corrected"]
    dmean, dse = _mean_se(diff)
    theta = run["theta"]
    tr = math.exp(-run["burn"] / run["tau"]) * theta
    plain, _ = _mean_se(run["plain"])
    # rounding: each step adds ~sqrt(d) u per coordinate of the direction, growing at most linearly over the
    # (neutral) direction dynamics; x 8 safety
    rounding = 8 * run["steps"] * math.sqrt(run["d"]) * np.finfo(float).eps / 2
    a2 = math.cos(theta) ** 2
    # delta method: the decayed run's norm fluctuates with CV^2 = V = (1 - a^2)/(2 a^2 (d - 1)) and shifts its
    # mean angle by ~theta* V/2 relative to the corrected run (same step-norm law); bound 2 theta* V
    fluct = theta * (1 - a2) / (a2 * (run["d"] - 1))
    comps = [component("E[theta] decayed - corrected", dmean, 0.0, dse, fluct + tr,
                        "the corrected run's angle is i.i.d.; bias: 2 theta* V (norm fluctuations) + transient"),
             component("max |w_hat decayed - w_hat exact-map|", run["worst_direction_gap"], 0.0, 0.0, rounding,
                        "exact identity; bound: rounding"),
             refutation("E[theta] plain decay-free (must differ)", plain, theta, Z * dse + theta / run["d"],
                        "without the correction the angle decays: the check passes when it does NOT match")]
    return result(comps, f"SGD eta=0.1, lam=0.02, d={run['d']}: mean angle decayed "
                          f"{_mean_se(run['decayed'])[0]:.5f}, corrected {_mean_se(run['corrected'])[0]:.5f}, "
                          f"plain {plain:.5f}, closure acos(a) {theta:.5f}", SEED + seed, size)


# ==== a scale-invariant stochastic loss for the exact identities ================================================
class ToyLoss:
    """``L_t(w) = f_t(w/||w||)``, ``f_t(u) = u.H u/2 + y_t.u``: scale-invariant, with signal (H) and noise (y_t).

    ``grad L_t(w) = (I - w_hat w_hat^T)(H w_hat + y_t)/||w||`` (degree -1, orthogonal to ``w``). Works in any
    numpy float dtype (float64, longdouble).
    """

    def __init__(self, d: int = 16, steps: int = 2000, seed: int = SEED, noise: float = 0.5):
        rng = np.random.default_rng([seed, 3])
        M = rng.standard_normal((d, d))
        self.H = M @ M.T / d
        self.y = rng.standard_normal((steps, d)) * noise
        self.w0 = rng.standard_normal(d)

    def grad(self, w, t, dtype=np.float64):
        H, y = self.H.astype(dtype), self.y[t].astype(dtype)
        r = np.sqrt((w * w).sum())
        u = w / r
        v = H @ u + y
        return (v - (u * v).sum() * u) / r


def li_arora_alpha(eta, lam, rho, dtype=np.float64):
    """The larger root of the derivation's quadratic (``li_arora_quadratic``) in ``dtype``, computed to 40 digits
    by SymPy (``ValueError`` when the roots are complex: no real exponential learning rate)."""
    quadratic = li_arora.li_arora_quadratic().subs({ETA: sp.Rational(str(eta)), LAM: sp.Rational(str(lam)),
                                                   RHO: sp.Rational(str(rho))})
    roots = sp.Poly(quadratic, alpha_la).nroots(n=40)
    if any(not root.is_real for root in roots):
        raise ValueError(f"complex growth factor at eta={eta}, lam={lam}, rho={rho}: 2 eta lam > (1 - sqrt(rho))^2; "
                         "no real exponential learning rate")
    return dtype(str(max(roots)))


def _initial_buffer(w0, alpha, eta):
    """The tilde buffer the identity needs, ``extras["initial_buffer"]`` (linear in ``W_0``), at ``w0``."""
    expr = li_arora.li_arora_derivation().extras["initial_buffer"]
    W0 = next(x for x in expr.free_symbols if x.name == "W_0")
    coefficient = sp.lambdify((alpha_la, ETA), expr.coeff(W0), "numpy")
    return coefficient(alpha, eta) * w0


def li_arora_paths(eta=0.1, lam=5e-4, rho=0.9, steps=2000, dtype=np.float64, zero_buffer=False, loss=None):
    """Max over steps of ``||alpha^k wt_k - w_k||/||w_k||``, with the two runs' trajectories."""
    loss = loss or ToyLoss(steps=steps)
    alpha = li_arora_alpha(eta, lam, rho, dtype)
    eta_, lam_, rho_ = (dtype(x) for x in (eta, lam, rho))
    w = loss.w0.astype(dtype)
    wt = w.copy()
    b = np.zeros_like(w)
    bt = np.zeros_like(w) if zero_buffer else _initial_buffer(w, alpha, eta_)
    ws, wts = [w.copy()], [wt.copy()]
    for k in range(steps):
        b = rho_ * b + loss.grad(w, k, dtype) + 2 * lam_ * w
        w = w - eta_ * b
        bt = rho_ * bt + loss.grad(wt, k, dtype)
        wt = wt - eta_ * alpha ** (-2 * k - 1) * bt
        ws.append(w.copy())
        wts.append(wt.copy())
    ws, wts = np.array(ws), np.array(wts)
    scale = alpha ** np.arange(steps + 1, dtype=dtype)
    gap = np.linalg.norm(scale[:, None] * wts - ws, axis=1) / np.linalg.norm(ws, axis=1)
    return float(gap.max()), ws, wts, scale


def li_arora_check(size: str = "quick", seed: int = 0) -> dict:
    """Check ``later.li_arora.exp_lr`` on whole float64 and extended-precision trajectories.

    ``E`` = each float64 run's own rounding error (against its extended-precision rerun). An exact identity
    leaves a float64 discrepancy within the runs' rounding, and an extended-precision discrepancy smaller by
    about the ratio of unit roundoffs ``u_ext/u_64 = 2^-11``; bound used: ``16 * 2^-11 * E``.
    """
    steps = 2000 if _check_size(size) is SIZES["quick"] else 8000
    loss = ToyLoss(steps=steps, seed=SEED + seed)
    gap64, w64, wt64, _ = li_arora_paths(steps=steps, loss=loss)
    gapx, wx, wtx, scale = li_arora_paths(steps=steps, dtype=np.longdouble, loss=loss)
    err = float(np.max(np.linalg.norm(w64 - wx.astype(float), axis=1) / np.linalg.norm(wx.astype(float), axis=1))
                + np.max(np.linalg.norm(wt64 - wtx.astype(float), axis=1) / np.linalg.norm(wtx.astype(float), axis=1)))
    ratio = float(np.finfo(np.longdouble).eps / np.finfo(np.float64).eps)
    zero_gap, *_ = li_arora_paths(steps=steps, loss=loss, zero_buffer=True)
    comps = [component("float64 discrepancy", gap64, 0.0, 0.0, 2 * err, "bound: the runs' own rounding x 2"),
             component("extended-precision discrepancy", float(gapx), 0.0, 0.0, 16 * ratio * err,
                        "bound: 16 x (u_ext/u_64) x float64 rounding"),
             refutation("discrepancy with a zero initial tilde buffer (must be large)", zero_gap, 0.0, 2 * err,
                        "torch's default buffer breaks the identity")]
    return result(comps, f"SGD momentum 0.9, eta=0.1, lam=5e-4, {steps} steps, d=16, growth factor "
                          f"alpha^-2k up to {float(scale[-1]) ** -2:.3g}", SEED + seed, size)


# ==== norm growth without decay (exact, pathwise) ================================================================
def growth_check(rule: str):
    """Check ``later.growth.<rule>`` pathwise on the toy loss; the same identity with decay must fail."""

    def paths(lam, steps, seed, eta=0.05, rho=0.9):
        loss = ToyLoss(steps=steps, seed=seed)
        w, b, S = loss.w0.copy(), np.zeros_like(loss.w0), 0.0
        worst, worst_tol = 0.0, 0.0
        u, d = np.finfo(float).eps / 2, len(w)
        for t in range(steps):
            g = loss.grad(w, t) + 2 * lam * w
            if rule == "sgd":
                w_next = w - eta * g
                claimed, scale = eta**2 * (g @ g), eta**2 * (g @ g)
            else:
                b = rho * b + g
                w_next = w - eta * b
                P = b @ b
                claimed = eta**2 * P + 2 * eta**2 * S
                scale = (eta**2 * P + 2 * eta**2 * S) / (1 - rho)
                S = rho * (S + P)
            N, N_next = w @ w, w_next @ w_next
            resid = abs(N_next - N - claimed)
            # Higham: a d-term dot product has relative error <= d u; x 8 for the few operations combined
            tol = 8 * d * u * (N_next + N + scale + 2 * eta * math.sqrt(N * (g @ g)))
            if resid / tol > worst / max(worst_tol, 1e-300):
                worst, worst_tol = resid, tol
            w = w_next
        return worst, worst_tol

    def check(size: str = "quick", seed: int = 0) -> dict:
        steps = 500 if _check_size(size) is SIZES["quick"] else 4000
        resid, tol = paths(0.0, steps, SEED + seed)
        decayed, dtol = paths(1e-3, steps, SEED + seed)
        comps = [component("worst |N' - N - claimed increment|", resid, 0.0, 0.0, tol, "bound: rounding"),
                 refutation("the same with weight decay lam = 1e-3 (must fail)", decayed, 0.0, dtol,
                            "the identity needs lam = 0")]
        return result(comps, f"{rule} without decay on a scale-invariant toy loss, {steps} steps", SEED + seed, size)

    return check


# ==== the step on the sphere (numeric expansion) =================================================================
def sphere_step_check(size: str = "quick", seed: int = 0) -> dict:
    """Check ``later.hoffer.sphere_step``: the exact step minus its first- and second-order terms is third order.

    Remainder after the derived terms (tangential ``-eps G``, radial ``-eps^2 G^2/2``) against the derived
    third-order term ``eps^3 G^3/2``; tolerance: the next order, ``|c4| eps^4`` x 2 (from the same series).
    """
    e, radial, tangential = hoffer.sphere_step_exact()
    coefficients = {(name, k): float(sp.series(expr, e, 0, 5).removeO().coeff(e, k).subs(norm_growth.G_unit, 1.3))
                    for name, expr in (("radial", radial), ("tangential", tangential)) for k in range(5)}
    c4 = coefficients["radial", 4]
    rng = np.random.default_rng([SEED + seed, 5])
    d = 64
    w = rng.standard_normal(d) * 3.0
    raw = rng.standard_normal(d)
    w_hat = w / np.linalg.norm(w)
    grad_unit = raw - (raw @ w_hat) * w_hat
    grad_unit *= 1.3 / np.linalg.norm(grad_unit)              # ||grad L(w_hat)|| = G = 1.3
    comps = []
    for eta in (0.5, 0.25, 0.125):
        r = np.linalg.norm(w)
        w_next = w - eta * grad_unit / r                      # grad L(w) = grad L(w_hat)/||w||
        step = w_next / np.linalg.norm(w_next) - w_hat
        eps_ = float(predict.evaluate(updates.effective_lr("sgd"), eta=eta, r=r))   # the expansion's eps
        u = grad_unit / 1.3
        predicted = coefficients["tangential", 1] * eps_ * u + coefficients["radial", 2] * eps_**2 * w_hat
        remainder = np.linalg.norm(step - predicted)
        third = abs(coefficients["tangential", 3]) * eps_**3
        comps.append(component(f"|remainder| at eta={eta}", remainder, third, 0.0,
                                2 * abs(c4) * eps_**4 + 64 * np.finfo(float).eps,
                                "third order eps^3 G^3/2; bound: next order"))
    return result(comps, "one SGD step on a scale-invariant loss, ||w|| = 3 sqrt(d), G = 1.3", SEED + seed, size)


#: claim id -> check(size="quick", seed=0) -> dict
CHECKS = {
    "later.li_arora.exp_lr": li_arora_check,
    "later.growth.sgd": growth_check("sgd"),
    "later.growth.momentum": growth_check("momentum"),
    "later.hoffer.sphere_step": sphere_step_check,
    "later.hoffer.lr_correction": lr_correction_check,
}
