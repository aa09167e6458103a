"""Small-sample cluster-robust OLS inference (analysis.cluster_robust): CR2 + Satterthwaite and the WCR
bootstrap.

Checked three ways: against dense textbook implementations (n x n hat matrix; a per-replication OLS refit,
also over all 6^G weight vectors when the bootstrap enumerates them), against R (clubSandwich for CR2 on the
pipeline's simulated data and on real data sets, mlmRev's Chem97 and clubSandwich's MortalityRates; an
independent R bootstrap, random and enumerated: tests/fixtures/r/cr2_reference.R and cr2_real_reference.R),
and by the size of the bootstrap test under a simulated null with few clusters. The input guards and the
bounded interval search are tested case by case.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import analysis.cluster_robust as cluster_robust
from analysis.cluster_robust import (
    MAX_REPLICATIONS,
    TABLE_COLUMNS,
    WEBB_WEIGHTS,
    _cr2,
    _enumerated_webb_chunks,
    _prepare,
    _random_webb_chunks,
    _WCRDistribution,
    _webb_weights,
    ols_cr2,
    wild_cluster_bootstrap,
)
from analysis.design import ModelSpec, design_matrix

FIXTURES = Path(__file__).parent / "fixtures"
# Wall-clock limit for calls that must end in bounded time: a hang detector only (the machine may be busy);
# the interval search's bound is tested by counting p-value evaluations, which does not depend on load.
HANG_SECONDS = 60
WCR_TERMS = ["funding_group[T.growing]", "funding_group[T.stable]"]


# --- Dense reference implementations (small data only) ---------------------------------------------------

def _inverse_sqrt_psd(matrix: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    powered = np.where(values > tol, 1.0 / np.sqrt(np.where(values > tol, values, 1.0)), 0.0)
    return (vectors * powered) @ vectors.T


def dense_cr2(y, X, clusters):
    """CR2 and Satterthwaite df straight from the definitions, with the n x n matrix I - H (H = QQ' and
    (X'X)^-1 = R^-1 R^-T from a QR of X: forming X'X would square the condition number)."""
    y, X = np.asarray(y, float), np.asarray(X, float)
    n, k = X.shape
    q, r = np.linalg.qr(X)
    r_inv = np.linalg.inv(r)
    bread = r_inv @ r_inv.T
    resid_maker = np.eye(n) - q @ q.T
    e = resid_maker @ y
    groups = [np.flatnonzero(np.asarray(clusters) == g) for g in np.unique(clusters)]
    adjust = [_inverse_sqrt_psd(resid_maker[np.ix_(idx, idx)]) for idx in groups]
    meat = np.zeros((k, k))
    for idx, a in zip(groups, adjust, strict=True):
        u = X[idx].T @ a @ e[idx]
        meat += np.outer(u, u)
    covariance = bread @ meat @ bread
    df = np.empty(k)
    for j in range(k):
        w = np.column_stack([resid_maker[:, idx] @ a @ X[idx] @ bread[:, j]
                             for idx, a in zip(groups, adjust, strict=True)])
        gram = w.T @ w
        df[j] = np.trace(gram) ** 2 / np.sum(gram**2)
    return covariance, df


def naive_wcr(y, X, clusters, j, theta, weights):
    """WCR t statistics the slow way: impose the null, build y* per replication, refit OLS, CR1 SE."""
    y, X = np.asarray(y, float), np.asarray(X, float)
    codes, labels = pd.factorize(np.asarray(clusters), sort=True)
    n, k = X.shape
    n_clusters = len(labels)
    scale = n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
    indicator = np.zeros((n, n_clusters))
    indicator[np.arange(n), codes] = 1.0
    bread = np.linalg.inv(X.T @ X)

    def cr1_t(outcome):
        beta = np.linalg.lstsq(X, outcome, rcond=None)[0]
        scores = indicator.T @ (X * (outcome - X @ beta)[:, None])
        variance = scale * (bread @ scores.T @ scores @ bread)[j, j]
        return (beta[j] - theta) / np.sqrt(variance)

    others = [i for i in range(k) if i != j]
    shifted = y - theta * X[:, j]
    restricted_resid = shifted - X[:, others] @ np.linalg.lstsq(X[:, others], shifted, rcond=None)[0]
    restricted_fitted = y - restricted_resid
    tstar = np.array([cr1_t(restricted_fitted + w[codes] * restricted_resid) for w in weights])
    return cr1_t(y), tstar


def random_clustered_data(seed: int, sizes, k: int = 5):
    rng = np.random.default_rng(seed)
    labels = np.repeat([f"c{g:02d}" for g in range(len(sizes))], sizes)
    n = len(labels)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])
    X[:, 1] = np.repeat(rng.integers(0, 2, len(sizes)), sizes)  # a cluster-level binary "exposure"
    effect = np.repeat(rng.normal(size=len(sizes)), sizes)
    y = X @ rng.normal(size=k) + effect + rng.normal(size=n) * (1 + np.abs(X[:, 2]))
    order = rng.permutation(n)  # clusters interleaved, as in real data
    frame = pd.DataFrame(X[order], columns=["Intercept", "exposure", *[f"x{i}" for i in range(2, k)]])
    return y[order], frame, labels[order]


def reference_inputs(name: str, plan):
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    frame = pd.read_csv(FIXTURES / "lme4" / f"{name}_input.csv", dtype={"funding_group": "string"})
    y, X = design_matrix(frame, spec)
    return y, X, frame["la_code"]


REAL_DATA = ["chem97", "chem97_lea1to10", "chem97_lea1to5", "mortality"]


def real_inputs(name: str):
    """y, X, clusters of a real data set, read from the files tests/fixtures/r/cr2_real_reference.R fitted."""
    if name == "mortality":  # mrate ~ 0 + legal + beertaxa + factor(state) + factor(year), clustered by state
        frame = pd.read_csv(FIXTURES / "r" / "mortality_input.csv")
        columns = {"legal": frame["legal"], "beertaxa": frame["beertaxa"]}
        for state in sorted(frame["state"].unique()):  # no intercept: every state has its own
            columns[f"factor(state){state}"] = (frame["state"] == state).astype(float)
        for year in sorted(frame["year"].unique())[1:]:  # the first year is the reference
            columns[f"factor(year){year}"] = (frame["year"] == year).astype(float)
        return frame["mrate"], pd.DataFrame(columns), frame["state"]
    # Chem97: score ~ gcsecnt + age + female, clustered by LEA
    whole = FIXTURES / "lme4" / "chem97_input.csv.gz"  # one copy of Chem97 for every fixture
    frame = pd.read_csv(whole if name == "chem97" else FIXTURES / "r" / f"{name}_input.csv")
    X = pd.DataFrame({"Intercept": 1.0, "gcsecnt": frame["gcsecnt"], "age": frame["age"],
                      "female": frame["female"]})
    return frame["score"], X, frame["lea"]


def few_cluster_data(seed: int, sizes):
    """Intercept, a cluster-level exposure (the first half of the clusters) and a row-level covariate."""
    rng = np.random.default_rng(seed)
    n_clusters = len(sizes)
    labels = np.repeat([f"g{g}" for g in range(n_clusters)], sizes)
    exposure = np.repeat(np.arange(n_clusters) < (n_clusters + 1) // 2, sizes).astype(float)
    x = rng.normal(size=len(labels)) + np.repeat(rng.normal(size=n_clusters), sizes)
    y = 1.0 + 0.3 * exposure + 0.5 * x + np.repeat(rng.normal(size=n_clusters), sizes) \
        + rng.normal(size=len(labels)) * np.exp(0.3 * x)
    return y, pd.DataFrame({"Intercept": 1.0, "exposure": exposure, "x": x}), labels


def all_webb_vectors(n_clusters: int) -> np.ndarray:
    """The 6^G Webb weight vectors, made independently of analysis.cluster_robust."""
    return np.array(list(itertools.product(WEBB_WEIGHTS, repeat=n_clusters)))


def naive_p(y, X, clusters, j, theta, weights) -> float:
    """naive_wcr's p-value with the module's convention: |t*| >= |t|, ties (to a relative 1e-9) extreme."""
    t, tstar = naive_wcr(y, X, clusters, j, theta, weights)
    return float(np.mean(np.abs(tstar) >= abs(t) - 1e-9 * max(abs(t), 1.0)))


# --- CR2 and Satterthwaite ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cr2_matches_dense_implementation(seed):
    # Unequal sizes, including clusters smaller than k (the QR blocks are then padded with zero rows).
    y, X, clusters = random_clustered_data(seed, sizes=[3, 2, 7, 15, 30, 9, 4, 22, 11, 6])
    table = ols_cr2(y, X, clusters)
    covariance, df = dense_cr2(y, X, clusters)
    np.testing.assert_allclose(table.attrs["covariance"], covariance, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(table["df"], df, rtol=1e-10)
    np.testing.assert_allclose(table["estimate"], np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)
    assert list(table.columns) == TABLE_COLUMNS
    assert list(table["term"]) == list(X.columns)
    assert table.attrs["n"] == len(y) and table.attrs["n_clusters"] == 10


def test_cr2_with_many_small_clusters_matches_dense_implementation():
    """Singleton and pair clusters (HC2 and near it): the degrees of freedom come from rank-k algebra, with
    no G x G matrix, and still equal the dense computation's."""
    y, X, clusters = random_clustered_data(6, sizes=[1] * 150 + [2] * 40)
    table = ols_cr2(y, X, clusters)
    covariance, df = dense_cr2(y, X, clusters)
    np.testing.assert_allclose(table.attrs["covariance"], covariance, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(table["df"], df, rtol=1e-9)


def test_two_outcomes_factorised_in_one_pass_fit_as_each_does_alone():
    """The joint test factorises each cluster's [X | y | null] once (two_outcome_factors): the fit and CR2
    inference of each outcome from those factors equal ols_cr2's of that outcome, clusters smaller than the
    columns included."""
    from analysis.cluster_robust import cr2_coefficient, fit_from_factors, two_outcome_factors

    y, X, clusters = random_clustered_data(12, sizes=[3, 2, 7, 15, 30, 9, 4, 22, 11, 6])
    other = y - 0.7 * X["exposure"].to_numpy() + 0.1 * X["x2"].to_numpy() ** 2
    codes, labels = pd.factorize(pd.Series(clusters), sort=True)
    factors = two_outcome_factors(y, other, X.to_numpy(float), codes, len(labels))
    for outcome, factor in zip([y, other], factors, strict=True):
        fit = fit_from_factors(factor, len(y), list(X.columns), np.asarray(labels))
        table = ols_cr2(outcome, X, clusters).set_index("term")
        for term in ["exposure", "x3"]:
            estimate, std_error, df = cr2_coefficient(fit, term)
            np.testing.assert_allclose([estimate, std_error, df],
                                       table.loc[term, ["estimate", "std_error", "df"]].to_numpy(float),
                                       rtol=1e-10)


def test_cr2_pseudo_inverse_when_a_cluster_has_leverage_one():
    # A dummy for a single observation gives it leverage 1: I - H_gg is singular and clubSandwich (like the
    # dense reference) takes the Moore-Penrose inverse square root.
    y, X, clusters = random_clustered_data(4, sizes=[5, 8, 12, 6, 9, 10, 7])
    X = X.assign(single=0.0)
    X.loc[X.index[0], "single"] = 1.0
    table = ols_cr2(y, X, clusters)
    covariance, df = dense_cr2(y, X, clusters)
    np.testing.assert_allclose(table.attrs["covariance"], covariance, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table["df"], df, rtol=1e-9)


def test_cr2_does_not_depend_on_row_order_or_label_type():
    y, X, clusters = random_clustered_data(5, sizes=[4, 9, 13, 6, 20, 8])
    base = ols_cr2(y, X, clusters)
    order = np.random.default_rng(0).permutation(len(y))
    codes = pd.factorize(clusters)[0] * 7 + 100  # integer labels, different order of first appearance
    shuffled = ols_cr2(y[order], X.iloc[order].reset_index(drop=True), codes[order])
    cols = ["estimate", "std_error", "df", "p_value", "ci_lower", "ci_upper"]
    np.testing.assert_allclose(shuffled[cols], base[cols], rtol=1e-10)


def test_cr2_input_checks():
    y, X, clusters = random_clustered_data(6, sizes=[5, 6, 7])
    with pytest.raises(ValueError, match="rank deficient"):
        ols_cr2(y, X.assign(twice=2 * X["x2"]), clusters)
    missing = clusters.astype(object)
    missing[0] = None
    with pytest.raises(ValueError, match="missing"):
        ols_cr2(y, X, missing)
    with pytest.raises(ValueError, match="two clusters"):
        ols_cr2(y, X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="level"):
        ols_cr2(y, X, clusters, level=95)


def _guard_data():
    y, X, clusters = random_clustered_data(6, sizes=[5, 6, 7, 9])
    return pd.Series(y), X, pd.Series(clusters)


def _set(values, position, value, dtype=None):
    values = values.astype(dtype or object).copy()
    values.iloc[position] = value
    return values


def _set_x(X, column, position, value, dtype=None):
    X = X.copy()
    X[column] = _set(X[column], position, value, dtype)
    return X


# (case, change to (y, X, clusters), pattern the ValueError must match)
GUARD_CASES = [
    ("y NaN", lambda y, X, c: (_set(y, 2, np.nan, float), X, c), r"y has 1 missing value .*at row 2\b"),
    ("y None", lambda y, X, c: (_set(y, 2, None), X, c), r"y has 1 missing value .*at row 2\b"),
    ("y pd.NA", lambda y, X, c: (_set(y, 2, pd.NA, "Float64"), X, c), r"y has 1 missing value .*at row 2\b"),
    ("y inf", lambda y, X, c: (_set(y, 3, np.inf, float), X, c), r"y has 1 infinite value at row 3\b"),
    ("y text", lambda y, X, c: (_set(y, 3, "4.5"), X, c), r"y is not numeric \(it holds '4.5'\)"),
    ("X NaN", lambda y, X, c: (y, _set_x(X, "x2", 4, np.nan, float), c),
     r"X has 1 missing value .*in column 'x2' \(1\), at row 4\b"),
    ("X None", lambda y, X, c: (y, _set_x(X, "x3", 4, None), c),
     r"X has 1 missing value .*in column 'x3' \(1\), at row 4\b"),
    ("X pd.NA", lambda y, X, c: (y, _set_x(X, "x3", 5, pd.NA, "Float64"), c),
     r"X has 1 missing value .*in column 'x3' \(1\), at row 5\b"),
    ("X -inf", lambda y, X, c: (y, _set_x(X, "x4", 6, -np.inf, float), c),
     r"X has 1 infinite value in column 'x4' \(1\), at row 6\b"),
    ("X NaN and inf in one column", lambda y, X, c: (y, _set_x(_set_x(X, "x2", 1, np.nan, float), "x2", 9,
                                                                 np.inf, float), c),
     r"X has 1 missing value .*in column 'x2' \(1\), at row 1\b.*X has 1 infinite value in column 'x2' "
     r"\(1\), at row 9\b"),
    ("cluster None", lambda y, X, c: (y, X, _set(c, 7, None)), r"clusters has 1 missing label .*at row 7\b"),
    ("cluster NaN", lambda y, X, c: (y, X, _set(c, 7, np.nan)), r"clusters has 1 missing label .*at row 7\b"),
    ("cluster pd.NA", lambda y, X, c: (y, X, _set(c, 7, pd.NA, "string")),
     r"clusters has 1 missing label .*at row 7\b"),
    # Lists keep their Python objects: NumPy would make a missing label the cluster 'nan', and 1 and '1' one.
    ("cluster NaN in a list", lambda y, X, c: (y, X, [np.nan, *list(c)[1:]]),
     r"clusters has 1 missing label .*at row 0\b"),
    ("every label missing", lambda y, X, c: (y, X, [None] * len(y)), r"clusters has 27 missing labels"),
    ("labels mixing numbers and text", lambda y, X, c: (y, X, [str(v) if i % 2 else v for i, v in enumerate(
        pd.factorize(c)[0])]), r"clusters labels mix numbers and text"),
    ("huge Python int", lambda y, X, c: (
        y, X.assign(x3=pd.Series([10**400] + [1] * (len(y) - 1), dtype=object)), c),
     r"X column 'x3' \(holding a whole number beyond the range"),
    ("many missing", lambda y, X, c: (_set(y, [0, 3, 5, 8, 9, 11, 20], np.nan, float), X, c),
     r"y has 7 missing values .*at rows 0, 3, 5, 8, 9 and 2 more"),
    ("text column", lambda y, X, c: (y, X.assign(region="north"), c), r"X column 'region' .*is not numeric"),
    ("categorical column", lambda y, X, c: (y, X.assign(region=pd.Categorical(["a", "b"] * 13 + ["a"])), c),
     r"X column 'region' \(of type category\) is not numeric"),
    ("y too short", lambda y, X, c: (y.iloc[:-1].to_numpy(), X, c), r"y has 26 rows, X has 27 and clusters"),
    ("clusters too short", lambda y, X, c: (y, X, c.iloc[:-1].to_numpy()), r"and clusters has 26\b"),
    ("y two columns", lambda y, X, c: (np.column_stack([y, y]), X, c), r"y must be one value per row"),
    ("X one-dimensional", lambda y, X, c: (y, X["x2"].to_numpy(), c), r"X must be two-dimensional"),
    ("no columns", lambda y, X, c: (y, X.iloc[:, :0], c), r"X has no columns"),
    ("duplicate names",
     lambda y, X, c: (y, X.set_axis(["Intercept", "exposure", "x2", "x2", "x4"], axis=1), c),
     r"more than one column named 'x2'"),
    ("misaligned indexes", lambda y, X, c: (y.set_axis(y.index + 100), X, c), r"different indexes"),
    ("one cluster", lambda y, X, c: (y, X, np.zeros(len(y))), r"at least two clusters"),
    ("fewer rows than columns", lambda y, X, c: (y.iloc[:4], X.iloc[:4], pd.Series(["a", "a", "b", "b"])),
     r"X has 5 columns but only 4 rows"),
    ("duplicated column", lambda y, X, c: (y, X.assign(twice=2 * X["x2"]), c),
     r"rank deficient .*'twice' is a linear combination of 'x2'.* Drop the redundant column 'twice'"),
    ("constant column", lambda y, X, c: (y, X.assign(wave=3.0), c),
     r"rank deficient .*'wave' has the same value for every row"),
    ("zero column", lambda y, X, c: (y, X.assign(none=0.0), c),
     r"rank deficient .*'none' is zero for every row"),
    ("near duplicate", lambda y, X, c: (y, X.assign(
        almost=X["x2"] * (1 + 1e-9 * np.random.default_rng(0).normal(size=len(y)))), c),
     r"rank deficient .*'almost' is a linear combination of 'x2'"),
    ("perfect fit", lambda y, X, c: (X.to_numpy() @ np.arange(1.0, 6.0), X, c), r"essentially perfect fit"),
    ("constant y", lambda y, X, c: (np.full(len(y), 3.0), X, c), r"essentially perfect fit"),
    ("no rows", lambda y, X, c: (y.iloc[:0], X.iloc[:0], c.iloc[:0]), r"no rows"),
    ("huge column", lambda y, X, c: (y, X.assign(x3=X["x3"] * 1e60), c),
     r"X column 'x3' \(largest absolute value .*e\+60\) outside \[1e-50, 1e\+50\].*change the units"),
    ("tiny y", lambda y, X, c: (y * 1e-60, X, c), r"y \(largest absolute value .*e-60\) outside"),
    ("huge negative column", lambda y, X, c: (y, X.assign(x3=-(X["x3"].abs() + 1) * 1e60), c),
     r"X column 'x3' \(largest absolute value .*e\+60\) outside"),
]


@pytest.mark.parametrize(("change", "pattern"), [case[1:] for case in GUARD_CASES],
                         ids=[case[0] for case in GUARD_CASES])
def test_input_guards(change, pattern):
    y, X, clusters = change(*_guard_data())
    for call in (lambda: ols_cr2(y, X, clusters),
                 lambda: wild_cluster_bootstrap(y, X, clusters, "Intercept" if "Intercept" in getattr(
                     X, "columns", []) else "x0", B=99)):
        start = time.perf_counter()
        with pytest.raises(ValueError, match=pattern):
            call()
        assert time.perf_counter() - start < HANG_SECONDS


def test_input_guards_report_every_problem_at_once():
    y, X, clusters = _guard_data()
    with pytest.raises(ValueError) as error:
        ols_cr2(_set(y, 1, np.nan, float), _set_x(X, "x2", 2, np.inf, float), _set(clusters, 3, None))
    message = str(error.value)
    assert "y has 1 missing value" in message and "X has 1 infinite value" in message
    assert "clusters has 1 missing label" in message and "0-based" in message


def test_missing_cluster_label_is_refused_not_merged():
    # A row without a cluster must not silently join another cluster (or form one): it is refused, by
    # position, whatever the label type.
    y, X, clusters = _guard_data()
    for missing in (None, np.nan, pd.NA):
        labels = clusters.astype(object).copy()
        labels.iloc[0] = missing
        with pytest.raises(ValueError, match=r"clusters has 1 missing label .*at row 0\b.*not merged"):
            ols_cr2(y, X, labels)
    codes = pd.Series(pd.factorize(clusters)[0], dtype=float)
    codes.iloc[0] = np.nan
    with pytest.raises(ValueError, match="missing label"):
        ols_cr2(y, X, codes.to_numpy())
    with pytest.raises(ValueError, match="missing label"):
        wild_cluster_bootstrap(y, X, codes.to_numpy(), "exposure", B=99)


def test_nearly_collinear_column_is_computed_honestly():
    # 1e-4 relative noise is information (R's rule keeps it): the fit is computed, with large but finite SEs.
    y, X, clusters = _guard_data()
    noise = np.random.default_rng(0).normal(size=len(y))
    X = X.assign(almost=X["x2"] * (1 + 1e-4 * noise))
    start = time.perf_counter()
    table = ols_cr2(y, X, clusters).set_index("term")
    result = wild_cluster_bootstrap(y, X, clusters, "almost", B=999)
    assert time.perf_counter() - start < HANG_SECONDS
    assert np.isfinite(table.to_numpy(float)).all()
    base = ols_cr2(y, X.drop(columns="almost"), clusters).set_index("term")
    assert table.loc["almost", "std_error"] > 100 * base.loc["x2", "std_error"]
    assert np.isfinite([result["p_value"], result["statistic"]]).all()
    covariance, df = dense_cr2(y, X, clusters)
    np.testing.assert_allclose(table["std_error"], np.sqrt(np.diag(covariance)), rtol=1e-6)
    np.testing.assert_allclose(table["df"], df, rtol=1e-6)


def test_other_argument_guards():
    y, X, clusters = _guard_data()
    for bad in (0, -5, 2.5, True, "999", MAX_REPLICATIONS + 1, np.nan):
        with pytest.raises(ValueError, match="B must be a whole number"):
            wild_cluster_bootstrap(y, X, clusters, "exposure", B=bad)
    with pytest.raises(ValueError, match="null must be a finite number"):
        wild_cluster_bootstrap(y, X, clusters, "exposure", null=np.nan)
    for bad in (1.0, "0.95", True, np.nan):
        with pytest.raises(ValueError, match="level must be a number in"):
            wild_cluster_bootstrap(y, X, clusters, "exposure", level=bad)
        with pytest.raises(ValueError, match="level must be a number in"):
            ols_cr2(y, X, clusters, level=bad)
    for bad in (-1, 1.5, "abc", np.nan, True, np.random.default_rng(1)):
        with pytest.raises(ValueError, match="seed must be a whole number >= 0"):
            wild_cluster_bootstrap(y, X, clusters, "exposure", seed=bad)
    assert wild_cluster_bootstrap(y, X, clusters, "exposure", seed=5.0) == \
        wild_cluster_bootstrap(y, X, clusters, "exposure", seed=5)
    with pytest.raises(ValueError, match="null must be a finite number"):
        wild_cluster_bootstrap(y, X, clusters, "exposure", null=True)
    with pytest.raises(ValueError, match=r"term 'nonexistent' is not a column of X \(its columns: 'Inter"):
        wild_cluster_bootstrap(y, X, clusters, "nonexistent")
    # Random draws too few to resolve a p-value (with 6^G > B) are refused; enumeration needs no minimum.
    assert len(np.unique(clusters)) > 3
    for few in (1, 2, 98):
        with pytest.raises(ValueError, match=r"random replications cannot resolve a p-value .* at least 99"):
            wild_cluster_bootstrap(y, X, clusters, "exposure", B=few)


def test_a_cr2_variance_that_is_zero_whatever_the_outcome_is_refused():
    # Two clusters, an intercept and a cluster-level exposure: the exposure's coefficient is the difference of
    # the two cluster means, which the model fits exactly, so its CR2 (and CR1) variance is zero for every y.
    # clubSandwich returns rounding noise (SE ~ 1e-16, df from 0/0); here it is refused, by name.
    y, X, _ = few_cluster_data(3, sizes=[10, 12])
    X = X.drop(columns="x")
    labels = np.repeat(["a", "b"], [10, 12])
    with pytest.raises(ValueError, match=r"no cluster-robust standard error exists for 'Intercept', "
                                         r"'exposure': its CR2 variance is zero whatever the outcome"):
        ols_cr2(y, X, labels)
    with pytest.raises(ValueError, match=r"no cluster-robust standard error exists for 'exposure'"):
        wild_cluster_bootstrap(y, X, labels, "exposure")


def test_cr2_clusters_of_one_identical_rows_and_leverage_one():
    # Clusters of a single row, a cluster whose rows are identical (X and y), and a row with its own dummy
    # (leverage 1): everything finite and equal to the dense definitions; the bootstrap matches the refits.
    y, X, clusters = random_clustered_data(8, sizes=[1, 1, 1, 6, 9, 12, 5, 8, 1, 10])
    same = np.flatnonzero(clusters == "c04")
    X.iloc[same] = X.iloc[same[0]].to_numpy()
    y[same] = y[same[0]]
    X = X.assign(single=0.0)
    X.loc[X.index[np.flatnonzero(clusters == "c05")[0]], "single"] = 1.0
    table = ols_cr2(y, X, clusters)
    assert np.isfinite(table[TABLE_COLUMNS[1:]].to_numpy(float)).all()
    covariance, df = dense_cr2(y, X, clusters)
    np.testing.assert_allclose(table.attrs["covariance"], covariance, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(table["df"], df, rtol=1e-9)
    fit = _prepare(y, X, clusters)
    weights = _webb_weights(199, fit.n_clusters, 5)
    for term in ("exposure", "single"):
        j = fit.terms.index(term)
        dist = _WCRDistribution(fit, j, weights)
        t_naive, tstar_naive = naive_wcr(y, X, clusters, j, 0.0, weights)
        assert dist.statistic(0.0) == pytest.approx(t_naive, rel=1e-9)
        np.testing.assert_allclose(dist.tstar(0.0), tstar_naive, rtol=1e-8, atol=1e-9)
        result = wild_cluster_bootstrap(y, X, clusters, term, B=199, seed=5)
        assert np.isfinite([result["p_value"], result["statistic"]]).all()
        assert result["ci_lower"] < fit.beta[j] < result["ci_upper"]


@pytest.mark.parametrize(("y_scale", "x_scale"), list(itertools.product([1e-45, 1e45], repeat=2)))
def test_results_are_scale_equivariant_across_the_accepted_range(y_scale, x_scale):
    # Inside [1e-50, 1e50] nothing overflows or underflows: rescaling y and a column changes the estimates,
    # SEs and interval edges by the same factors and nothing else.
    y, X, clusters = random_clustered_data(6, sizes=[5, 6, 7, 9])
    base, boot = ols_cr2(y, X, clusters), wild_cluster_bootstrap(y, X, clusters, "x2", B=999)
    table = ols_cr2(y * y_scale, X.assign(x2=X["x2"] * x_scale), clusters)
    result = wild_cluster_bootstrap(y * y_scale, X.assign(x2=X["x2"] * x_scale), clusters, "x2", B=999)
    factor = np.where(table["term"] == "x2", y_scale / x_scale, y_scale)
    for column in ("estimate", "std_error", "ci_lower", "ci_upper"):
        np.testing.assert_allclose(table[column] / factor, base[column], rtol=1e-12, err_msg=column)
    np.testing.assert_allclose(table[["df", "p_value"]], base[["df", "p_value"]], rtol=1e-12)
    assert result["p_value"] == boot["p_value"]
    for key in ("ci_lower", "ci_upper"):
        assert result[key] / (y_scale / x_scale) == pytest.approx(boot[key], rel=1e-12)


@pytest.mark.parametrize("seed", [1, 2])
def test_cr2_expected_variance_equals_model_variance_without_leverage_one(seed):
    # CR2 is exactly unbiased under the working model: trace of the Satterthwaite Gram matrix = M_jj. This
    # checks the df algebra and is what the "zero whatever the outcome" guard measures.
    y, X, clusters = random_clustered_data(seed, sizes=[3, 2, 7, 15, 30, 9, 4, 22, 11, 6])
    np.testing.assert_allclose(_cr2(_prepare(y, X, clusters)).expected_share, 1.0, rtol=1e-10)


@pytest.mark.needs_r
@pytest.mark.parametrize("name", ["demo", "tiny"])
def test_cr2_agrees_with_clubsandwich(name, plan):
    reference = pd.read_csv(FIXTURES / "r" / f"{name}_cr2.csv").set_index("term")
    y, X, clusters = reference_inputs(name, plan)
    ours = ols_cr2(y, X, clusters).set_index("term")
    assert list(ours.index) == list(reference.index)
    for column in ("estimate", "std_error", "df", "ci_lower", "ci_upper"):  # they agree to about 1e-12
        np.testing.assert_allclose(ours[column], reference[column], rtol=1e-10, err_msg=column)
    np.testing.assert_allclose(ours["p_value"], reference["p_value"], rtol=1e-9)


@pytest.mark.needs_r
@pytest.mark.parametrize("name", REAL_DATA)
def test_cr2_agrees_with_clubsandwich_on_real_data(name):
    # mlmRev's Chem97 (31,022 students, 131 LEAs; and LEAs 1-10 and 1-5: few clusters) and clubSandwich's
    # MortalityRates panel (state fixed effects within state clusters: the pseudo-inverse on real data).
    reference = pd.read_csv(FIXTURES / "r" / f"{name}_cr2.csv").set_index("term")
    y, X, clusters = real_inputs(name)
    ours = ols_cr2(y, X, clusters).set_index("term")
    assert list(ours.index) == list(reference.index)
    for column in ("estimate", "std_error", "df", "statistic", "ci_lower", "ci_upper"):
        np.testing.assert_allclose(ours[column], reference[column], rtol=1e-10, err_msg=column)
    np.testing.assert_allclose(ours["p_value"], reference["p_value"], rtol=1e-9, atol=1e-300)
    assert ours.attrs["n_clusters"] == clusters.nunique()
    if name == "mortality":  # every state cluster has leverage 1 along its own dummy
        assert _cr2(_prepare(y, X, clusters)).expected_share.min() < 0.99


# --- Wild cluster restricted bootstrap --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tiny", "demo"])
@pytest.mark.parametrize("term", WCR_TERMS)
def test_wcr_matches_naive_refitting_loop(name, term, plan):
    y, X, clusters = reference_inputs(name, plan)
    B, seed = (499 if name == "tiny" else 199), 7  # the refitting loop is slow on demo's 1,883 rows
    fit = _prepare(y, X, clusters)
    j = fit.terms.index(term)
    weights = _webb_weights(B, fit.n_clusters, seed)
    dist = _WCRDistribution(fit, j, weights)
    for theta in (0.0, 0.5 * fit.beta[j], fit.beta[j] - 3.0):  # the null, and values met in the inversion
        t_naive, tstar_naive = naive_wcr(y, X, clusters, j, theta, weights)
        assert dist.statistic(theta) == pytest.approx(t_naive, abs=1e-10)
        np.testing.assert_allclose(dist.tstar(theta), tstar_naive, rtol=0, atol=1e-10)
        # No replication sits within rounding of the observed |t|, so "exactly equal" is meaningful.
        assert np.min(np.abs(np.abs(tstar_naive) - abs(t_naive))) > 1e-8
        p_naive = np.mean(np.abs(tstar_naive) >= abs(t_naive))
        assert dist.p_value(theta) == p_naive
        if theta == 0.0:
            result = wild_cluster_bootstrap(y, X, clusters, term, null=theta, B=B, seed=seed)
            assert result["p_value"] == p_naive
            assert result["statistic"] == pytest.approx(t_naive, abs=1e-10)


def test_wcr_interval_edges_are_where_the_test_starts_rejecting(plan):
    y, X, clusters = reference_inputs("demo", plan)
    term = "funding_group[T.growing]"
    result = wild_cluster_bootstrap(y, X, clusters, term, B=999, seed=3)
    assert set(result) == {"p_value", "ci_lower", "ci_upper", "B", "seed", "weights", "statistic",
                           "enumerated", "note"}
    assert result["B"] == 999 and result["seed"] == 3 and result["weights"] == "webb"
    assert result["enumerated"] is False and result["note"] == ""  # 25 LAs: 6^25 vectors, a random draw
    fit = _prepare(y, X, clusters)
    j = fit.terms.index(term)
    dist = _WCRDistribution(fit, j, _webb_weights(999, fit.n_clusters, 3))
    step = 1e-6 * ols_cr2(y, X, clusters)["std_error"].iloc[j]
    for edge, outward in ((result["ci_lower"], -step), (result["ci_upper"], step)):
        assert dist.p_value(edge - outward) > 0.05
        assert dist.p_value(edge + outward) <= 0.05
    assert result["ci_lower"] < fit.beta[j] < result["ci_upper"]


def test_wcr_is_reproducible_and_seed_dependent(plan):
    y, X, clusters = reference_inputs("tiny", plan)
    term = "funding_group[T.stable]"
    first = wild_cluster_bootstrap(y, X, clusters, term, B=999)
    assert wild_cluster_bootstrap(y, X, clusters, term, B=999) == first
    assert wild_cluster_bootstrap(y, X, clusters, term, B=999, seed=1)["p_value"] != first["p_value"]


@pytest.mark.needs_r
@pytest.mark.parametrize("name", ["demo", "tiny"])
@pytest.mark.parametrize("term", WCR_TERMS)
def test_wcr_agrees_with_independent_r_bootstrap(name, term, plan):
    reference = pd.read_csv(FIXTURES / "r" / f"{name}_wcr.csv").set_index("term").loc[term]
    y, X, clusters = reference_inputs(name, plan)
    B = int(reference["B"])
    level = 0.95
    alpha = 1 - level
    ours = wild_cluster_bootstrap(y, X, clusters, term, B=B, level=level)
    # Same statistic (no randomness in it).
    assert ours["statistic"] == pytest.approx(reference["statistic"], rel=1e-9)
    # p-values: two independent Monte Carlo estimates (numpy vs R draws) of the same quantity; 4 sd of
    # their difference.
    p = reference["p_value"]
    assert abs(ours["p_value"] - p) < 4 * np.sqrt(p * (1 - p) / B) * np.sqrt(2)
    # Interval edges: each is where p(theta) crosses alpha. At a fixed theta the two p estimates differ by
    # Monte Carlo error with sd sqrt(2 alpha (1 - alpha) / B); through the local slope of p(theta) that is a
    # shift of the crossing point. Allow 4 sd of it, plus R's bisection tolerance (1e-4 SE). The slope comes
    # from our own p(theta), differenced over +-0.1 SE around our edge.
    fit = _prepare(y, X, clusters)
    j = fit.terms.index(term)
    dist = _WCRDistribution(fit, j, _webb_weights(B, fit.n_clusters, ours["seed"]))
    se = ols_cr2(y, X, clusters)["std_error"].iloc[j]
    for side in ("ci_lower", "ci_upper"):
        edge, h = ours[side], 0.1 * se
        slope = abs(dist.p_value(edge + h) - dist.p_value(edge - h)) / (2 * h)
        tolerance = 4 * np.sqrt(2 * alpha * (1 - alpha) / B) / slope + 1e-4 * se
        assert abs(edge - reference[side]) < tolerance, (side, edge, reference[side], tolerance)


@pytest.mark.slow
def test_wcr_size_under_the_null_with_few_clusters():
    # 12 clusters of unequal size, exposure assigned to half of them at cluster level, cluster random
    # effects and heteroskedastic errors: the setting the WCR is for. Its 5% test should reject about 5% of
    # the time; 200 data sets give a binomial sd of 1.5 points, so 2%-9% is roughly -2 to +2.6 sd.
    rng = np.random.default_rng(2024)
    sizes = np.array([8, 12, 15, 20, 25, 30, 10, 14, 18, 40, 22, 16])
    n_clusters, n = len(sizes), sizes.sum()
    labels = np.repeat(np.arange(n_clusters), sizes)
    rejections = 0
    for _ in range(200):
        treated = np.repeat(rng.permutation(np.arange(n_clusters) < n_clusters // 2), sizes).astype(float)
        x = rng.normal(size=n) + np.repeat(rng.normal(size=n_clusters), sizes)
        effect = np.repeat(rng.normal(scale=0.7, size=n_clusters), sizes)
        y = 1.0 + 0.0 * treated + 0.5 * x + effect + rng.normal(size=n) * np.exp(0.4 * x)
        X = pd.DataFrame({"Intercept": 1.0, "treated": treated, "x": x})
        result = wild_cluster_bootstrap(y, X, labels, "treated", B=399, seed=int(rng.integers(2**31)))
        rejections += result["p_value"] <= 0.05
    assert 0.02 <= rejections / 200 <= 0.09, rejections


# --- Enumeration, bounded interval search, chunked weights -----------------------------------------------

@pytest.mark.parametrize("n_clusters", [3, 4])
@pytest.mark.parametrize("term", ["exposure", "x"])
def test_wcr_enumerates_all_weight_vectors_and_matches_the_exact_refitting_test(n_clusters, term):
    y, X, clusters = few_cluster_data(20 + n_clusters, sizes=[9, 14, 7, 11][:n_clusters])
    vectors = 6**n_clusters
    result = wild_cluster_bootstrap(y, X, clusters, term, B=vectors, seed=1)  # B = 6^G: enumerated
    assert result["enumerated"] is True and result["B"] == vectors
    assert (f"all 6^{n_clusters} = {vectors:,} Webb weight vectors enumerated: exact p-value, not a random "
            "draw" in result["note"])
    assert wild_cluster_bootstrap(y, X, clusters, term, B=9999, seed=2) == {**result, "seed": 2}  # no draws
    fewer = wild_cluster_bootstrap(y, X, clusters, term, B=vectors - 1, seed=1)
    assert fewer["enumerated"] is False and fewer["B"] == vectors - 1 and fewer["note"] == ""

    weights = all_webb_vectors(n_clusters)
    j = list(X.columns).index(term)
    t, tstar = naive_wcr(y, X, clusters, j, 0.0, weights)
    # Exactly the 6 vectors with one weight for every cluster reproduce |t| (t* = sign(v) t); none other is
    # near it.
    tied = np.isclose(np.abs(tstar), abs(t), rtol=1e-9, atol=0)
    np.testing.assert_array_equal(tied, (weights == weights[:, :1]).all(axis=1))
    assert np.min(np.abs(np.abs(tstar[~tied]) - abs(t))) > 1e-7 * abs(t)
    assert result["p_value"] == np.mean(tied | (np.abs(tstar) >= abs(t)))
    assert result["statistic"] == pytest.approx(t, rel=1e-10)
    # The edges are where the exact test (every vector refitted) starts rejecting.
    step = 1e-6 * ols_cr2(y, X, clusters)["std_error"].iloc[j]
    for edge, outward in ((result["ci_lower"], -step), (result["ci_upper"], step)):
        assert np.isfinite(edge)
        assert naive_p(y, X, clusters, j, edge - outward, weights) > 0.05
        assert naive_p(y, X, clusters, j, edge + outward, weights) <= 0.05


@pytest.mark.parametrize("n_clusters", [1, 2, 3, 4])
def test_enumerated_and_random_weights_in_chunks(n_clusters):
    chunks = list(_enumerated_webb_chunks(n_clusters, rows=7))
    assert max(len(c) for c in chunks) <= 7
    np.testing.assert_array_equal(np.concatenate(chunks), all_webb_vectors(n_clusters))
    # Random draws made in chunks are the same stream as one (B, G) draw, so seeded results do not depend on
    # the chunk size.
    for rows in (1, 64, 1000, 5000):
        np.testing.assert_array_equal(np.concatenate(list(_random_webb_chunks(1001, n_clusters, 9, rows))),
                                      _webb_weights(1001, n_clusters, 9))


def test_wcr_results_do_not_depend_on_the_chunk_size(monkeypatch, plan):
    y, X, clusters = reference_inputs("tiny", plan)
    term = "funding_group[T.growing]"
    whole = wild_cluster_bootstrap(y, X, clusters, term, B=999, seed=4)
    small_y, small_X, small_clusters = few_cluster_data(5, sizes=[8, 9, 10, 11, 12])  # 7,776 vectors
    enumerated = wild_cluster_bootstrap(small_y, small_X, small_clusters, "exposure")
    monkeypatch.setattr(cluster_robust, "_CHUNK_ELEMENTS", 64)  # chunks of a few rows
    chunked = wild_cluster_bootstrap(y, X, clusters, term, B=999, seed=4)
    assert chunked["p_value"] == whole["p_value"]
    for key in ("ci_lower", "ci_upper", "statistic"):
        assert chunked[key] == pytest.approx(whole[key], rel=1e-9, abs=1e-9)
    again = wild_cluster_bootstrap(small_y, small_X, small_clusters, "exposure")
    assert again["enumerated"] and again["B"] == 7776 and again["p_value"] == enumerated["p_value"]


def _hard_case(name: str):
    """Data on which an unbounded interval search used not to end, or would end far from the estimate."""
    rng = np.random.default_rng(11)
    if name == "two clusters":
        labels = np.repeat(["a", "b"], 20)
        X = pd.DataFrame({"Intercept": 1.0, "x": rng.normal(size=40)})
        return 1 + 0.5 * X["x"].to_numpy() + rng.normal(size=40), X, labels, "x"
    if name == "one treated cluster of eight":
        sizes = [12, 9, 15, 11, 8, 14, 10, 13]
        y, X, labels = few_cluster_data(12, sizes)
        X["exposure"] = np.repeat(np.arange(8) == 0, sizes).astype(float)
        return y, X, labels, "exposure"
    # An estimate 1e9 with a standard error near 1e-4: edges 1e13 SE from zero, where a bisection tolerance
    # fixed at 1e-10 SE is below the floating-point spacing.
    sizes = [12, 9, 15, 11, 8, 14, 10, 13, 7, 16]
    labels = np.repeat(np.arange(10), sizes)
    X = pd.DataFrame({"Intercept": 1.0, "x": rng.normal(size=len(labels))})
    return 1e9 + 0.5 * X["x"].to_numpy() + 1e-3 * rng.normal(size=len(labels)), X, labels, "Intercept"


@pytest.mark.parametrize("name", ["two clusters", "one treated cluster of eight", "edge far from zero"])
def test_wcr_interval_search_is_bounded(name, monkeypatch):
    y, X, clusters, term = _hard_case(name)
    calls = []
    p_value = _WCRDistribution.p_value
    monkeypatch.setattr(_WCRDistribution, "p_value",
                        lambda self, theta: calls.append(theta) or p_value(self, theta))
    start = time.perf_counter()
    result = wild_cluster_bootstrap(y, X, clusters, term, B=9999)
    assert time.perf_counter() - start < HANG_SECONDS
    assert len(calls) <= 2 * (31 + 54 + 1) + 2  # see _invert: per edge 31 brackets + 54 bisections (+ note)
    fit = _prepare(y, X, clusters)
    j = fit.terms.index(term)
    se = ols_cr2(y, X, clusters)["std_error"].iloc[j]
    dist = _WCRDistribution(fit, j, _webb_weights(9999, fit.n_clusters, 20120401)
                            if not result["enumerated"] else all_webb_vectors(fit.n_clusters))
    for key, side in (("ci_lower", -1), ("ci_upper", 1)):
        edge = result[key]
        if np.isinf(edge):
            assert edge == side * np.inf and f"{key} = {edge}" in result["note"]
            assert dist.p_value(fit.beta[j] + side * 1e6 * se) > 0.05
        else:
            step = max(1e-6 * se, 8 * np.spacing(abs(edge)))
            assert dist.p_value(edge - side * step) > 0.05 and dist.p_value(edge + side * step) <= 0.05
    if name == "two clusters":  # 36 vectors, 6 of them tie with t at every null value: p >= 1/6 > 0.05
        assert result["enumerated"] and result["B"] == 36
        assert (result["ci_lower"], result["ci_upper"]) == (-np.inf, np.inf)
        assert result["p_value"] >= 1 / 6 and "p >= 6/6^2 = 0.167 for every null value" in result["note"]
    if name == "edge far from zero":
        assert result["ci_lower"] < fit.beta[j] < result["ci_upper"]
        assert result["ci_upper"] - result["ci_lower"] < 100 * se


@pytest.mark.needs_r
@pytest.mark.parametrize("term", ["female", "age"])
def test_enumerated_wcr_agrees_with_exact_r_bootstrap_on_real_data(term):
    # Chem97, LEAs 1-5: all 7,776 Webb vectors in R (refitting every one) and here, so no Monte Carlo error:
    # the same p-value, and the same interval edges up to the two bisections' tolerances (1e-10 SE).
    reference = pd.read_csv(FIXTURES / "r" / "chem97_lea1to5_wcr.csv").set_index("term").loc[term]
    y, X, clusters = real_inputs("chem97_lea1to5")
    ours = wild_cluster_bootstrap(y, X, clusters, term)  # default B = 9,999 >= 6^5
    assert ours["enumerated"] is True and ours["B"] == reference["B"] == 7776
    assert ours["p_value"] == reference["p_value"]
    assert ours["statistic"] == pytest.approx(reference["statistic"], rel=1e-10)
    se = ols_cr2(y, X, clusters).set_index("term").loc[term, "std_error"]
    for side in ("ci_lower", "ci_upper"):
        assert abs(ours[side] - reference[side]) < 1e-8 * se, side
    fit = _prepare(y, X, clusters)
    dist = _WCRDistribution(fit, fit.terms.index(term), all_webb_vectors(5))
    assert np.count_nonzero(dist.tied) == reference["n_tied"] == 6



@pytest.mark.slow
def test_wcr_memory_stays_below_one_weight_array_at_the_largest_b(plan):
    # The weights are made and reduced in chunks: at B = MAX_REPLICATIONS with 25 clusters, the peak is well
    # below the size of a single (B, G) weight array (the replications' 5 numbers and flag, and one chunk).
    import tracemalloc

    y, X, clusters = reference_inputs("demo", plan)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        result = wild_cluster_bootstrap(y, X, clusters, "funding_group[T.growing]", B=MAX_REPLICATIONS)
        assert time.perf_counter() - start < HANG_SECONDS
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["B"] == MAX_REPLICATIONS and not result["enumerated"]
    assert peak < 0.75 * MAX_REPLICATIONS * 25 * 8, peak
