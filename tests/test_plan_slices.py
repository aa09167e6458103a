"""Each job is given only its slice of the plan, and the model roles decide what is published: checked with
Snakemake's own rerun logic on a finished run of the tiny synthetic data (tests/workflow.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from analysis.report import NO_DOSE_CURVE
from analysis.stages.report_figures import published_figures
from tests.workflow import PRINT_PDF, copy_project, job_counts, snakemake

pytestmark = pytest.mark.slow

# Jobs that read no disclosure setting and do not depend on a published table: a change of the rounding must
# not rerun them (it did when they were given the whole plan, or the whole disclosure block, as params).
NO_DISCLOSURE_JOBS = {
    "clean_raw_data", "classify_centres", "build_primary_sample", "fit_model", "specification",
    "specification_joint_test", "specification_curve", "attrition_analyses", "leave_one_la_out",
    "effect_size", "difference_in_differences", "covariate_balance", "funding_groups", "distress_by_wave",
    "budget_change_figure", "scenarios", "secondary_family", "forest_figure"}


def finished_copy(synthetic_run: Path, tmp_path: Path) -> Path:
    work = tmp_path / "copy"
    shutil.copytree(synthetic_run, work, symlinks=True)
    return work


def replace_in_plan(work: Path, old: str, new: str) -> None:
    config = work / "config/config.yaml"
    text = config.read_text()
    assert text.count(old) == 1, old
    config.write_text(text.replace(old, new))


def rerun(work: Path, raw: Path, *options: str) -> dict[str, int]:
    """The jobs a dry run would run, rule -> count, with the settings of the finished run (its PDFs too)."""
    result = snakemake(work, raw, "--dry-run", *options, config=PRINT_PDF)
    assert result.returncode == 0, result.stderr[-3000:]
    return job_counts(result.stdout)


def test_a_finished_run_has_nothing_left_to_do(synthetic_run, synthetic_raw, tmp_path):
    assert rerun(finished_copy(synthetic_run, tmp_path), synthetic_raw) == {}


@pytest.mark.parametrize("triggers", [(), ("--rerun-triggers", "params")], ids=["default", "params"])
def test_changing_the_rounding_reruns_only_what_uses_the_disclosure_rule(synthetic_run, synthetic_raw,
                                                                           tmp_path, triggers):
    work = finished_copy(synthetic_run, tmp_path)
    replace_in_plan(work, "  round_to: 5", "  round_to: 10")
    jobs = rerun(work, synthetic_raw, *triggers)
    assert not NO_DISCLOSURE_JOBS & set(jobs), jobs
    assert jobs["publish_tables"] == 1 and jobs["disclosure_check"] == 1, jobs


def test_changing_a_covariate_set_of_the_curve_reruns_only_its_specifications(synthetic_run, synthetic_raw,
                                                                             tmp_path):
    work = finished_copy(synthetic_run, tmp_path)
    replace_in_plan(work, "    minimal: []", "    minimal: [mother_age]")
    jobs = rerun(work, synthetic_raw)
    # the tiny scenario's curve: 2 scores x 2 covariate sets x one estimator, threshold and window
    assert jobs["specification"] == 2 and jobs["specification_joint_test"] == 1, jobs
    assert not {"fit_model", "attrition_analyses", "leave_one_la_out", "covariate_balance", "scenarios",
                "build_primary_sample", "effect_size", "forest_figure"} & set(jobs), jobs


def test_a_change_to_the_fingerprinted_code_reruns_every_job_but_the_plan_record(synthetic_run, synthetic_raw,
                                                                                 tmp_path):
    # Every rule running the analysis code takes its fingerprint as input (rule analysis_code). A new or
    # changed file among those it fingerprints (here an importers' reference file under data/import, in the
    # copy, so the installed package shared with other tests stays untouched) reruns the fingerprint and so
    # everything after it. Only the plan's record, which reads the configuration alone, stays.
    work = finished_copy(synthetic_run, tmp_path)
    everything = set(job_counts(snakemake(work, synthetic_raw, "--dry-run", "--forceall",
                                          config=PRINT_PDF).stdout))
    assert rerun(work, synthetic_raw) == {}
    reference = work / "data/import/la_lookup.csv"
    reference.parent.mkdir(parents=True, exist_ok=True)
    reference.write_text("la_code,la_name\nE06000001,Hartlepool\n")
    jobs = rerun(work, synthetic_raw)
    assert jobs["analysis_code"] == 1, jobs
    assert set(jobs) == everything - {"analysis_plan"}, everything ^ set(jobs)


def without_dose_curve(work: Path, role: str | None = None) -> None:
    """The workflow copy's plan without the dose-response spline model (and the scenarios' use of it)."""
    config = work / "config/config.yaml"
    plan = yaml.safe_load(config.read_text())
    del plan["models"]["dose_spline"]
    plan["scenarios"]["mean_models"] = ["dose_linear"]
    plan["model_roles"]["dose_curve"] = role
    config.write_text(yaml.safe_dump(plan, sort_keys=False))


def test_a_plan_without_a_dose_curve_runs_and_the_report_says_none_was_pre_specified(synthetic_run,
                                                                                     synthetic_raw, tmp_path):
    work = finished_copy(synthetic_run, tmp_path)
    without_dose_curve(work)
    planned = rerun(work, synthetic_raw)
    assert "dose_response_figure" not in planned and "fit_model" not in planned, planned
    result = snakemake(work, synthetic_raw)
    assert result.returncode == 0, result.stderr[-4000:]
    page = (work / "results/report/report.html").read_text()
    assert NO_DOSE_CURVE.split(" (")[0] in page and "Figure 8." not in page
    manifest = json.loads((work / "results/manifest.json").read_text())
    assert "dose_response.png" not in json.dumps(manifest) and "dose_spline" not in json.dumps(manifest)
    appendix = (work / "results/report/appendix.md").read_text()
    assert "Dose-response: natural spline of real-terms budget change" not in appendix  # no table of it
    assert "models.dose_spline.description" in appendix  # its removal is a deviation from the frozen plan


def test_a_plan_without_planned_changes_draws_the_other_published_figures_and_no_scenario(synthetic_run,
                                                                                          tiny_raw, tmp_path):
    # scenarios.planned may be left empty (config/README.md): no scenario table, figure or brief, while the
    # job that draws the figures from published tables still draws the other four.
    work = copy_project(tmp_path / "work")
    config = work / "config/config.yaml"
    plan = yaml.safe_load(config.read_text())
    plan["scenarios"]["planned"] = {}
    config.write_text(yaml.safe_dump(plan, sort_keys=False))
    result = snakemake(work, tiny_raw, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = job_counts(result.stdout)
    assert jobs["published_figures"] == 1 and not {"scenarios", "brief"} & set(jobs), jobs
    assert "results/figures/scenarios.png" not in result.stdout

    tables = synthetic_run / "results/tables"
    outputs = {name: str(tmp_path / f"{name}.png")
               for name in ("sample_flow", "distress_by_wave", "primary_estimates", "covariate_balance")}
    published_figures(sample_flow=str(tables / "sample_flow.csv"),
                      distress_by_wave=str(tables / "distress_by_wave.csv"),
                      primary=str(tables / "primary.csv"),
                      covariate_balance=str(tables / "covariate_balance.csv"), scenarios=None,
                      scenario_curve=None, source=str(synthetic_run / "results/data/data_source.json"),
                      outputs=outputs)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(f"{name}.png" for name in outputs)
    assert all(Path(path).read_bytes().startswith(b"\x89PNG") for path in outputs.values())


def test_a_role_naming_a_model_the_plan_lacks_is_refused_in_words(tiny_raw, tmp_path):
    work = copy_project(tmp_path / "work")
    without_dose_curve(work, role="dose_spline")
    result = snakemake(work, tiny_raw, "--dry-run")
    assert result.returncode == 1
    assert "model_roles.dose_curve names 'dose_spline', which is not a model of the plan" in result.stderr
    assert "Traceback" not in result.stderr
