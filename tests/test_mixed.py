"""The primary mixed model: agreement with lme4, SE formula, optimiser checks, recovery of a known truth."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize

from analysis import mixed
from analysis.design import ModelSpec, design_matrix
from analysis.mixed import FitDisagreement, FitSettings, fit_nested_lmm, fit_with_statsmodels
from analysis.primary import fit_primary, primary_frame
from analysis.simulate import PRESETS, simulate, write

FIXTURES = Path(__file__).parent / "fixtures" / "lme4"


def read_reference(name: str):
    fixed = pd.read_csv(FIXTURES / f"{name}_fixed.csv").set_index("term")
    summary = pd.read_csv(FIXTURES / f"{name}_summary.csv").set_index("quantity")["value"]
    frame = pd.read_csv(FIXTURES / f"{name}_input.csv", dtype={"funding_group": "string"})
    return fixed, summary, frame


@pytest.mark.parametrize("name", ["demo", "tiny"])
def test_primary_model_agrees_with_lme4(name, plan):
    """Fixed effects and SEs within 1e-5 relative of lme4's, and a REML log-likelihood at least as high."""
    fixed, summary, frame = read_reference(name)
    fit, _ = fit_primary(frame, plan)
    ours = fit.table().set_index("term").loc[fixed.index]
    np.testing.assert_allclose(ours["estimate"], fixed["estimate"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours["std_error"], fixed["std_error"], rtol=1e-5)
    assert fit.reml_loglik >= float(summary["reml_loglik"]) - 1e-9
    np.testing.assert_allclose(
        [fit.variance_outer, fit.variance_inner, fit.variance_residual],
        [float(summary[k]) for k in ("variance_la", "variance_centre", "variance_residual")],
        rtol=1e-4,
    )
    assert fit.n_obs == int(summary["n_obs"])


@pytest.mark.parametrize("name", ["demo", "tiny"])
def test_fit_is_at_least_as_good_as_statsmodels_default(name, plan):
    _, _, frame = read_reference(name)
    fit, spec = fit_primary(frame, plan)
    y, X = design_matrix(frame, spec)
    for method in ("lbfgs", "bfgs", "powell"):
        reference = fit_with_statsmodels(y, X, frame["la_code"], frame["centre_id"], method=method)
        assert fit.reml_loglik >= reference.llf - 1e-8, method
        if fit.reml_loglik - reference.llf < 1e-7:  # the same optimum: the same estimates
            np.testing.assert_allclose(fit.estimates, reference.fe_params, rtol=1e-4, atol=1e-6)


def test_covariance_is_the_dense_gls_covariance_at_the_estimates(plan):
    """SEs: (X' V^-1 X)^-1 with V built row by row at the REML variance components (lme4's convention)."""
    _, _, frame = read_reference("tiny")
    fit, spec = fit_primary(frame, plan)
    y, X = design_matrix(frame, spec)
    outer = frame["la_code"].to_numpy()
    inner = (frame["la_code"] + ":" + frame["centre_id"]).to_numpy()
    V = (fit.variance_residual * np.eye(len(y)) + fit.variance_outer * (outer[:, None] == outer)
         + fit.variance_inner * (inner[:, None] == inner))
    Vinv = np.linalg.inv(V)
    Xv = X.to_numpy(float)
    covariance = np.linalg.inv(Xv.T @ Vinv @ Xv)
    np.testing.assert_allclose(fit.covariance, covariance, rtol=1e-8)
    np.testing.assert_allclose(fit.estimates, covariance @ Xv.T @ Vinv @ y.to_numpy(float), rtol=1e-8)


def test_a_single_optimiser_cannot_confirm_the_optimum(plan):
    _, _, frame = read_reference("tiny")
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    y, X = design_matrix(frame, spec)
    with pytest.raises(FitDisagreement, match="no second optimiser"):
        fit_nested_lmm(y, X, frame["la_code"], frame["centre_id"],
                       FitSettings(methods=("lbfgs",), start_ratios=(0.3,)))


def test_fit_records_every_attempt_and_the_confirming_optimisers(plan):
    _, _, frame = read_reference("tiny")
    fit, _ = fit_primary(frame, plan)
    report = fit.diagnostics()
    settings = plan["mixed_model_fit"]
    assert len(report["attempts"]) == len(settings["methods"]) * (len(settings["start_ratios"]) + 1)
    assert len(report["confirming_methods"]) >= 2
    assert min(a["reml_loglik_gap"] for a in report["attempts"]) == 0


@pytest.mark.slow
def test_recovers_the_true_effect_on_a_large_simulated_sample(plan):
    settings = PRESETS["large"]
    with tempfile.TemporaryDirectory() as tmp:
        write(simulate(settings), Path(tmp))
        frame, _ = primary_frame(tmp, plan)
    fit, spec = fit_primary(frame, plan)
    table = fit.table().set_index("term")
    for level, truth in (("growing", settings.effect_growing), ("stable", settings.effect_stable)):
        row = table.loc[spec.exposure_term(level)]
        assert abs(row["estimate"] - truth) < 3 * row["std_error"], (level, row.to_dict(), truth)
    # The truth is not trivially near zero: the design can tell the effects from no effect.
    growing = table.loc[spec.exposure_term("growing")]
    assert growing["estimate"] + 3 * growing["std_error"] < 0


def test_an_attempt_with_a_non_finite_likelihood_is_ignored(plan, monkeypatch):
    """A search that ends at a non-finite criterion (an optimiser stepping where the profile is undefined)
    is not the best fit, and cannot confirm it."""
    _, _, frame = read_reference("tiny")
    real_minimize = scipy.optimize.minimize

    def nelder_mead_ends_nowhere(fun, x0, method, **kwargs):
        result = real_minimize(fun, x0, method=method, **kwargs)
        if method == "Nelder-Mead":
            result.fun = -np.inf
        return result

    monkeypatch.setattr(mixed.scipy.optimize, "minimize", nelder_mead_ends_nowhere)
    fit, _ = fit_primary(frame, plan)
    assert np.isfinite(fit.reml_loglik)
    assert "nm" not in fit.confirming_methods and len(fit.confirming_methods) >= 2
