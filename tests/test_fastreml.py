"""The sufficient-statistics REML engine against a dense computation, lme4 and statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.design import design_matrix
from analysis.fastreml import SufficientStatistics, fit_nested_reml, profile
from analysis.primary import fit_primary
from tests.test_mixed import read_reference


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


@pytest.mark.parametrize("name", ["demo", "tiny"])
def test_agrees_with_lme4_and_reaches_its_optimum(name, plan):
    fixed, summary, frame = read_reference(name)
    _, spec = fit_primary(frame, plan)
    y, X = design_matrix(frame, spec)
    fit = fit_nested_reml(y, X, frame["la_code"], frame["centre_id"])
    ours = pd.DataFrame({"estimate": fit.beta, "std_error": fit.std_error}, index=X.columns).loc[fixed.index]
    np.testing.assert_allclose(ours["estimate"], fixed["estimate"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours["std_error"], fixed["std_error"], rtol=1e-5)
    assert fit.reml_loglik >= float(summary["reml_loglik"]) - 1e-9
    np.testing.assert_allclose([fit.variance_outer, fit.variance_inner, fit.variance_residual],
                               [float(summary[k]) for k in ("variance_la", "variance_centre",
                                                            "variance_residual")], rtol=1e-4)


@pytest.mark.parametrize("name", ["demo", "tiny"])
def test_agrees_with_the_statsmodels_engine(name, plan):
    _, _, frame = read_reference(name)
    reference, spec = fit_primary(frame, plan)  # statsmodels MixedLM, several optimisers
    y, X = design_matrix(frame, spec)
    fit = fit_nested_reml(y, X, frame["la_code"], frame["centre_id"])
    table = reference.table().set_index("term").loc[list(X.columns)]
    np.testing.assert_allclose(fit.beta, table["estimate"], rtol=1e-4, atol=1e-6)
    assert fit.reml_loglik >= reference.reml_loglik - 1e-9


def test_a_variance_at_zero_is_found_on_the_boundary():
    rng = np.random.default_rng(7)
    y, X, outer, inner = nested_data(rng, n_outer=30, rows=(5, 10))  # no cluster effects at all
    fit = fit_nested_reml(y, X, outer, inner)
    grid = max(profile(SufficientStatistics.from_data(y, X, outer, inner), a, c).reml_loglik
               for a in np.linspace(0, 1, 21) for c in np.linspace(0, 1, 21))
    assert fit.reml_loglik >= grid - 1e-9
