"""A config that tries to run code is refused with a clear message before any job runs.

Each attempt would create a marker file if its code ran. The workflow is run for real (not a dry run), so
"before anything runs" means: no marker, no results/ folder, a non-zero exit and a message naming the key.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.conftest import ROOT
from tests.workflow import copy_project, snakemake

pytestmark = pytest.mark.slow

SHIPPED = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
CODE = "__import__('os').system('touch {marker}')"


def fill(value, code: str):
    """The value with {code} replaced by the injected code, in keys and strings alike."""
    if isinstance(value, str):
        return value.replace("{code}", code)
    if isinstance(value, dict):
        return {fill(k, code): fill(v, code) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, code) for v in value]
    return value


# (id, key of models.primary changed, value set (covariates: appended), text the refusal must contain)
ATTEMPTS = [
    ("covariate_is_an_expression", "covariates", ["{code}"], ["does not match", "covariates"]),
    ("outcome_carries_formula_text", "outcome", "k6_w3 + I({code})", ["does not match", "outcome"]),
    ("categorical_name_is_an_expression", "categorical", {"{code}": 1}, ["does not match", "categorical"]),
    ("categorical_level_is_an_expression", "categorical", {"mother_education": "1) + {code}"},
     ["is not of type 'integer'", "mother_education"]),
    ("categorical_level_the_data_cannot_hold", "categorical", {"mother_education": 9},
     ["models.primary.categorical.mother_education: reference level 9 is not one of its levels",
      "(1, 2, 3, 4)"]),
    ("unknown_variable_name", "covariates", ["os_system"],
     ["models.primary.covariates: 'os_system' is not a survey, derived or centre variable"]),
]


def run_plain(workdir, raw):
    """Snakemake as a user runs it: the workflow's own config/config.yaml, no --configfile."""
    return snakemake(workdir, raw, cores=1, scenario=False)


def assert_refused(result, workdir, marker, fragments):
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output[-3000:]}"
    assert not marker.exists()  # the code never ran
    assert not (workdir / "results").exists()  # nor did any job


@pytest.mark.parametrize(("key", "value", "fragments"), [a[1:] for a in ATTEMPTS],
                         ids=[a[0] for a in ATTEMPTS])
def test_a_plan_naming_code_is_refused_before_anything_runs(key, value, fragments, tmp_path, tiny_raw):
    marker = tmp_path / "code_ran"
    plan = copy.deepcopy(SHIPPED)
    model = plan["models"]["primary"]
    value = fill(value, CODE.format(marker=marker))
    model[key] = model[key] + value if key == "covariates" else value
    workdir = copy_project(tmp_path / "work")
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(plan))
    assert_refused(run_plain(workdir, tiny_raw), workdir, marker, fragments)


@pytest.mark.parametrize("template", [
    "__use_yte__: true\nraw_dir: ?{code} or 'data/raw'\n",  # Snakemake's YAML templating evaluates this
    "raw_dir: !!python/object/apply:os.system ['touch {marker}']\n",  # a Python tag for unsafe loaders
])
def test_a_config_file_that_would_evaluate_code_is_refused_before_it_is_read(template, tmp_path, tiny_raw):
    marker = tmp_path / "code_ran"
    workdir = copy_project(tmp_path / "work")
    text = template.format(code=CODE.format(marker=marker), marker=marker)
    (workdir / "config/config.yaml").write_text(text + (ROOT / "config/config.yaml").read_text())
    assert_refused(run_plain(workdir, tiny_raw), workdir, marker,
                   ["Refusing to run an analysis plan that could execute code", "config/config.yaml"])
