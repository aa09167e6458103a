"""The specification curve's joint test (analysis.joint_test): recombined refits against refits on the rows,
the null imposition, the statistics and their p-values, what cannot be estimated, size and power."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.cluster_robust import ols_cr2
from analysis.design import ModelSpec, build_design, cluster_design
from analysis.disclosure import DisclosureRule, violations
from analysis.errors import PlanError
from analysis.fastreml import SufficientStatistics
from analysis.joint_test import (
    STATISTICS,
    JointTestPlan,
    Refit,
    Refitter,
    SpecificationData,
    data_from_fit,
    dominant_sign,
    joint_statistics,
    joint_test_table,
    joint_test_words,
    plan_problems,
    resampling_p_value,
    run_joint_test,
)
from analysis.mixed import FitSettings, fit_statistics, search_fit
from analysis.models import complete_cases, fit_model
from analysis.plan import check_plan
from analysis.primary import load_plan

FIT = load_plan()["mixed_model_fit"]
GROWING = "funding_group[T.growing]"


def clustered_frame(rng: np.random.Generator, effect: float = 0.0, n_las: int = 30, centres: int = 4,
                    mothers: int = 10) -> pd.DataFrame:
    """Mothers in centres in local authorities, with LA and centre random intercepts, a baseline score, an
    LA-level binary covariate, and each centre's real-terms budget change (mostly an LA decision). `effect`
    is the true difference of mothers at centres that grew by 5% or more."""
    n = n_las * centres * mothers
    centre = np.repeat(np.arange(n_las * centres), mothers)
    la = centre // centres
    change = (rng.normal(0, 8, n_las)[la] + rng.normal(0, 3, n_las * centres)[centre])
    baseline = rng.normal(8, 3, n)
    urban = (np.arange(n_las) % 3 == 0).astype(float)[la]
    outcome = (2 + 0.6 * baseline + 0.5 * urban + rng.normal(0, 0.6, n_las)[la]
               + rng.normal(0, 0.4, n_las * centres)[centre] + rng.normal(0, 2, n) + effect * (change >= 5))
    return pd.DataFrame({"la_code": [f"LA{g:02d}" for g in la], "centre_id": [f"C{c:03d}" for c in centre],
                         "k6_w1": baseline, "urban": urban, "k6_w3": outcome, "change": change})


def grouped(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    groups = np.select([frame["change"] <= -threshold, frame["change"] >= threshold], ["cut", "growing"],
                       "stable")
    return frame.assign(funding_group=groups)


def model(estimator: str, covariates=("k6_w1", "urban")) -> ModelSpec:
    return ModelSpec(name="spec", outcome="k6_w3", exposure="funding_group", reference="cut",
                     covariates=tuple(covariates), estimator=estimator, df_method="satterthwaite")


def refitter(frame: pd.DataFrame, estimator: str, threshold: float = 5.0,
             covariates=("k6_w1", "urban")) -> Refitter:
    """A specification's refitter built as the pipeline builds it, from its published fit."""
    data = grouped(frame, threshold)
    spec = model(estimator, covariates)
    summary = fit_model(data, spec, FIT)
    rows, _ = complete_cases(data, spec)
    design = build_design(rows, spec)
    found = data_from_fit(f"{estimator}-t{threshold:g}", spec, summary, rows, design.y, design.X,
                          cluster_design(rows, spec.clusters))
    built = Refitter(found)
    assert built.set_headline("growing")
    return built


def ols_refitter(frame: pd.DataFrame, threshold: float, covariates=("k6_w1", "urban")) -> Refitter | str:
    """An OLS-CR2 specification's refitter with its design written out here (for the many replications of
    the size simulation), or why it cannot be estimated (a simulated data set may, rarely, have no cut
    centre under a threshold), as the pipeline treats it."""
    groups = grouped(frame, threshold)["funding_group"].to_numpy()
    present = [level for level in ("growing", "stable") if (groups == level).any()]
    if "cut" not in groups or "growing" not in present:
        return "not estimable: a group without mothers"
    X = pd.DataFrame({"Intercept": 1.0, **{f"funding_group[T.{level}]": (groups == level).astype(float)
                                            for level in present},
                      **{name: frame[name] for name in covariates}})
    table = ols_cr2(frame["k6_w3"], X, frame["la_code"]).set_index("term")
    terms = {level: f"funding_group[T.{level}]" for level in present}
    built = Refitter(SpecificationData(
        spec_id=f"t{threshold:g}", estimator="ols_cr2", y=frame["k6_w3"].to_numpy(), X=X,
        la=frame["la_code"].to_numpy(), inner=frame["centre_id"].to_numpy(), group=groups, two_levels=True,
        exposure_terms=terms, reference="cut",
        estimates={level: table.loc[term, "estimate"] for level, term in terms.items()},
        df={level: table.loc[term, "df"] for level, term in terms.items()}))
    built.set_headline("growing")
    return built


def explicit_resample(frame: pd.DataFrame, labels: np.ndarray, copies: np.ndarray) -> pd.DataFrame:
    """The rows of each drawn LA, once per draw, every copy relabelled as its own LA and centres."""
    parts = []
    for number, position in enumerate(copies):
        rows = frame[frame["la_code"] == labels[position]]
        parts.append(rows.assign(la_code=f"{labels[position]}#{number}",
                                 centre_id=rows["centre_id"] + f"#{number}"))
    return pd.concat(parts, ignore_index=True)


def null_frame(frame: pd.DataFrame, threshold: float, built: Refitter, estimates: dict) -> pd.DataFrame:
    """The outcome with the specification's estimates removed, computed from the rows."""
    data = grouped(frame, threshold)
    removed = sum(estimates[level] * (data["funding_group"] == level) for level in estimates)
    return data.assign(k6_w3=data["k6_w3"] - removed)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return clustered_frame(np.random.default_rng(3), effect=-0.8)


# --- Recombination by multiplicity = refitting on the resampled rows ----------------------------------------

@pytest.mark.parametrize("estimator", ["ols_cr2", "lmm_reml"])
def test_recombined_refit_equals_refit_on_the_resampled_rows(frame, estimator):
    threshold = 5.0
    built = refitter(frame, estimator, threshold)
    published = fit_model(grouped(frame, threshold), model(estimator), FIT).coefficients.set_index("term")
    estimates = {level: float(published.loc[f"funding_group[T.{level}]", "estimate"])
                 for level in ("growing", "stable")}
    rng = np.random.default_rng(11)
    # Draws with repeated LAs, one without any urban LA (the covariate is then constant and dropped).
    urban_las = np.flatnonzero(frame.groupby("la_code")["urban"].first().to_numpy() == 1)
    rural = np.setdiff1d(np.arange(len(built.la_labels)), urban_las)
    draws = [rng.integers(0, len(built.la_labels), len(built.la_labels)) for _ in range(2)]
    draws.append(rng.choice(rural, len(built.la_labels)))
    for copies in draws:
        recombined = built.refit(copies, null=True)
        rows = explicit_resample(null_frame(frame, threshold, built, estimates), built.la_labels, copies)
        direct = fit_model(rows, model(estimator), FIT)
        direct_row = direct.coefficients.set_index("term").loc[GROWING]
        assert isinstance(recombined, Refit)
        tolerance = 1e-4 * direct_row["std_error"]
        assert recombined.estimate == pytest.approx(direct_row["estimate"], abs=tolerance)
        assert recombined.std_error == pytest.approx(direct_row["std_error"], rel=1e-4)
        if estimator == "ols_cr2":  # Satterthwaite df recomputed in each refit, as the published curve does
            assert recombined.df == pytest.approx(direct_row["df"], rel=1e-6)
        else:  # held at the published (observed) fit's df
            assert recombined.df == pytest.approx(published.loc[GROWING, "df"])
    dropped = fit_model(explicit_resample(grouped(frame, threshold), built.la_labels, draws[-1]),
                        model(estimator), FIT)
    assert "urban" not in dropped.design.columns  # the rows' design drops it too


@pytest.mark.parametrize("estimator", ["ols_cr2", "lmm_reml"])
def test_one_centre_per_local_authority_resamples_the_one_level_model(estimator):
    """Centres and LAs one level (as with LA-level exposure and no centres named): the mixed model has a
    single random intercept, for the LA, and each drawn copy of an LA is one cluster of it."""
    frame = clustered_frame(np.random.default_rng(21), effect=-0.5, n_las=30, centres=1, mothers=30)
    built = refitter(frame, estimator)
    assert not built.two_levels
    copies = np.random.default_rng(4).integers(0, len(built.la_labels), len(built.la_labels))
    recombined = built.refit(copies, null=False)
    direct = fit_model(explicit_resample(grouped(frame, 5.0), built.la_labels, copies), model(estimator), FIT)
    direct_row = direct.coefficients.set_index("term").loc[GROWING]
    assert recombined.estimate == pytest.approx(direct_row["estimate"], abs=1e-4 * direct_row["std_error"])
    assert recombined.std_error == pytest.approx(direct_row["std_error"], rel=1e-4)


def test_rows_with_a_missing_covariate_are_left_out_as_the_published_fit_leaves_them(frame):
    holed = frame.copy()
    holed.loc[::7, "k6_w1"] = np.nan
    built = refitter(holed, "ols_cr2")
    published = fit_model(grouped(holed, 5.0), model("ols_cr2"), FIT)
    assert published.diagnostics["excluded_missing"] == len(holed.iloc[::7])
    observed = built.refit(np.arange(len(built.la_labels)), null=False)
    expected = published.coefficients.set_index("term").loc[GROWING, "estimate"]
    assert observed.estimate == pytest.approx(expected)


@pytest.mark.parametrize("estimator", ["ols_cr2", "lmm_reml"])
def test_observed_refit_reproduces_the_published_fit(frame, estimator):
    built = refitter(frame, estimator)
    published = fit_model(grouped(frame, 5.0), model(estimator), FIT).coefficients.set_index("term")
    observed = built.refit(np.arange(len(built.la_labels)), null=False)
    assert observed.estimate == pytest.approx(published.loc[GROWING, "estimate"],
                                              abs=1e-4 * published.loc[GROWING, "std_error"])
    assert observed.std_error == pytest.approx(published.loc[GROWING, "std_error"], rel=1e-4)
    assert observed.df == pytest.approx(published.loc[GROWING, "df"], rel=1e-6)


@pytest.mark.parametrize("estimator", ["ols_cr2", "lmm_reml"])
def test_null_imposition_removes_every_contrast(frame, estimator):
    built = refitter(frame, estimator)
    everyone = np.arange(len(built.la_labels))
    assert abs(built.refit(everyone, null=False).estimate) > 0.3  # the simulated effect is there
    for level in ("growing", "stable"):
        built.set_headline(level)
        null = built.refit(everyone, null=True)
        assert abs(null.estimate) < 1e-6 * null.std_error


@pytest.mark.parametrize("sd_la", [0.6, 0.0])
def test_one_search_reaches_the_checked_optimum(sd_la):
    """mixed.search_fit (one quasi-Newton search, L-BFGS if it fails) against fit_statistics (searches from
    several starts, confirmed by a second optimiser), from far starts, at an interior optimum and with no
    variance between LAs (its optimum on the boundary)."""
    rng = np.random.default_rng(12)
    frame = grouped(clustered_frame(rng, effect=-0.5), 5.0)
    if sd_la == 0.0:  # the outcome again, without the LA intercepts
        frame["k6_w3"] = 2 + 0.6 * frame["k6_w1"] + rng.normal(0, 2, len(frame))
    spec = model("lmm_reml")
    design = build_design(frame, spec)
    stats = SufficientStatistics.from_data(design.y, design.X.to_numpy(float), frame["la_code"],
                                           frame["centre_id"], centre=True)
    checked = fit_statistics(stats, list(design.X.columns), FitSettings.from_config(FIT))
    for start in [(1.0, 1.0), (0.0, 0.0), (0.01, 2.0), checked.theta]:
        found = search_fit(stats, start)
        assert found.converged
        assert found.estimates == pytest.approx(checked.estimates, abs=1e-4 * checked.std_errors.min())
        assert np.sqrt(np.diag(found.covariance)) == pytest.approx(checked.std_errors, rel=1e-4)
    if sd_la == 0.0:
        assert checked.boundary_levels and found.theta[0] < 1e-3


# --- The statistics and their p-values ----------------------------------------------------------------------

def test_p_value_counts_ties_as_extreme_with_the_plus_one_correction():
    assert resampling_p_value(2.0, np.array([1.0, 2.0, 3.0, 0.5])) == pytest.approx((1 + 2) / (1 + 4))
    assert resampling_p_value(5.0, np.ones(19)) == pytest.approx(1 / 20)  # the smallest p with B = 19
    assert resampling_p_value(0.0, np.ones(99)) == 1.0


def test_dominant_direction_is_the_sign_of_most_estimates():
    assert dominant_sign(np.array([-1.0, -2.0, 3.0])) == -1
    assert dominant_sign(np.array([1.0, 2.0, -3.0])) == 1
    assert dominant_sign(np.array([-1.0, 2.0])) == 1  # a tie: the median's sign (+0.5)
    assert dominant_sign(np.array([-2.0, 1.0])) == -1


def test_statistics_by_hand():
    estimates, p = np.array([-1.0, -2.0, 0.5]), np.array([0.01, 0.2, 0.01])
    found = joint_statistics(estimates, p, alpha=0.05)
    assert found["sign"] == -1 and found["significant"] == 1  # 0.5 is significant, but against
    assert found["share"] == pytest.approx(1 / 3)
    assert found["median"] == pytest.approx(1.0) and found["median_signed"] == pytest.approx(-1.0)
    z = stats.norm.ppf(1 - np.array([0.01, 0.2, 0.01]) / 2) * np.array([1, 1, -1])
    assert found["stouffer"] == pytest.approx(z.sum() / np.sqrt(3))
    mirrored = joint_statistics(-estimates, p, alpha=0.05)  # the same evidence the other way round
    assert mirrored["sign"] == 1
    assert {k: mirrored[k] for k in ("median", "share", "stouffer")} == pytest.approx(
        {k: found[k] for k in ("median", "share", "stouffer")})


# --- What cannot be estimated -------------------------------------------------------------------------------

def test_a_resample_without_growing_centres_is_not_estimable_and_counted(frame):
    built = refitter(frame, "ols_cr2")
    growing = np.flatnonzero(built.group_counts[:, built.levels.index("growing")] > 0)
    others = np.setdiff1d(np.arange(len(built.la_labels)), growing)
    assert built.refit(others, null=True) == "no mothers in the growing group among the LAs drawn"
    without_cut = np.flatnonzero(built.group_counts[:, 0] == 0)
    assert len(without_cut) >= 2
    expected = "no mothers in the reference group (cut) among the LAs drawn"
    assert built.refit(without_cut, null=True) == expected
    assert built.refit(np.array([0]), null=True).startswith("fewer than two")


def test_specifications_not_estimable_are_left_out_and_counted(frame):
    plan = JointTestPlan(resamples=19, seed=5, alpha=0.05)
    specifications = {"a": refitter(frame, "ols_cr2", 5.0), "b": refitter(frame, "ols_cr2", 10.0),
                      "c": "not estimable: no mothers in the analysis are at cut centres"}
    result = run_joint_test(specifications, plan)
    assert result.estimable == ["a", "b"] and list(result.not_estimable) == ["c"]
    table = joint_test_table(result)
    assert (table["specifications_estimable"] == 2).all()
    assert (table["specifications_not_estimable"] == 1).all()
    assert "c (not estimable" in table["note"].iloc[0]
    assert result.resamples_used + result.resamples_discarded == 19
    assert set(table["statistic"]) == set(STATISTICS.values())
    assert table["p_value"].between(1 / 20, 1).all()


def test_no_test_without_anything_to_resample():
    result = run_joint_test({"a": "a single local authority: there is nothing to resample"},
                            JointTestPlan(19, 1, 0.05))
    table = joint_test_table(result)
    assert table["p_value"].isna().all() and table["note"].str.startswith("Joint test not possible").all()
    assert "single local authority" in joint_test_words(table)


def test_table_passes_the_disclosure_rule_and_reads_in_words(frame):
    result = run_joint_test({"a": refitter(frame, "ols_cr2", 5.0), "b": refitter(frame, "ols_cr2", 10.0)},
                            JointTestPlan(19, 5, 0.05))
    table = joint_test_table(result).assign(synthetic_data=True)
    assert violations(table, DisclosureRule(10, 5), "specification_joint_test.csv") == []
    words = joint_test_words(table)
    assert "19 resamples" in words and "seed 5" in words and "growing vs cut" in words
    median_p = 100 * table["p_value"].iloc[0]
    assert f"{median_p:.0f}%" in words or f"{median_p:.1f}%" in words


# --- The plan -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, words", [
    ({"resamples": 18, "seed": 1, "alpha": 0.05}, "resamples must be a whole number"),
    ({"resamples": 500.5, "seed": 1, "alpha": 0.05}, "resamples must be a whole number"),
    ({"resamples": "many", "seed": 1, "alpha": 0.05}, "resamples must be a whole number"),
    ({"resamples": 500, "seed": -1, "alpha": 0.05}, "seed must be a whole number >= 0"),
    ({"resamples": 500, "seed": 1.5, "alpha": 0.05}, "seed must be a whole number >= 0"),
    ({"resamples": 500, "seed": 1, "alpha": 1.0}, "strictly between 0 and 1"),
    ({"resamples": 500, "seed": 1, "alpha": 0}, "strictly between 0 and 1"),
    ({"resamples": 500, "seed": 1}, "alpha is missing"),
])
def test_plan_refuses_nonsense_in_words(plan, entry, words):
    assert any(words in problem for problem in plan_problems(entry))
    broken = {**plan, "specification_curve": {**plan["specification_curve"], "joint_test": entry}}
    with pytest.raises(PlanError, match=words):
        check_plan(broken)


def test_the_shipped_plan_is_accepted(plan):
    assert plan_problems(plan["specification_curve"]["joint_test"]) == []
    assert JointTestPlan.from_config(plan["specification_curve"]["joint_test"]).resamples >= 19


# --- Size and power -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_size_near_five_percent_without_a_true_effect():
    """200 replications of data with no effect, three OLS-CR2 specifications (thresholds 5 and 10 with both
    covariates, 5 with the baseline only), B = 19: under exchangeability each p <= 0.05 has probability
    exactly 1/20. Monte Carlo SE of a rejection rate near 5% with 200 replications: sqrt(.05 x .95 / 200) =
    1.5%. Accepted: at most 10% for every statistic (3 SE above nominal; the LA bootstrap with 30 LAs is an
    approximation), and at least 1% for the median and Stouffer's z, which are continuous (a test that never
    rejects fails). The share significant takes only K + 1 = 4 values and ties count as extreme, so its test
    is conservative (1.8% in 1,000 replications of this design): only the upper bound applies to it."""
    rng = np.random.default_rng(2020)
    replications, rejections = 200, {name: 0 for name in STATISTICS}
    for _ in range(replications):
        frame = clustered_frame(rng, effect=0.0, mothers=8)
        result = run_joint_test({"t5": ols_refitter(frame, 5.0), "t10": ols_refitter(frame, 10.0),
                                 "t5min": ols_refitter(frame, 5.0, ("k6_w1",))},
                                JointTestPlan(19, int(rng.integers(0, 2**31)), 0.05))
        for name in STATISTICS:
            rejections[name] += result.p_values[name] <= 0.05
    rates = {name: count / replications for name, count in rejections.items()}
    print("rejection rates at 5%:", rates)
    assert all(rate <= 0.10 for rate in rates.values()), rates
    assert rates["median"] >= 0.01 and rates["stouffer"] >= 0.01, rates


@pytest.mark.slow
def test_power_with_a_true_effect_for_both_estimators():
    frame = clustered_frame(np.random.default_rng(8), effect=-1.5)
    result = run_joint_test({f"{e}-t{t:g}": refitter(frame, e, t) for e in ("ols_cr2", "lmm_reml")
                             for t in (5.0, 10.0)}, JointTestPlan(49, 3, 0.05))
    assert result.observed["sign"] == -1 and result.resamples_used == 49
    assert all(p <= 0.05 for p in result.p_values.values()), result.p_values
