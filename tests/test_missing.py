"""Attrition analyses: the attrition frame, Rubin's rules, multiple imputation (against mice) and IPW."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from analysis.cleaning import clean_all
from analysis.design import ModelSpec, design_matrix
from analysis.exposure import ExposurePlan, exposure_by_centre
from analysis.missing import (
    attrition_frame,
    imputations,
    ipw_estimate,
    label_terms,
    multiple_imputation,
    plan_attrition_frame,
    response_weights,
    rubin_pool,
)
from analysis.mixed import FitDisagreement, FitSettings
from analysis.sample import build_primary_sample
from analysis.simulate import PRESETS, simulate, write
from tests.conftest import hand_made_survey_and_exposure

R_FIXTURES = Path(__file__).parent / "fixtures" / "r"
SEED = 20120401  # the seed mice_reference.R was run with (its own generator, so not the same draws)
GROWING, STABLE = "funding_group[T.growing]", "funding_group[T.stable]"


@pytest.fixture(scope="module")
def spec(plan) -> ModelSpec:
    return ModelSpec.from_config("primary", plan["models"]["primary"])


@pytest.fixture(scope="module")
def fit_settings(plan) -> FitSettings:
    """The plan's fitter with a lighter search (3 optimisers from one start, each polished): still confirmed
    by two optimisers, at a quarter of the cost, to keep 20 fits per run affordable in tests. Whether the
    plan's search reaches lme4's optimum is tested in test_mixed.py."""
    return replace(FitSettings.from_config(plan["mixed_model_fit"]), methods=("bfgs", "lbfgs", "powell"),
                   start_ratios=(0.3,))


def _frames(raw_dir: Path, plan: dict, spec: ModelSpec):
    data = clean_all(raw_dir)
    exposure = exposure_by_centre(data.centres, data.funding, data.deflators,
                                  ExposurePlan.from_config(plan["exposure"]))
    sample_plan = {"score": "k6", "baseline_wave": 1, "followup_wave": 3}
    return (plan_attrition_frame(data.survey, exposure, sample_plan, spec),
            build_primary_sample(data.survey, exposure, sample_plan, list(spec.covariates))[0])


@pytest.fixture(scope="module")
def tiny(tiny_raw_master, plan, spec):
    return _frames(tiny_raw_master, plan, spec)


@pytest.fixture(scope="module")
def demo(plan, spec) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        write(simulate(PRESETS["demo"]), Path(tmp))
        frame, _ = _frames(Path(tmp), plan, spec)
    return frame


@pytest.fixture(scope="module")
def demo_mi(demo, spec, fit_settings) -> pd.DataFrame:
    return multiple_imputation(demo, spec, fit_settings, m=20, seed=SEED)


# ---------------------------------------------------------------------------------------------------------
# The attrition frame


def test_attrition_frame_keeps_incomplete_mothers_at_grouped_centres():
    survey, exposure = hand_made_survey_and_exposure()
    frame = attrition_frame(survey, exposure, score="k6", baseline_wave=1, followup_wave=3,
                            covariates=["k6_w1", "mother_age", "white_british", "child_female", "rural"])
    frame = frame.set_index("mother_id")
    assert sorted(frame.index) == ["NO_AGE", "NO_K6_W1", "NO_K6_W3", "NO_W3", "OK"]
    assert frame["responded"].to_dict() == {"NO_AGE": 1, "NO_K6_W1": 1, "NO_K6_W3": 0, "NO_W3": 0, "OK": 1}
    assert frame.loc["OK", "centre_id"] == "C1" and frame.loc["OK", "funding_group"] == "growing"
    assert frame.loc["OK", "k6_w3"] == 7.0 and frame.loc["OK", "rural"] == 0
    assert pd.isna(frame.loc["NO_K6_W1", "k6_w1"]) and pd.isna(frame.loc["NO_AGE", "mother_age"])
    assert list(frame.columns)[-1] == "responded"


def test_complete_mothers_of_the_attrition_frame_are_the_primary_sample(tiny):
    frame, primary = tiny
    complete = frame.loc[frame.notna().all(axis=1)].drop(columns="responded").reset_index(drop=True)
    pd.testing.assert_frame_equal(complete, primary[complete.columns])
    assert frame["responded"].mean() < 0.9  # there is attrition to analyse


# ---------------------------------------------------------------------------------------------------------
# Rubin's rules


def test_rubin_pool_closed_forms():
    # m = 3, estimates 1, 2, 3, variances 1: W = 1, B = 1, T = 1 + 4/3 B = 7/3, r = 4/3, lambda = 4/7.
    pooled = rubin_pool(np.array([1.0, 2.0, 3.0]), np.ones(3), np.inf).iloc[0]
    assert pooled["estimate"] == pytest.approx(2)
    assert pooled["within"] == pytest.approx(1) and pooled["between"] == pytest.approx(1)
    assert pooled["std_error"] == pytest.approx(np.sqrt(7 / 3))
    assert pooled["riv"] == pytest.approx(4 / 3) and pooled["lambda"] == pytest.approx(4 / 7)
    # Rubin (1987): (m - 1) / lambda^2 = 2 x 49 / 16 = 49/8; fmi = (r + 2/(df + 3)) / (r + 1) = 340/511.
    assert pooled["df"] == pytest.approx(49 / 8)
    assert pooled["fmi"] == pytest.approx(float(Fraction(340, 511)))

    # Barnard-Rubin with complete-data df 10: df_obs = 11/13 x 10 x 3/7 = 330/91,
    # df = df_old df_obs / (df_old + df_obs) = 16170/7099.
    pooled = rubin_pool(np.array([1.0, 2.0, 3.0]), np.ones(3), 10).iloc[0]
    assert pooled["df"] == pytest.approx(float(Fraction(16170, 7099)), rel=1e-12)
    df = Fraction(16170, 7099)
    fmi = (Fraction(4, 3) + 2 / (df + 3)) / Fraction(7, 3)
    assert pooled["fmi"] == pytest.approx(float(fmi), rel=1e-12)

    # No between-imputation variance: T = W = 3, df = df_obs = 51/53 x 50 = 2550/53, fmi = 2/(df + 3).
    pooled = rubin_pool(np.array([5.0, 5.0]), np.array([2.0, 4.0]), 50).iloc[0]
    assert pooled["std_error"] == pytest.approx(np.sqrt(3)) and pooled["lambda"] == 0
    assert pooled["df"] == pytest.approx(2550 / 53) and pooled["fmi"] == pytest.approx(106 / 2709)


def test_rubin_pool_pools_each_term_of_a_table_separately():
    rng = np.random.default_rng(1)
    estimates = pd.DataFrame(rng.normal(size=(5, 3)), columns=["a", "b", "c"])
    variances = pd.DataFrame(rng.uniform(0.5, 2, size=(5, 3)), columns=["a", "b", "c"])
    table = rubin_pool(estimates, variances, 100)
    assert list(table.index) == ["a", "b", "c"] and (table["m"] == 5).all()
    for term in table.index:
        one = rubin_pool(estimates[term].to_numpy(), variances[term].to_numpy(), 100).iloc[0]
        pd.testing.assert_series_equal(table.loc[term], one, check_names=False)
    with pytest.raises(ValueError, match="at least two"):
        rubin_pool(np.ones(1), np.ones(1), 10)


@pytest.mark.needs_r
def test_rubin_pool_matches_mice_pool_given_its_variances():
    """From mice's ubar, b, m and dfcom, rubin_pool gives mice::pool's total variance, df and fmi."""
    reference = pd.read_csv(R_FIXTURES / "attrition_mice.csv")
    for _, row in reference.iterrows():
        m = int(row["m"])
        z = np.linspace(-1, 1, m)
        z = (z - z.mean()) / z.std(ddof=1)  # sample variance exactly 1
        pooled = rubin_pool(row["estimate"] + np.sqrt(row["between"]) * z, np.full(m, row["within"]),
                            row["dfcom"]).iloc[0]
        assert pooled["total"] == pytest.approx(row["total"], rel=1e-10)
        assert pooled["df"] == pytest.approx(row["df"], rel=1e-8)
        assert pooled["fmi"] == pytest.approx(row["fmi"], rel=1e-8)
        assert pooled["riv"] == pytest.approx(row["riv"], rel=1e-8)


# ---------------------------------------------------------------------------------------------------------
# Multiple imputation


def test_imputations_are_valid_and_keep_observed_values(tiny, spec):
    frame, _ = tiny
    first, second = (d for _, d in zip(range(2), imputations(frame, spec, seed=1, burn_in=2), strict=False))
    for completed in (first, second):
        assert completed[spec.variables].notna().all().all()
        observed = frame[spec.variables].notna()
        for name in spec.variables:
            kept = completed.loc[observed[name], name].to_numpy()
            np.testing.assert_array_equal(kept, frame.loc[observed[name], name].to_numpy())
        assert set(completed["mother_education"]) <= {1, 2, 3, 4}
        for name in ("white_british", "lone_parent", "workless"):
            assert set(completed[name]) <= {0, 1}
    missing = frame["k6_w3"].isna()
    assert not np.array_equal(first.loc[missing, "k6_w3"], second.loc[missing, "k6_w3"])


def test_imputations_depend_only_on_the_seed(tiny, spec):
    frame, _ = tiny

    def draws(seed):
        return [d.copy() for _, d in zip(range(3), imputations(frame, spec, seed=seed, burn_in=2),
                                          strict=False)]

    one, again, other = draws(5), draws(5), draws(6)
    for a, b in zip(one, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert not one[0]["k6_w3"].equals(other[0]["k6_w3"])


def test_multiple_imputation_is_reproducible(tiny, spec, fit_settings):
    frame, _ = tiny

    def run(seed):
        return multiple_imputation(frame, spec, fit_settings, m=2, burn_in=1, seed=seed)

    first, again, other = run(11), run(11), run(12)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["estimate"], other["estimate"])
    assert list(first.columns) == ["term", "estimate", "std_error", "df", "statistic", "p_value",
                                   "ci_lower", "ci_upper", "fmi", "m", "n"]
    assert (first["m"] == 2).all() and (first["n"] == len(frame)).all()


def test_a_refused_fit_stops_the_run(tiny, spec, fit_settings, monkeypatch):
    """Dropping a dataset the fitter refuses would select imputations; the run must stop instead."""
    import analysis.missing as missing

    frame, _ = tiny

    def refuse(*args, **kwargs):
        raise FitDisagreement("refused for the test")

    monkeypatch.setattr(missing, "fit_nested_lmm", refuse)
    with pytest.raises(FitDisagreement, match="refused for the test"):
        multiple_imputation(frame, spec, fit_settings, m=2, burn_in=1, seed=3)


def test_r_input_is_the_pipelines_attrition_frame(demo):
    """attrition_input.csv (mice_reference.R's input) is what the pipeline makes from the demo preset."""
    committed = pd.read_csv(R_FIXTURES / "attrition_input.csv")
    ours = demo[committed.columns]
    for name in committed.columns:
        if pd.api.types.is_numeric_dtype(committed[name]):
            np.testing.assert_allclose(ours[name].astype("Float64").to_numpy(float, na_value=np.nan),
                                       committed[name].to_numpy(float), rtol=1e-12, err_msg=name)
        else:
            assert list(ours[name].astype(str)) == list(committed[name].astype(str)), name


@pytest.mark.needs_r
@pytest.mark.slow
def test_multiple_imputation_agrees_with_mice_within_monte_carlo_error(demo_mi):
    """Python (analysis.chained, MICEData's algorithm) and R (mice) pooled estimates, same data, m = 20.

    Given the data, each pooled estimate is a mean of m imputation-specific estimates whose variance is the
    between-imputation variance B, so two independent runs differ by about sd = sqrt((B_py + B_R) / m) (the
    samplers use different generators and slightly different draws of the imputation model's parameters).
    Tolerance 4 sd (~0.11 K6 points for growing vs cut, under half its SE): a false alarm about once in
    16,000 per coefficient. SEs: T = W + (1 + 1/m) B with W nearly fixed and B estimated on m - 1 df
    (relative sd sqrt(2 / (m - 1))), so each SE varies by about lambda / 2 x sqrt(2 / (m - 1)) relative
    and fmi (~lambda) by about lambda x sqrt(2 / (m - 1)); tolerances are 4 x sqrt(2) times those.
    """
    reference = pd.read_csv(R_FIXTURES / "attrition_mice.csv").set_index("term")
    pooling = demo_mi.attrs["pooling"].set_index("term")
    assert sorted(pooling.index) == sorted(reference.index)
    m = 20
    assert (reference["m"] == m).all() and (pooling["m"] == m).all()
    assert (reference["n"] == demo_mi["n"].iloc[0]).all()
    # The same complete-data df as mice::pool takes from lme4 (n - 16 fixed effects - 3 variances).
    assert (reference["dfcom"] == demo_mi["n"].iloc[0] - len(pooling) - 3).all()
    for term in (GROWING, STABLE):
        ours, theirs = pooling.loc[term], reference.loc[term]
        mc_sd = np.sqrt((ours["between"] + theirs["between"]) / m)
        assert abs(ours["estimate"] - theirs["estimate"]) < 4 * mc_sd, (term, ours["estimate"],
                                                                         theirs["estimate"], mc_sd)
        spread = 4 * np.sqrt(2) * max(ours["lambda"], theirs["lambda"]) * np.sqrt(2 / (m - 1))
        assert ours["std_error"] == pytest.approx(theirs["std_error"], rel=spread / 2), term
        assert ours["fmi"] == pytest.approx(theirs["fmi"], abs=spread), term


@pytest.mark.slow
def test_mi_and_ipw_recover_the_true_effect_under_dropout_on_baseline_distress(demo, demo_mi, spec):
    truth = PRESETS["demo"].effect_growing
    # The simulator's wave-3 dropout depends on wave-1 K6; the attrition frame shows it.
    baseline_by_response = demo.groupby("responded")["k6_w1"].mean()
    assert baseline_by_response[0] > baseline_by_response[1] + 0.3

    weights = response_weights(demo, [spec.exposure, *spec.covariates], categorical=spec.categorical)
    ipw = ipw_estimate(demo, spec, weights).set_index("term").loc[GROWING]
    mi = demo_mi.set_index("term").loc[GROWING]
    for label, row in (("IPW", ipw), ("MI", mi)):
        assert abs(row["estimate"] - truth) < 3 * row["std_error"], (label, row.to_dict(), truth)
    assert mi["n"] == len(demo) and ipw["n"] < demo["responded"].sum()


# ---------------------------------------------------------------------------------------------------------
# Inverse-probability-of-response weighting


def _simulated_response(n=20_000, seed=3):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n),
                          "group": rng.choice(["cut", "stable", "growing"], size=n)})
    logit = 1.0 - 0.8 * frame["x"] + 1.2 * (frame["group"] == "growing")
    frame["responded"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[:49, "x"] = np.nan  # incomplete predictors: no weight
    return frame


def test_response_weights_reproduce_a_known_response_model():
    frame = _simulated_response()
    weights = response_weights(frame, ["x", "group"])
    coefficients, errors = weights.attrs["coefficients"], weights.attrs["std_errors"]
    truth = {"Intercept": 1.0, "x": -0.8, "group[T.growing]": 1.2, "group[T.stable]": 0.0}
    for term, value in truth.items():
        assert abs(coefficients[term] - value) < 4 * errors[term], term

    assert weights.attrs["n_incomplete_predictors"] == 50 and weights.iloc[:50].isna().all()
    modelled = frame.index[50:]
    assert (weights[modelled][frame.loc[modelled, "responded"] == 0] == 0).all()
    responders = modelled[frame.loc[modelled, "responded"] == 1]
    w = weights[responders]
    assert w.min() > 0 and w.mean() == pytest.approx(1, abs=0.02)  # stabilised
    assert weights.attrs["summary"]["max"] == pytest.approx(w.max())

    # Responders under-represent high x and over-represent growing; weighting restores the full sample.
    full = frame.loc[modelled].assign(growing=lambda d: (d["group"] == "growing").astype(float))
    resp = full.loc[responders]
    for name in ("x", "growing"):
        target = full[name].mean()
        assert abs(resp[name].mean() - target) > 0.04, name
        assert np.average(resp[name], weights=w) == pytest.approx(target, abs=0.02), name


def test_ipw_estimate_is_weighted_least_squares_with_cr1_errors(tiny, spec):
    frame, _ = tiny
    weights = response_weights(frame, [spec.exposure, *spec.covariates], categorical=spec.categorical)
    table = ipw_estimate(frame, spec, weights).set_index("term")

    usable = (frame["responded"] == 1) & weights.gt(0) & frame[spec.variables].notna().all(axis=1)
    rows = frame.loc[usable]
    y, X = design_matrix(rows, spec)
    w = weights[usable].to_numpy()
    Xv, yv = X.to_numpy(), y.to_numpy()
    bread = np.linalg.inv(Xv.T @ (w[:, None] * Xv))
    beta = bread @ Xv.T @ (w * yv)
    scores = pd.DataFrame(Xv * (w * (yv - Xv @ beta))[:, None]).groupby(rows["la_code"].to_numpy()).sum()
    n, k, g = len(yv), Xv.shape[1], len(scores)
    cov = g / (g - 1) * (n - 1) / (n - k) * bread @ (scores.T.to_numpy() @ scores.to_numpy()) @ bread
    np.testing.assert_allclose(table["estimate"], beta, rtol=1e-9)
    np.testing.assert_allclose(table["std_error"], np.sqrt(np.diag(cov)), rtol=1e-9)

    reference = sm.WLS(yv, Xv, weights=w).fit()
    np.testing.assert_allclose(table["estimate"], reference.params, rtol=1e-10)
    assert (table["df"] == g - 1).all() and (table["n"] == n).all()
    half = stats.t.ppf(0.975, g - 1) * table["std_error"]
    np.testing.assert_allclose(table["ci_upper"] - table["estimate"], half, rtol=1e-10)
    assert table["se_method"].str.contains("G/(G-1)", regex=False).all()


def test_label_terms_names_model_outcome_and_the_contrast_of_exposure_terms_only(spec):
    pooled = pd.DataFrame({"term": ["Intercept", GROWING, STABLE, "k6_w1"],
                           "estimate": [1.0, -0.5, 0.2, 0.4]})
    pooled.attrs["n_clusters"] = 25
    table = label_terms(pooled, spec, True, seed=7)
    assert list(table.columns[:3]) == ["model", "outcome", "contrast"]
    assert (table["model"] == "primary").all() and (table["outcome"] == spec.outcome).all()
    assert list(table["contrast"]) == ["", f"growing vs {spec.reference}", f"stable vs {spec.reference}", ""]
    assert (table["seed"] == 7).all() and table["synthetic_data"].all()
    assert table.attrs == {} and list(pooled.columns) == ["term", "estimate"]  # the input is left alone


def test_the_attrition_job_is_given_only_what_it_reads(plan, tiny_raw):
    """The attrition analyses' slice of the plan (their Snakemake params) builds the same attrition frame of
    the same model as the whole plan, and holds no setting they do not read (a change there never reruns
    the job)."""
    import copy

    from analysis.missing import attrition_plan

    sliced = attrition_plan(plan)
    assert set(sliced) == {"multiple_imputation", "inverse_probability_weighting", "models", "primary_sample",
                           "mixed_model_fit"}
    assert set(sliced["models"]) == {plan["multiple_imputation"]["model"],
                                     plan["inverse_probability_weighting"]["model"]}
    data = clean_all(tiny_raw)
    exposure = exposure_by_centre(data.centres, data.funding, data.deflators,
                                  ExposurePlan.from_config(plan["exposure"]))
    spec = ModelSpec.from_config("primary", sliced["models"]["primary"])
    pd.testing.assert_frame_equal(plan_attrition_frame(data.survey, exposure, sliced["primary_sample"], spec),
                                  plan_attrition_frame(data.survey, exposure, plan["primary_sample"], spec))
    changed = copy.deepcopy(plan)
    changed["disclosure"]["round_to"] = 10
    changed["specification_curve"]["thresholds_pct"] = [5]
    changed["models"]["dose_spline"]["spline"]["df"] = 4
    assert attrition_plan(changed) == sliced
    changed["multiple_imputation"]["imputations"] = 5
    assert attrition_plan(changed) != sliced
