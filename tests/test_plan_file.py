"""A user's plan file (--config plan_file=PATH): read as plain YAML, refused when it could run code or cannot
be read, layered over config/config.yaml under --config key=value entries, and never part of the plan."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from analysis.plan import (
    PlanError,
    layer_plan_file,
    merge_plan,
    plan_refusals,
    read_plan_file,
    refuse_code_in_plan,
    refuse_tagged_config_args,
)
from tests.conftest import ROOT
from tests.workflow import SCENARIO

SHIPPED = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def plan_file(tmp_path, text: str | bytes):
    path = tmp_path / "plan.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def test_a_plan_file_is_read_as_plain_yaml(tmp_path):
    path = plan_file(tmp_path, "exposure:\n  cut_threshold_pct: -10\n")
    assert read_plan_file(path) == {"exposure": {"cut_threshold_pct": -10}}


@pytest.mark.parametrize(("text", "message"), [
    ("__use_yte__: true\nraw_dir: x\n", "sets __use_yte__, which makes Snakemake evaluate Python"),
    ("exposure:\n  __definitions__: [import os]\n", "sets exposure.__definitions__"),
    ("models:\n  primary:\n    outcome: \"?__import__('os').getcwd()\"\n",
     "models.primary.outcome = \"?__import__('os').getcwd()\" is a template expression"),
    ("models:\n  primary:\n    covariates: [a, '?b']\n", "models.primary.covariates[1] = '?b'"),
    ("exposure:\n  ?if True:\n    cut_threshold_pct: -5\n", "key 'exposure.?if True' is a template"),
    ("raw_dir: !!python/object/apply:os.system ['true']\n",
     "line 1: uses the YAML tag !!python/object/apply:os.system"),
    ("raw_dir: !!python/name:os.system\n", "uses the YAML tag !!python/name:os.system"),
    ("raw_dir: !custom x\n", "uses the YAML tag !custom"),
])
def test_a_plan_file_that_could_run_code_is_refused(tmp_path, text, message):
    with pytest.raises(PlanError, match="could execute code") as refused:
        read_plan_file(plan_file(tmp_path, text))
    assert message in str(refused.value)


@pytest.mark.parametrize(("text", "message"), [
    (b"\xff\xfe\x00x", "is not a text file (UTF-8 YAML expected)"),
    ("a: [b\n", "is not valid YAML: expected ',' or ']'"),
    ("- a\n", "must be a mapping of plan keys, as config/config.yaml is"),
    ("", "it holds nothing"),
    ("plan_file: other.yaml\n", "a plan file cannot name another one"),
])
def test_a_plan_file_that_cannot_be_read_is_refused(tmp_path, text, message):
    path = plan_file(tmp_path, text)
    with pytest.raises(PlanError, match="The plan file") as refused:
        read_plan_file(path)
    assert message in str(refused.value) and path in str(refused.value)


@pytest.mark.parametrize(("path", "message"), [
    ("missing.yaml", "The plan file missing.yaml does not exist (--config plan_file=missing.yaml; a "),
    (".", "The plan file . is a folder, not a file"),
    ("", "Snakemake read nothing"),
    (None, "Snakemake read nothing"),
    (2024, "Snakemake read '2024' (int)"),
    (["a", "b"], "(list)"),
])
def test_a_plan_file_path_that_names_no_file_is_refused(path, message):
    with pytest.raises(PlanError) as refused:
        read_plan_file(path)
    assert message in str(refused.value)


def test_the_plan_file_lies_over_the_config_and_config_entries_over_both(tmp_path):
    path = plan_file(tmp_path, "raw_dir: /from/plan\nexposure:\n  cut_threshold_pct: -10\n"
                     "specification_curve:\n  thresholds_pct: [5]\n")
    overrides = {"raw_dir": "/from/command/line", "plan_file": path}
    config = merge_plan(copy.deepcopy(SHIPPED), overrides)  # what Snakemake's configfile directive leaves
    assert layer_plan_file(config, overrides) == path
    assert "plan_file" not in config  # not validated, not hashed
    assert config["raw_dir"] == "/from/command/line"  # --config key=value wins
    assert config["exposure"] == {**SHIPPED["exposure"], "cut_threshold_pct": -10}  # merged key by key
    assert config["specification_curve"]["thresholds_pct"] == [5]  # lists replaced whole
    assert config["specification_curve"]["windows"] == SHIPPED["specification_curve"]["windows"]
    assert config["models"] == SHIPPED["models"]


def test_without_a_plan_file_the_config_is_left_alone():
    config = copy.deepcopy(SHIPPED)
    assert layer_plan_file(config, {"raw_dir": "x"}) is None
    assert config == SHIPPED


def test_merge_plan_copies_what_it_merges():
    layer = {"a": {"b": [1, 2]}}
    merged = merge_plan({"a": {"c": 1}}, layer)
    merged["a"]["b"].append(3)
    assert layer == {"a": {"b": [1, 2]}} and merged == {"a": {"c": 1, "b": [1, 2, 3]}}


def test_the_shipped_plan_holds_no_template():
    refuse_code_in_plan(SHIPPED)
    with pytest.raises(PlanError, match=r"raw_dir = '\?x' is a template expression"):
        refuse_code_in_plan({**SHIPPED, "raw_dir": "?x"})


def test_config_entries_with_yaml_tags_are_refused():
    refuse_tagged_config_args(["raw_dir=/secure/path", "plan_file=my plan.yaml", "x=a: b: c", "y=[1, 2]",
                               "no_equals_sign"])
    refuse_tagged_config_args(None)
    with pytest.raises(PlanError, match=r"--config raw_dir=\.\.\.: uses the YAML tag !!python/object/apply"):
        refuse_tagged_config_args(["raw_dir=!!python/object/apply:os.system ['true']"])


def test_a_refused_plan_ends_the_run_with_its_message_alone():
    with pytest.raises(SystemExit) as ended, plan_refusals():
        raise PlanError("The plan file x does not exist")
    assert ended.value.code == "The plan file x does not exist"  # printed to stderr, exit status 1


@pytest.mark.slow
def test_the_scenario_reaches_the_run_as_a_plan_file_that_is_not_part_of_the_plan(synthetic_run):
    """tests/workflow.py passes the test scenario as --config plan_file=...: its settings are in the plan the
    run hashed (the manifest holds that plan exactly as hashed), and its path is in no output."""
    scenario = yaml.safe_load(SCENARIO.read_text())
    manifest = json.loads((synthetic_run / "results/manifest.json").read_text())
    plan = manifest["config"]
    assert plan["multiple_imputation"]["imputations"] == scenario["multiple_imputation"]["imputations"] == 3
    assert plan["models"]["primary_ols_cr2"]["bootstrap"]["replications"] == 199
    assert plan["models"]["primary_ols_cr2"]["bootstrap"]["seed"] == 20120401  # merged, not replaced
    assert "plan_file" not in plan and "raw_dir" not in plan
    outputs = [p for p in (synthetic_run / "results").rglob("*")
               if p.is_file() and p.suffix in (".csv", ".md", ".tex", ".html", ".json", ".log", ".txt")]
    texts = {p: p.read_text() for p in outputs}
    assert texts and not [p for p, text in texts.items() if str(SCENARIO) in text or "plan_file" in text]
