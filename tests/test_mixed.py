"""The primary mixed model: agreement with lme4, SE formula, optimiser checks, recovery of a known truth."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.regression.mixed_linear_model import MixedLM

from analysis.design import ModelSpec, design_matrix
from analysis.mixed import FitDisagreement, FitSettings, fit_nested_lmm, gls_covariance
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
    fixed, summary, frame = read_reference(name)
    fit, _ = fit_primary(frame, plan)
    ours = fit.table().set_index("term").loc[fixed.index]
    np.testing.assert_allclose(ours["estimate"], fixed["estimate"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(ours["std_error"], fixed["std_error"], rtol=1e-3)
    assert fit.reml_loglik == pytest.approx(float(summary["reml_loglik"]), abs=1e-4)
    np.testing.assert_allclose(
        [fit.variance_outer, fit.variance_inner, fit.variance_residual],
        [float(summary[k]) for k in ("variance_la", "variance_centre", "variance_residual")],
        rtol=1e-3, atol=1e-6,
    )
    assert fit.n_obs == int(summary["n_obs"])


@pytest.mark.parametrize("name", ["demo", "tiny"])
def test_fit_is_at_least_as_good_as_statsmodels_default(name, plan):
    _, _, frame = read_reference(name)
    fit, spec = fit_primary(frame, plan)
    y, X = design_matrix(frame, spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = MixedLM(y.to_numpy(), X.to_numpy(), groups=frame["la_code"].to_numpy(),
                          exog_re=np.ones((len(y), 1)),
                          exog_vc=_vc_dict(frame)).fit(reml=True)
    assert fit.reml_loglik >= default.llf - 1e-8


def _vc_dict(frame):
    out = {}
    for la, rows in frame.groupby("la_code"):
        out[la] = pd.get_dummies(rows["centre_id"]).to_numpy(float)
    return {"centre": out}


def test_gls_covariance_matches_dense_inverse():
    rng = np.random.default_rng(3)
    n = 60
    outer = np.repeat(["a", "b", "c"], 20)
    inner = np.array([f"{o}{i % 4}" for i, o in enumerate(outer)])
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    y = X @ [1.0, 0.5, -0.3] + rng.normal(size=n)
    v_outer, v_inner, v_res = 0.7, 0.3, 1.3
    V = v_res * np.eye(n) + v_outer * (outer[:, None] == outer) + v_inner * (inner[:, None] == inner)
    Vinv = np.linalg.inv(V)
    cov_dense = np.linalg.inv(X.T @ Vinv @ X)
    beta_dense = cov_dense @ X.T @ Vinv @ y
    beta, cov = gls_covariance(X, y, outer, inner, v_outer, v_inner, v_res)
    np.testing.assert_allclose(cov, cov_dense, rtol=1e-10)
    np.testing.assert_allclose(beta, beta_dense, rtol=1e-10)


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
    """Nelder-Mead can step onto a zero variance ratio and report llf = +inf; that is not the best fit."""
    _, _, frame = read_reference("tiny")
    real_fit = MixedLM.fit

    def nm_reports_infinity(self, *args, **kwargs):
        result = real_fit(self, *args, **kwargs)
        if kwargs.get("method") == "nm":
            result.llf = np.inf
        return result

    monkeypatch.setattr(MixedLM, "fit", nm_reports_infinity)
    fit, _ = fit_primary(frame, plan)
    assert np.isfinite(fit.reml_loglik)
    assert "nm" not in fit.confirming_methods and len(fit.confirming_methods) >= 2
