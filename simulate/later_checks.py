"""Monte-Carlo and numeric legs of the later results (``normlaws.theory.later``): ``CHECKS[claim_id](size)``.

Every prediction is a ``sympy.lambdify`` of an expression of ``theory.later`` or ``theory.section4``; nothing
is re-typed. A check returns ``{"status": "agrees"|"disagrees", "components": [...], "detail", "seed", "size"}``
with one component per compared quantity: ``measured``, ``predicted``, ``se``, ``tolerance`` and the
``bias_bound`` that went into it.

Tolerances: ``Z * SE + bias bound``, ``Z = 4`` (two-sided 6e-5 per comparison under the null). The SE is over
independent chains (per-chain time averages, so time correlation inside a chain needs no model). Bias bounds:

* transient: chains start at the closure's equilibrium and are burnt in for ``BURN_TAUS`` relaxation times
  (the slowest mode of the closure's moment map, ``later.moment_jacobian``); an initial relative deviation of at
  most 1 decays to ``exp(-BURN_TAUS)`` (4.5e-5), doubled for a ratio of two moments;
* closure (``E[1/N] -> 1/E[N]``) for the norm: to leading order ``E[1/N] = (1 + CV^2)/E[N]``, so the norm is
  biased by at most ``CV^2`` (relative), ``CV`` the measured coefficient of variation of ``N``;
* the mean angle ``E[theta]`` differs from ``acos(cos theta*)`` (a ratio of moments) by the fluctuations of the
  step's norm: for SGD the delta method gives ``-theta*/(4(d-1))`` to leading order; the bound used is
  ``theta*/d`` (four times that, for every rule);
* AdamW's true second-moment accumulator (the closure holds it at its mean): ``E[g^2/v] = (1 - 2(1-beta2) beta2
  /(1+beta2))/E[g^2]`` to leading order, bounded by ``4 (1 - beta2)`` (relative) on the noise power, hence on N.

Exact identities (Li & Arora's trajectories, the norm-growth identities, the direction map of the learning-rate
correction) are checked on float64 paths against rounding bounds stated at each check; Li & Arora's also in
80-bit extended precision, where an exact identity's discrepancy must shrink with the unit roundoff.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import sympy as sp

from normlaws.errors import UsageError
from normlaws.theory import later, section4

from . import predict
from .predict import coupled_c, equilibrium, lion_equilibrium, lion_Q, relaxation_time  # noqa: F401

Z = 4.0
BURN_TAUS = 10.0
#: (d, chains, window) per size; 'quick' keeps all checks together under a minute on 2 cores
SIZES = {"quick": {"d": 128, "chains": 192, "window": 800}, "full": {"d": 256, "chains": 512, "window": 3000}}
SEED = 2006_08419


def value(expr, eta, lam, C=1.0, d=1.0, rho=0.0, beta1=0.0, beta2=0.0, c=0.0, Q=0.0) -> float:
    """A theory expression evaluated at numbers (``c`` is ``c_L2``, ``Q`` Lion's correlation sum), via
    ``simulate.predict.evaluate`` (the one lambdify bridge)."""
    return float(predict.evaluate(sp.sympify(expr), eta=eta, lam=lam, C=C, d=d, rho=rho, beta1=beta1, beta2=beta2,
                                  c=c, Q=Q))


# ==== estimators ================================================================================================
def _mean_se(x: np.ndarray) -> tuple:
    """Mean over chains of per-chain averages, and its standard error (chains independent)."""
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x)))


def _ratio_se(a: np.ndarray, b: np.ndarray) -> tuple:
    """``sum a / sum b`` over chains and its delta-method standard error."""
    R = float(a.sum() / b.sum())
    resid = a - R * b
    return R, float(resid.std(ddof=1) / math.sqrt(len(a)) / b.mean())


def _component(name, measured, predicted, se, bias, note="") -> dict:
    tol = Z * se + bias
    return {"quantity": name, "measured": measured, "predicted": predicted, "se": se, "bias_bound": bias,
            "tolerance": tol, "agrees": bool(abs(measured - predicted) <= tol), "note": note}


def _result(components, detail, seed, size, params=None, **extra) -> dict:
    """The check's dict: the first component at the top level (as ``simulate.checks``), all in ``components``."""
    ok = all(c["agrees"] for c in components)
    lines = "; ".join(f"{c['quantity']} {c['measured']:.6g} vs {c['predicted']:.6g} (tol {c['tolerance']:.2g})"
                      for c in components)
    first = components[0]
    rel = (first["measured"] - first["predicted"]) / first["predicted"] if first["predicted"] else None
    return {"status": "agrees" if ok else "disagrees", "predicted": first["predicted"], "measured": first["measured"],
            "se": first["se"], "tolerance": first["tolerance"], "relative_error": rel, "detail": f"{detail}: {lines}",
            "seed": seed, "params": params or {}, "size": size, "Z": Z, "components": components, **extra}


def _check_size(size: str) -> dict:
    if size not in SIZES:
        raise UsageError(f"unknown size {size!r}; choose quick or full")
    return SIZES[size]


# ==== the section-4 model, vectorised over chains ================================================================
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
    delta = w_next - w
    radial = (delta * u).sum(-1)
    perp = np.linalg.norm(delta - radial[:, None] * u, axis=-1)
    return np.arctan2(perp, r + radial)


RULE_PARAMS = {   # (eta, lam, extra): eta*lam small, burn-in of 10 relaxation times affordable
    "sgd": (0.1, 0.02, {}),
    "momentum": (0.02, 0.05, {"rho": 0.9}),
    "nesterov": (0.02, 0.05, {"rho": 0.9}),
    "nesterov_torch": (0.02, 0.05, {"rho": 0.9}),
    "adamw": (0.01, 0.4, {"beta1": 0.9, "beta2": 0.999}),
}


@lru_cache(maxsize=None)
def run_linear(rule: str, size: str = "quick", seed: int = SEED) -> dict:
    """Simulate ``rule`` on the Section 4 model; per-chain window averages of the observables of its variable.

    sgd / momentum / nesterov_torch (torch's forms): gradient ``g/||x||`` at the iterate ``x`` (w, or torch's
    Nesterov iterate), ``g`` orthogonal to ``x``, ``E||g||^2 = C = 1``. nesterov: Sutskever's form on the paper's
    variable ``w``, the gradient at the look-ahead ``u = w + rho v``. adamw: torch's AdamW (bias corrections omitted: the accumulator
    starts at its stationary mean and the first moment is burnt in), eps = 0.
    """
    eta, lam, extra = RULE_PARAMS[rule]
    cfg = _check_size(size)
    d, n, window = cfg["d"], cfg["chains"], cfg["window"]
    rho, b1, b2 = extra.get("rho", 0.9), extra.get("beta1", 0.9), extra.get("beta2", 0.999)
    pred = equilibrium(rule, eta, lam, d, 1.0, rho, b1, b2)
    burn = int(math.ceil(BURN_TAUS * pred["tau"]))
    if rule == "adamw":
        burn = max(burn, int(math.ceil(BURN_TAUS / 3 / (1 - b2))))
    rng = np.random.default_rng([seed, list(RULE_PARAMS).index(rule)])
    w = _unit_rows(rng, (n, d)) * math.sqrt(pred["N"])
    buf = np.zeros_like(w)
    v = np.full_like(w, 1.0 / (d * pred["N"]))          # AdamW accumulator at its mean E[g_j^2] = C/(d N)
    sums = {k: np.zeros(n) for k in ("N", "N2", "cross", "chord", "angle", "grad2")}
    for step in range(burn + window):
        r2 = (w * w).sum(-1)
        at = w + rho * buf if rule == "nesterov" else w              # Sutskever's look-ahead (buf holds v)
        g = _tangent_noise(rng, at, 1.0) / np.linalg.norm(at, axis=-1)[:, None]
        if rule == "sgd":
            w_next = w - eta * (g + 2 * lam * w)
        elif rule == "momentum":
            buf = rho * buf + g + 2 * lam * w
            w_next = w - eta * buf
        elif rule == "nesterov":
            buf = rho * buf - eta * (g + 2 * lam * at)
            w_next = w + buf
        elif rule == "nesterov_torch":
            grad = g + 2 * lam * w
            buf = rho * buf + grad
            w_next = w - eta * (grad + rho * buf)
        else:
            buf = b1 * buf + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w_next = (1 - eta * lam) * w - eta * buf / np.sqrt(v)
        if step >= burn:
            sums["N"] += r2
            sums["N2"] += r2 * r2
            sums["cross"] += (w * w_next).sum(-1)
            sums["chord"] += ((w_next - w) ** 2).sum(-1)
            sums["angle"] += _angle(w, w_next)
            sums["grad2"] += (g * g).sum(-1)
        w = w_next
    out = {k: s / window for k, s in sums.items()}
    out.update(prediction=pred, burn=burn, window=window, d=d, chains=n, eta=eta, lam=lam, **extra)
    return out


def _params(run) -> dict:
    keys = ("eta", "lam", "rho", "beta1", "beta2", "d", "chains", "window", "burn")
    return {k: run[k] for k in keys if k in run}


def _transient(run) -> float:
    return math.exp(-run["burn"] / run["prediction"]["tau"])


def _cv2(run) -> float:
    m, m2 = run["N"].mean(), run["N2"].mean()
    return float(m2 / m**2 - 1)


def angle_check(rule: str):
    """Check ``later.angle.<rule>``: the chord ratio (exact), the mean angle and the norm (closure)."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        run = run_linear(rule, size, SEED + seed)
        p, tr = run["prediction"], _transient(run)
        chord, chord_se = _ratio_se(run["chord"], run["N"])
        theta, theta_se = _mean_se(run["angle"])
        N, N_se = _mean_se(run["N"])
        closure = _cv2(run) + (4 * (1 - run.get("beta2", 1.0)) if rule == "adamw" else 0.0)
        comps = [_component("E||dw||^2/E||w||^2", chord, p["chord"], chord_se, 2 * tr * p["chord"],
                            "exact moment ratio; bias: transient"),
                 _component("E[theta]", theta, p["angle"], theta_se, p["angle"] / run["d"] + tr * p["angle"],
                            "bias: theta*/d (step-norm fluctuations) + transient"),
                 _component("E||w||^2", N, p["N"], N_se, (closure + tr) * p["N"],
                            "bias: closure CV^2" + (" + 4(1-beta2) accumulator" if rule == "adamw" else "")
                            + " + transient")]
        return _result(comps, f"{rule}, eta={run['eta']}, lam={run['lam']}, d={run['d']}, {run['chains']} chains x "
                              f"{run['window']} steps after {run['burn']}", SEED + seed, size, _params(run))

    return check


def defazio_check(rule: str):
    """Check ``later.defazio.<rule>``: ``E||grad L||^2/E||w||^2`` against the exact stationary value."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        run = run_linear(rule, size, SEED + seed)
        ratio_sq = value(later.defazio_derivation(rule).result, run["eta"], run["lam"], rho=run.get("rho", 0.0))
        measured, se = _ratio_se(run["grad2"], run["N"])
        tr = _transient(run)
        comps = [_component("E||grad L||^2/E||w||^2", measured, ratio_sq, se, 2 * tr * ratio_sq,
                            "exact moment ratio; bias: transient")]
        leading = value(later.defazio_derivation(rule).extras["ratio_leading"], run["eta"], run["lam"],
                        rho=run.get("rho", 0.0))
        return _result(comps, f"{rule}, eta={run['eta']}, lam={run['lam']}", SEED + seed, size, _params(run),
                       ratio=math.sqrt(measured), ratio_predicted=math.sqrt(ratio_sq), ratio_leading=leading)

    return check


# ==== Lion =======================================================================================================
@lru_cache(maxsize=None)
def run_lion(size: str = "quick", seed: int = SEED, eta: float = 0.01, lam: float = 0.2, beta1: float = 0.9,
             beta2: float = 0.99) -> dict:
    """Lion (Chen et al. 2023) with decoupled decay on i.i.d. N(0, 1) gradient coordinates (sign: scale-free)."""
    cfg = _check_size(size)
    d, n, window = cfg["d"], cfg["chains"], cfg["window"]
    pred = lion_equilibrium(eta, lam, d, beta1, beta2)
    burn = int(math.ceil(BURN_TAUS * max(pred["tau"], 1 / (1 - beta2))))
    rng = np.random.default_rng([seed, 7])
    w = _unit_rows(rng, (n, d)) * math.sqrt(pred["N"])
    m = rng.standard_normal((n, d)) * math.sqrt((1 - beta2) / (1 + beta2))   # stationary law of the EMA
    sums = {k: np.zeros(n) for k in ("N", "N2", "chord", "angle")}
    A = 1 - eta * lam
    for step in range(burn + window):
        g = rng.standard_normal((n, d))
        s = np.sign(beta1 * m + (1 - beta1) * g)
        m = beta2 * m + (1 - beta2) * g
        w_next = A * w - eta * s
        if step >= burn:
            r2 = (w * w).sum(-1)
            sums["N"] += r2
            sums["N2"] += r2 * r2
            sums["chord"] += ((w_next - w) ** 2).sum(-1)
            sums["angle"] += _angle(w, w_next)
        w = w_next
    out = {k: v / window for k, v in sums.items()}
    out.update(prediction=pred, burn=burn, window=window, d=d, chains=n, eta=eta, lam=lam)
    return out


def lion_check(which: str):
    """Check ``later.angle.lion`` (chord and mean angle) or ``later.norm.lion`` (E||w||^2): exact in the model."""

    def check(size: str = "quick", seed: int = 0) -> dict:
        run = run_lion(size, SEED + seed)
        p = run["prediction"]
        tr = 2 * math.exp(-run["burn"] / p["tau"])
        if which == "angle":
            chord, se = _ratio_se(run["chord"], run["N"])
            theta, theta_se = _mean_se(run["angle"])
            comps = [_component("E||dw||^2/E||w||^2", chord, p["chord"], se, 2 * tr * p["chord"]),
                     _component("E[theta]", theta, p["angle"], theta_se, p["angle"] / run["d"] + tr * p["angle"])]
        else:
            N, se = _mean_se(run["N"])
            comps = [_component("E||w||^2", N, p["N"], se, tr * p["N"], "exact in the model; bias: transient")]
        return _result(comps, f"Lion beta=(0.9, 0.99), eta={run['eta']}, lam={run['lam']}, Q={p['Q']:.3f}", SEED + seed,
                       size, _params(run), random_walk_angle=math.sqrt(2 * run["eta"] * run["lam"]),
                       random_walk_N=p["N_random_walk"])

    return check


# ==== Hoffer's learning-rate correction ==========================================================================
@lru_cache(maxsize=None)
def run_lr_correction(size: str = "quick", seed: int = SEED, eta: float = 0.1, lam: float = 0.02) -> dict:
    """Decayed SGD, decay-free SGD at ``eta s_t^2/(a N*)`` (corrected) and at ``eta`` (plain), same model.

    Also the exact map: a decay-free run at ``eta s_t^2/(a r_t^2)``, fed the decayed run's noise, whose directions
    must equal the decayed run's to rounding.
    """
    cfg = _check_size(size)
    d, n, window = cfg["d"], cfg["chains"], cfg["window"]
    a = 1 - 2 * eta * lam
    N_star = value(section4.stationary_N("sgd"), eta, lam, C=1.0)
    tau = equilibrium("sgd", eta, lam, d)["tau"]
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
        exact_next = exact - (eta * s2 / (a * r2))[:, None] * g / np.sqrt(s2)[:, None]
        wd_next = a * wd - eta * g / np.sqrt(r2)[:, None]
        new = {}
        for key, x in (("corrected", corr), ("plain", plain)):
            gx = _tangent_noise(rng, x, 1.0)
            sx2 = (x * x).sum(-1)
            lr = eta * sx2 / (a * N_star) if key == "corrected" else eta
            new[key] = x - (lr if np.ndim(lr) == 0 else lr[:, None]) * gx / np.sqrt(sx2)[:, None]
        if step >= burn:
            sums["decayed"] += _angle(wd, wd_next)
            sums["corrected"] += _angle(corr, new["corrected"])
            sums["plain"] += _angle(plain, new["plain"])
        unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
        worst = max(worst, float(np.abs(unit(wd_next) - unit(exact_next)).max()))
        wd, exact, corr, plain = wd_next, exact_next, new["corrected"], new["plain"]
    out = {k: v / window for k, v in sums.items()}
    out.update(N_star=N_star, theta=math.acos(a), worst_direction_gap=worst, steps=burn + window, d=d, chains=n,
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
    comps = [_component("E[theta] decayed - corrected", dmean, 0.0, dse, fluct + tr,
                        "the corrected run's angle is i.i.d.; bias: 2 theta* V (norm fluctuations) + transient"),
             _component("max |w_hat decayed - w_hat exact-map|", run["worst_direction_gap"], 0.0, 0.0, rounding,
                        "exact identity; bound: rounding"),
             {"quantity": "E[theta] plain decay-free (must differ)", "measured": plain, "predicted": theta,
              "se": 0.0, "bias_bound": 0.0, "tolerance": Z * dse + theta / run["d"],
              "agrees": bool(abs(plain - theta) > Z * dse + theta / run["d"]),
              "note": "without the correction the angle decays: the check passes when it does NOT match"}]
    return _result(comps, f"SGD eta=0.1, lam=0.02, d={run['d']}: mean angle decayed "
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
    """The larger root of ``alpha^2 - (1 + rho - 2 eta lam) alpha + rho`` (``ValueError`` when it is complex)."""
    eta, lam, rho = (dtype(x) for x in (eta, lam, rho))
    b = 1 + rho - 2 * eta * lam
    disc = b * b - 4 * rho
    if disc < 0:
        raise ValueError(f"complex growth factor: 2 eta lam = {2 * eta * lam} > (1 - sqrt(rho))^2 = "
                         f"{(1 - np.sqrt(rho)) ** 2}; no real exponential learning rate")
    return (b + np.sqrt(disc)) / 2


def li_arora_paths(eta=0.1, lam=5e-4, rho=0.9, steps=2000, dtype=np.float64, zero_buffer=False, loss=None):
    """Max over steps of ``||alpha^k wt_k - w_k||/||w_k||``, with the two runs' trajectories."""
    loss = loss or ToyLoss(steps=steps)
    alpha = li_arora_alpha(eta, lam, rho, dtype)
    eta_, lam_, rho_ = (dtype(x) for x in (eta, lam, rho))
    w = loss.w0.astype(dtype)
    wt = w.copy()
    b = np.zeros_like(w)
    bt = np.zeros_like(w) if zero_buffer else -(1 - alpha) * w / (eta_ * alpha)
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
    comps = [_component("float64 discrepancy", gap64, 0.0, 0.0, 2 * err, "bound: the runs' own rounding x 2"),
             _component("extended-precision discrepancy", float(gapx), 0.0, 0.0, 16 * ratio * err,
                        "bound: 16 x (u_ext/u_64) x float64 rounding"),
             {"quantity": "discrepancy with a zero initial tilde buffer (must be large)", "measured": zero_gap,
              "predicted": 0.0, "se": 0.0, "bias_bound": 0.0, "tolerance": 2 * err, "agrees": bool(zero_gap > 2 * err),
              "note": "torch's default buffer breaks the identity"}]
    return _result(comps, f"SGD momentum 0.9, eta=0.1, lam=5e-4, {steps} steps, d=16, growth factor "
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
        comps = [_component("worst |N' - N - claimed increment|", resid, 0.0, 0.0, tol, "bound: rounding"),
                 {"quantity": "the same with weight decay lam = 1e-3 (must fail)", "measured": decayed,
                  "predicted": 0.0, "se": 0.0, "bias_bound": 0.0, "tolerance": dtol, "agrees": bool(decayed > dtol),
                  "note": "the identity needs lam = 0"}]
        return _result(comps, f"{rule} without decay on a scale-invariant toy loss, {steps} steps", SEED + seed, size)

    return check


# ==== the step on the sphere (numeric expansion) =================================================================
def sphere_step_check(size: str = "quick", seed: int = 0) -> dict:
    """Check ``later.hoffer.sphere_step``: the exact step minus its first- and second-order terms is third order.

    Remainder after the derived terms (tangential ``-eps G``, radial ``-eps^2 G^2/2``) against the derived
    third-order term ``eps^3 G^3/2``; tolerance: the next order, ``|c4| eps^4`` x 2 (from the same series).
    """
    e, radial, tangential = later.sphere_step_exact()
    G = later.G_unit
    c4 = float(sp.series(radial, e, 0, 5).removeO().coeff(e, 4).subs(G, 1.3))
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
        eps_ = eta / r**2
        predicted = -eps_ * grad_unit - eps_**2 * 1.3**2 / 2 * w_hat
        remainder = np.linalg.norm(step - predicted)
        third = eps_**3 * 1.3**3 / 2
        comps.append(_component(f"|remainder| at eta={eta}", remainder, third, 0.0,
                                2 * abs(c4) * eps_**4 + 64 * np.finfo(float).eps,
                                "third order eps^3 G^3/2; bound: next order"))
    return _result(comps, "one SGD step on a scale-invariant loss, ||w|| = 3 sqrt(d), G = 1.3", SEED + seed, size)


#: claim id -> check(size="quick") -> dict
CHECKS = {
    **{f"later.angle.{rule}": angle_check(rule) for rule in RULE_PARAMS},
    "later.angle.lion": lion_check("angle"),
    "later.norm.lion": lion_check("norm"),
    "later.defazio.sgd": defazio_check("sgd"),
    "later.defazio.momentum": defazio_check("momentum"),
    "later.li_arora.exp_lr": li_arora_check,
    "later.growth.sgd": growth_check("sgd"),
    "later.growth.momentum": growth_check("momentum"),
    "later.hoffer.sphere_step": sphere_step_check,
    "later.hoffer.lr_correction": lr_correction_check,
}


def side_by_side(size: str = "quick") -> list[dict]:
    """Every check's components as rows (claim, quantity, predicted, measured, tolerance, verdict)."""
    rows = []
    for cid, check in CHECKS.items():
        res = check(size)
        for c in res["components"]:
            rows.append({"claim": cid, "quantity": c["quantity"], "predicted": c["predicted"],
                         "measured": c["measured"], "tolerance": c["tolerance"],
                         "verdict": "agrees" if c["agrees"] else "disagrees"})
    return rows
