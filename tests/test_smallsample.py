"""Small-sample inference for the mixed model (analysis.smallsample): Satterthwaite and Kenward-Roger.

Checked two ways: against a dense computation from the n x n covariance matrix (every derivative of the
REML deviance written from its textbook formula), and against R's lmerTest (Satterthwaite) and pbkrtest
(Kenward-Roger) on committed fixtures made from real data sets (mlmRev's Chem97 and Exam) and the
pipeline's own samples (tests/fixtures/lme4/small_sample_reference.R).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.design import ModelSpec, design_matrix
from analysis.fastreml import SufficientStatistics
from analysis.mixed import FitSettings, fit_nested_lmm
from analysis.smallsample import fit_inference, variance_structure
from tests.test_fastreml import nested_data

FIXTURES = Path(__file__).parent / "fixtures" / "lme4"


# ---- an independent dense computation ---------------------------------------------------------------------

def dense_quantities(y, X, outer, inner, variances):
    """Phi, U_i, Q_ij, tr(P V_i P V_j), the deviance gradient and Hessian in the variances, from V itself."""
    same_outer = (outer[:, None] == outer[None, :]).astype(float)
    same_inner = same_outer * (inner[:, None] == inner[None, :])
    derivatives = ([same_outer] if len(variances) == 3 else []) + [same_inner, np.eye(len(y))]
    V = sum(v * D for v, D in zip(variances, derivatives, strict=True))
    Vi = np.linalg.inv(V)
    phi = np.linalg.inv(X.T @ Vi @ X)
    P = Vi - Vi @ X @ phi @ X.T @ Vi
    Py = P @ y
    U = np.array([X.T @ Vi @ D @ Vi @ X for D in derivatives])
    Q = np.array([[X.T @ Vi @ Di @ Vi @ Dj @ Vi @ X for Dj in derivatives] for Di in derivatives])
    info = np.array([[np.trace(P @ Di @ P @ Dj) for Dj in derivatives] for Di in derivatives])
    gradient = np.array([np.trace(P @ D) - Py @ D @ Py for D in derivatives])
    hessian = np.array([[-np.trace(P @ Di @ P @ Dj) + 2 * Py @ Di @ P @ Dj @ Py for Dj in derivatives]
                        for Di in derivatives])
    return phi, U, Q, info, gradient, hessian


def dense_deviance(y, X, outer, inner, varpar):
    """The REML deviance at lmerTest's parameters (theta..., sigma), from the dense covariance."""
    *theta, sigma = varpar
    same_outer = (outer[:, None] == outer[None, :]).astype(float)
    same_inner = same_outer * (inner[:, None] == inner[None, :])
    blocks = ([same_outer] if len(theta) == 2 else []) + [same_inner]
    V = sigma**2 * (np.eye(len(y)) + sum(t**2 * B for t, B in zip(theta, blocks, strict=True)))
    Vi = np.linalg.inv(V)
    M = X.T @ Vi @ X
    r = y - X @ np.linalg.solve(M, X.T @ Vi @ y)
    return (np.linalg.slogdet(V)[1] + np.linalg.slogdet(M)[1] + r @ Vi @ r
            + (len(y) - X.shape[1]) * np.log(2 * np.pi)), np.linalg.inv(M)


def numerical_satterthwaite(y, X, outer, inner, varpar, L, h=1e-4):
    """lmerTest's recipe with central differences on the dense deviance: A = 2 H^-1, df = 2 v^2 / g'Ag."""
    varpar = np.asarray(varpar, float)
    k = len(varpar)

    def deviance(v):
        return dense_deviance(y, X, outer, inner, v)[0]

    hessian = np.zeros((k, k))
    for a in range(k):
        for b in range(k):
            ea, eb = np.eye(k)[a] * h, np.eye(k)[b] * h
            hessian[a, b] = (deviance(varpar + ea + eb) - deviance(varpar + ea - eb)
                             - deviance(varpar - ea + eb) + deviance(varpar - ea - eb)) / (4 * h * h)
    def variance(v):
        return L @ dense_deviance(y, X, outer, inner, v)[1] @ L

    gradient = np.array([(variance(varpar + np.eye(k)[a] * h) - variance(varpar - np.eye(k)[a] * h)) / (2 * h)
                         for a in range(k)])
    return 2 * variance(varpar)**2 / (gradient @ (2 * np.linalg.inv(hessian)) @ gradient)


@pytest.fixture(scope="module", params=[True, False], ids=["two_levels", "one_level"])
def small_fit(request):
    rng = np.random.default_rng(7)  # both variances away from zero (the boundary is checked against R)
    y, X, outer, inner = nested_data(rng, n_outer=7, inner_per_outer=(1, 4), rows=(2, 8), p=3)
    inner = np.char.add(outer, inner)  # unique inner labels, so the one-level model has the same clusters
    la_effect = dict(zip(np.unique(outer), rng.normal(size=7), strict=True))
    y = y + 0.8 * pd.Series(outer).map(la_effect).to_numpy()
    y = y + 0.6 * pd.Series(inner).map({c: rng.normal() for c in np.unique(inner)}).to_numpy()
    has_outer = request.param
    fit = fit_nested_lmm(pd.Series(y), pd.DataFrame(X), pd.Series(outer) if has_outer else None,
                         pd.Series(inner), FitSettings())
    return y, X, outer, inner, fit


def test_the_structure_equals_the_dense_computation(small_fit):
    y, X, outer, inner, fit = small_fit
    variances = ([fit.variance_outer] if fit.stats.has_outer else []) + [fit.variance_inner,
                                                                         fit.variance_residual]
    # The structure of the columns as given (the fit itself works with centred columns).
    stats = SufficientStatistics.from_data(y, X, outer if fit.stats.has_outer else None, inner)
    structure = variance_structure(stats, fit.estimates, fit.variance_outer, fit.variance_inner,
                                   fit.variance_residual)
    phi, U, Q, info, gradient, hessian = dense_quantities(y, X, outer, inner, variances)
    np.testing.assert_allclose(structure.covariance, phi, rtol=1e-10)
    np.testing.assert_allclose(fit.covariance, phi, rtol=1e-8)
    np.testing.assert_allclose(fit_inference(fit, "normal").covariance, phi, rtol=1e-8)
    np.testing.assert_allclose(structure.U, U, rtol=1e-10, atol=1e-14 * np.abs(U).max())
    np.testing.assert_allclose(structure.Q, Q, rtol=1e-10, atol=1e-14 * np.abs(Q).max())
    np.testing.assert_allclose(structure.information, info, rtol=1e-10)
    np.testing.assert_allclose(structure.deviance_hessian, hessian, rtol=1e-10)
    # At the REML optimum the deviance gradient vanishes (up to the search's precision).
    np.testing.assert_allclose(structure.deviance_gradient, gradient, atol=1e-6 * np.abs(info).max())
    assert np.abs(gradient).max() < 1e-4 * np.abs(info).max()


def test_satterthwaite_equals_lmertests_recipe_by_finite_differences(small_fit):
    y, X, outer, inner, fit = small_fit
    sigma = np.sqrt(fit.variance_residual)
    theta = ([fit.theta[0]] if fit.stats.has_outer else []) + [fit.theta[1]]
    inference = fit_inference(fit, "satterthwaite")
    for L in (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 1.0, -1.0])):
        expected = numerical_satterthwaite(y, X, outer, inner, [*theta, sigma], L)
        assert inference.contrast(L).df == pytest.approx(expected, rel=1e-4)


def test_normal_method_is_the_plain_wald_covariance(small_fit):
    *_, fit = small_fit
    normal = fit_inference(fit, "normal").contrast([0, 1.0, 0])
    assert np.isinf(normal.df) and normal.std_error == pytest.approx(fit.std_errors[1], rel=1e-10)
    kr = fit_inference(fit, "kenward_roger").contrast([0, 1.0, 0])
    assert kr.std_error >= normal.std_error  # the adjustment inflates the covariance here
    with pytest.raises(ValueError, match="unknown degrees-of-freedom method"):
        fit_inference(fit, "containment")


@pytest.mark.parametrize("units", [1e6, 1e-8])
def test_degrees_of_freedom_do_not_depend_on_the_units_of_y(small_fit, units):
    """y in pence rather than pounds changes no degrees of freedom (lmerTest's absolute eigenvalue cut would,
    once sigma is far from 1: at 1e6 it dropped a direction and doubled one df)."""
    y, X, outer, inner, fit = small_fit
    scaled = fit_nested_lmm(pd.Series(y * units), pd.DataFrame(X), pd.Series(outer) if fit.stats.has_outer
                            else None, pd.Series(inner), FitSettings())
    for method in ("satterthwaite", "kenward_roger"):
        base, other = fit_inference(fit, method), fit_inference(scaled, method)
        for L in np.eye(3):
            assert other.contrast(L).df == pytest.approx(base.contrast(L).df, rel=1e-5)
            assert other.contrast(L).std_error == pytest.approx(units * base.contrast(L).std_error, rel=1e-5)


def test_contrasts_and_levels_are_checked(small_fit):
    *_, fit = small_fit
    inference = fit_inference(fit, "satterthwaite")
    for bad in ([0.0, 0.0, 0.0], [1.0, np.nan, 0.0], [1.0, 0.0]):
        with pytest.raises(ValueError, match="a contrast is 3 finite weights"):
            inference.contrast(bad)
    contrast = inference.contrast([0, 1.0, 0])
    lower, upper = contrast.interval(0.95)
    assert lower < contrast.estimate < upper
    for bad in (1.5, 95, 0.0, True, "0.95"):
        with pytest.raises(ValueError, match="level must be a number in"):
            contrast.interval(bad)


# ---- against lmerTest and pbkrtest ------------------------------------------------------------------------

def real_data(name: str, plan: dict):
    """The data set a fixture row was made from, as (y, X, outer, inner); columns as the R script fits."""
    if name.startswith("chem97"):
        chem = pd.read_csv(FIXTURES / "chem97_input.csv.gz")
        chem = {"chem97": chem, "chem97_lea8to15": chem[chem["lea"].between(8, 15)],
                "chem97_lea40to45": chem[chem["lea"].between(40, 45)]}[name]
        X = pd.DataFrame({"Intercept": 1.0, "gcsecnt": chem["gcsecnt"], "age": chem["age"].astype(float),
                          "female": chem["female"].astype(float)})
        return chem["score"], X, chem["lea"], chem["school"]
    if name == "exam":
        exam = pd.read_csv(FIXTURES / "exam_input.csv")
        X = exam[["standLRT", "girl", "girls_school", "boys_school"]].astype(float)
        X.insert(0, "Intercept", 1.0)
        return exam["normexam"], X, None, exam["school"]
    frame = pd.read_csv(FIXTURES / f"{name}_input.csv", dtype={"funding_group": "string"})
    y, X = design_matrix(frame, ModelSpec.from_config("primary", plan["models"]["primary"]))
    return y, X, frame["la_code"], frame["centre_id"]


REFERENCE = pd.read_csv(FIXTURES / "small_sample_reference.csv")
SUMMARY = pd.read_csv(FIXTURES / "small_sample_summary.csv").pivot(index="dataset", columns="quantity",
                                                                   values="value")


@pytest.fixture(scope="module")
def fitted(plan):
    fits = {}
    for name in REFERENCE["dataset"].unique():
        y, X, outer, inner = real_data(name, plan)
        fit = fit_nested_lmm(y, X, outer, inner, FitSettings())
        fits[name] = (fit, {method: fit_inference(fit, method)
                            for method in ("satterthwaite", "kenward_roger")})
    return fits


@pytest.mark.parametrize("name", sorted(REFERENCE["dataset"].unique()))
def test_satterthwaite_and_kenward_roger_agree_with_lmertest_and_pbkrtest(name, fitted):
    fit, inference = fitted[name]
    rows = REFERENCE[REFERENCE["dataset"] == name]
    for _, row in rows.iterrows():
        L = np.array([float(v) for v in row["coefficients"].split()])
        satterthwaite = inference["satterthwaite"].contrast(L)
        assert satterthwaite.estimate == pytest.approx(row["estimate"], rel=1e-5, abs=1e-8), row["contrast"]
        assert satterthwaite.std_error == pytest.approx(row["std_error"], rel=1e-5), row["contrast"]
        assert satterthwaite.df == pytest.approx(row["df_satterthwaite"], rel=1e-4), row["contrast"]
        if not np.isnan(row["df_kenward_roger"]):
            kr = inference["kenward_roger"].contrast(L)
            assert kr.std_error == pytest.approx(row["std_error_kenward_roger"], rel=1e-5), row["contrast"]
            assert kr.df == pytest.approx(row["df_kenward_roger"], rel=1e-4), row["contrast"]


@pytest.mark.parametrize("name", sorted(REFERENCE["dataset"].unique()))
def test_the_engine_reaches_lme4s_optimum_on_real_data(name, fitted):
    """REML log-likelihood at least lme4's, variance components to 1e-4, and the same verdict on a boundary
    (singular) fit; Chem97 is the 31,022-row nested data set on which statsmodels' MixedLM stops short."""
    fit, _ = fitted[name]
    summary = SUMMARY.loc[name]
    assert fit.reml_loglik >= float(summary["reml_loglik"]) - 1e-6
    assert fit.reml_loglik - float(summary["reml_loglik"]) < 1e-4
    assert fit.singular == (summary["singular"] == "TRUE")
    assert fit.n_obs == int(summary["n_obs"])
    expected = [float(summary[k]) for k in ("variance_inner", "variance_residual")]
    np.testing.assert_allclose([fit.variance_inner, fit.variance_residual], expected, rtol=1e-4)
    if not pd.isna(summary["variance_outer"]):
        assert fit.variance_outer == pytest.approx(float(summary["variance_outer"]), rel=1e-4, abs=1e-8)
    else:
        assert fit.levels == ("inner",) and np.isnan(fit.variance_outer)
