"""Table 1, standardised mean differences (unweighted and weighted) and missing-data patterns."""

from __future__ import annotations

import copy
import io

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import DescrStatsW

from analysis import balance
from analysis.balance import (
    ANALYSED,
    COHORT,
    OTHER_PATTERNS,
    TOTAL,
    UNWEIGHTED,
    WEIGHTED,
    Characteristic,
    Sample,
    austin_moments,
    baseline_characteristics,
    characteristics,
    covariate_balance,
    missing_patterns,
    standardised_difference,
)
from analysis.cleaning import clean_all
from analysis.design import ModelSpec
from analysis.disclosure import DisclosureRule, protect_table, violations
from analysis.errors import PlanError
from analysis.exposure import ExposurePlan, exposure_table
from analysis.plan import check_plan
from tests.summary_check import check_summary

RULE = DisclosureRule(suppress_below=10, round_to=5)


# ---------------------------------------------------------------------------------------------------------
# The formulas


def test_unweighted_smd_is_austins_formula_computed_by_hand():
    rng = np.random.default_rng(1)
    group, reference = rng.normal(31, 5, 40), rng.normal(29, 6, 55)
    by_hand = (group.mean() - reference.mean()) / np.sqrt((group.var(ddof=1) + reference.var(ddof=1)) / 2)
    result = standardised_difference(pd.Series(group), pd.Series(reference), binary=False,
                                     group_name="growing", reference_name="cut", min_cell=10)
    assert result.smd == pytest.approx(by_hand, rel=1e-12) and result.note == ""

    shares = pd.Series([1.0] * 12 + [0.0] * 28), pd.Series([1.0] * 25 + [0.0] * 30)
    p, q = 12 / 40, 25 / 55  # binary: p(1-p) variances, no n-1 correction (Austin 2009, eq. for proportions)
    result = standardised_difference(*shares, binary=True, group_name="growing", reference_name="cut",
                                     min_cell=10)
    assert result.smd == pytest.approx((p - q) / np.sqrt((p * (1 - p) + q * (1 - q)) / 2), rel=1e-12)


def test_weighted_moments_follow_austin_and_stuart_checked_against_statsmodels():
    """Austin & Stuart (2015): weighted mean, and the weighted variance sum(w) / (sum(w)^2 - sum(w^2)) *
    sum(w (x - mean)^2). statsmodels' DescrStatsW gives the mean and the variance with divisor sum(w)
    (ddof=0); Austin's variance is that times sum(w)^2 / (sum(w)^2 - sum(w^2))."""
    rng = np.random.default_rng(2)
    x, w = rng.normal(10, 3, 60), rng.uniform(0.5, 2.5, 60)
    stats = DescrStatsW(x, weights=w, ddof=0)
    mean, variance = austin_moments(x, w, binary=False)
    assert mean == pytest.approx(stats.mean, rel=1e-12)
    assert variance == pytest.approx(stats.var * w.sum() ** 2 / (w.sum() ** 2 - (w**2).sum()), rel=1e-12)
    # The convention's two properties: equal weights give the n - 1 sample variance, and the scale of the
    # weights does not matter (stabilised or not).
    assert austin_moments(x, np.full(60, 3.7), binary=False)[1] == pytest.approx(x.var(ddof=1), rel=1e-12)
    assert austin_moments(x, 10 * w, binary=False)[1] == pytest.approx(variance, rel=1e-12)
    indicator = (x > 10).astype(float)
    share, share_variance = austin_moments(indicator, w, binary=True)
    expected = DescrStatsW(indicator, weights=w).mean
    assert share == pytest.approx(expected, rel=1e-12)
    assert share_variance == pytest.approx(expected * (1 - expected), rel=1e-12)


def test_weighted_smd_uses_weighted_means_and_variances_of_both_groups():
    rng = np.random.default_rng(3)
    group, reference = pd.Series(rng.normal(5, 2, 30)), pd.Series(rng.normal(4, 2.5, 45))
    w_group, w_reference = pd.Series(rng.uniform(0.8, 1.4, 30)), pd.Series(rng.uniform(0.8, 1.4, 45))
    result = standardised_difference(group, reference, binary=False, group_name="growing",
                                     reference_name="cut", min_cell=10, group_weights=w_group,
                                     reference_weights=w_reference)
    g = DescrStatsW(group.to_numpy(), weights=w_group.to_numpy())
    r = DescrStatsW(reference.to_numpy(), weights=w_reference.to_numpy())

    def austin(stats, w):
        return stats.var * w.sum() ** 2 / (w.sum() ** 2 - (w**2).sum())

    expected = (g.mean - r.mean) / np.sqrt((austin(g, w_group) + austin(r, w_reference)) / 2)
    assert result.smd == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weights", [[1.0, np.nan, 1.0], [1.0, -0.5, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0]])
def test_a_missing_negative_or_misaligned_weight_is_refused_not_guessed(weights):
    with pytest.raises(ValueError, match="weights must be finite"):
        austin_moments(np.array([1.0, 2.0, 3.0]), np.array(weights), binary=False)


def test_an_smd_that_cannot_be_computed_says_why():
    same = pd.Series([0.0] * 20)
    constant = standardised_difference(same, same, binary=True, group_name="growing", reference_name="cut",
                                       min_cell=10)
    assert np.isnan(constant.smd) and "the same for every mother in both groups" in constant.note
    empty = standardised_difference(pd.Series([], dtype=float), same, binary=False, group_name="growing",
                                    reference_name="cut", min_cell=10)
    assert np.isnan(empty.smd) and empty.note == "not defined: no mothers with a value in the growing group"
    small = standardised_difference(pd.Series([1.0] * 3 + [0.0] * 30), pd.Series([1.0] * 20 + [0.0] * 20),
                                    binary=True, group_name="growing", reference_name="cut", min_cell=10)
    assert np.isnan(small.smd) and small.note.startswith("not shown")
    flat = standardised_difference(pd.Series([3.0] * 15), pd.Series([5.0] * 15), binary=False,
                                   group_name="growing", reference_name="cut", min_cell=10)
    assert np.isnan(flat.smd) and "does not vary within either group" in flat.note


# ---------------------------------------------------------------------------------------------------------
# Table 1 against pandas


def cohort(rng, sizes=None) -> pd.DataFrame:
    """Mothers by funding group: age (continuous, some missing), lone parent (0/1), education (1-4, where
    only 3 mothers at growing centres have a degree) and a constant indicator."""
    sizes = sizes or {"growing": 80, "stable": 60, "cut": 100}
    frames = []
    for group, n in sizes.items():
        education = rng.choice([1, 2, 3], n)
        if group == "growing":
            education[:3] = 4
        frames.append(pd.DataFrame({
            "funding_group": group, "mother_age": rng.normal(30, 5, n).round(1),
            "lone_parent": rng.binomial(1, 0.3, n), "mother_education": education, "rural": 0}))
    frame = pd.concat(frames, ignore_index=True)
    frame.loc[frame.sample(frac=0.1, random_state=1).index, "mother_age"] = np.nan
    frame["mother_age"] = frame["mother_age"].astype("Float64")
    for name in ("lone_parent", "mother_education", "rural"):
        frame[name] = frame[name].astype("Int64")
    frame.loc[frame.index[::17], "lone_parent"] = pd.NA
    return frame


ROWS = characteristics(["mother_age", "mother_education", "lone_parent", "rural"],
                       {"mother_education": [1, 2, 3, 4]}, {"lone_parent", "rural"})
LABELS = {name: f"words for {name}" for name in ("mother_age", "mother_education", "lone_parent", "rural")}


def table_one(frame: pd.DataFrame) -> pd.DataFrame:
    return baseline_characteristics(frame, ROWS, exposure="funding_group", reference="cut", labels=LABELS,
                                    min_cell=10).set_index("row_id")


def test_table_one_counts_means_and_missing_equal_a_pandas_groupby():
    frame = cohort(np.random.default_rng(4))
    table = table_one(frame)
    by_group = frame.groupby("funding_group")
    for group in ("growing", "stable", "cut"):
        members = frame[frame["funding_group"] == group]
        assert table.loc["mothers", f"n_{group}"] == len(members)
        age = by_group["mother_age"]
        assert table.loc["mother_age", f"mean_{group}"] == pytest.approx(age.mean()[group])
        assert table.loc["mother_age", f"sd_{group}"] == pytest.approx(age.std()[group])
        assert table.loc["mother_age", f"n_{group}"] == age.count()[group]
        assert table.loc["mother_age", f"n_missing_{group}"] == members["mother_age"].isna().sum()
        lone = members["lone_parent"].dropna()
        assert table.loc["lone_parent", f"n_{group}"] == (lone == 1).sum()
        assert table.loc["lone_parent", f"pct_{group}"] == pytest.approx(100 * lone.mean(), abs=0.05)
        assert table.loc["lone_parent", f"n_missing_{group}"] == members["lone_parent"].isna().sum()
        counts = members["mother_education"].value_counts()
        for level in (1, 2, 3):
            assert table.loc[f"mother_education={level}", f"n_{group}"] == counts[level]
    assert table.loc["mothers", "n_all"] == len(frame)
    assert table.loc["mother_age", "mean_all"] == pytest.approx(frame["mother_age"].mean())
    assert table.loc["mother_age", "n_missing_all"] == frame["mother_age"].isna().sum()


def test_a_level_with_three_mothers_shows_no_share_and_no_smd():
    table = table_one(cohort(np.random.default_rng(5)))
    degree = table.loc["mother_education=4"]
    assert degree["n_growing"] == 3 and np.isnan(degree["pct_growing"])
    assert degree["n_cut"] == 0 and np.isnan(degree["pct_cut"])  # 0 at the level: no share either
    assert np.isnan(degree["smd_growing_vs_cut"]) and "growing vs cut: not shown" in degree["note"]
    # The other levels, with enough mothers on each side, are shown.
    assert table.loc["mother_education=1", ["pct_growing", "pct_cut"]].notna().all()


def test_a_small_group_gets_counts_but_no_mean_and_a_constant_covariate_is_not_defined():
    table = table_one(cohort(np.random.default_rng(6), sizes={"growing": 6, "stable": 30, "cut": 60}))
    assert table.loc["mother_age", "n_growing"] <= 6 and np.isnan(table.loc["mother_age", "mean_growing"])
    assert np.isfinite(table.loc["mother_age", "mean_stable"])
    rural = table.loc["rural"]
    assert np.isnan(rural["smd_stable_vs_cut"])
    assert ("stable vs cut: not defined: the value is the same for every mother in both groups"
            in rural["note"])


def test_a_group_without_mothers_and_an_all_missing_variable_are_said_not_defined():
    frame = cohort(np.random.default_rng(7), sizes={"stable": 30, "cut": 60})  # no growing centre
    frame["mother_age"] = pd.array([pd.NA] * len(frame), dtype="Float64")
    table = table_one(frame)
    assert table.loc["mothers", "n_growing"] == 0
    assert np.isnan(table.loc["lone_parent", "smd_growing_vs_cut"])
    assert "growing vs cut: not defined: no mothers with a value in the growing group" in \
        table.loc["lone_parent", "note"]
    age = table.loc["mother_age"]
    assert age["n_all"] == 0 and age["n_missing_all"] == len(frame) and np.isnan(age["mean_all"])
    assert "stable vs cut: not defined: no mothers with a value in the stable group" in age["note"]


def test_published_table_one_passes_the_disclosure_rule():
    table = table_one(cohort(np.random.default_rng(8))).reset_index()
    published = protect_table(table, RULE)
    assert violations(published, RULE, "baseline_characteristics.csv") == []
    assert published.set_index("row_id").loc["mother_education=4", "n_growing"] == "<10"


# ---------------------------------------------------------------------------------------------------------
# Missing patterns


def test_missing_patterns_count_every_mother_and_pool_small_patterns():
    frame = pd.DataFrame({"k6_w3": [1.0] * 60, "k6_w1": [1.0] * 60, "mother_age": [30.0] * 60})
    frame.loc[:19, "k6_w3"] = np.nan            # 20 mothers without follow-up
    frame.loc[20:22, "mother_age"] = np.nan     # a pattern of 3 mothers
    frame.loc[23, ["k6_w3", "mother_age"]] = np.nan  # a pattern of 1
    patterns = missing_patterns(frame, ["k6_w3", "k6_w1", "mother_age"], min_cell=10).set_index("pattern")
    listed = patterns.drop(index=[OTHER_PATTERNS, TOTAL])
    assert list(listed.index) == ["complete", "missing k6_w3"]
    assert listed.loc["complete", "n_mothers"] == 36 and listed.loc["missing k6_w3", "n_mothers"] == 20
    assert listed.loc["missing k6_w3", ["k6_w3", "k6_w1", "mother_age"]].tolist() == [0, 1, 1]
    assert (listed["k6_w1"] == 1).all()  # a variable with no missing values
    other = patterns.loc[OTHER_PATTERNS]
    assert other["n_mothers"] == 4 and other["patterns"] == 2 and "2 pattern(s) pooled" in other["note"]
    assert pd.isna(other["mother_age"])  # the pooled row shows no pattern
    total = patterns.loc[TOTAL]
    assert total["n_mothers"] == 60 == patterns.drop(index=TOTAL)["n_mothers"].sum()
    assert total["patterns"] == 4 and "k6_w3 21 mothers" in total["note"]
    published = protect_table(patterns.reset_index(), RULE)
    assert violations(published, RULE, "missing_patterns.csv") == []
    assert "k6_w3 20 mothers" in published["note"].iloc[-1]  # the note's counts are rounded too


def test_a_frame_without_missing_values_has_one_pattern():
    frame = pd.DataFrame({"a": np.arange(15.0), "b": np.ones(15)})
    patterns = missing_patterns(frame, ["a", "b"], min_cell=10)
    assert patterns["pattern"].tolist() == ["complete", TOTAL]
    assert patterns["n_mothers"].tolist() == [15, 15] and patterns["variables_missing"].iloc[0] == 0


# ---------------------------------------------------------------------------------------------------------
# Balance samples and weights


def test_weighted_balance_leaves_out_and_counts_mothers_without_a_weight():
    frame = cohort(np.random.default_rng(9))
    weights = pd.Series(np.random.default_rng(9).uniform(0.7, 1.5, len(frame)), index=frame.index)
    weights.iloc[:5] = np.nan
    usable = weights.notna()
    sample = Sample(ANALYSED, WEIGHTED, frame[usable], weights=weights[usable])
    table = covariate_balance([sample], ROWS, exposure="funding_group", reference="cut",
                              min_cell=10, smd_guide=0.1).set_index("comparison_id")
    row = table.loc[balance.comparison_id("mother_age", "growing vs cut", ANALYSED, WEIGHTED)]
    kept = frame[usable]
    g = kept[(kept["funding_group"] == "growing") & kept["mother_age"].notna()]
    r = kept[(kept["funding_group"] == "cut") & kept["mother_age"].notna()]
    assert row["n_group"] == len(g) and row["n_reference"] == len(r)
    expected = standardised_difference(g["mother_age"].astype(float), r["mother_age"].astype(float),
                                       binary=False, group_name="growing", reference_name="cut", min_cell=10,
                                       group_weights=weights[g.index], reference_weights=weights[r.index])
    assert row["smd"] == pytest.approx(expected.smd)


def tiny_inputs(raw_dir, plan, single_la=False):
    data = clean_all(raw_dir)
    exposure = exposure_table(data.centres, data.funding, data.deflators,
                              ExposurePlan.from_config(plan["exposure"]))
    if single_la:
        exposure["la_code"] = exposure["la_code"].iloc[0]
    return data.survey, exposure


@pytest.fixture(scope="module")
def tiny_tables(tiny_raw_master, plan):
    survey, exposure = tiny_inputs(tiny_raw_master, plan)
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    return balance.balance_tables(survey, exposure, plan["primary_sample"], spec, spec, min_cell=10,
                                  smd_guide=0.1)


def test_the_three_tables_from_the_plan_are_consistent_and_publishable(tiny_tables):
    table_one_, table, patterns = tiny_tables.characteristics, tiny_tables.balance, tiny_tables.patterns
    cohort_size = table_one_.set_index("row_id").loc["mothers", "n_all"]
    assert table_one_["design_note"].iloc[0].startswith(f"{cohort_size} mothers interviewed at wave 1 whose")
    assert patterns.set_index("pattern").loc[TOTAL, "n_mothers"] == cohort_size
    complete = patterns.set_index("pattern").loc["complete", "n_mothers"]
    analysed = table[(table["sample"] == ANALYSED) & (table["weighting"] == UNWEIGHTED)
                     & (table["row_id"] == "child_female")]
    # child_female is never missing: its counts add up to the complete-case pattern, the primary sample
    assert analysed["n_group"].sum() + analysed["n_reference"].iloc[0] == complete
    assert set(table["sample"] + "/" + table["weighting"]) == {f"{COHORT}/{UNWEIGHTED}",
                                                               f"{ANALYSED}/{UNWEIGHTED}",
                                                               f"{ANALYSED}/{WEIGHTED}"}
    weighted = table[table["weighting"] == WEIGHTED]
    assert weighted["smd"].notna().sum() > 10  # the response model was fitted
    # The baseline-cohort SMDs are Table 1's.
    cohort_rows = table[(table["sample"] == COHORT) & (table["contrast"] == "growing vs cut")]
    smd = table_one_.set_index("row_id")["smd_growing_vs_cut"]
    assert np.allclose(cohort_rows.set_index("row_id")["smd"], smd.loc[cohort_rows["row_id"]], equal_nan=True)
    for name, frame in (("baseline_characteristics", table_one_), ("covariate_balance", table),
                        ("missing_patterns", patterns)):
        assert violations(protect_table(frame, RULE), RULE, f"{name}.csv") == []
    # Covariates in the plan's order (categorical ones per coded level), then the plan's baseline scores.
    assert list(table_one_["row_id"][:3]) == ["mothers", "mother_age", "mother_education=1"]
    assert list(table_one_["row_id"][-5:]) == ["k6_w1", "ghq_likert_w1", "ghq_caseness_w1", "ghq_case_w1",
                                               "k6_serious_w1"]


def test_section_numbers_are_published_cells(tiny_tables):
    tables = {"baseline_characteristics": protect_table(tiny_tables.characteristics, RULE),
              "covariate_balance": protect_table(tiny_tables.balance, RULE)}
    # Read back as the report reads them: through CSV.
    tables = {name: pd.read_csv(io.StringIO(frame.to_csv(index=False))) for name, frame in tables.items()}
    page = balance.baseline_section_html(tables)
    assert check_summary(page, tables, section="baseline") >= 15
    assert "growing centres differed most" in page
    view = balance.table_one_view(tables["baseline_characteristics"])
    assert list(view.columns[:6]) == ["Characteristic", "Level", "Growing", "Stable", "Cut", "All mothers"]
    assert view["SMD growing vs cut"].str.match(r"^([+-]\d\.\d\d|-)$").all()


def test_a_single_la_and_a_plan_without_weighting(tiny_raw_master, plan):
    survey, exposure = tiny_inputs(tiny_raw_master, plan, single_la=True)
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    tables = balance.balance_tables(survey, exposure, plan["primary_sample"], spec, None, min_cell=10,
                                    smd_guide=0.1)
    weighted = tables.balance[tables.balance["weighting"] == WEIGHTED]
    assert weighted["smd"].isna().all()
    assert weighted["note"].str.contains("the plan has no inverse_probability_weighting").all()
    assert tables.balance.loc[tables.balance["weighting"] == UNWEIGHTED, "smd"].notna().any()


def test_a_response_model_that_cannot_be_fitted_is_said_so(tiny_raw_master, plan):
    survey, exposure = tiny_inputs(tiny_raw_master, plan)
    survey = survey.assign(workless=pd.array([pd.NA] * len(survey), dtype="Int64"))  # all missing
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    tables = balance.balance_tables(survey, exposure, plan["primary_sample"], spec, spec, min_cell=10,
                                    smd_guide=0.1)
    weighted = tables.balance[tables.balance["weighting"] == WEIGHTED]
    assert weighted["smd"].isna().all()
    assert (weighted["note"] == "not available: the response model cannot be fitted, as no mother of the "
                                "cohort has every one of its predictors").all()
    patterns = tables.patterns.set_index("pattern")
    assert (patterns.drop(index=[TOTAL, OTHER_PATTERNS], errors="ignore")["workless"] == 0).all()
    workless = tables.characteristics.set_index("row_id").loc["workless"]
    assert workless["n_all"] == 0 and workless["n_missing_all"] == patterns.loc[TOTAL, "n_mothers"]


def test_the_plan_refuses_a_balance_model_without_groups(plan):
    changed = copy.deepcopy(plan)
    changed["covariate_balance"]["model"] = "dose_linear"
    with pytest.raises(PlanError, match="covariate_balance.model 'dose_linear' must compare funding groups"):
        check_plan(changed)


def test_love_plot_is_drawn_with_unavailable_weights(tmp_path):
    rows = [Characteristic("mother_age", "continuous"), Characteristic("rural", "binary", 1)]
    frame = cohort(np.random.default_rng(10))
    samples = [Sample(COHORT, UNWEIGHTED, frame), Sample(ANALYSED, UNWEIGHTED, frame),
               Sample(ANALYSED, WEIGHTED, None, unavailable="not available: no weights")]
    table = covariate_balance(samples, rows, exposure="funding_group", reference="cut",
                              min_cell=10, smd_guide=0.1)
    from analysis.figures import balance_figure

    balance_figure(table, tmp_path / "balance.png", synthetic=True)
    assert (tmp_path / "balance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "mother_age" in balance.alt_balance(table)


@pytest.mark.parametrize("values", [[1.0, np.nan, 3.0], [1.0, np.inf, 3.0]])
def test_a_missing_value_called_directly_is_refused_not_turned_into_a_wrong_reason(values):
    """Called as a library with a missing value, the moments refuse: a NaN mean would make the SMD 'not
    defined' for a wrong reason (a single mother)."""
    with pytest.raises(ValueError, match="values must be finite"):
        austin_moments(np.array(values), None, binary=False)
    with pytest.raises(ValueError, match="values must be finite"):
        standardised_difference(pd.Series(values * 10), pd.Series([1.0, 2.0, 2.0] * 10), binary=False,
                                group_name="growing", reference_name="cut", min_cell=2)
