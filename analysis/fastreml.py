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
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse


@dataclass(frozen=True)
class SufficientStatistics:
    outer_cross: np.ndarray  # [X y]'[X y] of each outer cluster's rows, L x (p+1) x (p+1)
    inner_sums: np.ndarray  # column sums of [X y] per inner cluster, G x (p+1)
    inner_sizes: np.ndarray  # rows per inner cluster
    inner_outer: np.ndarray  # outer cluster (0..L-1) of each inner cluster
    outer_labels: np.ndarray  # label of each outer cluster
    p: int

    @classmethod
    def from_data(cls, y, X, outer, inner) -> SufficientStatistics:
        # Inner clusters are (outer, inner) pairs: the same inner label may recur in two outer clusters.
        # (pandas factorises a Series of arrow strings without converting it to Python objects)
        outer_code, outer_labels = pd.factorize(pd.Series(outer), sort=True)
        inner_raw, inner_labels = pd.factorize(pd.Series(inner))
        pair = outer_code.astype(np.int64) * len(inner_labels) + inner_raw
        # Rows sorted by pair: each inner cluster, and each outer one, is then a contiguous block.
        order = np.argsort(pair, kind="stable")
        pair = pair[order]
        X = np.asarray(X, dtype=float)
        Z = np.empty((len(pair), X.shape[1] + 1))
        Z[:, :-1] = X[order]
        Z[:, -1] = np.asarray(y, dtype=float)[order]
        starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        outer_bounds = np.searchsorted(pair // len(inner_labels), np.arange(len(outer_labels) + 1))
        blocks = zip(outer_bounds[:-1], outer_bounds[1:], strict=True)
        return cls(outer_cross=np.stack([Z[a:b].T @ Z[a:b] for a, b in blocks]),
                   inner_sums=np.add.reduceat(Z, starts, axis=0),
                   inner_sizes=np.diff(np.r_[starts, len(pair)]).astype(float),
                   inner_outer=pair[starts] // len(inner_labels),
                   outer_labels=np.asarray(outer_labels), p=X.shape[1])

    @cached_property
    def n(self) -> int:
        return int(self.inner_sizes.sum())

    @property
    def n_outer(self) -> int:
        return len(self.outer_labels)

    @property
    def n_inner(self) -> int:
        return len(self.inner_sizes)

    @cached_property
    def cross(self) -> np.ndarray:
        return self.outer_cross.sum(axis=0)

    @cached_property
    def inner_to_outer(self) -> scipy.sparse.csr_matrix:
        """L x G indicator: which outer cluster holds each inner one."""
        return scipy.sparse.csr_matrix((np.ones(self.n_inner), (self.inner_outer, np.arange(self.n_inner))),
                                       shape=(self.n_outer, self.n_inner))

    def without_outer(self, label) -> SufficientStatistics:
        """The statistics of the data without one outer cluster's rows (no pass over the rows)."""
        drop = int(np.flatnonzero(self.outer_labels == label)[0])
        keep = self.inner_outer != drop
        return SufficientStatistics(
            outer_cross=np.delete(self.outer_cross, drop, axis=0), inner_sums=self.inner_sums[keep],
            inner_sizes=self.inner_sizes[keep],
            inner_outer=self.inner_outer[keep] - (self.inner_outer[keep] > drop),
            outer_labels=np.delete(self.outer_labels, drop), p=self.p)


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
