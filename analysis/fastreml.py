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

The gradient is analytic. With P = H^-1 - H^-1 X (X'H^-1 X)^-1 X'H^-1 and z_k the indicator of cluster k of
a level, d(-2 l_R)/d gamma = sum_k [z_k'P z_k - (n - p) (z_k'P y)^2 / rss] over that level's clusters, and
every z_k'H^-1 [X y] comes from the same sums: u_c s_c - v_l n_c u_c t_l for an inner cluster c in l, and
t_l / (1 + gamma_a m_l) for an outer cluster l.

A model without the outer level (one local authority, or a one-level model) keeps gamma_a at 0: the data form
a single outer cluster and `has_outer` is False.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import scipy.sparse


@dataclass(frozen=True)
class SufficientStatistics:
    outer_cross: np.ndarray  # [X y]'[X y] of each outer cluster's rows, L x (p+1) x (p+1)
    inner_sums: np.ndarray  # column sums of [X y] per inner cluster, G x (p+1)
    inner_sizes: np.ndarray  # rows per inner cluster
    inner_outer: np.ndarray  # outer cluster (0..L-1) of each inner cluster
    outer_labels: np.ndarray  # label of each outer cluster
    p: int
    has_outer: bool = True  # False: no outer random intercept (gamma_a is held at 0)
    # Centring (from_data(centre=True)): the statistics are those of [X y] with s_k x the intercept column
    # subtracted from every other column k (y included, last), s_k = mean_k / intercept value. None: as given.
    intercept: int | None = None
    shift: np.ndarray | None = field(default=None, repr=False)
    # from_data(column_factors=True): the triangular factor of a QR of each outer cluster's rows of X (as
    # given), L x p x p, so that the rank rule on any set of outer clusters is as exact as on the rows.
    outer_factors: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_data(cls, y, X, outer, inner, centre: bool = False,
                  column_factors: bool = False) -> SufficientStatistics:
        """From rows; `outer` None fits no outer level (every row in one outer cluster, gamma_a = 0).

        centre=True, when X has a constant column (the intercept), subtracts from y and every other column of
        X its mean (as a multiple of that column): the same model, the same REML criterion and variance
        components, with the fixed effects reparametrised (only the intercept moves). Cross-products of
        uncentred columns lose the residual variation to rounding when a column, or y, is far from zero
        relative to its spread (a year such as 2013, or y around 1e4 varying by 1): centring keeps it.
        `original_beta`, `fitted_beta` and `original_covariance` map results between the two.

        column_factors=True keeps each outer cluster's QR factor of X (for `column_factor` after
        `without_outer`: the leave-one-out refits' rank rule), at the cost of a QR per outer cluster.

        The inputs must be complete: analysis.mixed.check_inputs says what is wrong with them if not."""
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        if y.ndim != 1 or X.ndim != 2 or len(y) != len(X):
            raise ValueError(f"y must be one value per row and X one row per value of y, with columns (y has "
                             f"shape {y.shape}, X {X.shape})")
        has_outer = outer is not None
        if not has_outer:
            outer = np.zeros(len(np.asarray(y)), dtype=np.int64)
        # Inner clusters are (outer, inner) pairs: the same inner label may recur in two outer clusters.
        # (pandas factorises a Series of arrow strings without converting it to Python objects)
        outer_code, outer_labels = pd.factorize(pd.Series(outer), sort=True)
        inner_raw, inner_labels = pd.factorize(pd.Series(inner))
        if (outer_code < 0).any() or (inner_raw < 0).any():
            raise ValueError("cluster labels must not be missing")
        pair = outer_code.astype(np.int64) * len(inner_labels) + inner_raw
        # Rows sorted by pair: each inner cluster, and each outer one, is then a contiguous block.
        order = np.argsort(pair, kind="stable")
        pair = pair[order]
        # Column-major, filled column by column: every pass below runs down columns (at a million rows the
        # gather, the cluster sums and the centring take about a fifth of their time in row-major order).
        Z = np.empty((len(pair), X.shape[1] + 1), order="F")
        for column in range(X.shape[1]):
            np.take(X[:, column], order, out=Z[:, column])
        np.take(y, order, out=Z[:, -1])
        outer_bounds = np.searchsorted(pair // len(inner_labels), np.arange(len(outer_labels) + 1))
        bounds = list(zip(outer_bounds[:-1], outer_bounds[1:], strict=True))
        outer_factors = None
        if column_factors:  # before centring: the factors are of X as given
            p = X.shape[1]
            outer_factors = np.zeros((len(bounds), p, p))
            for block, (a, b) in enumerate(bounds):
                factor = np.linalg.qr(Z[a:b, :-1], mode="r")
                outer_factors[block, :factor.shape[0]] = factor
        intercept = shift = None
        if centre and len(y):
            constant = np.flatnonzero((Z[:, :-1].min(axis=0) == Z[:, :-1].max(axis=0)) & (Z[0, :-1] != 0))
            if len(constant):
                intercept = int(constant[0])
                shift = Z.mean(axis=0) / Z[0, intercept]
                shift[intercept] = 0.0
                for column in np.flatnonzero(shift):  # column k minus s_k x the intercept column
                    Z[:, column] -= shift[column] * Z[:, intercept]
        starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
        return cls(outer_cross=np.stack([Z[a:b].T @ Z[a:b] for a, b in bounds]),
                   inner_sums=np.add.reduceat(Z, starts, axis=0),
                   inner_sizes=np.diff(np.r_[starts, len(pair)]).astype(float),
                   inner_outer=pair[starts] // len(inner_labels),
                   outer_labels=np.asarray(outer_labels), p=X.shape[1], has_outer=has_outer,
                   intercept=intercept, shift=shift, outer_factors=outer_factors)

    # ---- results of the centred statistics, in the columns as given --------------------------------------

    def original_basis(self) -> np.ndarray:
        """B (p x p) with b = B b_fitted + shift_y e_intercept: identity when not centred."""
        basis = np.eye(self.p)
        if self.intercept is not None:
            basis[self.intercept] -= self.shift[:-1]
        return basis

    def original_beta(self, beta: np.ndarray) -> np.ndarray:
        beta = np.array(beta, dtype=float)
        if self.intercept is not None:
            beta[self.intercept] += self.shift[-1] - self.shift[:-1] @ beta
        return beta

    def fitted_beta(self, beta: np.ndarray) -> np.ndarray:
        """The inverse of original_beta (the other columns' coefficients are the same in both)."""
        beta = np.array(beta, dtype=float)
        if self.intercept is not None:
            beta[self.intercept] -= self.shift[-1] - self.shift[:-1] @ beta
        return beta

    def original_covariance(self, covariance: np.ndarray) -> np.ndarray:
        basis = self.original_basis()
        return basis @ covariance @ basis.T

    @cached_property
    def n(self) -> int:
        return int(self.inner_sizes.sum())

    @property
    def n_outer(self) -> int:
        return len(self.outer_labels) if self.has_outer else 0

    @property
    def n_inner(self) -> int:
        return len(self.inner_sizes)

    @cached_property
    def cross(self) -> np.ndarray:
        return self.outer_cross.sum(axis=0)

    @cached_property
    def _outer_starts(self) -> np.ndarray | None:
        """Where each outer cluster's inner clusters begin, when each outer cluster's are contiguous and
        every outer cluster has some (as from_data, select, without_outer and the joint test leave them);
        None otherwise."""
        blocks = self.inner_outer
        steps = np.diff(blocks)
        if (len(blocks) and blocks[0] == 0 and blocks[-1] == len(self.outer_labels) - 1
                and np.all((steps == 0) | (steps == 1))):
            return np.flatnonzero(np.r_[True, steps == 1])
        return None

    def outer_sums(self, values: np.ndarray) -> np.ndarray:
        """Sums of per-inner-cluster `values` (rows) over each outer cluster's inner clusters: by contiguous
        blocks when they are (no sparse matrix to build at every evaluation), else by the indicator."""
        starts = self._outer_starts
        if starts is not None:
            return np.add.reduceat(values, starts, axis=0)
        return np.asarray(self.inner_to_outer @ values)

    @cached_property
    def inner_to_outer(self) -> scipy.sparse.csr_matrix:
        """L x G indicator: which outer cluster holds each inner one."""
        import scipy.sparse  # imported where used: the workflow's parse imports this module

        n_blocks = len(self.outer_labels)
        return scipy.sparse.csr_matrix((np.ones(self.n_inner), (self.inner_outer, np.arange(self.n_inner))),
                                       shape=(n_blocks, self.n_inner))

    def column_factor(self) -> np.ndarray:
        """A p x p matrix F with F'F = X'X: the columns of X (as given, before any centring) up to rotation,
        for analysis.linalg's rank rule. From the outer clusters' QR factors when kept (as exact as a QR of
        the rows: a column that is zero in every remaining cluster is exactly zero); otherwise from the
        cross-products, accurate to about the square root of machine precision."""
        if self.outer_factors is not None:
            return np.linalg.qr(self.outer_factors.reshape(-1, self.p), mode="r")
        inverse = np.linalg.inv(self.original_basis())  # X = X_centred B^-1
        values, vectors = np.linalg.eigh(inverse.T @ self.cross[:self.p, :self.p] @ inverse)
        return np.sqrt(np.clip(values, 0.0, None))[:, None] * vectors.T

    def last_column_as_outcome(self) -> SufficientStatistics:
        """The statistics of the same rows with the last column of X as the outcome, in place of y, and X
        without it. from_data of one outcome with the other appended to X thus gives the statistics of both
        outcomes in one pass over the rows (`select` of the other columns gives the first outcome's)."""
        p = self.p - 1
        if self.intercept == p:
            raise ValueError("the intercept column cannot become the outcome")
        return SufficientStatistics(
            outer_cross=self.outer_cross[:, :p + 1, :p + 1], inner_sums=self.inner_sums[:, :p + 1],
            inner_sizes=self.inner_sizes, inner_outer=self.inner_outer, outer_labels=self.outer_labels, p=p,
            has_outer=self.has_outer, intercept=self.intercept,
            shift=None if self.shift is None else self.shift[:p + 1],
            outer_factors=None if self.outer_factors is None else self.outer_factors[:, :p, :p])

    def select(self, columns: list[int]) -> SufficientStatistics:
        """The statistics of the model with only these columns of X (y is kept)."""
        columns = [int(c) for c in columns]
        keep = [*columns, self.p]
        if self.intercept is not None and self.intercept not in columns:
            raise ValueError("the statistics are of columns centred on the intercept, which must be kept")
        intercept = None if self.intercept is None else columns.index(self.intercept)
        return SufficientStatistics(
            outer_cross=self.outer_cross[:, keep][:, :, keep], inner_sums=self.inner_sums[:, keep],
            inner_sizes=self.inner_sizes, inner_outer=self.inner_outer, outer_labels=self.outer_labels,
            p=len(columns), has_outer=self.has_outer, intercept=intercept,
            shift=None if self.shift is None else self.shift[keep],
            outer_factors=None if self.outer_factors is None else self.outer_factors[:, :, columns])

    def without_outer(self, label) -> SufficientStatistics:
        """The statistics of the data without one outer cluster's rows (no pass over the rows)."""
        drop = int(np.flatnonzero(self.outer_labels == label)[0])
        keep = self.inner_outer != drop
        return SufficientStatistics(
            outer_cross=np.delete(self.outer_cross, drop, axis=0), inner_sums=self.inner_sums[keep],
            inner_sizes=self.inner_sizes[keep],
            inner_outer=self.inner_outer[keep] - (self.inner_outer[keep] > drop),
            outer_labels=np.delete(self.outer_labels, drop), p=self.p, has_outer=self.has_outer,
            intercept=self.intercept, shift=self.shift,
            outer_factors=None if self.outer_factors is None else np.delete(self.outer_factors, drop, axis=0))


@dataclass(frozen=True)
class Profile:
    reml_loglik: float
    beta: np.ndarray
    xtvx: np.ndarray  # X'H^-1 X
    residual_variance: float
    gradient: np.ndarray | None = None  # d reml_loglik / d (theta_outer, theta_inner), when asked for
    ratio_gradient: np.ndarray | None = None  # d reml_loglik / d (gamma_outer, gamma_inner), gamma = theta^2


def profile(stats: SufficientStatistics, theta_outer: float, theta_inner: float,
            gradient: bool = False) -> Profile:
    """The REML log-likelihood with fixed effects and residual variance profiled out, at sqrt-ratios theta
    (theta_outer is ignored, as 0, when the model has no outer level); with its gradient if asked."""
    gamma_a = theta_outer ** 2 if stats.has_outer else 0.0
    gamma_c = theta_inner ** 2
    n_c, S = stats.inner_sizes, stats.inner_sums
    u = 1.0 / (1.0 + n_c * gamma_c)
    w = gamma_c * u
    M = stats.cross - (S * w[:, None]).T @ S
    T = stats.outer_sums(S * u[:, None])
    m = stats.outer_sums(n_c * u)
    v = gamma_a / (1.0 + gamma_a * m)
    M = M - (T * v[:, None]).T @ T
    p = stats.p
    xtvx, xtvy, ytvy = M[:p, :p], M[:p, p], M[p, p]
    chol = np.linalg.cholesky(xtvx)
    beta = np.linalg.solve(xtvx, xtvy)
    rss = float(ytvy - xtvy @ beta)
    if not rss > 0.0:  # rounding in the cross-products has eaten the residual variation
        raise np.linalg.LinAlgError("no residual variation is left in the cross-products")
    dof = stats.n - p
    log_det_h = float(np.sum(np.log1p(n_c * gamma_c)) + np.sum(np.log1p(gamma_a * m)))
    log_det_xtvx = 2.0 * float(np.sum(np.log(np.diag(chol))))
    deviance = log_det_h + log_det_xtvx + dof * (1.0 + np.log(2.0 * np.pi * rss / dof))
    grad = ratio_grad = None
    if gradient:
        xtvx_inv = np.linalg.inv(xtvx)
        weights = np.append(-beta, 1.0)  # z'P y = z'H^-1 y - z'H^-1 X beta (np.r_ costs more)

        def level_derivative(size_term: np.ndarray, rows: np.ndarray) -> float:
            """d deviance / d gamma of one level: sum over its clusters of z'Pz - (n - p)(z'Py)^2 / rss."""
            trace = float(size_term.sum() - np.sum((rows[:, :p] @ xtvx_inv) * rows[:, :p]))
            return trace - dof * float(np.sum((rows @ weights) ** 2)) / rss

        v_c = v[stats.inner_outer]
        inner_rows = S * u[:, None] - (v_c * n_c * u)[:, None] * T[stats.inner_outer]
        d_inner = level_derivative(n_c * u - v_c * (n_c * u) ** 2, inner_rows)
        d_outer = 0.0
        if stats.has_outer:
            scale = 1.0 / (1.0 + gamma_a * m)
            d_outer = level_derivative(m * scale, T * scale[:, None])
        # l_R = -deviance / 2 and gamma = theta^2.
        ratio_grad = np.array([-0.5 * d_outer, -0.5 * d_inner])
        grad = 2.0 * np.array([theta_outer if stats.has_outer else 0.0, theta_inner]) * ratio_grad
    return Profile(-0.5 * deviance, beta, xtvx, rss / dof, grad, ratio_grad)
