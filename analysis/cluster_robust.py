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

Both scale to millions of rows and to many clusters: nothing n x n, n_g x n_g or G x G is ever formed. One
pass over the data computes, per cluster, the triangular factor R_g of a thin QR of [X_g | y_g]; everything
after that works with k x k matrices per cluster (k = columns of X, G = clusters; memory O(G k^2)). See the
comments in ``_cr2`` and ``_WCRDistribution`` for the algebra.

Both are meant to be called on anyone's data, so they refuse what they cannot answer (ValueError, saying what
and where; rows are 0-based positions): missing (NaN, None, pd.NA) or infinite values in y, X or the cluster
labels (a row without a cluster label is never merged into another cluster, whatever the container), cluster
labels mixing numbers and text, inputs of different lengths or
pandas inputs with different indexes (rows are matched by position), non-numeric or duplicated columns, no
rows, a column of X or y whose largest absolute value is outside [1e-50, 1e50] (change its units), fewer
than two clusters, no more rows than columns, a design with a redundant column (named, by the rank rule every
engine shares: analysis.linalg, R's lm / lme4 rule), an essentially perfect fit (no residual variation) and a
coefficient whose CR2 variance is zero whatever the outcome; and for the bootstrap, fewer than
MIN_RANDOM_REPLICATIONS random draws, a seed that is not a whole number >= 0, a term that is not a column of
X, or a level outside (0, 1). Every call ends in bounded time: the bootstrap
holds at most MAX_REPLICATIONS replications (5 numbers each; the weights are made in chunks), enumerates all
6^G Webb weight vectors when there are no more of them than replications asked for (an exact p-value), and
searches each interval edge with a bounded number of p-value evaluations; an edge beyond the search range
(no null value rejected) is reported as -inf / +inf, with a note.

References: Bell, R. M. & McCaffrey, D. F. (2002) Survey Methodology 28(2), 169-181. Pustejovsky, J. E. &
Tipton, E. (2018) J. Business & Economic Statistics 36(4), 672-683. Webb, M. D. (2014) "Reworking wild
bootstrap based inference for clustered errors", Queen's Economics Dept. WP 1315. Roodman, D., MacKinnon,
J. G., Nielsen, M. O. & Webb, M. D. (2019) Stata Journal 19(1), 4-60. Cameron, A. C., Gelbach, J. B. &
Miller, D. L. (2008) Review of Economics and Statistics 90(3), 414-427.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import printable
from analysis.inference import t_quantile, two_sided_p
from analysis.inputs import check_level, checked_inputs, is_number, names_text
from analysis.linalg import RANK_TOLERANCE, perfect_fit_problem, redundant_columns

# Webb's six-point distribution: mean 0, variance 1, symmetric. With few clusters it has many more distinct
# sign/size patterns (6^G) than Rademacher (2^G), so the bootstrap p-value is far less lumpy.
WEBB_WEIGHTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])

# clubSandwich's matrix_power(x, -1/2) zeroes eigenvalues <= 10^-12 (a Moore-Penrose power). Matching it
# matters only when a cluster has leverage 1 in some direction (e.g. cluster-specific dummies).
_PSEUDO_INVERSE_TOL = 1e-12

# Under the working model (independent errors, variance 1) the expected CR2 variance of a coefficient equals
# its model-based variance M_jj (CR2 is unbiased there), less whatever lies in directions where a cluster has
# leverage 1. Below this share of M_jj nothing is left: the CR2 variance is zero whatever the outcome.
_STRUCTURAL_ZERO = 1e-10

# The bootstrap keeps 5 numbers and a flag per replication and costs O(B) per null value tried: at most this
# many replications (about 100 MB; about 10 s on a laptop with tens of clusters, growing with G and k; Monte
# Carlo sd of a p-value of 0.05 below 2e-4).
MAX_REPLICATIONS = 1_000_000
# Fewer random draws leave p-values in steps of more than 0.01 and interval edges set by a handful of draws.
MIN_RANDOM_REPLICATIONS = 99
# Weights are made and reduced in chunks of about this many numbers (8 MB per array), never all B x G at once.
_CHUNK_ELEMENTS = 1 << 20
# p = share of replications with |t*| >= |t|, so ties count as extreme. A weight vector that gives every
# cluster the same weight v reproduces the data up to scale (y* = X b~ + v e~ has b*_j - theta = v (b^_j -
# theta) and residuals v e^), so its t* = sign(v) t exactly for every null value: such replications are
# flagged and always counted. Any other |t*| within this relative tolerance of |t| is also a tie.
_TIE_TOLERANCE = 1e-9
# Interval search: bracket by doubling from the CR2 half-width out to _MAX_REACH CR2 standard errors (beyond
# that an edge is reported as infinite, as the R reference implementation does), then bisect to
# max(_RELATIVE_TOLERANCE x SE, 4 ulp of the edge). Rounding in t* grows like 1e-16 |t|, so the reach is kept
# where it is still far below the tie tolerance.
_MAX_REACH = 1e6
_MAX_DOUBLINGS = 64
_MAX_BISECTIONS = 200
_RELATIVE_TOLERANCE = 1e-10

TABLE_COLUMNS = ["term", "estimate", "std_error", "df", "statistic", "p_value", "ci_lower", "ci_upper"]


@dataclass(frozen=True)
class _ClusteredFit:
    """OLS fit reduced to per-cluster k-dimensional summaries (all later work is O(G k^3))."""

    terms: list[str]
    n: int
    labels: np.ndarray  # cluster labels in sorted order; cluster g is labels[g]
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


# --- Input checks (analysis.inputs: shared with the mixed-model engine) ------------------------------------

def _checked_inputs(y, X, clusters) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
    """y (n,), X (n, k) as floats, the term names, cluster codes (n,) and sorted labels (G,); ValueError
    naming every problem found otherwise."""
    ya, xa, terms, coded = checked_inputs(y, X, {"clusters": clusters})
    codes, labels = coded["clusters"]
    return ya, xa, terms, codes, labels


def _prepare(y, X, clusters) -> _ClusteredFit:
    ya, xa, terms, codes, labels = _checked_inputs(y, X, clusters)
    n, k = xa.shape
    n_clusters = len(labels)
    if n_clusters < 2:
        raise ValueError(f"cluster-robust inference needs at least two clusters; every row is in cluster "
                         f"'{printable(labels[0])}'")
    if n <= k:
        raise ValueError(f"X has {k} columns but only {n} rows: OLS with residuals needs more rows than "
                         "columns")
    return fit_from_factors(cluster_factors(ya, xa, codes, n_clusters), n, terms, labels)


def cluster_factors(y: np.ndarray, X: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """One pass over the data: per cluster, the R factor of a thin QR of [X_g | y_g], (G, k+1, k+1). Its
    top-left block is R_g and its last column (above the diagonal) is Q_g'y_g, so Q_g itself never has to be
    kept. `codes` is each row's cluster, 0..G-1; inputs as `_checked_inputs` returns them."""
    k = X.shape[1]
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=n_clusters))))
    r_aug = np.zeros((n_clusters, k + 1, k + 1))
    for g in range(n_clusters):
        rows = order[bounds[g]:bounds[g + 1]]
        r = np.linalg.qr(np.column_stack((X[rows], y[rows])), mode="r")
        r_aug[g, : r.shape[0]] = r
    return r_aug


def two_outcome_factors(y: np.ndarray, other: np.ndarray, X: np.ndarray, codes: np.ndarray, n_clusters: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """`cluster_factors` of [X | y] and of [X | other] from one pass over the rows: each cluster's R of
    [X | y | other] holds the first, and the second is [[R_X, c], [0, sqrt(d^2 + e^2)]], where (c, d, e) is
    its last column: `other`'s part in X's column space, and the length of the rest, which lies in the span
    of two orthonormal columns (any factor with orthonormal Q will do for `fit_from_factors`)."""
    k = X.shape[1]
    both = cluster_factors(other, np.column_stack((X, y)), codes, n_clusters)
    second = np.zeros_like(both[:, :k + 1, :k + 1])
    second[:, :k, :k] = both[:, :k, :k]
    second[:, :k, k] = both[:, :k, k + 1]
    second[:, k, k] = np.hypot(both[:, k, k + 1], both[:, k + 1, k + 1])
    return both[:, :k + 1, :k + 1], second


def fit_from_factors(r_aug: np.ndarray, n: int, terms: list[str], labels: np.ndarray,
                     rank_checked: bool = False) -> _ClusteredFit:
    """The OLS fit from the clusters' factors of [X_g | y_g] (`cluster_factors`; any (k+1) x (k+1) A_g with
    [X_g | y_g] = Q_g A_g, Q_g orthonormal, will do, such as a cluster's factor repeated for a copy of it in
    a resample), refusing a redundant column (unless the caller has applied the rank rule to these columns
    already: `rank_checked`) or an essentially perfect fit (ValueError)."""
    k = len(terms)
    # Stacking the blocks and factorising again gives the R of the whole [X | y] (a tall-skinny QR), so the
    # global fit is as accurate as a QR of X, without forming X'X.
    big = np.linalg.qr(r_aug.reshape(-1, k + 1), mode="r")
    if not np.isfinite(big).all():
        raise ValueError("y or X holds values too large to square in floating point: rescale them")
    r_full, qty = big[:k, :k], big[:k, k]
    redundant = [] if rank_checked else redundant_columns(None, terms, factor=r_full)
    if redundant:
        raise ValueError(f"X is rank deficient (R's lm rule: QR with tolerance {RANK_TOLERANCE:g}): "
                         + "; ".join(r.describe() for r in redundant)
                         + f". Drop the redundant {'column' if len(redundant) == 1 else 'columns'} "
                         + names_text(r.column for r in redundant) + " before fitting")
    perfect = perfect_fit_problem(big, n, "to estimate a standard error from")
    if perfect:
        raise ValueError(perfect)
    from scipy import linalg  # imported where used: the workflow's parse imports this module

    r_inv = linalg.solve_triangular(r_full, np.eye(k))
    beta = r_inv @ qty
    r_blocks = r_aug[:, :k, :k]
    q_resid = r_aug[:, :k, k] - r_blocks @ beta
    return _ClusteredFit(terms=terms, n=n, labels=labels, beta=beta, r_inv=r_inv,
                         bread=r_inv @ r_inv.T, r_blocks=r_blocks, q_resid=q_resid)


# --- CR2 and Satterthwaite -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _CR2:
    covariance: np.ndarray  # (k, k)
    df: np.ndarray  # (k,) Satterthwaite
    expected_share: np.ndarray  # (k,) E[CR2 variance] / M_jj under the working model: 1 unless leverage 1


def _cr2(fit: _ClusteredFit, columns=None) -> _CR2:
    """CR2 covariance (k, k), per-coefficient Satterthwaite df (k,) and the expected-variance share (k,), the
    last two of the given columns only (NaN for the others) when `columns` names some.

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

    trace(Gram) = E[CR2 variance] equals M_jj (CR2 is unbiased under the working model) less the part of
    X_g M c lying where cluster g has leverage 1; ``expected_share`` = trace(Gram) / M_jj is 0 exactly when
    the CR2 variance is zero whatever the outcome (then the df would be 0/0).
    """
    k = fit.k
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

    # Batched matrix products (BLAS) rather than three-operand einsums, which loop: the bootstrap and the
    # specification curve's joint test call this thousands of times.
    u_x_t = u_x.transpose(0, 2, 1)
    xax = xx + (u_x_t * d_minus_1[:, None, :]) @ u_x
    xa2x = xx + (u_x_t * d2_minus_1[:, None, :]) @ u_x
    columns = np.arange(k) if columns is None else np.asarray(columns, dtype=int)
    rows = bread[columns]  # M c for each coefficient asked for (M is symmetric)
    qq = np.einsum("gaj,ja->jg", xa2x @ rows.T, rows)  # (J, G): q_g'q_g for each coefficient
    r = (xax @ rows.T).transpose(2, 0, 1)  # (J, G, k): r_g for each coefficient j
    # Gram = diag(q'q) - C with C_gh = r_g' M r_h = b_g'b_h, b_g = R^-T r_g (M = R^-1 R^-T). C = B B' has rank
    # k, so its squared norm is that of the k x k B'B and no G x G matrix is formed (memory O(G k^2)).
    b = r @ fit.r_inv
    c_diagonal = np.einsum("jga,jga->jg", b, b)
    c_norm2 = np.sum((b.transpose(0, 2, 1) @ b) ** 2, axis=(1, 2))
    expected = np.sum(qq - c_diagonal, axis=1)
    off_diagonal = np.maximum(c_norm2 - np.sum(c_diagonal**2, axis=1), 0.0)
    squared = np.sum((qq - c_diagonal) ** 2, axis=1) + off_diagonal
    share, df = np.full(k, np.nan), np.full(k, np.nan)
    share[columns] = expected / np.diag(bread)[columns]
    with np.errstate(divide="ignore", invalid="ignore"):
        df[columns] = expected**2 / squared
    return _CR2(covariance=covariance, df=df, expected_share=share)


def _require_cr2(fit: _ClusteredFit, cr2: _CR2, columns) -> None:
    """ValueError unless the CR2 standard error and Satterthwaite df of every given column are usable."""
    columns = list(columns)
    variance, df = np.diag(cr2.covariance), cr2.df
    bad = [j for j in columns if not np.isfinite([variance[j], cr2.expected_share[j]]).all()]
    if bad:  # the data's range is checked first, so this is not expected
        raise ValueError(f"the CR2 variance of {names_text(fit.terms[j] for j in bad)} could not be computed "
                         "in floating point (not finite)")
    zero = [j for j in columns if not cr2.expected_share[j] > _STRUCTURAL_ZERO]
    if zero:
        raise ValueError(
            f"no cluster-robust standard error exists for {names_text(fit.terms[j] for j in zero)}: its CR2 "
            "variance is zero whatever the outcome, because the coefficient depends on the data only through "
            "what the model fits exactly within every cluster (leverage 1), as when a cluster-level exposure "
            "is compared across no more clusters than the model has cluster-level terms (e.g. 2 clusters, an "
            "intercept and the exposure). Use more clusters or fewer cluster-level terms")
    bad = [j for j in columns if not variance[j] > 0.0]
    if bad:
        raise ValueError(f"the CR2 variance of {names_text(fit.terms[j] for j in bad)} is zero for these "
                         "data (the adjusted residual scores are all zero), so no standard error can be "
                         "computed")
    bad = [j for j in columns if not (np.isfinite(df[j]) and df[j] > 0.0)]
    if bad:
        raise ValueError(f"the Satterthwaite degrees of freedom of {names_text(fit.terms[j] for j in bad)} "
                         f"could not be computed ({', '.join(f'{df[j]:g}' for j in bad)})")


def cr2_coefficient(fit: _ClusteredFit, term: str) -> tuple[float, float, float]:
    """Estimate, CR2 standard error and Satterthwaite df of one coefficient, as `ols_cr2` reports them;
    ValueError when the coefficient has no usable CR2 standard error (`_require_cr2`)."""
    j = fit.terms.index(term)
    cr2 = _cr2(fit, [j])
    _require_cr2(fit, cr2, [j])
    return float(fit.beta[j]), float(np.sqrt(cr2.covariance[j, j])), float(cr2.df[j])


def _check_seed(seed) -> None:
    """A seed that reproduces the draws from what is written beside the result: a whole number >= 0."""
    if not (is_number(seed) and seed == int(seed) and seed >= 0):
        raise ValueError(f"seed must be a whole number >= 0 (it is written beside the result so that the "
                         f"draws can be made again), got {seed!r}")


def ols_cr2(y, X, clusters, level: float = 0.95) -> pd.DataFrame:
    """OLS with CR2 cluster-robust standard errors and Satterthwaite t tests/intervals (clubSandwich's).

    Parameters: ``y`` 1-D outcome; ``X`` design DataFrame whose column names are the term names (include the
    intercept column yourself); ``clusters`` one label per row; ``level`` confidence level. Rows are matched
    by position. Raises ValueError for the inputs listed in the module docstring.

    Returns one row per column of X: term, estimate, std_error, df (Satterthwaite), statistic (estimate /
    std_error), p_value (two-sided, t with df), ci_lower, ci_upper. ``attrs`` holds ``covariance`` (k x k
    CR2 matrix), ``n``, ``n_clusters`` and ``level``. Because ``covariance`` is an array, ``pd.concat`` of two
    such tables raises (pandas compares attrs with ==); clear or pop the attrs before concatenating.
    """
    check_level(level)
    fit = _prepare(y, X, clusters)
    cr2 = _cr2(fit)
    _require_cr2(fit, cr2, range(fit.k))
    covariance, df = cr2.covariance, cr2.df
    se = np.sqrt(np.diag(covariance))
    statistic = fit.beta / se
    crit = t_quantile(1.0 - (1.0 - level) / 2.0, df)
    table = pd.DataFrame({
        "term": fit.terms,
        "estimate": fit.beta,
        "std_error": se,
        "df": df,
        "statistic": statistic,
        "p_value": two_sided_p(statistic, df),
        "ci_lower": fit.beta - crit * se,
        "ci_upper": fit.beta + crit * se,
    }, columns=TABLE_COLUMNS)
    if not np.isfinite(table[TABLE_COLUMNS[1:]].to_numpy()).all():
        raise ValueError("the CR2 table could not be computed in floating point (a value overflowed): "
                         "rescale y and X")
    table.attrs.update(covariance=covariance, n=fit.n, n_clusters=fit.n_clusters, level=level,
                       vcov="CR2", df_method="Satterthwaite")
    return table


# --- Wild cluster restricted bootstrap --------------------------------------------------------------------

def _chunk_rows(fit: _ClusteredFit) -> int:
    return max(1, _CHUNK_ELEMENTS // max(fit.n_clusters, fit.k))


def _random_webb_chunks(B: int, n_clusters: int, seed, rows: int) -> Iterator[np.ndarray]:
    """B Webb weight vectors, `rows` at a time: the same stream as one (B, G) draw (row-major, int64)."""
    rng = np.random.default_rng(seed)
    for start in range(0, B, rows):
        yield WEBB_WEIGHTS[rng.integers(0, len(WEBB_WEIGHTS), size=(min(rows, B - start), n_clusters))]


def _webb_weights(B: int, n_clusters: int, seed) -> np.ndarray:
    """(B, G) Webb weights; row b is replication b, column g is cluster g in sorted label order."""
    rng = np.random.default_rng(seed)
    return WEBB_WEIGHTS[rng.integers(0, len(WEBB_WEIGHTS), size=(B, n_clusters))]


def _enumerated_webb_chunks(n_clusters: int, rows: int) -> Iterator[np.ndarray]:
    """All 6^G Webb weight vectors, each once, `rows` at a time: vector i takes, for cluster g, the weight
    indexed by digit g of i in base 6."""
    total = len(WEBB_WEIGHTS) ** n_clusters
    powers = len(WEBB_WEIGHTS) ** np.arange(n_clusters - 1, -1, -1, dtype=np.int64)
    for start in range(0, total, rows):
        index = np.arange(start, min(start + rows, total), dtype=np.int64)
        yield WEBB_WEIGHTS[(index[:, None] // powers) % len(WEBB_WEIGHTS)]


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

    ``weights`` is a (B, G) array or an iterable of (rows, G) chunks of one; only the five per-replication
    numbers are kept, so memory is O(B + chunk), not O(B G).
    """

    def __init__(self, fit: _ClusteredFit, j: int, weights: np.ndarray | Iterable[np.ndarray]):
        bread = fit.bread
        m = bread[:, j]
        xx, xe = fit.cross_products()
        s_m = xx @ m  # (G, k): S_g m
        a0, a1 = xe @ m, s_m @ m  # a_g = a0_g + delta a1_g
        w0, w1 = xe @ bread, s_m @ bread  # M u_g = w0_g + delta w1_g (rows)
        self.term = fit.terms[j]
        self.estimate = fit.beta[j]
        self.m_jj = bread[j, j]
        n, k, n_clusters = fit.n, fit.k, fit.n_clusters
        self.cr1_scale = n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
        self.se_cr1 = np.sqrt(self.cr1_scale * (a0 @ a0))  # a0_g are the CR0 scores of the original fit
        if not (np.isfinite(self.se_cr1) and self.se_cr1 > 0.0):
            raise ValueError(f"the CR1 standard error of '{printable(self.term)}' is {self.se_cr1:g} (its "
                             "cluster scores are all zero, or overflowed), so there is no t statistic to "
                             "bootstrap")
        if isinstance(weights, np.ndarray):
            rows = _chunk_rows(fit)
            chunks = [weights[start:start + rows] for start in range(0, len(weights), rows)]
        else:
            chunks = weights
        parts = []
        for chunk in chunks:
            s0 = chunk * a0 - (chunk @ w0) @ s_m.T
            s1 = chunk * a1 - (chunk @ w1) @ s_m.T
            parts.append((chunk @ a0, chunk @ a1, np.einsum("bg,bg->b", s0, s0),
                          np.einsum("bg,bg->b", s0, s1), np.einsum("bg,bg->b", s1, s1),
                          (chunk == chunk[:, :1]).all(axis=1)))
        self.num0, self.num1, self.q00, self.q01, self.q11, self.tied = (np.concatenate(p)
                                                                         for p in zip(*parts, strict=True))
        self.B = len(self.num0)

    def statistic(self, theta: float) -> float:
        return (self.estimate - theta) / self.se_cr1

    def tstar(self, theta: float) -> np.ndarray:
        delta = (self.estimate - theta) / self.m_jj
        variance = self.cr1_scale * (self.q00 + delta * (2.0 * self.q01 + delta * self.q11))
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.num0 + delta * self.num1) / np.sqrt(np.maximum(variance, 0.0))

    def p_value(self, theta: float) -> float:
        """Share of replications with |t*| >= |t|: ties (equal weights in every cluster, or |t*| within a
        relative 1e-9 of |t|) count as extreme. A replication whose t* is 0/0 (zero numerator and standard
        error) counts as not extreme."""
        t = abs(self.statistic(theta))
        extreme = self.tied | (np.abs(self.tstar(theta)) >= t - _TIE_TOLERANCE * max(t, 1.0))
        return float(np.count_nonzero(extreme) / self.B)


def _invert(dist: _WCRDistribution, half: float, alpha: float, se: float, side: int) -> tuple[float, str]:
    """Edge of {theta: p(theta) > alpha} on one side of the estimate, and a note ('' when none is needed).

    Bracketing: from the CR2 half-width (kept within [1e-3, 1e6] SE), double the distance from the estimate
    until the test rejects, at most out to _MAX_REACH CR2 standard errors; if it never does, the edge is
    reported as infinite. Then bisection to max(1e-10 SE, 4 ulp of the edge) (the bracket's ends cannot get
    closer than the floating-point spacing there; a tolerance fixed in absolute terms may never be met far
    from zero). That is at most 31 + 54 p-value evaluations per edge, each O(B), and _MAX_DOUBLINGS and
    _MAX_BISECTIONS bound the loops whatever happens. p(theta) is a step function and need not be monotone;
    bisection returns a crossing between a rejected and a non-rejected value, which is the edge when (as
    usual) the acceptance region is an interval.
    """
    name, where = ("ci_lower", "below") if side < 0 else ("ci_upper", "above")
    reach = _MAX_REACH * se
    width = min(max(half, 1e-3 * se), reach) if np.isfinite(half) else se
    inner, outer = dist.estimate, None  # t = 0 there: not rejected (the caller checks p > alpha)
    for _ in range(_MAX_DOUBLINGS):
        candidate = dist.estimate + side * width
        if dist.p_value(candidate) <= alpha:
            outer = candidate
            break
        inner = candidate
        if width >= reach:
            break
        width = min(2.0 * width, reach)
    if outer is None:
        return side * np.inf, (f"{name} = {side * np.inf}: the bootstrap test rejects no null value {where} "
                               f"the estimate out to {_MAX_REACH:.0e} CR2 standard errors (p = "
                               f"{dist.p_value(inner):.3g} there, alpha = {alpha:.3g})")
    for _ in range(_MAX_BISECTIONS):
        if abs(outer - inner) <= max(_RELATIVE_TOLERANCE * se, 4.0 * np.spacing(max(abs(inner), abs(outer)))):
            return 0.5 * (inner + outer), ""
        mid = 0.5 * (inner + outer)
        if dist.p_value(mid) > alpha:
            inner = mid
        else:
            outer = mid
    return 0.5 * (inner + outer), (f"{name} located to within {abs(outer - inner):.3g} only (bisection step "
                                   "limit)")


def _replications(B) -> int:
    whole = is_number(B) and B == int(B)
    if not (whole and 1 <= B <= MAX_REPLICATIONS):
        raise ValueError(f"B must be a whole number of replications from 1 to {MAX_REPLICATIONS:,}, got "
                         f"{B!r}")
    return int(B)


def wild_cluster_bootstrap(y, X, clusters, term: str, null: float = 0.0, B: int = 9999, seed=20120401,
                           level: float = 0.95) -> dict:
    """Wild cluster restricted bootstrap-t test of H0: beta_term = null, and its inverted interval.

    Webb six-point weights, one per cluster per replication, from ``numpy.random.default_rng(seed)`` (a
    (B, G) array, clusters in sorted label order, made in chunks of rows). When there are no more distinct
    weight vectors than replications asked for (6^G <= B, G clusters), all 6^G are used instead, each once:
    the p-value is then exact (the whole bootstrap distribution), not a random draw, and ``B`` is 6^G. t and
    t* use CR1 standard errors; the two-sided p-value is the share of replications with |t*| >= |t|. The
    interval is the set of null values whose p-value exceeds 1 - level, found on each side by bracketing out
    from the CR2 interval's edge and bisection, with the same draws for every null value; an edge beyond
    1e6 CR2 standard errors (no null value rejected on that side) is -inf / +inf and ``note`` says so.

    Returns ``{"p_value", "ci_lower", "ci_upper", "B", "seed", "weights": "webb", "statistic",
    "enumerated", "note"}``; ``statistic`` is the CR1 t statistic of the original sample for H0, ``B`` the
    number of replications used, ``enumerated`` whether they are all 6^G weight vectors (``seed`` is then not
    used), ``note`` a sentence on enumeration and infinite or imprecise interval edges ("" if none).
    """
    check_level(level)
    B = _replications(B)
    _check_seed(seed)
    seed = int(seed)  # 5.0 is the seed 5
    if not is_number(null):
        raise ValueError(f"null must be a finite number, got {null!r}")
    fit = _prepare(y, X, clusters)
    if str(term) not in fit.terms:
        raise ValueError(f"term '{printable(term)}' is not a column of X (its columns: "
                         f"{names_text(fit.terms)})")
    j = fit.terms.index(str(term))
    cr2 = _cr2(fit)
    _require_cr2(fit, cr2, [j])

    n_clusters = fit.n_clusters
    vectors = len(WEBB_WEIGHTS) ** n_clusters  # Python int: no overflow
    enumerated = vectors <= B
    if not enumerated and B < MIN_RANDOM_REPLICATIONS:
        raise ValueError(f"B = {B} random replications cannot resolve a p-value or a {level:.3g} interval; "
                         f"use at least {MIN_RANDOM_REPLICATIONS} (9,999 is usual)")
    rows = _chunk_rows(fit)
    if enumerated:
        chunks = _enumerated_webb_chunks(n_clusters, rows)
    else:
        chunks = _random_webb_chunks(B, n_clusters, seed, rows)
    dist = _WCRDistribution(fit, j, chunks)
    alpha = 1.0 - level
    notes = []
    if enumerated:
        notes.append(f"all 6^{n_clusters} = {vectors:,} Webb weight vectors enumerated: exact p-value, not a "
                     "random draw (seed not used)")
    if dist.p_value(dist.estimate) <= alpha:
        raise ValueError(f"the bootstrap t statistics of '{printable(term)}' are undefined (0/0) in more "
                         f"than {level:.3g} of the replications, so the bootstrap cannot test any null value")
    se = float(np.sqrt(cr2.covariance[j, j]))
    half = float(t_quantile(1.0 - alpha / 2.0, cr2.df[j])) * se
    lower, lower_note = _invert(dist, half, alpha, se, side=-1)
    upper, upper_note = _invert(dist, half, alpha, se, side=+1)
    notes += [note for note in (lower_note, upper_note) if note]
    if np.isinf(lower) or np.isinf(upper):
        floor = len(WEBB_WEIGHTS) / vectors  # the share of equal-weight vectors, exact when enumerated
        if enumerated and floor > alpha:
            # No "<n> clusters" in words: notes are published, and the disclosure rule reads counts in text.
            notes.append(f"with so few clusters the {len(WEBB_WEIGHTS)} weight vectors that give every "
                         f"cluster the same weight reproduce |t| exactly, so p >= 6/6^{n_clusters} = "
                         f"{floor:.3g} for every null value")
    return {
        "p_value": dist.p_value(null),
        "ci_lower": float(lower),
        "ci_upper": float(upper),
        "B": dist.B,
        "seed": seed,
        "weights": "webb",
        "statistic": float(dist.statistic(null)),
        "enumerated": bool(enumerated),
        "note": "; ".join(notes),
    }
