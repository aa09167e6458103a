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
