"""The sufficient-statistics REML engine against a dense computation, lme4 and statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.fastreml import SufficientStatistics, profile
from analysis.mixed import FitSettings, fit_nested_lmm, fit_with_statsmodels


def nested_data(rng, n_outer=6, inner_per_outer=(1, 4), rows=(1, 9), p=3):
    outer, inner = [], []
    for la in range(n_outer):
        for c in range(rng.integers(*inner_per_outer, endpoint=True)):
            k = rng.integers(*rows, endpoint=True)
            outer += [f"L{la}"] * k
            inner += [f"C{c}"] * k  # inner labels repeat across outer clusters: nesting must be by pair
    n = len(outer)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = X @ rng.normal(size=p) + rng.normal(size=n)
    return y, X, np.array(outer), np.array(inner)


def dense_reml_loglik(y, X, outer, inner, theta_outer, theta_inner):
    """The same criterion from the n x n covariance, inverted directly."""
    same_outer = (outer[:, None] == outer[None, :]).astype(float)
    same_inner = same_outer * (inner[:, None] == inner[None, :])
    H = np.eye(len(y)) + theta_outer ** 2 * same_outer + theta_inner ** 2 * same_inner
    Hi = np.linalg.inv(H)
    xtvx = X.T @ Hi @ X
    beta = np.linalg.solve(xtvx, X.T @ Hi @ y)
    r = y - X @ beta
    dof = len(y) - X.shape[1]
    rss = r @ Hi @ r
    deviance = (np.linalg.slogdet(H)[1] + np.linalg.slogdet(xtvx)[1]
                + dof * (1 + np.log(2 * np.pi * rss / dof)))
    return -deviance / 2, beta


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("thetas", [(0.0, 0.0), (0.7, 0.0), (0.0, 1.3), (0.4, 2.0)])
def test_profile_equals_the_dense_computation(seed, thetas):
    y, X, outer, inner = nested_data(np.random.default_rng(seed))
    expected, beta = dense_reml_loglik(y, X, outer, inner, *thetas)
    got = profile(SufficientStatistics.from_data(y, X, outer, inner), *thetas)
    assert got.reml_loglik == pytest.approx(expected, rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(got.beta, beta, rtol=1e-10, atol=1e-12)


def fit(y, X, outer, inner):
    return fit_nested_lmm(pd.Series(y), pd.DataFrame(X), pd.Series(outer), pd.Series(inner), FitSettings())


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_statsmodels_mixedlm(seed):
    """Where statsmodels reaches the optimum it gives the same estimates; it never finds a higher one."""
    y, X, outer, inner = nested_data(np.random.default_rng(100 + seed), n_outer=12, inner_per_outer=(2, 5),
                                     rows=(4, 15), p=4)
    ours = fit(y, X, outer, inner)
    reference = fit_with_statsmodels(y, X, outer, inner, method="bfgs")
    assert ours.reml_loglik >= reference.llf - 1e-8
    if ours.reml_loglik - reference.llf < 1e-6:
        np.testing.assert_allclose(ours.estimates, reference.fe_params, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ours.variance_residual, reference.scale, rtol=1e-3)


def test_a_variance_at_zero_is_found_on_the_boundary():
    rng = np.random.default_rng(7)
    y, X, outer, inner = nested_data(rng, n_outer=30, rows=(5, 10))  # no cluster effects at all
    ours = fit(y, X, outer, inner)
    grid = max(profile(SufficientStatistics.from_data(y, X, outer, inner), a, c).reml_loglik
               for a in np.linspace(0, 1, 21) for c in np.linspace(0, 1, 21))
    assert ours.reml_loglik >= grid - 1e-9


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("has_outer", [True, False])
@pytest.mark.parametrize("thetas", [(0.3, 0.7), (1.5, 0.2), (0.0, 0.5)])
def test_the_analytic_gradient_equals_central_differences(seed, has_outer, thetas):
    y, X, outer, inner = nested_data(np.random.default_rng(seed), n_outer=8)
    stats = SufficientStatistics.from_data(y, X, outer if has_outer else None, inner)
    got = profile(stats, *thetas, gradient=True)
    h = 1e-6
    numeric = [(profile(stats, thetas[0] + h, thetas[1]).reml_loglik
                - profile(stats, thetas[0] - h, thetas[1]).reml_loglik) / (2 * h) if has_outer else 0.0,
               (profile(stats, thetas[0], thetas[1] + h).reml_loglik
                - profile(stats, thetas[0], thetas[1] - h).reml_loglik) / (2 * h)]
    np.testing.assert_allclose(got.gradient, numeric, rtol=1e-6, atol=1e-7)
    # In the variance ratio gamma = theta^2: d/dtheta = 2 theta d/dgamma.
    np.testing.assert_allclose(got.gradient, 2 * np.array([thetas[0] * has_outer, thetas[1]])
                               * got.ratio_gradient, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_a_model_without_the_outer_level_is_the_dense_model_with_its_variance_at_zero(seed):
    y, X, outer, inner = nested_data(np.random.default_rng(seed))
    pairs = np.char.add(outer, inner)
    expected, beta = dense_reml_loglik(y, X, outer, inner, 0.0, 0.8)
    got = profile(SufficientStatistics.from_data(y, X, None, pairs), 5.0, 0.8)  # theta_outer is ignored
    assert got.reml_loglik == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(got.beta, beta, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_outer_sums_by_blocks_equal_the_indicators_and_any_order_of_clusters_gives_the_same_profile(seed):
    """profile sums the centres' statistics over each LA by contiguous blocks when the centres of each LA
    are adjacent (as every constructor leaves them), else through the indicator matrix: both are the same
    sums, and the REML criterion and its gradient do not depend on the order the centres are listed in."""
    from dataclasses import replace

    y, X, outer, inner = nested_data(np.random.default_rng(300 + seed), n_outer=7)
    stats = SufficientStatistics.from_data(y, X, outer, inner, centre=True)
    assert stats._outer_starts is not None
    values = np.random.default_rng(seed).normal(size=(stats.n_inner, 3))
    indicator = (stats.inner_outer[None, :] == np.arange(len(stats.outer_labels))[:, None]).astype(float)
    np.testing.assert_allclose(stats.outer_sums(values), indicator @ values, rtol=1e-13, atol=1e-13)

    shuffled_order = np.random.default_rng(seed).permutation(stats.n_inner)
    shuffled = replace(stats, inner_sums=stats.inner_sums[shuffled_order],
                       inner_sizes=stats.inner_sizes[shuffled_order],
                       inner_outer=stats.inner_outer[shuffled_order])
    assert shuffled._outer_starts is None  # the indicator's path
    np.testing.assert_allclose(shuffled.outer_sums(values[shuffled_order]), indicator @ values, rtol=1e-13,
                               atol=1e-13)
    for thetas in [(0.5, 1.1), (0.0, 0.3)]:
        ours, theirs = profile(stats, *thetas, gradient=True), profile(shuffled, *thetas, gradient=True)
        assert ours.reml_loglik == pytest.approx(theirs.reml_loglik, rel=1e-12)
        np.testing.assert_allclose(ours.gradient, theirs.gradient, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("column_factors", [False, True])
def test_the_statistics_of_two_outcomes_from_one_pass_are_those_of_each(column_factors):
    """The joint test keeps the statistics of the observed and the null-imposed outcome: from_data of the
    second with the first appended to X, then last_column_as_outcome (the first) and select of X's columns
    (the second), gives what from_data of each gives, centring and the rank rule's factors included."""
    y, X, outer, inner = nested_data(np.random.default_rng(41), n_outer=8, p=4)
    y = y + 1e3  # far from zero: the centring shift matters
    other = y - 2.5 * X[:, 1]
    both = SufficientStatistics.from_data(other, np.column_stack((X, y)), outer, inner, centre=True,
                                          column_factors=column_factors)
    for got, outcome in [(both.last_column_as_outcome(), y), (both.select(list(range(X.shape[1]))), other)]:
        expected = SufficientStatistics.from_data(outcome, X, outer, inner, centre=True,
                                                  column_factors=column_factors)
        assert (got.p, got.intercept, got.has_outer) == (expected.p, expected.intercept, expected.has_outer)
        for name in ["outer_cross", "inner_sums", "inner_sizes", "inner_outer", "shift"]:
            np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-12, atol=1e-9,
                                       err_msg=name)
        if column_factors:
            np.testing.assert_allclose(got.column_factor().T @ got.column_factor(), X.T @ X, rtol=1e-10,
                                       atol=1e-8)
        for thetas in [(0.6, 0.9), (0.0, 0.4)]:
            assert profile(got, *thetas).reml_loglik == pytest.approx(profile(expected, *thetas).reml_loglik,
                                                                      rel=1e-12)


def test_from_data_refuses_an_outcome_or_design_of_the_wrong_shape():
    """from_data used as a library: two outcome columns, a design with a third dimension or rows that do not
    match are refused, not flattened into statistics of the wrong numbers."""
    y, X, outer, inner = nested_data(np.random.default_rng(5))
    for outcome, design in [(np.column_stack([y, -y]), X), (y, np.stack([X, X], axis=2)), (y[:-1], X)]:
        with pytest.raises(ValueError, match="y must be one value per row"):
            SufficientStatistics.from_data(outcome, design, outer, inner)
