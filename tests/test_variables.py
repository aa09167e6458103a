"""The variable registry: each entry's derivation on every value its source can hold (and on a missing one),
its agreement with the raw-data contract, its words, and that the plan, the sample builder, the appendix and
the labels read from it."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from analysis import contract
from analysis.appendix import plan_variables, variable_definition
from analysis.design import model_covariates
from analysis.errors import PlanError
from analysis.labels import BINARY_LABELS, SCORE_LABELS
from analysis.plan import check_plan
from analysis.sample import add_derived, build_primary_sample
from analysis.variables import (
    CENTRE,
    CENTRE_VARIABLES,
    COVARIATES,
    DESIGN,
    MOTHER,
    REGISTRY,
    SURVEY_DERIVED,
    VARIABLES,
    coded_levels,
    indicator,
)
from tests.conftest import hand_made_survey_and_exposure

SOURCED = [v for v in REGISTRY if v.source is not None]


def every_source_value(column: contract.Column) -> pd.Series:
    """Every value the contract lets the column hold (for a measurement: its bounds and a value between), then
    a missing one, in the dtype the cleaning gives it."""
    if column.kind == "category":
        return pd.Series([*column.levels, None], dtype="string")
    if column.kind == "code":
        return pd.Series([*range(int(column.low), int(column.high) + 1), None], dtype="Int64")
    return pd.Series([column.low, (column.low + column.high) / 2, column.high, None], dtype="Float64")


@pytest.mark.parametrize("variable", SOURCED, ids=lambda v: v.name)
def test_each_derivation_on_every_source_value_and_a_missing_one(variable):
    source = every_source_value(variable.column)
    derived = variable.derive(source)
    assert len(derived) == len(source)
    assert derived.isna().tolist() == source.isna().tolist()  # missing stays missing, nothing else becomes it
    observed = source.notna().to_numpy()
    if variable.marks is None:
        assert derived[observed].tolist() == source[observed].tolist()
    else:
        expected = [1 if value == variable.marks else 0 for value in source[observed]]
        assert derived[observed].tolist() == expected
        assert sum(expected) == 1  # the marked value is one the contract allows


@pytest.mark.parametrize("values", [
    pd.Series([1, 2, pd.NA], dtype="Int64"),
    pd.Series([1.0, 2.0, np.nan]),
    pd.Series(["rural", "urban", np.nan], dtype=object),
], ids=["Int64", "float", "object"])
def test_an_indicator_keeps_missing_values_missing_in_every_dtype(values):
    marked = values.iloc[0]
    result = indicator(values, marked)
    assert str(result.dtype) == "Int64"
    assert result.tolist()[:2] == [1, 0] and pd.isna(result.iloc[2])


def test_an_indicator_of_an_empty_or_all_missing_column():
    assert indicator(pd.Series([], dtype="Int64"), 1).empty
    assert indicator(pd.Series([pd.NA, pd.NA], dtype="Int64"), 1).isna().all()


def test_every_source_is_a_contract_column_of_its_file():
    for variable in SOURCED:
        assert variable.role in (MOTHER, CENTRE)
        assert variable.source in variable.source_file.column_names, variable.name
    # At LA level, the cleaning carries each centre characteristic a centre covariate is made from.
    assert {v.source for v in CENTRE_VARIABLES.values()} <= set(contract.CENTRE_CHARACTERISTICS)
    assert {v.source for v in SURVEY_DERIVED.values()} <= set(contract.SURVEY.column_names)


def test_kinds_and_ranges_come_from_the_contract():
    assert coded_levels("mother_education") == {1, 2, 3, 4}
    assert coded_levels("idaci_decile") == set(range(1, 11))
    assert coded_levels("white_british") == coded_levels("rural") == {0, 1}
    assert coded_levels("mother_age") is None and coded_levels("k6") is None
    assert coded_levels("shoe_size") is None
    assert VARIABLES["mother_age"].column.low == 12 and VARIABLES["mother_age"].column.high == 65
    assert "survey.csv column ethnicity" in VARIABLES["white_british"].derivation


def test_every_entry_has_its_words():
    names = [v.name for v in REGISTRY]
    assert len(names) == len(set(names))
    for variable in REGISTRY:
        assert variable.label.strip() and len(variable.label) <= 60, variable.name
        assert variable.definition.endswith("."), variable.name
        assert len(variable.definition) > len(variable.label) > 3, variable.name
    # Design variables change meaning at LA level; nothing else does.
    assert {v.name for v in REGISTRY if v.la_definition} == {"centre_id", "la_code", "funding_group",
                                                               "budget_change_pct"}
    assert all(v.role == DESIGN for v in REGISTRY if v.la_definition)


def test_labels_and_definitions_are_read_from_the_registry():
    assert SCORE_LABELS["k6"] == VARIABLES["k6"].label
    assert BINARY_LABELS["k6_serious"] == VARIABLES["k6_serious"].label
    assert variable_definition("rural") == VARIABLES["rural"].definition
    assert variable_definition("funding_group", "la") == VARIABLES["funding_group"].la_definition
    assert variable_definition("funding_group", "centre") == VARIABLES["funding_group"].definition
    assert variable_definition("k6_w3") == VARIABLES["k6"].definition + " Measured at wave 3."
    with pytest.raises(KeyError, match="analysis/variables.py"):
        variable_definition("k6_1")


def shipped_covariates(plan: dict) -> set[str]:
    """Every covariate the shipped plan names: in its models and in the specification curve's sets."""
    named = {name for entry in plan["models"].values() for name in model_covariates(entry)}
    for covariates in plan["specification_curve"]["covariate_sets"].values():
        named.update(covariates)
    sample = plan["primary_sample"]
    baseline_scores = {f"{score}_w{sample['baseline_wave']}"
                       for score in (sample["score"], *sample["secondary_scores"])}
    return named - baseline_scores


def test_every_covariate_of_the_shipped_plan_is_in_the_registry(plan):
    covariates = shipped_covariates(plan)
    assert len(covariates) >= 10
    assert covariates <= set(COVARIATES), covariates - set(COVARIATES)
    for name in plan_variables(plan["models"]):
        assert variable_definition(name)


@pytest.mark.parametrize("model", ["primary", "dose_spline"])
@pytest.mark.parametrize("unknown", ["shoe_size", "k6_1", "urban_rural"])
def test_a_plan_naming_a_covariate_outside_the_registry_is_refused_in_words(plan, model, unknown):
    """In the sample's model or any other; an item or a raw column is not a covariate either."""
    broken = copy.deepcopy(plan)
    broken["models"][model]["covariates"] = [*broken["models"][model]["covariates"], unknown]
    with pytest.raises(PlanError) as refused:
        check_plan(broken)
    message = str(refused.value)
    assert f"models.{model}.covariates: '{unknown}' is not a survey, derived or centre variable" in message
    assert "analysis/variables.py" in message and "white_british" in message  # where to look, and the names
    assert message.count(f"'{unknown}'") == 1  # said once, not again as "not in the analysis data"


def test_every_registry_covariate_can_enter_a_plan(plan):
    broken = copy.deepcopy(plan)
    broken["models"]["primary"]["covariates"] = sorted(COVARIATES)
    check_plan(broken)


def test_the_sample_builder_derives_through_the_registry():
    survey, exposure = hand_made_survey_and_exposure()
    survey["ethnicity"] = pd.array([1, 2, None, 6, 1, 1, 1, 3, 1, 1, 1, 1, 1], dtype="Int64")
    derived = add_derived(survey)
    assert derived["white_british"].tolist()[:4] == [1, 0, pd.NA, 0]
    assert derived["child_female"].eq(0).all()
    frame, _ = build_primary_sample(survey, exposure, {"score": "k6", "baseline_wave": 1, "followup_wave": 3},
                                    ["k6_w1", "white_british", "rural", "idaci_decile"])
    ok = frame.set_index("mother_id").loc["OK"]
    assert (ok["white_british"], ok["rural"], ok["idaci_decile"]) == (1, 0, 2)


def test_a_specification_curve_covariate_set_outside_the_registry_is_refused(plan):
    broken = copy.deepcopy(plan)
    broken["specification_curve"]["covariate_sets"]["odd"] = ["mother_age", "ethnicity_text"]
    with pytest.raises(PlanError, match=r"specification_curve.covariate_sets.odd: 'ethnicity_text' is not a "
                                        r"survey, derived or centre variable"):
        check_plan(broken)


def test_a_baseline_outside_the_plan_s_scores_is_named_as_the_baseline(plan):
    broken = copy.deepcopy(plan)
    broken["models"]["dose_linear"]["baseline"] = "k6_w2"  # wave 2 is not the baseline wave
    with pytest.raises(PlanError, match=r"models.dose_linear.baseline: 'k6_w2' is not"):
        check_plan(broken)
