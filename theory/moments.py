"""One linear second-moment model per update rule, in the Section 4 noise model: the rule's only model here.

A scale-invariant unit ``w`` in R^d; the loss gradient at the point ``p`` where the rule evaluates it is ``g/||p||``
with ``g`` independent across steps, zero-mean, ``E||g||^2 = C`` (``normlaws.theory.bn_unit`` derives ``C`` for a
real BN unit). SGD, heavy-ball, both Nesterov variables and Adam-type rules (preconditioner at its mean, as in
``section4``) are linear maps ``x' = M x + b e`` of the state ``x`` (weights and buffers) driven by a noise ``e``
with ``E||e||^2 = q``: ``q = eta^2 C E[1/||p||^2]`` for gradient noise, ``q = d`` for preconditioned noise.

The stationary moments ``S_ij = E<x_i, x_j>`` solve ``S = M S M^T + q b b^T`` exactly, so every *ratio* of
stationary moments is exact, with no closure: the angle ``cos(theta*) = E<y_t, y_{t+1}>/E||y_t||^2`` of the
variable ``y = T x`` a claim is about, the chord ratio, and Defazio's ``E||grad L||^2/E||w||^2``. Only the norm
itself needs the closure ``E[1/||p||^2] -> 1/E||p||^2`` (the paper's "``||w_{t+1}|| = ||w_t||``").

**Which variable.** Nesterov momentum has two variables: Sutskever's ``w`` (the paper's Sec. 5.1, second form:
``v' = rho v - eta grad L_lam(w + rho v)``, ``w' = w + v'``) and torch's iterate ``u = w + rho v`` (the look-ahead
point, where the gradient is evaluated; ``torch.optim.SGD(nesterov=True)`` stores ``u``). They are one
dynamical system (state ``(u, v)``, gradient at ``u``) read out two ways: rule ``'nesterov'`` reads ``w = u - rho v``,
rule ``'nesterov_torch'`` reads ``u``. Their norms differ by about 0.05 %, their equilibrium angles by about 16 %.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp

from .compare import lowest_order_term
from .derivation import at_point, together_numerator
from .symbols import C, beta1, d, eta, lam, rho

_h = sp.Symbol("h", positive=True)
#: the coupled adaptive rules' decay coefficient c = 2*lam*P, P = sqrt(d N / C) the preconditioner at its mean
c_l2 = sp.Symbol("c_L2", positive=True)
#: kappa in the slowest eigenvalue 1 - kappa*h^2 of the moment map, with eta -> h*eta, lam -> h*lam
_kappa = sp.Symbol("kappa")
_mu = sp.Symbol("mu")


@dataclass(frozen=True)
class MomentModel:
    """A rule as ``x' = M x + b e`` on the state ``x``, with its noise kind and two readouts.

    ``noise``: 'gradient' (``E||e||^2 = eta^2 C/||p||^2``, the norm feeds back), 'preconditioned' (``= d``), or
    'coupled' (``= d``, and ``M`` depends on ``c_L2 = 2 lam sqrt(d N_p/C)``, which feeds back).
    ``readout`` (a row) maps the state to the variable the rule's claims are about; ``grad_at`` to the point
    ``p`` where the gradient is evaluated (its norm sets the noise power).
    """

    name: str
    title: str
    M: sp.Matrix
    b: sp.Matrix
    noise: str
    state: tuple
    note: str = ""
    readout: tuple = (1,)
    grad_at: tuple = (1,)

    @property
    def T(self) -> sp.Matrix:
        """The readout as a row vector."""
        return sp.Matrix([list(self.readout) + [0] * (self.M.shape[0] - len(self.readout))])

    @property
    def G(self) -> sp.Matrix:
        """The gradient point's readout as a row vector."""
        return sp.Matrix([list(self.grad_at) + [0] * (self.M.shape[0] - len(self.grad_at))])


def _nesterov(name: str, readout: tuple, title: str, note: str) -> MomentModel:
    return MomentModel(name, title, sp.Matrix([[1 - 2 * eta * lam * (1 + rho), rho**2], [-2 * eta * lam, rho]]),
                       sp.Matrix([-(1 + rho), -1]), "gradient", ("u", "v"),
                       "state (u, v), u = w + rho v torch's iterate (Sutskever's look-ahead): v' = rho v - 2 eta lam "
                       "u - e; u' = u + rho v' - 2 eta lam u - e, gradient at u; " + note, readout, (1, 0))


def _models() -> dict:
    a, A = 1 - 2 * eta * lam, 1 - eta * lam
    return {
        "sgd": MomentModel("sgd", "SGD", sp.Matrix([[a]]), sp.Matrix([-1]), "gradient", ("w",),
                           "w' = (1 - 2 eta lam) w - e,  e = eta g/||w||"),
        "momentum": MomentModel(
            "momentum", "heavy-ball momentum (Sec. 5.1, first form; torch SGD(momentum=rho))",
            sp.Matrix([[a, rho], [-2 * eta * lam, rho]]), sp.Matrix([-1, -1]), "gradient", ("w", "v"),
            "v' = rho v - 2 eta lam w - e; w' = w + v' (v = -eta * torch's buffer)"),
        "nesterov": _nesterov("nesterov", (1, -rho), "Nesterov momentum, the paper's variable w (Sec. 5.1, second form)",
                              "the claims read Sutskever's w = u - rho v"),
        "nesterov_torch": _nesterov("nesterov_torch", (1, 0),
                                    "Nesterov momentum, torch's iterate (torch SGD(nesterov=True))",
                                    "the claims read torch's iterate u"),
        "adamw": MomentModel(
            "adamw", "AdamW (decoupled, accumulator at its mean)",
            sp.Matrix([[A, -eta * beta1], [0, beta1]]), sp.Matrix([-eta * (1 - beta1), 1 - beta1]),
            "preconditioned", ("w", "m"),
            "m' = beta1 m + (1 - beta1) e; w' = (1 - eta lam) w - eta m'; E||e||^2 = d"),
        "rmsprop": MomentModel(
            "rmsprop", "RMSProp with L2 in the gradient (accumulator at its mean)",
            sp.Matrix([[1 - eta * c_l2]]), sp.Matrix([-eta]), "coupled", ("w",),
            "w' = (1 - eta c) w - eta e; c = 2 lam P, P = sqrt(d N/C); E||e||^2 = d"),
        "adam": MomentModel(
            "adam", "Adam with L2 in the gradient (accumulator at its mean)",
            sp.Matrix([[1 - eta * (1 - beta1) * c_l2, -eta * beta1], [(1 - beta1) * c_l2, beta1]]),
            sp.Matrix([-eta * (1 - beta1), 1 - beta1]), "coupled", ("w", "m"),
            "m' = beta1 m + (1 - beta1)(e + c w); w' = w - eta m'; c = 2 lam P; E||e||^2 = d"),
    }


MODELS = _models()
#: the rules with a linear second-moment model (the audit predicts their angle, norm and relaxation)
LINEAR_RULES = tuple(MODELS)


def _twin(rule: str) -> str:
    """The first rule with the same dynamics (``M``, ``b``, noise, gradient point) as ``rule``: both Nesterov
    variables are one system read out two ways, so their moments, Jacobian and relaxation are computed once.

    >>> _twin("nesterov_torch"), _twin("adam")
    ('nesterov', 'adam')
    """
    m = MODELS[rule]
    return next(name for name, o in MODELS.items()
                if (o.M, o.b, o.noise, o.grad_at) == (m.M, m.b, m.noise, m.grad_at))


def _moment_unknowns(k: int):
    S = sp.zeros(k, k)
    unknowns = []
    for i in range(k):
        for j in range(i, k):
            s = sp.Symbol(f"S_{i}{j}")
            S[i, j] = S[j, i] = s
            unknowns.append(s)
    return S, unknowns


def _quad(row: sp.Matrix, S: sp.Matrix, col: sp.Matrix | None = None) -> sp.Expr:
    """``row S col^T`` (``col = row`` by default) as a scalar."""
    return (row * S * (row if col is None else col).T)[0, 0]


@lru_cache(maxsize=None)
def stationary_moments(rule: str) -> sp.Matrix:
    """The stationary ``S/q`` (``S_ij = E<x_i, x_j>``) of a rule: the solution of ``S = M S M^T + b b^T``.

    >>> stationary_moments("sgd")[0, 0]
    -1/(4*eta*lamda*(eta*lamda - 1))
    """
    if _twin(rule) != rule:
        return stationary_moments(_twin(rule))
    m = MODELS[rule]
    S, unknowns = _moment_unknowns(m.M.shape[0])
    rhs = m.M * S * m.M.T + m.b * m.b.T
    eqs = [sp.Eq(S[i, j], rhs[i, j]) for i in range(S.shape[0]) for j in range(i, S.shape[0])]
    (values,) = sp.linsolve(eqs, unknowns)         # a linear system with one solution
    solution = dict(zip(unknowns, values))
    return S.subs(solution).applyfunc(sp.factor)


@lru_cache(maxsize=None)
def stationary_residual(rule: str) -> sp.Matrix:
    """``M S M^T + b b^T - S`` at the stationary ``S``, each entry as the expanded numerator of its ``together``
    form: the zero matrix (a proof; a rational function is zero exactly when that numerator is)."""
    if _twin(rule) != rule:
        return stationary_residual(_twin(rule))
    m, S = MODELS[rule], stationary_moments(rule)
    return (m.M * S * m.M.T + m.b * m.b.T - S).applyfunc(together_numerator)


def readout_moment(rule: str) -> sp.Expr:
    """``E||y||^2/q`` of the rule's readout ``y = T x`` (``s_00`` but for Nesterov's paper variable)."""
    m = MODELS[rule]
    return sp.factor(_quad(m.T, stationary_moments(rule)))


def gradient_point_moment(rule: str) -> sp.Expr:
    """``E||p||^2/q`` of the point ``p`` where the gradient is evaluated."""
    m = MODELS[rule]
    return sp.factor(_quad(m.G, stationary_moments(rule)))


@lru_cache(maxsize=None)
def cos_angle(rule: str) -> sp.Expr:
    """``cos(theta*) = E<y_t, y_{t+1}>/E||y_t||^2`` of the readout at stationarity: exact (a moment ratio).

    >>> cos_angle("sgd")
    -2*eta*lamda + 1
    >>> sp.factor(cos_angle("momentum"))
    -(2*eta*lamda - rho - 1)/(rho + 1)
    """
    m, S = MODELS[rule], stationary_moments(rule)
    return sp.factor(_quad(m.T, S, m.T * m.M) / _quad(m.T, S))


def chord_ratio(rule: str) -> sp.Expr:
    """``E||y_{t+1} - y_t||^2 / E||y_t||^2 = 2(1 - cos theta*)`` at stationarity (exact in the model: both
    times have the same second moment)."""
    return sp.factor(2 * (1 - cos_angle(rule)))


@lru_cache(maxsize=None)
def stationary_N(rule: str) -> sp.Expr:
    """``N* = E||y||^2`` of the readout at equilibrium: in the closure for gradient noise (``q = eta^2 C/E||p||^2``),
    exact for preconditioned noise. For the coupled rules the result is a function of ``c_L2``.

    >>> sp.factor(stationary_N("sgd") ** 2)
    -C*eta/(4*lamda*(eta*lamda - 1))
    """
    m = MODELS[rule]
    if m.noise == "gradient":     # E||p||^2 = g q, q = eta^2 C/E||p||^2  ->  q = sqrt(eta^2 C/g)
        q = sp.sqrt(sp.factor(eta**2 * C / gradient_point_moment(rule)))
        return sp.powsimp(sp.factor(q * readout_moment(rule)), force=True) if m.readout != m.grad_at \
            else sp.sqrt(sp.factor(eta**2 * C * readout_moment(rule)))
    return sp.factor(readout_moment(rule) * d)


def _lead(expr: sp.Expr) -> sp.Expr:
    """Leading term as ``eta, lam -> 0`` together (``eta/lam`` fixed)."""
    scaled = at_point(sp.sympify(expr), {eta: eta * _h, lam: lam * _h})
    return sp.factor(sp.powsimp(at_point(lowest_order_term(scaled, _h), {_h: 1}), force=True))


def _lead_coupled(expr: sp.Expr) -> sp.Expr:
    """Leading term as ``eta -> 0`` with ``c_L2 eta`` small: scale ``c_L2 -> h c_L2``, ``eta -> h eta``."""
    scaled = at_point(sp.sympify(expr), {eta: eta * _h, c_l2: c_l2 * _h})
    return sp.factor(at_point(lowest_order_term(scaled, _h), {_h: 1}))


@lru_cache(maxsize=None)
def angle_leading(rule: str) -> sp.Expr:
    """Leading-order equilibrium angle per step, ``theta* ~ sqrt(2(1 - cos theta*))`` as ``eta*lam -> 0``.

    >>> angle_leading("sgd"), angle_leading("momentum")
    (2*sqrt(eta)*sqrt(lamda), 2*sqrt(eta)*sqrt(lamda)/sqrt(rho + 1))
    """
    lead = _lead_coupled if MODELS[rule].noise == "coupled" else _lead
    return sp.powsimp(sp.sqrt(lead(2 * (1 - cos_angle(rule)))), force=True)


# ---- relaxation: the Jacobian of the closure's moment map at its fixed point -------------------------------------
@lru_cache(maxsize=None)
def moment_jacobian(rule: str) -> sp.Matrix:
    """Jacobian of the normalized moment map ``s -> M s M^T + (feedback) b b^T`` at its fixed point.

    Unknowns: the upper triangle of ``s = S/q*``. Gradient noise feeds back through ``q = eta^2 C/E||p||^2``
    (``q/q* = g*/g`` with ``g = G s G^T``); coupled rules through ``c = c* sqrt(g/g*)``; preconditioned noise not
    at all. The spectral radius ``mu`` gives the relaxation time ``-1/log(mu)`` steps of every second moment.
    """
    if _twin(rule) != rule:
        return moment_jacobian(_twin(rule))
    m = MODELS[rule]
    k = m.M.shape[0]
    S, unknowns = _moment_unknowns(k)
    star = stationary_moments(rule)
    g_now, g_star = _quad(m.G, S), _quad(m.G, star)
    if m.noise == "gradient":
        image = m.M * S * m.M.T + (g_star / g_now) * m.b * m.b.T
    elif m.noise == "coupled":
        M = m.M.subs(c_l2, c_l2 * sp.sqrt(g_now / g_star))
        image = M * S * M.T + m.b * m.b.T
    else:
        image = m.M * S * m.M.T + m.b * m.b.T
    entries = [image[i, j] for i in range(k) for j in range(i, k)]
    J = sp.Matrix([[sp.diff(e, u) for u in unknowns] for e in entries])
    at_star = {S[i, j]: star[i, j] for i in range(k) for j in range(i, k)}
    return J.subs(at_star).applyfunc(sp.factor)


@lru_cache(maxsize=None)
def relaxation_leading(rule: str) -> sp.Expr:
    """Leading-order relaxation time (steps) of the second moments: ``1/(kappa h^2)`` for the slowest mode.

    The slowest eigenvalue of :func:`moment_jacobian` is ``1 - kappa`` to leading order, with ``kappa`` of
    second order in ``(eta, lam)`` (in ``(eta, c_L2)`` for the coupled rules): ``kappa`` solves the
    lowest-order coefficient of the characteristic polynomial at ``mu = 1 - kappa h^2``. (The numerator is taken
    without factoring first: the factors that may stay differ from it by no ``kappa``, so the roots are the same; a
    coefficient that ``cancel`` leaves nonzero is nonzero.)
    """
    if _twin(rule) != rule:
        return relaxation_leading(_twin(rule))
    J = moment_jacobian(rule)
    scale = {eta: eta * _h, c_l2: c_l2 * _h} if MODELS[rule].noise == "coupled" else {eta: eta * _h, lam: lam * _h}
    poly = J.subs(scale, simultaneous=True).charpoly(_mu).as_expr().subs(_mu, 1 - _kappa * _h**2)
    lowest = sp.Poly(sp.numer(sp.together(poly)), _h).all_coeffs()[::-1]
    coeff = next(c for c in lowest if sp.cancel(c) != 0)
    roots = [x for x in sp.roots(sp.Poly(coeff, _kappa)) if x != 0]     # closed-form roots (linear in every rule)
    kappa = min(roots, key=lambda x: float(x.subs({eta: 1, lam: 1, rho: sp.Rational(9, 10), c_l2: 1,
                                                    beta1: sp.Rational(9, 10)})))
    return sp.factor(1 / kappa)
