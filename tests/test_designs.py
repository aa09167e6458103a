"""Designs real users have: the model layer fits what the data can support, and says so.

Each case takes a real-shaped analysis sample (the committed R fixture sample: 25 LAs, about 1,900 mothers)
and changes its design: a covariate constant in the data, two covariates that are the same, a funding group
without mothers, no mothers in the reference group, a single local authority, a categorical covariate
without its reference level, a model whose outcome is missing for everyone. Each is checked against an
independent fit of what the adapted model must be.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.cluster_robust import ols_cr2
from analysis.design import ModelSpec, build_design, design_matrix, labels_present
from analysis.errors import DesignError
from analysis.mixed import FitSettings, fit_nested_lmm
from analysis.models import contrast_rows, fit_model
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "r"


@pytest.fixture(scope="module")
def sample():
    return pd.read_csv(FIXTURES / "secondary_input.csv", dtype={"funding_group": "string"})


def spec_of(plan, name="primary", **changes) -> ModelSpec:
    return ModelSpec.from_config(name, {**plan["models"][name], **changes})


def fitted(frame, spec, plan):
    summary = fit_model(frame, spec, plan["mixed_model_fit"])
    return summary, pd.DataFrame(contrast_rows(summary, spec))


def test_a_covariate_constant_in_the_data_is_dropped_and_named(plan, sample):
    frame = sample.assign(rural=0)  # every centre urban
    spec = spec_of(plan)
    summary, rows = fitted(frame, spec, plan)
    design = summary.diagnostics["design"]
    assert [d["term"] for d in design["dropped_terms"]] == ["rural"]
    assert design["dropped_terms"][0]["reason"] == "'rural' is zero for every row"
    every_rural = fitted(sample.assign(rural=1), spec, plan)[0].diagnostics["design"]["dropped_terms"]
    assert every_rural == [{"term": "rural", "reason": "'rural' has the same value for every row"}]
    assert "rural" not in list(summary.coefficients["term"])
    assert any("rural" in note for note in summary.notes)
    # The same as the model the plan would give without rural.
    without = spec_of(plan, covariates=[c for c in plan["models"]["primary"]["covariates"] if c != "rural"])
    _, expected = fitted(frame, without, plan)
    np.testing.assert_allclose(rows["estimate"], expected["estimate"], rtol=0,
                               atol=1e-4 * expected["std_error"].min())
    np.testing.assert_allclose(rows["std_error"], expected["std_error"], rtol=1e-5)


@pytest.mark.parametrize("estimator", ["ols_cr2", "gee_logistic"])
def test_every_estimator_drops_the_same_way(plan, sample, estimator):
    name = {"ols_cr2": "primary_ols_cr2", "gee_logistic": "ghq_caseness"}[estimator]
    spec = spec_of(plan, name, bootstrap={})
    summary, _ = fitted(sample.assign(lone_parent=sample["white_british"]), spec, plan)
    dropped = summary.diagnostics["design"]["dropped_terms"]
    assert dropped == [{"term": "lone_parent", "reason": "'lone_parent' is a linear combination of "
                                                         "'white_british'"}]


def test_a_group_without_mothers_gives_a_not_estimable_row_and_the_others_are_fitted(plan, sample):
    frame = sample[sample["funding_group"] != "growing"].reset_index(drop=True)
    for name in ("primary", "primary_ols_cr2", "ghq_caseness"):
        spec = spec_of(plan, name)
        summary, rows = fitted(frame, spec, plan)
        growing = rows[rows["contrast"] == "growing vs cut"]
        assert len(growing) >= 1 and growing["estimate"].isna().all()
        assert (growing["note"] == "not estimable: no mothers in the analysis are at growing centres").all()
        stable = rows[rows["contrast"] == "stable vs cut"]
        assert stable["estimate"].notna().all() and (stable["note"] == "").all()
        assert summary.diagnostics["design"]["groups_without_mothers"] == ["growing"]
    # The stable contrast is the model fitted on these data with two groups, computed directly.
    spec = spec_of(plan)
    y, X = design_matrix(frame, spec)
    assert "funding_group[T.growing]" not in X.columns
    direct = fit_nested_lmm(y, X, frame["la_code"], frame["centre_id"], FitSettings())
    _, rows = fitted(frame, spec, plan)
    j = list(X.columns).index("funding_group[T.stable]")
    assert rows.set_index("contrast").loc["stable vs cut", "estimate"] == pytest.approx(
        direct.estimates[j], abs=1e-4 * direct.std_errors[j])


def test_without_mothers_in_the_reference_group_nothing_is_estimated(plan, sample):
    with pytest.raises(DesignError, match="No mothers in the analysis are at cut centres, the reference"):
        fitted(sample[sample["funding_group"] != "cut"], spec_of(plan), plan)
    with pytest.raises(DesignError, match="All mothers in the analysis are at cut centres"):
        fitted(sample[sample["funding_group"] == "cut"], spec_of(plan), plan)


def test_a_single_local_authority_has_no_la_level_and_clusters_by_centre(plan, sample):
    frame = sample.assign(la_code="E10000020")  # one county council's own centres
    summary, rows = fitted(frame, spec_of(plan), plan)
    fit_json = summary.diagnostics
    assert fit_json["random_intercepts"] == ["inner"] and fit_json["variance_components"]["outer"] is None
    assert fit_json["design"]["local_authorities"] == 1
    assert fit_json["design"]["robust_se_cluster"] == "centre_id"
    assert any("single local authority" in note for note in summary.notes)
    assert (rows["n_las"] == 1).all() and (rows["n_clusters"] == frame["centre_id"].nunique()).all()
    y, X = design_matrix(frame, spec_of(plan))
    direct = fit_nested_lmm(y, X, None, frame["centre_id"], FitSettings())
    # Two searches of the same criterion: the same optimum, to far below a standard error.
    np.testing.assert_allclose(summary.coefficients["estimate"], direct.estimates, rtol=0,
                               atol=1e-4 * direct.std_errors.min())

    ols, ols_rows = fitted(frame, spec_of(plan, "primary_ols_cr2", bootstrap={}), plan)
    by_centre = ols_cr2(y, X, frame["centre_id"])
    np.testing.assert_allclose(ols.coefficients["std_error"], by_centre["std_error"], rtol=1e-10)
    assert "cluster-robust by centre" in ols_rows["se_method"].iloc[0]


def test_a_categorical_covariate_without_its_reference_level_is_coded_against_the_lowest_present(plan,
                                                                                                 sample):
    frame = sample[sample["mother_education"] != 1].reset_index(drop=True)
    design = build_design(frame, spec_of(plan))
    assert "mother_education[T.2]" not in design.X.columns and "mother_education[T.3]" in design.X.columns
    assert any("reference level 1 does not occur" in note and "level 2" in note for note in design.notes)


def test_a_model_no_mother_can_enter_is_refused_with_the_reason(plan, sample):
    with pytest.raises(DesignError, match="no mother in the analysis data has every variable it uses"):
        fitted(sample.assign(k6_w3=np.nan), spec_of(plan), plan)


def test_the_mixed_models_report_satterthwaite_t_intervals(plan, sample):
    _, rows = fitted(sample, spec_of(plan), plan)
    assert np.isfinite(rows["df"]).all() and (rows["df"] < 200).all()  # LA-level exposure: few df
    from scipy import stats
    half = stats.t.ppf(0.975, rows["df"]) * rows["std_error"]
    np.testing.assert_allclose(rows["ci_upper"] - rows["estimate"], half, rtol=1e-10)
    assert "Satterthwaite" in rows["ci_method"].iloc[0]
    normal = fitted(sample, spec_of(plan, df_method="normal"), plan)[1]
    assert np.isinf(normal["df"]).all()
    assert (normal["ci_upper"] - normal["ci_lower"] < rows["ci_upper"] - rows["ci_lower"]).all()


def test_the_rank_rule_does_not_depend_on_a_columns_units():
    """A column measured in tiny or huge units is judged as in ordinary ones (squared norms would underflow
    or overflow), and a zero column is named as such."""
    from analysis.linalg import redundant_columns

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 200))
    for scale in (1e-160, 1.0, 1e200):
        X = np.column_stack([np.ones(200), scale * a, b, 2 * scale * a, np.zeros(200)])
        found = [r.describe() for r in redundant_columns(X, ["Intercept", "a", "b", "twice_a", "zero"])]
        assert found == ["'twice_a' is a linear combination of 'a'", "'zero' is zero for every row"], scale


def test_the_blocked_triangular_factor_is_the_qr_factor():
    """triangular_factor factorises blocks of rows and then their stacked factors (a tall-skinny QR): the
    result is LAPACK's R of the whole matrix up to the signs of its rows, whether the rows divide into whole
    blocks or leave a last block shorter than the columns, and the rank rule reaches the same verdict."""
    from analysis.linalg import _BLOCK_ELEMENTS, redundant_columns, triangular_factor

    rng = np.random.default_rng(7)
    p = 9
    rows_per_block = _BLOCK_ELEMENTS // p
    for n in (5 * rows_per_block, 5 * rows_per_block + 3):  # whole blocks; a last block of 3 rows < p
        X = rng.normal(size=(n, p)) * np.logspace(-3, 4, p)  # columns on very different scales
        X[:, 4] = 1e-9 * rng.normal(size=n)  # tiny, but not redundant
        blocked, direct = triangular_factor(X), np.linalg.qr(X, mode="r")
        assert blocked.shape == (p, p)
        np.testing.assert_allclose(np.abs(blocked), np.abs(direct), rtol=1e-9,
                                   atol=1e-12 * np.abs(direct).max())
        # A redundant column: R is then unique only through R'R = X'X, and the verdict must agree.
        X[:, 7] = X[:, 1] - 2 * X[:, 2]
        blocked, direct = triangular_factor(X), np.linalg.qr(X, mode="r")
        np.testing.assert_allclose(blocked.T @ blocked, X.T @ X, rtol=1e-9, atol=1e-9 * np.abs(X.T @ X).max())
        names = [f"x{j}" for j in range(p)]
        verdict = [r.describe() for r in redundant_columns(None, names, factor=blocked)]
        assert verdict == [r.describe() for r in redundant_columns(None, names, factor=direct)]
        assert verdict == ["'x7' is a linear combination of 'x1', 'x2'"]


def test_a_design_is_built_only_from_complete_readable_rows(plan, sample):
    """build_design used as a library: a missing or misspelt funding group would otherwise get all-zero
    indicators and be counted among the cut centres, without a word."""
    spec = spec_of(plan)
    groups = sample["funding_group"].astype(object)
    cases = [
        (sample.assign(funding_group=groups.mask(sample.index.isin([3, 9]))),
         r"'funding_group' is missing at rows 3, 9"),
        (sample.assign(funding_group=groups.where(sample.index != 4, "Growing")),
         r"'funding_group' holds a value other than cut, stable, growing at row 4\b"),
        (sample.assign(mother_education=sample["mother_education"].astype(object).where(
            sample.index != 2, "2")), r"'mother_education' mixes numbers and text"),
        (sample.assign(mother_age=sample["mother_age"].astype(str)), r"'mother_age' is not numeric"),
        (sample.assign(la_code=sample["la_code"].where(sample.index != 6)),
         r"'la_code' is missing at row 6\b.*complete_cases"),
    ]
    for frame, match in cases:
        with pytest.raises(ValueError, match=match):
            build_design(frame, spec)
    linear = spec_of(plan, exposure_kind="linear", exposure="budget_change_pct", exposure_per=0)
    with pytest.raises(ValueError, match="exposure_per must be a positive number"):
        build_design(sample, linear)


def test_the_design_is_the_same_whether_labels_are_stored_as_text_objects_or_categories(plan, sample):
    """Cleaned data arrive as pandas' text type (Arrow), a user's frame may hold Python objects or
    categories: indicators are found by one factorisation of each column, whatever its type, and must equal
    the row-by-row comparison with each level (computed here independently)."""
    spec = spec_of(plan)
    text_columns = ["funding_group", "la_code", "centre_id"]
    designs = []
    for kind in ("string", object, "category"):
        designs.append(build_design(sample.astype({c: kind for c in text_columns}), spec).X)
    for other in designs[1:]:
        pd.testing.assert_frame_equal(designs[0], other)
    groups = sample["funding_group"].astype(object).to_numpy()
    for level in spec.contrast_levels():
        np.testing.assert_array_equal(designs[0][spec.exposure_term(level)].to_numpy(),
                                      np.array([g == level for g in groups], dtype=float))
    education = [c for c in designs[0].columns if c.startswith("mother_education[T.")]
    assert education, "the categorical covariate's indicators"
    for column in education:
        level = column.removeprefix("mother_education[T.").removesuffix("]")
        expected = np.array([str(v) == level for v in sample["mother_education"]], dtype=float)
        np.testing.assert_array_equal(designs[0][column].to_numpy(), expected)


def test_labels_are_sorted_as_python_sorts_them_whatever_the_columns_type():
    """A category column's own order (here c, b, a) does not decide which level comes first (the reference
    when the plan's is absent); missing values have no position."""
    values = ["b", "a", "c", "a", None]
    for column in (pd.Series(values, dtype=pd.CategoricalDtype(["c", "b", "a"], ordered=True)),
                   pd.Series(values, dtype="string"), pd.Series(values, dtype=object)):
        codes, labels = labels_present(column)
        assert labels == ["a", "b", "c"]
        assert codes.tolist() == [1, 0, 2, 0, -1]
    codes, labels = labels_present(pd.Series([3, 1, 2.0, None, 1]))
    assert labels == [1.0, 2.0, 3.0] and codes.tolist() == [2, 0, 1, -1, 0]
