"""What a planned cut would mean: deflation, projections against independent computations, the extrapolation
guard, and the scenario section and brief read back against the table."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from analysis import brief, scenarios
from analysis.cleaning import clean_all
from analysis.design import spline_basis
from analysis.disclosure import DisclosureRule, text_violations, visible_text
from analysis.errors import DesignError, PlanError
from analysis.plan import check_plan
from analysis.primary import load_plan, primary_frame
from analysis.report import FORMATS, approximate
from tests.conftest import ROOT
from tests.summary_check import check_summary

DEFLATORS = pd.DataFrame({"financial_year": ["2011-12", "2012-13", "2013-14", "2014-15"],
                          "gdp_deflator": [100.0, 101.6, 103.5, 105.2]})


def test_a_nominal_change_is_deflated_by_the_series_and_beyond_it_by_the_stated_growth():
    inside = scenarios.Scenario("s", -10, "2011-12", "2013-14")
    change = scenarios.real_terms_change(inside, DEFLATORS, 2.0)
    assert change.real_change_pct == pytest.approx(100 * (0.9 * 100.0 / 103.5 - 1), rel=1e-12)
    assert not change.assumed and "2013-14: 103.5 (series)" in change.assumption
    beyond = scenarios.Scenario("s", -50, "2014-15", "2016-17")
    change = scenarios.real_terms_change(beyond, DEFLATORS, 2.0)
    assert change.real_change_pct == pytest.approx(100 * (0.5 / 1.02**2 - 1), rel=1e-12)
    assert change.assumed and change.series_end == "2014-15" and "grown 2% a year" in change.assumption
    # No inflation assumed: a cash change is the real change.
    assert scenarios.real_terms_change(beyond, DEFLATORS, 0.0).real_change_pct == pytest.approx(-50)


def test_a_year_before_the_series_or_a_window_backwards_is_refused():
    with pytest.raises(PlanError, match="before the deflator series starts"):
        scenarios.real_terms_change(scenarios.Scenario("s", -10, "2009-10", "2012-13"), DEFLATORS, 2.0)
    gap = DEFLATORS[DEFLATORS["financial_year"] != "2012-13"]
    with pytest.raises(PlanError, match="2012-13 is within the deflator series .* but has no deflator"):
        scenarios.real_terms_change(scenarios.Scenario("s", -10, "2012-13", "2014-15"), gap, 2.0)
    with pytest.raises(PlanError, match="is not before to_year"):
        scenarios.Scenario.from_config("s", {"nominal_change_pct": -10, "from_year": "2014-15",
                                             "to_year": "2014-15"})
    with pytest.raises(PlanError, match="leave no budget"):
        scenarios.Scenario.from_config("s", {"nominal_change_pct": -100, "from_year": "2013-14",
                                             "to_year": "2014-15"})


@pytest.fixture(scope="module")
def bundled():
    """The scenario projections of the shipped plan on the bundled (synthetic) data."""
    plan = load_plan()
    frame, _ = primary_frame(ROOT / "data/raw", plan)
    deflators = clean_all(ROOT / "data/raw", "centre").deflators
    means, shares = scenarios.fit_models(frame, plan)
    table, curve = scenarios.project(frame, deflators, plan)
    return {"plan": plan, "frame": frame, "deflators": deflators, "means": means, "shares": shares,
            "table": table, "curve": curve}


def _row(table, scenario, quantity, model):
    return table[(table["scenario"] == scenario) & (table["quantity"] == quantity)
                 & (table["model"] == model)].iloc[0]


def test_the_linear_projection_is_the_slope_times_the_change(bundled):
    linear = next(m for m in bundled["means"] if m.spec.exposure_kind == "linear")
    coefficient = linear.summary.coefficients.set_index("term").loc[linear.spec.linear_term]
    for name in ("halve_budget", "trim_budget"):
        row = _row(bundled["table"], name, "mean_k6_difference", linear.spec.name)
        steps = row["real_change_pct"] / linear.spec.exposure_per
        assert row["estimate"] == pytest.approx(coefficient["estimate"] * steps, rel=1e-10)
        assert row["std_error"] == pytest.approx(coefficient["std_error"] * abs(steps), rel=1e-8)
        assert row["df"] == pytest.approx(coefficient["df"], rel=1e-6)  # one coefficient: its own df
        assert row["ci_lower"] < row["estimate"] < row["ci_upper"]


def test_the_spline_projection_matches_the_basis_and_covariance_built_again(bundled):
    spline = next(m for m in bundled["means"] if m.spec.exposure_kind == "spline")
    summary, spec = spline.summary, spline.spec
    _, info = spline_basis(summary.exposure_values.astype(float), spec.spline_df)
    terms = spec.exposure_terms()
    index = [list(summary.design.columns).index(t) for t in terms]
    beta = summary.coefficients.set_index("term").loc[terms, "estimate"].to_numpy()
    cov = summary.covariance[np.ix_(index, index)]
    for name in ("halve_budget", "trim_budget"):
        row = _row(bundled["table"], name, "mean_k6_difference", spec.name)
        at, _ = spline_basis(np.array([row["real_change_pct"]]), spec.spline_df, info)
        origin, _ = spline_basis(np.array([0.0]), spec.spline_df, info)
        L = (at - origin)[0]
        assert row["estimate"] == pytest.approx(L @ beta, rel=1e-9)
        assert row["std_error"] == pytest.approx(np.sqrt(L @ cov @ L), rel=1e-8)
    # At one of the plan's reported points the projection is the published contrast.
    point = spec.spline_points[0]
    ((_, estimate, se, _),) = scenarios.models.exposure_contrasts(summary, spec, [point], 0.0)
    contrast = next(r for r in scenarios.models.contrast_rows(summary, spec)
                    if f"{point:+g} vs" in r["contrast"])
    assert (estimate, se) == pytest.approx((contrast["estimate"], contrast["std_error"]), rel=1e-12)


def test_shares_match_direct_predictions_and_their_delta_se_matches_simulation(bundled):
    role, model = "serious_distress", bundled["shares"]["serious_distress"]
    row = _row(bundled["table"], "halve_budget", role, model.spec.name)
    X = model.summary.design.copy()
    beta = model.summary.coefficients["estimate"].to_numpy()
    term = model.spec.linear_term
    at_plan, at_zero = X.copy(), X.copy()
    at_plan[term] = row["real_change_pct"] / model.spec.exposure_per
    at_zero[term] = 0.0
    for column, X_at in (("share_planned_pct", at_plan), ("share_no_change_pct", at_zero)):
        assert row[column] == pytest.approx(100 * expit(X_at.to_numpy() @ beta).mean(), rel=1e-10)
    # Simulation from the coefficient covariance: the delta-method SE within Monte Carlo and linearisation
    # error of the spread of simulated differences.
    draws = np.random.default_rng(7).multivariate_normal(beta, model.summary.covariance, size=4000)
    simulated = 100 * (expit(at_plan.to_numpy() @ draws.T).mean(axis=0)
                       - expit(at_zero.to_numpy() @ draws.T).mean(axis=0))
    assert row["std_error"] == pytest.approx(simulated.std(), rel=0.15)
    assert row["estimate"] == pytest.approx(np.median(simulated), abs=0.5 * row["std_error"])
    served = row["mothers_served_per_year"]
    assert row["mothers_affected"] == pytest.approx(row["estimate"] / 100 * served, rel=1e-12)
    assert row["mothers_affected_ci_upper"] == pytest.approx(row["ci_upper"] / 100 * served, rel=1e-12)


def test_the_extrapolation_guard_marks_a_halving_and_not_a_small_cut(bundled):
    table = bundled["table"]
    low, high = table["observed_min_pct"].iloc[0], table["observed_max_pct"].iloc[0]
    analysed = [m.summary.exposure_values for m in [*bundled["means"], *bundled["shares"].values()]]
    assert low == max(v.min() for v in analysed) and high == min(v.max() for v in analysed)
    halve = table[table["scenario"] == "halve_budget"]
    trim = table[table["scenario"] == "trim_budget"]
    assert halve["extrapolation"].all() and halve["real_change_pct"].iloc[0] < low
    assert not trim["extrapolation"].any() and low <= trim["real_change_pct"].iloc[0] <= high
    curve = bundled["curve"]
    assert (curve["extrapolation"] == ~curve["real_change_pct"].between(low, high)).all()
    assert curve["real_change_pct"].min() < halve["real_change_pct"].iloc[0]


def test_the_plan_can_refuse_extrapolation_naming_the_scenario_and_the_range(bundled):
    plan = copy.deepcopy(bundled["plan"])
    plan["scenarios"]["extrapolation"] = "refuse"
    with pytest.raises(PlanError, match=r"scenario 'halve_budget'.*outside the range observed in the data "
                                        r"\(-3\d\.\d% to \+1\d\.\d%\)"):
        scenarios.project(bundled["frame"], bundled["deflators"], plan)
    del plan["scenarios"]["planned"]["halve_budget"]
    table, _ = scenarios.project(bundled["frame"], bundled["deflators"], plan)  # inside the range: fine
    assert set(table["scenario"]) == {"trim_budget"} and not table["extrapolation"].any()


def test_the_plan_check_refuses_scenario_models_that_are_not_dose_responses():
    plan = load_plan()
    plan["scenarios"]["mean_models"] = ["primary", "nonexistent"]
    plan["scenarios"]["share_models"] = {"serious_distress": "dose_linear"}
    with pytest.raises(PlanError) as err:
        check_plan(plan)
    text = str(err.value)
    assert ("scenarios.mean_models 'primary' must be a model of estimator lmm_reml with a linear or spline "
            "exposure") in text
    assert "scenarios.mean_models names 'nonexistent', which is not a model" in text
    assert ("scenarios.share_models.serious_distress 'dose_linear' must be a model of estimator "
            "gee_logistic") in text


def _published(bundled) -> dict[str, pd.DataFrame]:
    return {"scenarios": bundled["table"].assign(synthetic_data=True)}


def test_every_number_in_the_section_and_the_brief_is_its_table_cell(bundled, tmp_path):
    tables = _published(bundled)
    section = brief.scenarios_section_html(tables)
    assert check_summary(section, tables, section="scenarios") >= 60
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    page = brief.brief_html(tables, figure, True, "abc", "Counts rounded.")
    assert check_summary(page, tables, section="brief") >= 40
    # A changed cell is caught.
    changed = {"scenarios": tables["scenarios"].assign(estimate=tables["scenarios"]["estimate"] + 0.5)}
    with pytest.raises(AssertionError):
        check_summary(page, changed, section="brief")


def test_an_extrapolated_projection_never_appears_without_its_mark_and_the_range(bundled, tmp_path):
    tables = _published(bundled)
    section = visible_text(brief.scenarios_section_html(tables))
    halve, trim = section.split("Cut the budget by a tenth")
    assert "EXTRAPOLATION" in halve and "EXTRAPOLATION" not in trim
    for text in (halve, trim):
        assert "Budgets in the data changed by between" in text
    shown = brief.scenarios_table(tables["scenarios"])
    outside = shown["Plan"] == "halve_budget"
    assert shown.loc[outside, "Range"].str.startswith("EXTRAPOLATION (observed").all()
    assert shown.loc[~outside, "Range"].str.startswith("within the data (observed").all()
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    page = visible_text(brief.brief_html(tables, figure, True, "abc", "Counts rounded."))
    row = page[page.index("halve_budget"):page.index("trim_budget")]
    assert "EXTRAPOLATION" in row


def test_the_brief_passes_the_disclosure_rule_and_a_stricter_rule_refuses_it(bundled, tmp_path):
    tables = _published(bundled)
    figure = tmp_path / "figure.png"
    figure.write_bytes(b"\x89PNG\r\n\x1a\n")
    page = visible_text(brief.brief_html(tables, figure, True, "abc", "Counts rounded."))
    assert text_violations(page, DisclosureRule(10, 5), "brief.html") == []
    # Rounding to 3 cannot hold "8,000 mothers": the brief is refused, naming the mention.
    problems = text_violations(page, DisclosureRule(10, 3), "brief.html")
    assert problems and "8,000 mothers" in problems[0].describe()


@pytest.mark.parametrize("value, shown", [(3.2, "3"), (-4, "4"), (0.4, "0"), (10.2, "10"), (25, "30"),
                                          (35, "40"), (420.7, "420"), (-306.6, "310"), (999.6, "1,000"),
                                          (1824.7, "1,800"), (31220, "31,000")])
def test_projected_mothers_are_rounded_as_promised(value, shown):
    assert approximate(value) == shown
    signed = FORMATS["signed_mothers"](value)
    assert signed == (f"\u2212{shown}" if value < 0 and shown != "0" else shown)


def test_plans_the_models_cannot_project_are_refused_in_words(bundled):
    plan = copy.deepcopy(bundled["plan"])
    with pytest.raises(PlanError, match="'2014-16' is not a financial year written YYYY-YY"):
        scenarios.Scenario.from_config("s", {"nominal_change_pct": -10, "from_year": "2014-16",
                                             "to_year": "2016-17"})
    with pytest.raises(PlanError, match="nominal_change_pct must be a finite number"):
        scenarios.Scenario.from_config("s", {"nominal_change_pct": float("inf"), "from_year": "2014-15",
                                             "to_year": "2016-17"})
    with pytest.raises(PlanError, match="to_year is missing"):
        scenarios.Scenario.from_config("s", {"nominal_change_pct": -10, "from_year": "2014-15"})
    plan["scenarios"]["planned"]["halve_budget"]["description"] = "Close 7 centres"
    with pytest.raises(PlanError, match=r"description would break the disclosure rule.*7 centres"):
        check_plan(plan)
    plan["scenarios"]["mean_models"] = []
    with pytest.raises(PlanError, match="mean_models names no model"):
        check_plan(plan)
    with pytest.raises(PlanError, match="name at least one dose-response model of mean K6"):
        scenarios.project(bundled["frame"], bundled["deflators"], plan)
    plan["scenarios"]["planned"] = {}
    with pytest.raises(PlanError, match="no planned change"):
        scenarios.project(bundled["frame"], bundled["deflators"], plan)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # statsmodels' overflow on the separated data
@pytest.mark.filterwarnings("ignore:Perfect separation")
def test_a_share_model_that_separates_the_outcome_projects_nothing(bundled):
    """A logistic model whose outcome the exposure separates would project shares of 0% and 100% with
    confident-looking intervals: refused, naming the model."""
    frame = bundled["frame"].copy()
    frame["k6_serious_w3"] = (frame["budget_change_pct"] > 0).astype(float)
    with pytest.raises(DesignError, match="model 'serious_distress_dose'.*Remove 'serious_distress_dose'"):
        scenarios.fit_models(frame, bundled["plan"])


def test_a_plan_at_the_end_of_the_observed_range_is_not_an_extrapolation():
    assert scenarios.within(14.61021427432334, -31.8, 14.610214274323319)
    assert not scenarios.within(14.62, -31.8, 14.61)


def test_a_plan_over_another_span_of_years_than_the_data_says_so(bundled):
    section = " ".join(visible_text(brief.scenarios_section_html(_published(bundled))).split())
    trim = section[section.index("Cut the budget by a tenth"):]
    assert "It takes 1 year(s); the budget changes in the data each took 2" in trim
    halve = section[:section.index("Cut the budget by a tenth")]
    assert "It takes" not in halve  # the halving spans two years, as the data's changes did
