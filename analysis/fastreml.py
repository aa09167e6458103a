"""REML for nested random intercepts (outer / inner within outer) from per-cluster sufficient statistics.

Model: y = X b + a[outer] + c[inner] + e, with a ~ N(0, s_a^2), c ~ N(0, s_c^2), e ~ N(0, s^2). Write
V = s^2 H, gamma_a = s_a^2 / s^2, gamma_c = s_c^2 / s^2. Inverting H block by block (Woodbury, first within
each inner cluster, then within each outer one) needs only, per inner cluster, its size n_c and the column
sums of [X y], and once the cross-products [X y]'[X y]:

    [X y]' H^-1 [X y] = Z'Z - sum_c w_c s_c s_c' - sum_l v_l t_l t_l'
    w_c = gamma_c / (1 + n_c gamma_c),  u_c = 1 / (1 + n_c gamma_c)
    t_l = sum_{c in l} u_c s_c,  m_l = sum_{c in l} n_c u_c,  v_l = gamma_a / (1 + gamma_a m_l)
    log|H| = sum_c log(1 + n_c gamma_c) + sum_l log(1 + gamma_a m_l)

so each evaluation of the profiled REML criterion costs O(clusters x p^2), whatever the number of rows.
The criterion is lme4's: -2 l_R = log|H| + log|X'H^-1 X| + (n - p)(1 + log(2 pi rss / (n - p))).
Standard errors follow lme4's convention, sqrt(diag(s^2 (X'H^-1 X)^-1)). analysis.mixed searches it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse


@dataclass(frozen=True)
class SufficientStatistics:
    cross: np.ndarray  # [X y]'[X y], (p+1) x (p+1)
    inner_sums: np.ndarray  # column sums of [X y] per inner cluster, G x (p+1)
    inner_sizes: np.ndarray  # rows per inner cluster
    inner_to_outer: scipy.sparse.csr_matrix  # L x G indicator: which outer cluster holds each inner one
    n: int
    p: int

    @classmethod
    def from_data(cls, y, X, outer, inner) -> SufficientStatistics:
        Z = np.column_stack([np.asarray(X, dtype=float), np.asarray(y, dtype=float)])
        n, p = Z.shape[0], Z.shape[1] - 1
        pairs = pd.MultiIndex.from_arrays([np.asarray(outer), np.asarray(inner)])
        inner_code, inner_levels = pd.factorize(pairs)
        outer_code, _ = pd.factorize(inner_levels.get_level_values(0))
        G, L = len(inner_levels), int(outer_code.max()) + 1
        rows_to_inner = scipy.sparse.csr_matrix((np.ones(n), (inner_code, np.arange(n))), shape=(G, n))
        return cls(cross=Z.T @ Z, inner_sums=np.asarray(rows_to_inner @ Z),
                   inner_sizes=np.bincount(inner_code, minlength=G).astype(float),
                   inner_to_outer=scipy.sparse.csr_matrix((np.ones(G), (outer_code, np.arange(G))),
                                                          shape=(L, G)),
                   n=n, p=p)


@dataclass(frozen=True)
class Profile:
    reml_loglik: float
    beta: np.ndarray
    xtvx: np.ndarray  # X'H^-1 X
    residual_variance: float


def profile(stats: SufficientStatistics, theta_outer: float, theta_inner: float) -> Profile:
    """The REML log-likelihood with fixed effects and residual variance profiled out, at sqrt-ratios theta."""
    gamma_a, gamma_c = theta_outer ** 2, theta_inner ** 2
    n_c, S = stats.inner_sizes, stats.inner_sums
    u = 1.0 / (1.0 + n_c * gamma_c)
    w = gamma_c * u
    M = stats.cross - (S * w[:, None]).T @ S
    T = np.asarray(stats.inner_to_outer @ (S * u[:, None]))
    m = stats.inner_to_outer @ (n_c * u)
    v = gamma_a / (1.0 + gamma_a * m)
    M = M - (T * v[:, None]).T @ T
    p = stats.p
    xtvx, xtvy, ytvy = M[:p, :p], M[:p, p], M[p, p]
    chol = np.linalg.cholesky(xtvx)
    beta = np.linalg.solve(xtvx, xtvy)
    rss = float(ytvy - xtvy @ beta)
    dof = stats.n - p
    log_det_h = float(np.sum(np.log1p(n_c * gamma_c)) + np.sum(np.log1p(gamma_a * m)))
    log_det_xtvx = 2.0 * float(np.sum(np.log(np.diag(chol))))
    deviance = log_det_h + log_det_xtvx + dof * (1.0 + np.log(2.0 * np.pi * rss / dof))
    return Profile(-0.5 * deviance, beta, xtvx, rss / dof)
