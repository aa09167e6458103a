"""Small-sample cluster-robust OLS inference (analysis.robust): CR2 + Satterthwaite and the WCR bootstrap.

Checked three ways: against dense textbook implementations (n x n hat matrix; a per-replication OLS refit),
against R (clubSandwich for CR2; an independent R bootstrap, tests/fixtures/r/cr2_reference.R), and by the
size of the bootstrap test under a simulated null with few clusters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.design import ModelSpec, design_matrix
from analysis.robust import (
    TABLE_COLUMNS,
    _prepare,
    _WCRDistribution,
    _webb_weights,
    ols_cr2,
    wild_cluster_bootstrap,
)

FIXTURES = Path(__file__).parent / "fixtures"
WCR_TERMS = ["funding_group[T.growing]", "funding_group[T.stable]"]


# --- Dense reference implementations (small data only) ---------------------------------------------------

def _inverse_sqrt_psd(matrix: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    powered = np.where(values > tol, 1.0 / np.sqrt(np.where(values > tol, values, 1.0)), 0.0)
    return (vectors * powered) @ vectors.T


def dense_cr2(y, X, clusters):
    """CR2 and Satterthwaite df straight from the definitions, with the n x n matrix I - H."""
    y, X = np.asarray(y, float), np.asarray(X, float)
    n, k = X.shape
    bread = np.linalg.inv(X.T @ X)
    resid_maker = np.eye(n) - X @ bread @ X.T
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


@pytest.mark.needs_r
@pytest.mark.parametrize("name", ["demo", "tiny"])
def test_cr2_agrees_with_clubsandwich(name, plan):
    reference = pd.read_csv(FIXTURES / "r" / f"{name}_cr2.csv").set_index("term")
    y, X, clusters = reference_inputs(name, plan)
    ours = ols_cr2(y, X, clusters).set_index("term")
    assert list(ours.index) == list(reference.index)
    np.testing.assert_allclose(ours["estimate"], reference["estimate"], rtol=1e-6)
    np.testing.assert_allclose(ours["std_error"], reference["std_error"], rtol=1e-6)
    np.testing.assert_allclose(ours["df"], reference["df"], rtol=1e-4)
    np.testing.assert_allclose(ours["p_value"], reference["p_value"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours[["ci_lower", "ci_upper"]], reference[["ci_lower", "ci_upper"]],
                               rtol=1e-6)


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
    assert set(result) == {"p_value", "ci_lower", "ci_upper", "B", "seed", "weights", "statistic"}
    assert result["B"] == 999 and result["seed"] == 3 and result["weights"] == "webb"
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
    with pytest.raises(KeyError):
        wild_cluster_bootstrap(y, X, clusters, "nonexistent")


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
