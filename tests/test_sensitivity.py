"""Effect sizes, E-values, Holm adjustment and leave-one-out refits, against closed forms."""

import numpy as np
import pandas as pd
import pytest

from analysis.design import ModelSpec
from analysis.fastreml import SufficientStatistics, profile
from analysis.sensitivity import (
    e_value_from_rr,
    e_values,
    effect_size_table,
    hedges_g,
    holm_adjust,
    leave_one_out,
    mixed_model_refits,
    pooled_sd,
    refits,
)
from tests.test_mixed import read_reference


def test_e_value_matches_vanderweele_and_ding_examples():
    assert e_value_from_rr(3.9) == pytest.approx(3.9 + np.sqrt(3.9 * 2.9))  # 7.26 in their paper
    assert e_value_from_rr(3.9) == pytest.approx(7.26, abs=0.005)
    assert e_value_from_rr(0.8) == pytest.approx(1.25 + np.sqrt(1.25 * 0.25))  # protective: invert
    assert e_value_from_rr(1.0) == 1.0


def test_e_values_of_a_difference_and_its_interval():
    contrasts = pd.DataFrame({"model": ["m", "m"], "contrast": ["growing vs cut", "stable vs cut"],
                              "estimate": [-1.0, -0.3], "ci_lower": [-1.5, -0.7], "ci_upper": [-0.5, 0.1]})
    table = e_values(contrasts, pd.Series([4.0, 4.0])).set_index("contrast")
    rr = np.exp(0.91 * -1.0 / 4.0)
    assert table.loc["growing vs cut", "approx_risk_ratio"] == pytest.approx(rr)
    assert table.loc["growing vs cut", "e_value_estimate"] == pytest.approx(e_value_from_rr(rr))
    nearer = np.exp(0.91 * -0.5 / 4.0)  # the upper limit is nearer the null
    assert table.loc["growing vs cut", "e_value_ci"] == pytest.approx(e_value_from_rr(nearer))
    assert table.loc["stable vs cut", "e_value_ci"] == 1.0  # interval includes no difference


def test_hedges_g_closed_form():
    frame = pd.DataFrame({"funding_group": ["growing"] * 4 + ["cut"] * 5 + ["stable"] * 3,
                          "k6_w1": [1, 3, 5, 7, 2, 4, 6, 8, 10, 100, 100, 100]})
    contrasts = pd.DataFrame({"model": ["m"], "outcome": ["k6_w3"], "contrast": ["growing vs cut"],
                              "scale": ["difference"], "estimate": [-1.0], "ci_lower": [-2.0],
                              "ci_upper": [0.0], "n": [9], "n_clusters": [3]})
    spec = ModelSpec("m", "k6_w3", "funding_group", "cut", ())
    row = hedges_g(contrasts, frame, spec, "k6_w1").iloc[0]
    sd = np.sqrt((3 * np.var([1, 3, 5, 7], ddof=1) + 4 * np.var([2, 4, 6, 8, 10], ddof=1)) / 7)
    j = 1 - 3 / (4 * 9 - 9)
    assert row["pooled_sd"] == pytest.approx(sd)
    assert pooled_sd(frame.k6_w1[:4], frame.k6_w1[4:9]) == pytest.approx(sd)
    assert row["hedges_g"] == pytest.approx(-j / sd)
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx((-2 * j / sd, 0.0))


def test_holm_adjustment_by_hand():
    tables = [pd.DataFrame({"contrast": ["a", "b"], "scale": ["difference"] * 2, "p_value": [0.01, 0.04]}),
              pd.DataFrame({"contrast": ["c", "c"], "scale": ["odds ratio", "risk difference"],
                            "p_value": [0.03, 0.02]})]
    family = holm_adjust(tables)
    assert list(family["contrast"]) == ["a", "b", "c"]  # risk differences are not tested twice
    # sorted p: 0.01, 0.03, 0.04 -> x3, x2, x1 with monotonicity: 0.03, 0.06, 0.06
    np.testing.assert_allclose(family["p_holm"], [0.03, 0.06, 0.06])


def test_leave_one_out_drops_each_local_authority_once(plan):
    _, _, frame = read_reference("tiny")
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    table = leave_one_out(frame, spec, plan["mixed_model_fit"])
    las = sorted(frame["la_code"].unique())
    assert sorted(table["left_out"].unique()) == las
    for la, rows in table.groupby("left_out"):
        assert (rows["n"] == (frame["la_code"] != la).sum()).all()
        assert (rows["n_left_out"] == (frame["la_code"] == la).sum()).all()
        assert (rows["n_clusters"] == len(las) - 1).all()


def growing_in_one_authority(frame: pd.DataFrame) -> pd.DataFrame:
    """The growing centres of one local authority kept, every other growing centre made stable: leaving that
    authority out leaves an exposure column that is zero for every remaining row."""
    growing = frame["funding_group"] == "growing"
    keep = frame.loc[growing, "la_code"].value_counts().index[0]
    return frame.assign(funding_group=frame["funding_group"].where(~growing | (frame["la_code"] == keep),
                                                                   "stable"))


@pytest.mark.parametrize("design", ["as_given", "growing_in_one_authority"])
def test_mixed_model_refits_equal_refits_from_the_rows(plan, design):
    """Leaving a local authority out of the sufficient statistics, and starting at the full optimum, gives
    the fit of the data without that authority's rows, searched from the plan's starts. A column the rest
    cannot estimate is found exactly (the rank rule on the authorities' QR factors, not on cross-products
    of centred columns, where a zero column is zero only to rounding) and dropped as the rows' fit does."""
    _, _, frame = read_reference("tiny")
    if design == "growing_in_one_authority":
        frame = growing_in_one_authority(frame)
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    fast = dict(mixed_model_refits(frame, spec, plan["mixed_model_fit"]))
    slow = dict(refits(frame, spec, plan["mixed_model_fit"]))
    assert sorted(fast) == sorted(slow) == sorted(frame["la_code"].unique())
    for la, summary in slow.items():
        ours = fast[la].coefficients.set_index("term")
        theirs = summary.coefficients.set_index("term")
        np.testing.assert_allclose(ours["estimate"], theirs["estimate"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours["std_error"], theirs["std_error"], rtol=1e-5)
        assert fast[la].diagnostics["reml_loglik"] == pytest.approx(summary.diagnostics["reml_loglik"],
                                                                    abs=1e-6)
        assert (fast[la].n, fast[la].n_clusters) == (summary.n, summary.n_clusters)
        assert fast[la].absent_levels == summary.absent_levels
    if design == "growing_in_one_authority":
        assert sum(summary.absent_levels == ["growing"] for summary in slow.values()) == 1


def test_sufficient_statistics_without_an_authority_equal_those_of_its_absence():
    rng = np.random.default_rng(5)
    n = 400
    outer = rng.choice(["E06000001", "E06000002", "E06000003", "E06000004"], size=n)
    inner = np.array([f"C{k}" for k in rng.integers(0, 5, n)])  # centre labels recur across authorities
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = rng.normal(size=n)
    full = SufficientStatistics.from_data(y, X, outer, inner)
    for la in np.unique(outer):
        keep = outer != la
        dropped = full.without_outer(la)
        direct = SufficientStatistics.from_data(y[keep], X[keep], outer[keep], inner[keep])
        np.testing.assert_allclose(dropped.cross, direct.cross, rtol=1e-12)
        assert dropped.n == keep.sum() and dropped.n_outer == 3
        for theta in [(0.3, 0.5), (1.2, 0.0)]:
            assert profile(dropped, *theta).reml_loglik == pytest.approx(profile(direct, *theta).reml_loglik,
                                                                         rel=1e-12)


def test_effect_size_table_joins_each_contrasts_g_to_its_e_values():
    frame = pd.DataFrame({"funding_group": ["growing"] * 4 + ["cut"] * 5 + ["stable"] * 3,
                          "k6_w1": [1, 3, 5, 7, 2, 4, 6, 8, 10, 100, 100, 100]})
    contrasts = pd.DataFrame({"model": "m", "outcome": "k6_w3",
                              "contrast": ["growing vs cut", "stable vs cut"],
                              "scale": "difference", "estimate": [-1.0, 0.5], "ci_lower": [-2.0, -0.5],
                              "ci_upper": [0.0, 1.5], "n": [9, 8], "n_clusters": [3, 3]})
    spec = ModelSpec("m", "k6_w3", "funding_group", "cut", ())
    table = effect_size_table(contrasts, frame, spec, "k6_w1")
    assert list(table["contrast"]) == ["growing vs cut", "stable vs cut"]
    g = hedges_g(contrasts, frame, spec, "k6_w1")
    e = e_values(contrasts, g["pooled_sd"])
    for column in ("hedges_g", "pooled_sd"):
        np.testing.assert_allclose(table[column], g[column])
    shared = [c for c in e.columns if c in g.columns and c not in ("model", "contrast")]
    assert shared  # the E-value table repeats some of g's columns: they get the suffix, g's stay as they are
    for column in shared:
        pd.testing.assert_series_equal(table[f"{column}_e_value"], e[column], check_names=False)


def _contrasts(estimator: str, growing: tuple, df: float = 20.0, wcr: tuple | None = None) -> pd.DataFrame:
    rows = pd.DataFrame({"contrast": ["growing vs cut", "stable vs cut"], "estimator": estimator,
                         "estimate": [growing[0], 9.0], "ci_lower": [growing[1], 8.0],
                         "ci_upper": [growing[2], 10.0], "df": df})
    if wcr is not None:
        rows["wcr_ci_lower"], rows["wcr_ci_upper"] = [wcr[0], 8.5], [wcr[1], 9.5]
    return rows


def _attrition_and_did() -> dict:
    terms = ["funding_group[T.growing]", "funding_group[T.stable]"]
    return {"imputation": pd.DataFrame({"term": terms, "estimate": [-0.8, 9.0], "ci_lower": [-1.2, 8.0],
                                        "ci_upper": [-0.4, 10.0]}),
            "weighting": pd.DataFrame({"term": terms, "estimate": [-0.7, 9.0], "ci_lower": [-1.1, 8.0],
                                       "ci_upper": [-0.3, 10.0]}),
            "did": pd.DataFrame({"group": ["growing", "growing", "stable"], "wave": [2, 3, 3],
                                 "estimate": [5.0, -0.6, 9.0], "ci_lower": [4.0, -1.0, 8.0],
                                 "ci_upper": [6.0, -0.2, 10.0]})}


def test_forest_rows_follow_the_forest_role_in_its_order():
    from analysis.figures import FOREST_METHODS, forest_rows

    models = {"cr2_first": _contrasts("ols_cr2", (-0.88, -1.42, -0.34), wcr=(-1.38, -0.28)),
              "headline": _contrasts("lmm_reml", (-0.91, -1.38, -0.44), df=np.inf),
              "cr2_no_bootstrap": _contrasts("ols_cr2", (-0.5, -1.0, 0.0))}
    rows = forest_rows(models, group="growing", **_attrition_and_did())
    assert list(zip(rows["analysis"], rows["method"], strict=True)) == [
        ("cr2_first", "ols_cr2"), ("cr2_first", "wild_bootstrap"), ("headline", "mixed_model"),
        ("cr2_no_bootstrap", "ols_cr2"), ("multiple_imputation", "multiple_imputation"),
        ("inverse_probability_weighting", "response_weighting"),
        ("difference_in_differences", "difference_in_differences")]
    assert set(rows["method"]) <= set(FOREST_METHODS)
    # each row is the growing-vs-cut cell of its table (the DiD's at the last wave), bootstrap bounds its own
    assert rows["estimate"].tolist() == [-0.88, -0.88, -0.91, -0.5, -0.8, -0.7, -0.6]
    assert rows["ci_lower"].tolist() == [-1.42, -1.38, -1.38, -1.0, -1.2, -1.1, -1.0]
    assert rows["label"][2] == "Mixed model, Wald CI (headline)"
    only_attrition = forest_rows({}, group="growing", **_attrition_and_did())
    assert only_attrition["method"].tolist() == ["multiple_imputation", "response_weighting",
                                                 "difference_in_differences"]
