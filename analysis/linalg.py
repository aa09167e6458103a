"""Which columns of a design matrix carry no information of their own: the rank rule every estimator shares.

A column is redundant when it is (numerically) a linear combination of the columns before it: its distance
from their span is less than `RANK_TOLERANCE` times its own length. This is R's rule for `lm` and lme4's for
the fixed-effects matrix (a QR decomposition with tolerance 1e-7, earlier columns kept), so a constant
covariate beside the intercept, or a column repeated, is found and named the way an R user expects.

The distances are computed from the triangular factor R of a QR decomposition of X (X = QR with Q
orthonormal, so distances between columns of X equal those between columns of R): a p x p problem after one
pass over the rows, as accurate as the QR itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RANK_TOLERANCE = 1e-7  # R's lm and lme4's rankMatrix(method = "qr")
# An essentially perfect fit has no residual variation to estimate a variance from. R's summary.lm warns when
# the residual variance is below 1e-30 x the fitted values' mean square; a fit that is exact in real
# arithmetic leaves up to about 1e-29 of rounding at a million rows, so the rule here is looser.
PERFECT_FIT = 1e-26
# An earlier column is named as part of the combination when its weight moves the redundant column by more
# than this share of its length.
_NAMED_SHARE = 1e-6
# Elements (8 bytes each) of a block of rows in `triangular_factor`: about a megabyte, within a core's cache.
_BLOCK_ELEMENTS = 131_072


@dataclass(frozen=True)
class Redundant:
    """A redundant column and the earlier, kept columns it is a combination of (empty: it is all zeros)."""

    column: str
    combination_of: tuple[str, ...]

    def describe(self) -> str:
        if not self.combination_of:
            return f"'{self.column}' is zero for every row"
        if self.combination_of == ("Intercept",):
            return f"'{self.column}' has the same value for every row"
        return f"'{self.column}' is a linear combination of {', '.join(repr(c) for c in self.combination_of)}"


def triangular_factor(X: np.ndarray) -> np.ndarray:
    """R of a thin QR of X (p x p): column j of R has the length of column j of X and the same geometry.

    Computed as a tall-skinny QR: the R of each block of rows, stacked, then factorised again (each step is
    an orthogonal transformation, so the result is as accurate as one QR of X, and equal to it up to the
    signs of its rows). Blocks of about a megabyte stay in cache: at a million rows and 22 columns this is
    about six times faster than one LAPACK QR of the whole matrix."""
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    if n < p:
        return X  # fewer rows than columns: X itself is small enough
    rows = max(2 * p, _BLOCK_ELEMENTS // max(p, 1))
    if n <= 2 * rows:
        return np.linalg.qr(X, mode="r")
    blocks = [np.linalg.qr(X[start:start + rows], mode="r") for start in range(0, n, rows)]
    return np.linalg.qr(np.vstack(blocks), mode="r")


def redundant_columns(X, names=None, factor: np.ndarray | None = None) -> list[Redundant]:
    """The columns of X that are linear combinations of earlier ones (R's and lme4's rule), in column order.

    `factor` may pass the triangular factor of X (or any matrix with the same column geometry, such as the
    R of a QR of X computed cluster by cluster) instead of X itself."""
    R = triangular_factor(X) if factor is None else np.asarray(factor, dtype=float)
    # Each column scaled to its largest absolute value: the rule compares a column with its own length, so
    # scaling a column changes no verdict, and squared norms neither underflow nor overflow (1e-160, 1e200).
    scale = np.max(np.abs(R), axis=0) if R.size else np.ones(R.shape[1])
    R = R / np.where(scale > 0, scale, 1.0)
    p = R.shape[1]
    names = [f"x{j}" for j in range(p)] if names is None else [str(n) for n in names]
    kept: list[int] = []
    basis = np.zeros((R.shape[0], 0))
    found = []
    for j in range(p):
        column = R[:, j]
        length = float(np.linalg.norm(column))
        residual = column - basis @ (basis.T @ column)
        residual = residual - basis @ (basis.T @ residual)  # twice is enough (Kahan-Parlett)
        distance = float(np.linalg.norm(residual))
        if length == 0.0 or distance < RANK_TOLERANCE * length:
            found.append(Redundant(names[j], _combination(R[:, kept], column, [names[k] for k in kept])))
            continue
        kept.append(j)
        basis = np.column_stack([basis, residual / distance])
    return found


def _combination(kept: np.ndarray, column: np.ndarray, names: list[str]) -> tuple[str, ...]:
    if kept.shape[1] == 0 or not np.any(column):
        return ()
    weights, *_ = np.linalg.lstsq(kept, column, rcond=None)
    contribution = np.abs(weights) * np.linalg.norm(kept, axis=0)
    share = contribution / max(float(np.linalg.norm(column)), np.finfo(float).tiny)
    return tuple(name for name, s in zip(names, share, strict=True) if s > _NAMED_SHARE)


def perfect_fit_problem(factor: np.ndarray, n: int, purpose: str) -> str | None:
    """Why y cannot be modelled, from the triangular factor of [X | y] (p + 1 columns), or None: y an exact
    linear combination of the columns of X (residual variance below PERFECT_FIT x the fitted values' mean
    square), leaving no residual variation for `purpose`."""
    k = factor.shape[1] - 1
    residual_ss = float(factor[k, k]) ** 2 if factor.shape[0] > k else 0.0
    fitted = factor[:k, k]
    if residual_ss / (n - k) > PERFECT_FIT * float(fitted @ fitted) / n:
        return None
    return ("y is an exact linear combination of the columns of X (an essentially perfect fit: the residual "
            f"variance is below {PERFECT_FIT:g} x the fitted values' mean square), so there is no residual "
            f"variation {purpose}")
