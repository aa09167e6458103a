"""Secondary-outcome and dose-response models against R, and the pieces they are built from."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from analysis.binary import gee_logistic, logistic_start, standardised_risk_difference
from analysis.design import ModelSpec, design_matrix, spline_basis
from analysis.models import complete_cases, contrast_rows, fit_model
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "r"


@pytest.fixture(scope="module")
def secondary_frame():
    frame = pd.read_csv(FIXTURES / "secondary_input.csv", dtype={"funding_group": "string"})
    # The plan's binary score k6_serious (K6 >= 13), made as the sample builder makes it (and the R script).
    frame["k6_serious_w3"] = (frame["k6_w3"] >= 13).astype(float)
    return frame


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(FIXTURES / "secondary_reference.csv").set_index(["model", "term"])


@pytest.mark.parametrize("name", ["ghq_likert", "ghq_caseness", "dose_linear", "serious_distress",
                                  "serious_distress_dose", "ghq_case_dose"])
def test_secondary_models_agree_with_r(name, plan, secondary_frame, reference):
    spec = ModelSpec.from_config(name, plan["models"][name])
    summary = fit_model(secondary_frame, spec, plan["mixed_model_fit"])
    expected = reference.loc[name]
    ours = summary.coefficients.set_index("term").loc[expected.index]
    # GEE too: binary.gee_logistic uses geepack's moment estimators (ddof_scale=0). Estimates agree to 1e-4
    # relative or a thousandth of their SE (the engines stop iterating at different tolerances).
    gap = (ours["estimate"] - expected["estimate"]).abs()
    assert (gap <= 1e-4 * expected["estimate"].abs() + 1e-3 * expected["std_error"]).all(), gap.max()
    np.testing.assert_allclose(ours["std_error"], expected["std_error"], rtol=1e-3)


def test_rows_with_missing_model_variables_are_counted(plan, secondary_frame):
    spec = ModelSpec.from_config("ghq_caseness", plan["models"]["ghq_caseness"])
    complete, excluded = complete_cases(secondary_frame, spec)
    missing = secondary_frame[spec.variables].isna().any(axis=1).sum()
    assert excluded == missing > 0 and len(complete) == len(secondary_frame) - missing
    summary = fit_model(secondary_frame, spec, plan["mixed_model_fit"])
    assert summary.diagnostics["excluded_missing"] == excluded and summary.n == len(complete)


def test_caseness_reports_odds_ratio_and_risk_difference(plan, secondary_frame):
    spec = ModelSpec.from_config("ghq_caseness", plan["models"]["ghq_caseness"])
    summary = fit_model(secondary_frame, spec, plan["mixed_model_fit"])
    rows = pd.DataFrame(contrast_rows(summary, spec))
    assert set(rows["scale"]) == {"odds ratio", "risk difference"}
    odds = rows[rows["scale"] == "odds ratio"].set_index("contrast")
    log_odds = summary.coefficients.set_index("term")["estimate"]
    growing = np.exp(log_odds["funding_group[T.growing]"])
    assert odds.loc["growing vs cut", "estimate"] == pytest.approx(growing)
    assert (odds["ci_lower"] < odds["estimate"]).all() and (odds["estimate"] < odds["ci_upper"]).all()


def test_a_logistic_dose_response_reports_the_odds_ratio_per_step(plan, secondary_frame):
    spec = ModelSpec.from_config("serious_distress_dose", plan["models"]["serious_distress_dose"])
    summary = fit_model(secondary_frame, spec, plan["mixed_model_fit"])
    (row,) = contrast_rows(summary, spec)
    coefficient = summary.coefficients.set_index("term").loc[spec.linear_term]
    assert row["scale"] == "odds ratio" and row["contrast"] == "per 10 points of budget_change_pct"
    assert row["estimate"] == pytest.approx(np.exp(coefficient["estimate"]))
    assert row["ci_lower"] == pytest.approx(np.exp(coefficient["ci_lower"]))
    assert "serious psychological distress (K6 of 13 or more) at wave 3" in row["estimand"]


def test_risk_difference_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"Intercept": 1.0, "g[T.a]": rng.integers(0, 2, 300).astype(float),
                      "g[T.b]": 0.0, "x": rng.normal(size=300)})
    X.loc[X["g[T.a]"] == 0, "g[T.b]"] = rng.integers(0, 2, (X["g[T.a]"] == 0).sum()).astype(float)
    beta = np.array([-0.5, 0.4, -0.2, 0.3])
    covariance = np.diag([0.04, 0.02, 0.03, 0.01])

    def rd(b):
        exposed, reference = X.copy(), X.copy()
        exposed[["g[T.a]", "g[T.b]"]] = [1.0, 0.0]
        reference[["g[T.a]", "g[T.b]"]] = 0.0
        return expit(exposed.to_numpy() @ b).mean() - expit(reference.to_numpy() @ b).mean()

    step = 1e-6
    gradient = np.array([(rd(beta + step * e) - rd(beta - step * e)) / (2 * step) for e in np.eye(4)])
    estimate, se = standardised_risk_difference(beta, covariance, X, "g[T.a]", ["g[T.a]", "g[T.b]"])
    assert estimate == pytest.approx(rd(beta), rel=1e-12)
    assert se == pytest.approx(np.sqrt(gradient @ covariance @ gradient), rel=1e-6)


@pytest.fixture(scope="module")
def serious_distress_rows(plan, secondary_frame):
    """The serious-distress logistic GEE's complete rows (0-based index), outcome and design."""
    spec = ModelSpec.from_config("serious_distress", plan["models"]["serious_distress"])
    frame = complete_cases(secondary_frame, spec)[0].reset_index(drop=True)
    return (frame, *design_matrix(frame, spec))


def test_the_logistic_start_is_the_glm_maximum_likelihood_fit(serious_distress_rows):
    """GEE starts from the independence logistic fit: Newton's method reaches statsmodels' GLM (IRLS)
    estimate; it gives up (None: GEE's own start) on data with no maximum (perfect separation); and the GEE
    fitted from it is statsmodels' GEE fitted from its own start."""
    from statsmodels.genmod.cov_struct import Exchangeable
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_estimating_equations import GEE
    from statsmodels.genmod.generalized_linear_model import GLM

    rng = np.random.default_rng(11)
    X = np.column_stack([np.ones(2000), rng.normal(size=2000), rng.integers(0, 2, 2000)])
    y = (rng.random(2000) < expit(X @ [-1.0, 0.8, 0.5])).astype(float)
    glm = GLM(y, X, family=Binomial()).fit(tol=1e-12)
    np.testing.assert_allclose(logistic_start(y, X), glm.params, rtol=1e-9, atol=1e-12)
    separated = (X[:, 1] > 0).astype(float)
    assert logistic_start(separated, X) is None

    frame, outcome, design = serious_distress_rows
    ours = gee_logistic(outcome, design, frame["la_code"])
    labels = frame["la_code"].to_numpy()
    order = np.argsort(labels, kind="stable")
    theirs = GEE(outcome.to_numpy(float)[order], design.iloc[order], groups=labels[order], family=Binomial(),
                 cov_struct=Exchangeable()).fit(maxiter=200, ddof_scale=0)
    np.testing.assert_allclose(ours.params, theirs.params, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.bse, theirs.bse, rtol=1e-6)


def test_the_logistic_gee_refuses_what_it_cannot_fit_in_words(serious_distress_rows):
    """gee_logistic used as a library checks its inputs as every estimator does: a row without a cluster
    label is refused, not merged with the other unlabelled rows into one made-up cluster; labels of two types
    (1 and '1') are refused; a missing outcome is named; the outcome must be 0/1."""
    frame, outcome, design = serious_distress_rows
    labels = frame["la_code"].astype(object)
    cases = [
        (outcome, design, labels.where(frame.index % 7 != 3),
         r"clusters has \d+ missing labels? .* at rows 3, 10"),
        (outcome, design, labels.where(frame.index != 0, 1), r"clusters labels mix numbers and text"),
        (outcome.where(frame.index != 5), design, labels, r"y has 1 missing value .* at row 5\b"),
        (outcome * 2, design, labels, r"a logistic model needs a 0/1 outcome"),
    ]
    for y, X, clusters, message in cases:
        with pytest.raises(ValueError, match=message):
            gee_logistic(y, X, clusters)


def test_spline_basis_is_a_natural_cubic_spline():
    x = np.linspace(-30, 30, 201)
    basis, info = spline_basis(x, 3)
    assert basis.shape == (201, 3)
    np.testing.assert_allclose(basis.mean(axis=0), 0, atol=1e-10)  # centred: no constant in the span
    again, _ = spline_basis(x[:10], 3, info)
    np.testing.assert_allclose(again, basis[:10], atol=1e-12)
    # Natural: linear beyond the boundary knots, so second differences vanish outside the data range.
    outside, _ = spline_basis(np.array([40.0, 50.0, 60.0]), 3, info)
    np.testing.assert_allclose(outside[2] - 2 * outside[1] + outside[0], 0, atol=1e-9)


def test_spline_contrasts_recover_a_linear_truth(plan):
    rng = np.random.default_rng(11)
    n_las, per_la = 30, 40
    la = np.repeat([f"E06000{i:03d}" for i in range(n_las)], per_la)
    centre = np.array([f"{a}-{i % 4}" for i, a in enumerate(la)])
    change = rng.uniform(-25, 25, len(la))
    frame = pd.DataFrame({"la_code": la, "centre_id": centre, "budget_change_pct": change,
                          "k6_w1": rng.normal(6, 2, len(la))})
    frame["k6_w3"] = 3 + 0.4 * frame["k6_w1"] - 0.05 * change + rng.normal(0, 2, len(la))
    entry = {"estimator": "lmm_reml", "outcome": "k6_w3", "exposure": "budget_change_pct",
             "exposure_kind": "spline", "spline": {"df": 3, "origin": 0, "points": [-20, 20]},
             "covariates": ["k6_w1"], "clusters": ["la_code", "centre_id"]}
    spec = ModelSpec.from_config("spline", entry)
    rows = pd.DataFrame(contrast_rows(fit_model(frame, spec, plan["mixed_model_fit"]), spec))
    for point, row in zip([-20, 20], rows.itertuples(), strict=True):
        assert abs(row.estimate - (-0.05 * point)) < 3 * row.std_error


def test_linear_exposure_is_per_ten_points(plan, secondary_frame):
    spec = ModelSpec.from_config("dose_linear", plan["models"]["dose_linear"])
    complete = secondary_frame.dropna(subset=spec.variables)
    _, X = design_matrix(complete, spec)
    np.testing.assert_allclose(X[spec.linear_term] * 10, complete["budget_change_pct"])
