"""Small-sample cluster-robust inference for OLS when the clusters are few (the ~25 local authorities).

Two tools, for a linear model y = X beta + e with errors correlated within clusters:

``ols_cr2``
    OLS with the CR2 ("bias-reduced linearisation") cluster-robust covariance of Bell & McCaffrey (2002)
    and, per coefficient, the Satterthwaite degrees of freedom of Pustejovsky & Tipton (2018). The
    convention is exactly that of R ``clubSandwich::coef_test(fit, vcov = "CR2", test = "Satterthwaite")``
    and ``conf_int`` for an unweighted ``lm``: working model Phi = I, adjustment matrices
    A_g = (I - H_gg)^(-1/2) (symmetric square root; eigenvalues of I - H_gg at or below 1e-12 are set to
    zero, as clubSandwich's ``matrix_power`` does), no further small-sample multiplier, t reference
    distribution with the Satterthwaite df for p-values and intervals.

``wild_cluster_bootstrap``
    The wild cluster restricted bootstrap (WCR) of Cameron, Gelbach & Miller (2008) in the form of
    Roodman, MacKinnon, Nielsen & Webb (2019, "boottest"): the null is imposed on the bootstrap data, one
    Webb (2014) six-point weight per cluster and replication, bootstrap-t with CR1 standard errors, a
    symmetric two-sided p-value, and a confidence interval by test inversion.

Both scale to millions of rows: nothing n x n or n_g x n_g is ever formed. One pass over the data computes,
per cluster, the triangular factor R_g of a thin QR of [X_g | y_g]; everything after that works with k x k
and G x G matrices (k = columns of X, G = clusters). See the comments in ``_cr2`` and ``_WCRDistribution``
for the algebra.

References: Bell, R. M. & McCaffrey, D. F. (2002) Survey Methodology 28(2), 169-181. Pustejovsky, J. E. &
Tipton, E. (2018) J. Business & Economic Statistics 36(4), 672-683. Webb, M. D. (2014) "Reworking wild
bootstrap based inference for clustered errors", Queen's Economics Dept. WP 1315. Roodman, D., MacKinnon,
J. G., Nielsen, M. O. & Webb, M. D. (2019) Stata Journal 19(1), 4-60. Cameron, A. C., Gelbach, J. B. &
Miller, D. L. (2008) Review of Economics and Statistics 90(3), 414-427.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats

# Webb's six-point distribution: mean 0, variance 1, symmetric. With few clusters it has many more distinct
# sign/size patterns (6^G) than Rademacher (2^G), so the bootstrap p-value is far less lumpy.
WEBB_WEIGHTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])

# clubSandwich's matrix_power(x, -1/2) zeroes eigenvalues <= 10^-12 (a Moore-Penrose power). Matching it
# matters only when a cluster has leverage 1 in some direction (e.g. cluster-specific dummies).
_PSEUDO_INVERSE_TOL = 1e-12

TABLE_COLUMNS = ["term", "estimate", "std_error", "df", "statistic", "p_value", "ci_lower", "ci_upper"]


@dataclass(frozen=True)
class _ClusteredFit:
    """OLS fit reduced to per-cluster k-dimensional summaries (all later work is O(G k^3))."""

    terms: list[str]
    n: int
    labels: np.ndarray  # cluster labels in sorted order; cluster g is labels[g]
    codes: np.ndarray  # (n,) cluster index of each row
    beta: np.ndarray  # (k,)
    r_inv: np.ndarray  # (k, k) inverse of the R of a thin QR of X
    bread: np.ndarray  # (k, k) M = (X'X)^-1 = r_inv r_inv'
    r_blocks: np.ndarray  # (G, k, k) R_g of X_g = Q_g R_g; zero rows appended when n_g < k
    q_resid: np.ndarray  # (G, k) Q_g' e_g: the OLS residuals seen through X_g's column space

    @property
    def k(self) -> int:
        return len(self.terms)

    @property
    def n_clusters(self) -> int:
        return len(self.labels)

    def cross_products(self) -> tuple[np.ndarray, np.ndarray]:
        """X_g'X_g (G, k, k) and X_g'e_g (G, k), from the triangular factors."""
        xx = np.einsum("gai,gaj->gij", self.r_blocks, self.r_blocks)
        xe = np.einsum("gai,ga->gi", self.r_blocks, self.q_resid)
        return xx, xe


def _prepare(y, X, clusters) -> _ClusteredFit:
    if isinstance(X, pd.DataFrame):
        terms = [str(c) for c in X.columns]
        xa = X.to_numpy(dtype=float)
    else:
        xa = np.asarray(X, dtype=float)
        if xa.ndim != 2:
            raise ValueError("X must be two-dimensional")
        terms = [f"x{i}" for i in range(xa.shape[1])]
    ya = np.asarray(y, dtype=float).reshape(-1)
    n, k = xa.shape
    if ya.shape[0] != n:
        raise ValueError(f"y has {ya.shape[0]} rows but X has {n}")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise ValueError("y and X must be finite (drop incomplete rows first)")
    labels_in = np.asarray(clusters)
    if labels_in.shape != (n,):
        raise ValueError(f"clusters must be one label per row ({n}), got shape {labels_in.shape}")
    codes, labels = pd.factorize(labels_in, sort=True)
    if (codes < 0).any():
        raise ValueError("cluster labels must not be missing")
    n_clusters = len(labels)
    if n_clusters < 2:
        raise ValueError("cluster-robust inference needs at least two clusters")
    if n <= k:
        raise ValueError(f"{n} rows cannot identify {k} coefficients")

    # One pass over the data: per cluster, the R factor of a thin QR of [X_g | y_g]. Its top-left block is
    # R_g and its last column (above the diagonal) is Q_g'y_g, so Q_g itself never has to be kept.
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=n_clusters))))
    r_aug = np.zeros((n_clusters, k + 1, k + 1))
    for g in range(n_clusters):
        rows = order[bounds[g]:bounds[g + 1]]
        r = np.linalg.qr(np.column_stack((xa[rows], ya[rows])), mode="r")
        r_aug[g, : r.shape[0]] = r

    # Stacking the blocks and factorising again gives the R of the whole [X | y] (a tall-skinny QR), so the
    # global fit is as accurate as a QR of X, without forming X'X.
    big = np.linalg.qr(r_aug.reshape(-1, k + 1), mode="r")
    r_full, qty = big[:k, :k], big[:k, k]
    singular = np.linalg.svd(r_full, compute_uv=False)
    if singular[-1] <= singular[0] * max(n, k) * np.finfo(float).eps:
        raise ValueError("the design matrix is rank deficient (collinear or constant-zero columns)")
    r_inv = linalg.solve_triangular(r_full, np.eye(k))
    beta = r_inv @ qty
    r_blocks = r_aug[:, :k, :k]
    q_resid = r_aug[:, :k, k] - r_blocks @ beta
    return _ClusteredFit(terms=terms, n=n, labels=np.asarray(labels), codes=codes, beta=beta, r_inv=r_inv,
                         bread=r_inv @ r_inv.T, r_blocks=r_blocks, q_resid=q_resid)


def _cr2(fit: _ClusteredFit) -> tuple[np.ndarray, np.ndarray]:
    """CR2 covariance (k, k) and per-coefficient Satterthwaite df (k,).

    Low-rank algebra. With X_g = Q_g R_g and M = (X'X)^-1 = R^-1 R^-T, the diagonal block of the hat matrix
    is H_gg = Q_g T_g T_g' Q_g' with T_g = R_g R^-1 (k x k). Eigen-decompose I - T_g T_g' = W diag(1 - lam) W'
    and let U = Q_g W (orthonormal columns, n_g x k). Then

        A_g = (I - H_gg)^(-1/2) = I + U diag(d - 1) U',   d = (1 - lam)^(-1/2)   (0 where 1 - lam <= 1e-12)
        A_g^2                   = I + U diag(d^2 - 1) U'

    and only U'X_g = W'R_g and U'e_g = W'Q_g'e_g are ever needed.

    Satterthwaite df (Pustejovsky & Tipton 2018, working model Phi = I): for c = e_j the CR2 variance is
    sum_g (w_g' eps)^2 with w_g = (I - H)_{.g} A_g X_g M c and eps ~ N(0, I), so df = 2 E^2 / Var =
    (sum_g Gram_gg)^2 / sum_{g,h} Gram_gh^2 where Gram_gh = w_g'w_h = delta_gh q_g'q_g - r_g' M r_h with
    q_g = A_g X_g M c and r_g = X_g' q_g (using (I - H)(I - H) = I - H). Both terms are k-dimensional:
    q_g'q_g = c'M (X_g'A_g^2 X_g) M c and r_g = (X_g'A_g X_g) M c.
    """
    k, n_clusters = fit.k, fit.n_clusters
    bread = fit.bread
    t = fit.r_blocks @ fit.r_inv
    one_minus, vecs = np.linalg.eigh(np.eye(k) - t @ t.transpose(0, 2, 1))
    keep = one_minus > _PSEUDO_INVERSE_TOL
    safe = np.where(keep, one_minus, 1.0)
    d_minus_1 = np.where(keep, 1.0 / np.sqrt(safe), 0.0) - 1.0
    d2_minus_1 = np.where(keep, 1.0 / safe, 0.0) - 1.0

    u_x = vecs.transpose(0, 2, 1) @ fit.r_blocks  # U'X_g
    u_e = np.einsum("gai,ga->gi", vecs, fit.q_resid)  # U'e_g
    xx, xe = fit.cross_products()
    adjusted_scores = xe + np.einsum("gai,ga->gi", u_x, d_minus_1 * u_e)  # X_g' A_g e_g
    covariance = bread @ (adjusted_scores.T @ adjusted_scores) @ bread

    xax = xx + np.einsum("gai,ga,gaj->gij", u_x, d_minus_1, u_x)
    xa2x = xx + np.einsum("gai,ga,gaj->gij", u_x, d2_minus_1, u_x)
    qq = np.einsum("ia,gab,bi->gi", bread, xa2x, bread)  # (G, k): q_g'q_g for each coefficient
    r = xax @ bread  # (G, k, k): column j is r_g for coefficient j
    cross = np.einsum("gaj,haj->jgh", r, bread @ r)  # (k, G, G): r_g' M r_h
    gram = -cross
    idx = np.arange(n_clusters)
    gram[:, idx, idx] += qq.T
    df = np.trace(gram, axis1=1, axis2=2) ** 2 / np.einsum("jgh,jgh->j", gram, gram)
    return covariance, df


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def ols_cr2(y, X, clusters, level: float = 0.95) -> pd.DataFrame:
    """OLS with CR2 cluster-robust standard errors and Satterthwaite t tests/intervals (clubSandwich's).

    Parameters: ``y`` 1-D outcome; ``X`` design DataFrame whose column names are the term names (include the
    intercept column yourself); ``clusters`` one label per row; ``level`` confidence level.

    Returns one row per column of X: term, estimate, std_error, df (Satterthwaite), statistic (estimate /
    std_error), p_value (two-sided, t with df), ci_lower, ci_upper. ``attrs`` holds ``covariance`` (k x k
    CR2 matrix), ``n``, ``n_clusters`` and ``level``. Because ``covariance`` is an array, ``pd.concat`` of two
    such tables raises (pandas compares attrs with ==); clear or pop the attrs before concatenating.
    """
    _check_level(level)
    fit = _prepare(y, X, clusters)
    covariance, df = _cr2(fit)
    se = np.sqrt(np.diag(covariance))
    statistic = fit.beta / se
    crit = stats.t.ppf(1.0 - (1.0 - level) / 2.0, df)
    table = pd.DataFrame({
        "term": fit.terms,
        "estimate": fit.beta,
        "std_error": se,
        "df": df,
        "statistic": statistic,
        "p_value": 2.0 * stats.t.sf(np.abs(statistic), df),
        "ci_lower": fit.beta - crit * se,
        "ci_upper": fit.beta + crit * se,
    }, columns=TABLE_COLUMNS)
    table.attrs.update(covariance=covariance, n=fit.n, n_clusters=fit.n_clusters, level=level,
                       vcov="CR2", df_method="Satterthwaite")
    return table


def _webb_weights(B: int, n_clusters: int, seed) -> np.ndarray:
    """(B, G) Webb weights; row b is replication b, column g is cluster g in sorted label order."""
    rng = np.random.default_rng(seed)
    return WEBB_WEIGHTS[rng.integers(0, len(WEBB_WEIGHTS), size=(B, n_clusters))]


class _WCRDistribution:
    """Bootstrap-t statistics of the WCR for H0: beta_j = theta, for any theta, from one set of draws.

    Restricted estimate under beta_j = theta: beta~ = beta^ - M c (beta^_j - theta) / M_jj, so the restricted
    residuals are e~ = e^ + delta X m with m = M c and delta = (beta^_j - theta) / M_jj: affine in theta.
    Per cluster that is u_g = X_g'e~_g = X_g'e^_g + delta S_g m (S_g = X_g'X_g). For the bootstrap sample
    y* = X beta~ + v_g e~_g:

        beta*_j - theta = sum_g v_g a_g,                   a_g = m'u_g
        score*_g        = c'M X_g'e*_g = v_g a_g - (S_g m)' M sum_h v_h u_h

    so a replication costs O(G k) given the (G, k) arrays, and both the numerator and the scores are affine
    in delta: num = num0 + delta num1, score = s0 + delta s1. The squared CR1 standard error is then a
    quadratic in delta with per-replication coefficients Q00, Q01, Q11 computed once; each further null
    value costs O(B). CR1's constant G/(G-1) (n-1)/(n-k) multiplies t and every t* alike, so it cancels from
    the p-value (it is kept so that ``statistic`` and t* are the usual CR1 t statistics).
    """

    def __init__(self, fit: _ClusteredFit, j: int, weights: np.ndarray):
        bread = fit.bread
        m = bread[:, j]
        xx, xe = fit.cross_products()
        s_m = xx @ m  # (G, k): S_g m
        a0, a1 = xe @ m, s_m @ m  # a_g = a0_g + delta a1_g
        w0, w1 = xe @ bread, s_m @ bread  # M u_g = w0_g + delta w1_g (rows)
        self.estimate = fit.beta[j]
        self.m_jj = bread[j, j]
        n, k, n_clusters = fit.n, fit.k, fit.n_clusters
        self.cr1_scale = n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
        self.se_cr1 = np.sqrt(self.cr1_scale * (a0 @ a0))  # a0_g are the CR0 scores of the original fit
        self.num0, self.num1 = weights @ a0, weights @ a1
        s0 = weights * a0 - (weights @ w0) @ s_m.T
        s1 = weights * a1 - (weights @ w1) @ s_m.T
        self.q00 = np.einsum("bg,bg->b", s0, s0)
        self.q01 = np.einsum("bg,bg->b", s0, s1)
        self.q11 = np.einsum("bg,bg->b", s1, s1)

    def statistic(self, theta: float) -> float:
        return (self.estimate - theta) / self.se_cr1

    def tstar(self, theta: float) -> np.ndarray:
        delta = (self.estimate - theta) / self.m_jj
        variance = self.cr1_scale * (self.q00 + delta * (2.0 * self.q01 + delta * self.q11))
        return (self.num0 + delta * self.num1) / np.sqrt(np.maximum(variance, 0.0))

    def p_value(self, theta: float) -> float:
        # NaN t* (a replication with a zero standard error) counts as not extreme.
        return float(np.mean(np.abs(self.tstar(theta)) >= abs(self.statistic(theta))))


def _invert(dist: _WCRDistribution, start: float, alpha: float, scale: float, side: int) -> float:
    """Edge of {theta: p(theta) > alpha} on one side of the estimate, by bracketing then bisection.

    p(theta) is a step function and need not be monotone; bisection returns a crossing between a rejected
    and a non-rejected value, which is the edge when (as usual) the acceptance region is an interval.
    """
    inner = dist.estimate  # t = 0 there, so p = 1: never rejected
    width = abs(start - dist.estimate)
    if not width > 0.0:
        width = scale
    outer = dist.estimate + side * width
    for _ in range(64):  # widen until rejected: the CR2 edge, then 2x, 4x, ... its half-width
        if dist.p_value(outer) <= alpha:
            break
        inner = outer
        width *= 2.0
        outer = dist.estimate + side * width
    else:
        return side * np.inf
    tol = 1e-10 * scale
    while abs(outer - inner) > tol:
        mid = 0.5 * (inner + outer)
        if dist.p_value(mid) > alpha:
            inner = mid
        else:
            outer = mid
    return 0.5 * (inner + outer)


def wild_cluster_bootstrap(y, X, clusters, term: str, null: float = 0.0, B: int = 9999, seed=20120401,
                           level: float = 0.95) -> dict:
    """Wild cluster restricted bootstrap-t test of H0: beta_term = null, and its inverted interval.

    Webb six-point weights, one per cluster per replication, from ``numpy.random.default_rng(seed)`` (a
    (B, G) array, clusters in sorted label order). t and t* use CR1 standard errors; the two-sided p-value is
    the share of replications with |t*| >= |t| (denominator B). The interval is the set of null values whose
    p-value exceeds 1 - level, found by bisection on each side from a bracket around the CR2 interval, with
    the same draws for every null value.

    Returns ``{"p_value", "ci_lower", "ci_upper", "B", "seed", "weights": "webb", "statistic"}``;
    ``statistic`` is the CR1 t statistic of the original sample for H0.
    """
    _check_level(level)
    if int(B) != B or B < 1:
        raise ValueError(f"B must be a positive integer, got {B}")
    B = int(B)
    fit = _prepare(y, X, clusters)
    if term not in fit.terms:
        raise KeyError(f"term {term!r} is not a column of X: {fit.terms}")
    j = fit.terms.index(term)
    dist = _WCRDistribution(fit, j, _webb_weights(B, fit.n_clusters, seed))

    covariance, df = _cr2(fit)
    se = float(np.sqrt(covariance[j, j]))
    half = float(stats.t.ppf(1.0 - (1.0 - level) / 2.0, df[j])) * se
    alpha = 1.0 - level
    return {
        "p_value": dist.p_value(null),
        "ci_lower": float(_invert(dist, dist.estimate - half, alpha, se, side=-1)),
        "ci_upper": float(_invert(dist, dist.estimate + half, alpha, se, side=+1)),
        "B": B,
        "seed": seed,
        "weights": "webb",
        "statistic": float(dist.statistic(null)),
    }
