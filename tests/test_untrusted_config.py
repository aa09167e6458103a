"""A config that tries to run code is refused with a clear message before any job runs.

Each attempt would create a marker file if its code ran. The workflow is run for real (not a dry run), so
"before anything runs" means: no marker, no results/ folder, a non-zero exit and a message naming the key.
Every documented way to give a plan is tried: config/config.yaml edited, a plan file given with
--config plan_file=FILE (by Snakemake and by make run PLAN=FILE), and --config key=value entries.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT
from tests.workflow import copy_project, job_counts, snakemake, workflow_env

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
    assert "Traceback" not in output  # the message alone, no stack
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


# Plan files that would run code if Snakemake's templating (YTE) or an unsafe YAML loader read them.
PLAN_FILES = {
    "yte": ("__use_yte__: true\nraw_dir: ?{code} or 'data/raw'\n", "sets __use_yte__"),
    "python_tag": ("raw_dir: !!python/object/apply:os.system ['touch {marker}']\n",
                   "uses the YAML tag !!python/object/apply:os.system"),
}
CODE_REFUSED = "Refusing to run an analysis plan that could execute code"


def write_plan(folder: Path, text: str) -> Path:
    """A plan file kept outside the workflow's folder, as a user's would be."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "my_plan.yaml"
    path.write_text(text)
    return path


def run_make(workdir: Path, plan: Path) -> subprocess.CompletedProcess:
    """make run PLAN=FILE, with the project's own Makefile, in the copy; the environment is this one."""
    command = ["make", "-f", str(ROOT / "Makefile"), "run", f"PLAN={plan}", "CORES=1",
               f"BIN={Path(sys.executable).parent}", "-o", ".venv/.installed"]  # -o: do not reinstall
    return subprocess.run(command, cwd=workdir, env=workflow_env(), capture_output=True, text=True,
                          timeout=900)


@pytest.mark.parametrize("way", ["snakemake", "make"])
@pytest.mark.parametrize("payload", sorted(PLAN_FILES))
def test_a_plan_file_that_would_run_code_is_refused_unread(payload, way, tmp_path, tiny_raw):
    marker = tmp_path / "code_ran"
    template, reason = PLAN_FILES[payload]
    plan = write_plan(tmp_path / "plans", template.format(code=CODE.format(marker=marker), marker=marker))
    workdir = copy_project(tmp_path / "work")
    if way == "make":
        if shutil.which("make") is None:
            pytest.skip("make is not installed")
        result = run_make(workdir, plan)
    else:
        result = snakemake(workdir, tiny_raw, cores=1, scenario=False, config=(f"plan_file={plan}",))
    assert_refused(result, workdir, marker, [CODE_REFUSED, f"{plan}: ", reason])


# The same attempts as --config key=value entries. Snakemake parses these values with YAML's BaseLoader, which
# constructs no Python objects and evaluates nothing; the workflow refuses them anyway, saying why.
CONFIG_ENTRIES = {
    "yte": (["__use_yte__=true", "raw_dir=?{code}"],
            ["sets __use_yte__", "raw_dir = ", "template expression"]),
    "python_tag": (["raw_dir=!!python/object/apply:os.system ['touch {marker}']"],
                   ["--config raw_dir=...: uses the YAML tag !!python/object/apply:os.system"]),
}


def test_make_run_passes_the_plan_file_and_the_pdf_choice_to_the_run_and_to_the_report_archive(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    command = ["make", "-n", "-f", str(ROOT / "Makefile"), "run", "BIN=/venv/bin", "-o", ".venv/.installed"]
    with_plan = subprocess.run([*command, "PLAN=my plan.yaml"], cwd=tmp_path, capture_output=True, text=True)
    without = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    runs = [line for line in with_plan.stdout.splitlines() if line.startswith("/venv/bin/snakemake")]
    assert len(runs) == 2 and all(line.endswith(' --config "plan_file=my plan.yaml"') for line in runs)
    assert "--report results/report.zip" in runs[1]
    assert "plan_file" not in without.stdout and without.stdout.count("/venv/bin/snakemake") == 2
    assert "report_pdf" not in without.stdout + with_plan.stdout  # the PDF only when asked for
    both = subprocess.run([*command, "PLAN=my plan.yaml", "PDF=chromium"], cwd=tmp_path, capture_output=True,
                          text=True)
    runs = [line for line in both.stdout.splitlines() if line.startswith("/venv/bin/snakemake")]
    assert len(runs) == 2
    assert all(line.endswith(' --config "plan_file=my plan.yaml" "report_pdf=chromium"') for line in runs)


@pytest.mark.parametrize("payload", sorted(CONFIG_ENTRIES))
def test_config_entries_that_would_run_code_are_refused(payload, tmp_path, tiny_raw):
    marker = tmp_path / "code_ran"
    entries, fragments = CONFIG_ENTRIES[payload]
    entries = tuple(e.format(code=CODE.format(marker=marker), marker=marker) for e in entries)
    workdir = copy_project(tmp_path / "work")
    result = snakemake(workdir, tiny_raw, cores=1, scenario=False, config=entries)
    assert_refused(result, workdir, marker, [CODE_REFUSED, *fragments])


def test_configfile_is_not_a_supported_route_snakemake_evaluates_it_first(tmp_path, tiny_raw):
    """Why the README sends plans through plan_file: Snakemake's command line evaluates a --configfile's
    templating before the workflow can look at it. The workflow still refuses the run (a backstop), but the
    code has run: this test holds the README to that, and fails if Snakemake ever stops doing it."""
    marker = tmp_path / "code_ran"
    plan = write_plan(tmp_path / "plans", PLAN_FILES["yte"][0].format(code=CODE.format(marker=marker)))
    workdir = copy_project(tmp_path / "work")
    result = snakemake(workdir, tiny_raw, "--configfile", str(plan), cores=1, scenario=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and CODE_REFUSED in output and "sets __use_yte__" in output
    assert not (workdir / "results").exists()
    assert marker.exists()  # evaluated by Snakemake before the Snakefile ran: never pass a plan this way


@pytest.mark.parametrize(("text", "fragments"), [
    (None, ["The plan file", "does not exist", "a relative path is read from the folder Snakemake runs in"]),
    ("- exposure\n- models\n", ["must be a mapping of plan keys", "it holds a list"]),
    ("just some words\n", ["must be a mapping of plan keys", "it holds a str"]),
    ("exposure: [unclosed\n", ["is not valid YAML", "line 2"]),
    ("exposure:\n\tcut_threshold_pct: -5\n", ["is not valid YAML"]),  # a tab where YAML wants spaces
    ("", ["must be a mapping of plan keys", "it holds nothing"]),
    ("plan_file: other.yaml\n", ["a plan file cannot name another one"]),
])
def test_a_plan_file_that_cannot_be_read_is_refused_with_a_clear_message(text, fragments, tmp_path, tiny_raw):
    plan = tmp_path / "plans" / "my_plan.yaml"
    if text is not None:
        write_plan(plan.parent, text)
    workdir = copy_project(tmp_path / "work")
    result = snakemake(workdir, tiny_raw, cores=1, scenario=False, config=(f"plan_file={plan}",))
    assert_refused(result, workdir, tmp_path / "no_code_here", [str(plan), *fragments])


def test_a_plan_file_changes_the_plan_of_a_dry_run(tmp_path, tiny_raw):
    plan = write_plan(tmp_path / "plans", "specification_curve:\n  thresholds_pct: [5]\n"
                      "  estimators: [lmm_reml]\n")
    workdir = copy_project(tmp_path / "work")
    shipped = snakemake(workdir, tiny_raw, "--dry-run", scenario=False)
    planned = snakemake(workdir, tiny_raw, "--dry-run", scenario=False, config=(f"plan_file={plan}",))
    assert shipped.returncode == 0 and planned.returncode == 0, planned.stderr[-3000:]
    # One job per distinct sample: 2 scores x 2 thresholds x 2 windows, then one threshold
    assert job_counts(shipped.stdout)["specification"] == 8
    assert job_counts(planned.stdout)["specification"] == 4
    # ... fitting 2 covariate sets x 2 estimators each (32 specifications), then one estimator (8)
    def specifications_planned(output: str) -> set[str]:
        return set(re.findall(r"results/data/specifications/([\w.-]+)\.csv", output))

    assert len(specifications_planned(shipped.stdout)) == 32
    assert len(specifications_planned(planned.stdout)) == 8


def test_a_plan_file_is_layered_over_the_config_and_config_entries_still_win(tmp_path, tiny_raw):
    """A real run: the plan file's thresholds reach the exposure groups; its raw_dir loses to --config's;
    and the plan file's path is not part of the plan (not validated, not hashed, not published)."""
    plan = write_plan(tmp_path / "secure plans", "raw_dir: /no/such/folder\nexposure:\n"
                      "  cut_threshold_pct: -30\n  growth_threshold_pct: 30\n")
    workdir = copy_project(tmp_path / "work")
    result = snakemake(workdir, tiny_raw, "results/data/centre_exposure.csv", "results/provenance.json",
                       scenario=False, config=(f"plan_file={plan}",))
    # raw_dir came from --config: the plan file's /no/such/folder would have failed the run.
    assert result.returncode == 0, result.stderr[-3000:]
    centres = pd.read_csv(workdir / "results/data/centre_exposure.csv").dropna(subset=["funding_group"])
    change = centres["budget_change_pct"]
    expected = change.map(lambda pct: "cut" if pct <= -30 else "growing" if pct >= 30 else "stable")
    assert (centres["funding_group"] == expected).all()
    # ... which differ from the shipped plan's +-5% groups
    assert (change.abs().between(5, 30, inclusive="neither")).any()
    assert "secure plans" not in (workdir / "results/provenance.json").read_text()
    logs = "".join(p.read_text() for p in (workdir / "results/logs").rglob("*.log"))
    assert "secure plans" not in logs and "plan_file" not in logs
