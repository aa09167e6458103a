"""The analysis plan: the shipped config is valid, and inconsistent plans are refused before any job runs."""

import copy

import jsonschema
import pytest
import yaml

from analysis.plan import PlanError, check_plan, refuse_templated_configs
from tests.conftest import ROOT

SCHEMA = yaml.safe_load((ROOT / "config" / "schema" / "config.schema.yaml").read_text())


def test_shipped_config_satisfies_schema_and_checks(plan):
    jsonschema.validate(plan, SCHEMA)
    check_plan(plan)


def test_every_schema_key_has_a_description_and_default():
    def walk(node, path):
        for name, child in node.get("properties", {}).items():
            assert "description" in child, f"{path}.{name} has no description"
            assert "default" in child, f"{path}.{name} has no default"
            walk(child, f"{path}.{name}")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{path}.*")
    walk(SCHEMA, "config")


@pytest.mark.parametrize("bad", [
    {"exposure": {"cut_threshold_pct": 5}},                       # a cut threshold above zero
    {"models": {"primary": {"outcome": "k6_w3; import os"}}},     # not a plain variable name
    {"models": {"primary": {"covariates": ["__import__('os')"]}}},
    {"models": {"primary": {"estimator": "ols_magic"}}},
    {"unknown_key": 1},
])
def test_schema_rejects_bad_plans(plan, bad):
    broken = merge(copy.deepcopy(plan), bad)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


@pytest.mark.parametrize(("bad", "message"), [
    ({"exposure": {"base_year": "2013-14", "end_year": "2011-12"}}, "not before"),
    ({"primary_sample": {"baseline_wave": 3, "followup_wave": 1}}, "earlier than"),
    ({"primary_sample": {"covariates_from_model": "nope"}}, "not a model"),
    ({"models": {"primary": {"covariates": ["k6_w1", "shoe_size"]}}}, "shoe_size"),
    ({"models": {"primary": {"categorical": {"ethnicity": 1}}}}, "not one of its covariates"),
    ({"models": {"primary": {"categorical": {"mother_education": 9}}}},
     r"mother_education: reference level 9 is not one of its levels \(1, 2, 3, 4\)"),
    ({"models": {"primary": {"categorical": {"mother_age": 30}}}}, "'mother_age' is not a coded variable"),
    ({"models": {"primary": {"categorical": {"rural": 2}}}}, r"reference level 2 .* \(0, 1\)"),
    ({"few_clusters": {"model": "nope"}}, "few_clusters.model names 'nope', which is not a model"),
    ({"few_clusters": {"model": "primary"}}, "must be an ols_cr2 model with a bootstrap block"),
    ({"model_roles": {"primary": "nope"}},
     "model_roles.primary names 'nope', which is not a model of the plan"),
    ({"model_roles": {"primary": "dose_linear"}},
     "model_roles.primary 'dose_linear' must compare funding groups"),
    ({"model_roles": {"dose_curve": "dose_linear"}},
     r"model_roles.dose_curve 'dose_linear' must have a spline exposure \(exposure_kind spline, it has "
     "linear\\)"),
    ({"model_roles": {"forest": ["primary", "ghq_caseness"]}},
     "model_roles.forest 'ghq_caseness' must be a funding-group model estimated by lmm_reml or ols_cr2"),
    ({"model_roles": {"forest": ["ghq_likert"]}},
     "model_roles.forest 'ghq_likert' compares ghq_likert_w3 against cut, the primary model k6_w3"),
])
def test_cross_checks_reject_inconsistent_plans(plan, bad, message):
    with pytest.raises(PlanError, match=message):
        check_plan(merge(copy.deepcopy(plan), bad))


def test_model_roles_left_out_take_the_schema_defaults():
    from analysis.plan import ROLE_DEFAULTS, model_roles

    schema_roles = SCHEMA["properties"]["model_roles"]["properties"]
    assert ROLE_DEFAULTS == {role: entry["default"] for role, entry in schema_roles.items()}
    assert model_roles({"models": {}}) == ROLE_DEFAULTS
    assert model_roles({"model_roles": {"dose_curve": "dose_spline"}})["primary"] == "primary"


def without_dose_curve(plan: dict, role: str | None = None) -> dict:
    """The shipped plan with its dose-response spline model removed (and the scenarios' use of it)."""
    changed = copy.deepcopy(plan)
    del changed["models"]["dose_spline"]
    changed["scenarios"]["mean_models"] = ["dose_linear"]
    changed["model_roles"]["dose_curve"] = role
    return changed


def test_a_plan_without_a_dose_curve_is_valid_and_one_naming_a_missing_model_is_refused(plan):
    jsonschema.validate(without_dose_curve(plan), SCHEMA)
    check_plan(without_dose_curve(plan))
    with pytest.raises(PlanError, match="model_roles.dose_curve names 'dose_spline', which is not a model"):
        check_plan(without_dose_curve(plan, role="dose_spline"))


def merge(base: dict, change: dict) -> dict:
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


@pytest.mark.parametrize(("text", "refused"), [
    ("models: {}\n", False),
    ("__use_yte__: true\nmodels: {}\n", True),  # Snakemake would evaluate ?-expressions in this file
    ("raw_dir: !!python/object/apply:os.system ['true']\n", True),
])
def test_config_files_snakemake_would_evaluate_as_code_are_refused(tmp_path, text, refused):
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    if refused:
        with pytest.raises(PlanError, match="could execute code"):
            refuse_templated_configs([path])
    else:
        refuse_templated_configs([path])
