"""Small-sample inference for the fixed effects of the nested random-intercept model: Satterthwaite degrees of
freedom (as R's lmerTest) and the Kenward-Roger adjusted covariance and degrees of freedom (as pbkrtest).

With few local authorities, Wald intervals from the normal distribution are too narrow: they treat the
variance components as known. Both methods replace the normal reference by a t distribution whose degrees of
freedom reflect how well the variance components are estimated; Kenward-Roger also inflates the covariance.

Conventions, written out so that they can be checked against R:

Satterthwaite (lmerTest 3.1, `contest1D`): for a contrast L, var = L' Phi L with Phi = (X'V^-1 X)^-1 at the
REML estimates, and df = 2 var^2 / (g' A g), where g is the gradient of L' Phi L in the variance parameters
and A their asymptotic covariance, 2 x the inverse of the observed Hessian of the REML deviance (-2 l_R).
lmerTest takes the parameters as lme4's (theta, sigma) (theta = random-effect SD / residual SD) and
differentiates numerically; here the same quantities are computed analytically in the variances and carried
to (theta, sigma) by the chain rule (including the curvature of the map, which matters at a boundary), and A
is inverted over the Hessian's positive eigenvalues (above 1e-8) as lmerTest does, with sigma measured in
units of its estimate so that the result does not depend on the units of y.

Kenward-Roger (pbkrtest 0.5, `vcovAdj` and `Lb_ddf`): with the variances psi_i (random-intercept variances,
then the residual variance) and V_i = dV/dpsi_i, P_i = -X'V^-1 V_i V^-1 X, Q_ij = X'V^-1 V_i V^-1 V_j V^-1 X,
the expected information IE2_ij = tr(V^-1 V_i V^-1 V_j) - 2 tr(Phi Q_ij) + tr(Phi P_i Phi P_j) and
W = 2 IE2^-1; the adjusted covariance is Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j)] Phi, the
standard error of L'b is sqrt(L' Phi_A L), and the degrees of freedom are pbkrtest's for one contrast (q = 1).

Algebra. The row space splits into the between-centre part, spanned by the centre indicators scaled to unit
length (one coordinate per centre), and its orthogonal complement, the within-centre part (n - G
dimensions). V maps each part to itself: within, V = s^2 I; between, V is block diagonal by local authority,
s^2 I + s_c^2 diag(n_c) + s_a^2 sqrt(n) sqrt(n)'. The within part enters every quantity only through the
cross-products of within-centre deviations of [X y], and the between part through one row per centre, so
everything is computed from analysis.fastreml's sufficient statistics, local authority by local authority.
Cost: dense algebra over each local authority's centres, so it grows with the cube of the largest one's
number of centres; with no outer level all centres form one block (about 6 s at 3,000 centres; a council's
few dozen take milliseconds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from analysis.fastreml import SufficientStatistics
from analysis.inference import t_quantile
from analysis.inputs import check_level

log = logging.getLogger(__name__)

DF_METHODS = ("satterthwaite", "kenward_roger", "normal")
# lmerTest's tolerance on the eigenvalues of the deviance Hessian it inverts.
_EIGEN_TOLERANCE = 1e-8

DF_WORDS = {
    "satterthwaite": "t with Satterthwaite degrees of freedom per contrast (lmerTest's convention)",
    "kenward_roger": "t with Kenward-Roger degrees of freedom per contrast (pbkrtest's convention)",
    "normal": "normal approximation (variance components treated as known)",
}


@dataclass(frozen=True)
class VarianceStructure:
    """The quantities both small-sample methods need, at the REML estimates of one fit."""

    names: tuple[str, ...]  # variance parameters: ("outer", "inner", "residual") or ("inner", "residual")
    variances: np.ndarray  # psi
    covariance: np.ndarray  # Phi = (X'V^-1 X)^-1
    U: np.ndarray  # (r, p, p): X'V^-1 V_i V^-1 X (= -P_i)
    Q: np.ndarray  # (r, r, p, p): X'V^-1 V_i V^-1 V_j V^-1 X
    information: np.ndarray  # (r, r): tr(P V_i P V_j), pbkrtest's IE2
    deviance_gradient: np.ndarray  # (r,): d(-2 l_R)/d psi
    deviance_hessian: np.ndarray  # (r, r): observed Hessian of -2 l_R in psi

    def covariance_derivative(self) -> np.ndarray:
        """(r, p, p): d Phi / d psi_i = Phi U_i Phi."""
        return np.einsum("ab,ibc,cd->iad", self.covariance, self.U, self.covariance)


def _apply(kind: str, sqrt_n: np.ndarray, A: np.ndarray) -> np.ndarray:
    """V_i applied to the between-centre coordinates A (blocks, g, k) of one block size: the residual's is
    the identity, the centre level's diag(n), the local-authority level's sqrt(n) sqrt(n)'."""
    if kind == "residual":
        return A
    if kind == "inner":
        return (sqrt_n**2)[..., None] * A
    return sqrt_n[..., None] * np.einsum("bg,bgk->bk", sqrt_n, A)[:, None, :]


def variance_structure(stats: SufficientStatistics, beta: np.ndarray, variance_outer: float,
                       variance_inner: float, variance_residual: float) -> VarianceStructure:
    """Build the small-sample quantities at the given REML estimates (see the module's algebra)."""
    p = stats.p
    names = ("outer", "inner", "residual") if stats.has_outer else ("inner", "residual")
    psi_outer = variance_outer if stats.has_outer else 0.0
    psi = np.array([variance_outer, variance_inner, variance_residual] if stats.has_outer
                   else [variance_inner, variance_residual], dtype=float)
    r = len(names)
    n_c, S = stats.inner_sizes, stats.inner_sums
    within = stats.cross - (S / n_c[:, None]).T @ S  # cross-products of within-centre deviations
    between = S / np.sqrt(n_c)[:, None]  # one row per centre: [X y] in the unit-length centre coordinates
    weights = np.r_[-beta, 1.0]

    M = within[:p, :p] / variance_residual
    U = np.zeros((r, p, p))
    Q = np.zeros((r, r, p, p))
    trace_vv = np.zeros((r, r))  # tr(V^-1 V_i V^-1 V_j)
    trace_v = np.zeros(r)  # tr(V^-1 V_i)
    ypy = np.zeros(r)  # y'P V_i P y
    apa = np.zeros((r, r))  # a_i'V^-1 a_j with a_i = V_i P y
    xva = np.zeros((r, p))  # X'V^-1 a_i

    # Within-centre part: V = s^2 I, and only the residual variance moves it.
    e = names.index("residual")
    dim_within = stats.n - stats.n_inner
    K = within[:p, :p]
    resid_within = float(weights @ within @ weights)
    U[e] += K / variance_residual**2
    Q[e, e] += K / variance_residual**3
    trace_vv[e, e] += dim_within / variance_residual**2
    trace_v[e] += dim_within / variance_residual
    ypy[e] += resid_within / variance_residual**2
    apa[e, e] += resid_within / variance_residual**3
    xva[e] += within[:p, :] @ weights / variance_residual**2

    # Between-centre part, local authority by local authority, batched by the number of centres in each.
    order = np.argsort(stats.inner_outer, kind="stable")
    blocks = np.split(order, np.flatnonzero(np.diff(stats.inner_outer[order])) + 1)
    by_size: dict[int, list[np.ndarray]] = {}
    for block in blocks:
        by_size.setdefault(len(block), []).append(block)
    for size, members in by_size.items():
        index = np.stack(members)  # (b, g)
        sqrt_n = np.sqrt(n_c[index])
        rows = between[index]  # (b, g, p + 1)
        V = (variance_residual * np.eye(size) + variance_inner * np.eye(size) * (sqrt_n**2)[:, :, None]
             + psi_outer * sqrt_n[:, :, None] * sqrt_n[:, None, :])
        Vi = np.linalg.inv(V)
        Xb = rows[..., :p]
        ViX = Vi @ Xb
        q = np.einsum("bgh,bh->bg", Vi, rows @ weights)  # P y in these coordinates
        M += Xb.reshape(-1, p).T @ ViX.reshape(-1, p)
        applied = [_apply(name, sqrt_n, ViX) for name in names]  # V_i V^-1 X
        applied_q = [_apply(name, sqrt_n, q[..., None])[..., 0] for name in names]  # a_i = V_i P y
        # V^-1 V_i as matrices, for the traces.
        vi_d = [_apply(name, sqrt_n, np.swapaxes(Vi, 1, 2)).swapaxes(1, 2) for name in names]
        # Batched matrix products and elementwise sums: einsum with three operands, or with a reduction over
        # the batch, loops in C without BLAS (0.2 s per fit at national scale).
        flat = [a.reshape(-1, p) for a in applied]
        vi_applied = [(Vi @ a).reshape(-1, p) for a in applied]  # V^-1 V_j V^-1 X
        vi_applied_q = [(Vi @ a[..., None])[..., 0] for a in applied_q]
        ViX_flat = ViX.reshape(-1, p)
        for i in range(r):
            U[i] += ViX_flat.T @ flat[i]
            trace_v[i] += np.trace(vi_d[i], axis1=1, axis2=2).sum()
            ypy[i] += float(np.sum(q * applied_q[i]))
            xva[i] += ViX_flat.T @ applied_q[i].reshape(-1)
            for j in range(r):
                Q[i, j] += flat[i].T @ vi_applied[j]
                trace_vv[i, j] += float(np.sum(vi_d[i] * np.swapaxes(vi_d[j], 1, 2)))
                apa[i, j] += float(np.sum(applied_q[i] * vi_applied_q[j]))

    phi = np.linalg.inv(M)
    phi_u = np.einsum("ab,ibc->iac", phi, U)
    information = (trace_vv - 2 * np.einsum("ab,ijba->ij", phi, Q)
                   + np.einsum("iab,jba->ij", phi_u, phi_u))
    deviance_gradient = trace_v - np.einsum("iaa->i", phi_u) - ypy
    deviance_hessian = -information + 2 * (apa - xva @ phi @ xva.T)
    return VarianceStructure(names, psi, phi, U, Q, information, deviance_gradient, deviance_hessian)


def satterthwaite_df(structure: VarianceStructure, L: np.ndarray) -> float:
    """Satterthwaite degrees of freedom of the contrast L'b, as lmerTest computes them."""
    return FixedEffectInference(structure, np.zeros(structure.covariance.shape[0]), "satterthwaite").contrast(
        L).df


def _lmertest_parameters(structure: VarianceStructure) -> tuple[np.ndarray, np.ndarray]:
    """lmerTest's covariance of its variance parameters (theta for each random intercept, then sigma) and the
    Jacobian d psi / d (theta, sigma), from the analytic gradient and Hessian in psi."""
    psi = structure.variances
    sigma = np.sqrt(psi[-1])
    thetas = np.sqrt(psi[:-1] / psi[-1])
    r = len(psi)
    jacobian = np.zeros((r, r))  # rows psi, columns (theta..., sigma)
    curvature = np.zeros((r, r, r))  # d^2 psi_k / d v d v'
    for k, theta in enumerate(thetas):
        jacobian[k, k] = 2 * sigma**2 * theta
        jacobian[k, -1] = 2 * sigma * theta**2
        curvature[k, k, k] = 2 * sigma**2
        curvature[k, k, -1] = curvature[k, -1, k] = 4 * sigma * theta
        curvature[k, -1, -1] = 2 * theta**2
    jacobian[-1, -1] = 2 * sigma
    curvature[-1, -1, -1] = 2.0
    hessian = (jacobian.T @ structure.deviance_hessian @ jacobian
               + np.einsum("k,kuv->uv", structure.deviance_gradient, curvature))
    # lmerTest's cut, applied with sigma measured in units of its estimate, so that the verdict (and the
    # degrees of freedom) do not depend on the units of y; lmerTest's own cut does.
    units = np.r_[np.ones(r - 1), sigma]
    values, vectors = np.linalg.eigh(units[:, None] * (hessian + hessian.T) / 2 * units[None, :])
    positive = values > _EIGEN_TOLERANCE
    if not positive.all():
        log.warning("Satterthwaite degrees of freedom: %d of the %d eigenvalues of the deviance Hessian are "
                    "not positive (below %g); the variance parameters are inverted over the others, as "
                    "lmerTest does (a boundary fit, or one not at its optimum)", int((~positive).sum()), r,
                    _EIGEN_TOLERANCE)
    inverse = (vectors[:, positive] / values[positive]) @ vectors[:, positive].T
    return 2 * units[:, None] * inverse * units[None, :], jacobian


def kenward_roger_covariance(structure: VarianceStructure) -> np.ndarray:
    """pbkrtest's adjusted covariance Phi_A of the fixed effects."""
    W = _kr_weights(structure)
    phi = structure.covariance
    r = len(structure.names)
    adjustment = np.zeros_like(phi)
    for i in range(r):
        for j in range(r):
            adjustment += W[i, j] * (structure.Q[i, j] - structure.U[i] @ phi @ structure.U[j])
    return phi + 2 * phi @ adjustment @ phi


def _kr_weights(structure: VarianceStructure) -> np.ndarray:
    information = structure.information
    smallest = np.min(np.abs(np.linalg.eigvalsh(information)))
    return 2 * (np.linalg.inv(information) if smallest > 1e-10 else np.linalg.pinv(information))


def kenward_roger_df(structure: VarianceStructure, L: np.ndarray) -> float:
    """pbkrtest's Lb_ddf for one contrast (q = 1)."""
    L = np.asarray(L, dtype=float)[None, :]
    phi = structure.covariance
    W = _kr_weights(structure)
    theta = L.T @ np.linalg.solve(L @ phi @ L.T, L)
    theta_phi = theta @ phi
    r = len(structure.names)
    a1 = a2 = 0.0
    for i in range(r):
        for j in range(i, r):
            weight = 1.0 if i == j else 2.0
            ui = theta_phi @ (-structure.U[i]) @ phi
            uj = theta_phi @ (-structure.U[j]) @ phi
            a1 += weight * W[i, j] * np.trace(ui) * np.trace(uj)
            a2 += weight * W[i, j] * np.sum(ui * uj.T)
    q = 1
    b = (a1 + 6 * a2) / (2 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    c1 = g / (3 * q + 2 * (1 - g))
    c2 = (q - g) / (3 * q + 2 * (1 - g))
    c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
    v0 = 1 + c1 * b
    v1 = 1 - c2 * b
    v2 = 1 - c3 * b
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    ratio = 1.0 if abs(1 - a2 / q) < 1e-14 and abs(v1) < 1e-14 else (1 - a2 / q) / v1
    rho = ratio**2 * v0 / (q * v2)
    return float(4 + (q + 2) / (q * rho - 1))


@dataclass(frozen=True)
class ContrastInference:
    estimate: float
    std_error: float
    df: float  # inf: normal reference

    def interval(self, level: float) -> tuple[float, float]:
        check_level(level)
        quantile = float(t_quantile(0.5 + level / 2, self.df))
        return self.estimate - quantile * self.std_error, self.estimate + quantile * self.std_error


class FixedEffectInference:
    """Estimate, standard error and degrees of freedom of any contrast L'b of one fit, by `method` (one of
    DF_METHODS); what every contrast shares is computed once.

    `beta` is in the columns as given; `structure` may be computed in other coordinates (centred columns),
    with `basis` B mapping them: b = B b_structure + constant, so that L'b is the contrast (B'L) there."""

    def __init__(self, structure: VarianceStructure, beta: np.ndarray, method: str,
                 basis: np.ndarray | None = None):
        if method not in DF_METHODS:
            raise ValueError(f"unknown degrees-of-freedom method {method!r}; one of {', '.join(DF_METHODS)}")
        self.structure, self.beta, self.method = structure, np.asarray(beta, dtype=float), method
        self.basis = np.eye(len(self.beta)) if basis is None else np.asarray(basis, dtype=float)
        fitted_covariance = structure.covariance
        if method == "satterthwaite":
            self._varpar_covariance, jacobian = _lmertest_parameters(structure)
            # d Phi / d (theta, sigma), one p x p matrix per parameter
            self._derivative = np.einsum("kab,kv->vab", structure.covariance_derivative(), jacobian)
        elif method == "kenward_roger":
            fitted_covariance = kenward_roger_covariance(structure)
        self._fitted_covariance = fitted_covariance
        self.covariance = self.basis @ fitted_covariance @ self.basis.T

    def contrast(self, L) -> ContrastInference:
        L = np.asarray(L, dtype=float)
        if L.shape != self.beta.shape or not np.isfinite(L).all() or not L.any():
            raise ValueError(f"a contrast is {len(self.beta)} finite weights, one per fixed effect, not all "
                             f"zero; got {L.tolist()!r}")
        estimate = float(L @ self.beta)
        L = self.basis.T @ L  # the same contrast in the structure's coordinates
        std_error = float(np.sqrt(L @ self._fitted_covariance @ L))
        if self.method == "normal":
            return ContrastInference(estimate, std_error, np.inf)
        if self.method == "kenward_roger":
            return ContrastInference(estimate, std_error, kenward_roger_df(self.structure, L))
        gradient = np.einsum("a,vab,b->v", L, self._derivative, L)
        denominator = float(gradient @ self._varpar_covariance @ gradient)
        variance = float(L @ self.structure.covariance @ L)
        return ContrastInference(estimate, std_error, 2 * variance**2 / denominator if denominator > 0
                                 else np.inf)


def fit_inference(fit, method: str) -> FixedEffectInference:
    """Small-sample inference of a NestedFit (analysis.mixed) by `method`, computed in the coordinates the
    fit used (centred columns: SufficientStatistics.from_data) and reported in the columns as given."""
    structure = variance_structure(fit.stats, fit.stats.fitted_beta(fit.estimates), fit.variance_outer,
                                   fit.variance_inner, fit.variance_residual)
    return FixedEffectInference(structure, fit.estimates, method, basis=fit.stats.original_basis())
