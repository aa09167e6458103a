"""The whole workflow, run by Snakemake on tiny data kept outside the working copy (restricted-data style)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.simulate import MARKER_FILE, PRESETS, simulate, write
from tests.conftest import ROOT, set_cell

pytestmark = pytest.mark.slow

PROJECT_FILES = ["Snakefile", "config", "workflow"]
SCENARIO = ROOT / "tests" / "scenarios" / "tiny_fast" / "config.yaml"


def run_workflow(workdir: Path, raw_dir: Path) -> subprocess.CompletedProcess:
    """Copy the workflow into `workdir` and run it there on `raw_dir`."""
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workdir / name)
        else:
            shutil.copy(source, workdir / name)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "config/config.yaml", SCENARIO,
         "--config", f"raw_dir={raw_dir}"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    raw = tmp_path_factory.mktemp("restricted") / "raw"
    write(simulate(PRESETS["tiny"]), raw)
    workdir = tmp_path_factory.mktemp("work")
    result = run_workflow(workdir, raw)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_all_documented_outputs_exist(synthetic_run):
    for path in ["results/data/analysis.parquet", "results/data/centre_exposure.csv",
                 "results/tables/primary.csv", "results/tables/primary.md", "results/tables/primary.tex",
                 "results/tables/sample_flow.csv", "results/tables/cleaning_log.csv",
                 "results/report/report.html", "results/figures/budget_change.png",
                 "results/tables/primary_ols_cr2.csv", "results/tables/ghq_caseness.csv",
                 "results/tables/secondary_family.csv", "results/tables/difference_in_differences.csv",
                 "results/tables/multiple_imputation.csv", "results/tables/inverse_probability_weighting.csv",
                 "results/tables/effect_size.csv", "results/tables/leave_one_la_out.csv",
                 "results/tables/specification_curve.csv", "results/figures/forest.png",
                 "results/figures/dose_response.png", "results/figures/specification_curve.png"]:
        assert (synthetic_run / path).stat().st_size > 0, path


def test_the_scenario_shapes_the_specification_curve(synthetic_run):
    curve = pd.read_csv(synthetic_run / "results/tables/specification_curve.csv")
    # tiny_fast: 1 threshold x 1 window x 1 estimator x 2 covariate sets x 2 scores, 2 contrasts each
    assert curve["specification"].nunique() == 4 and len(curve) == 8


def test_primary_table_is_consistent_with_the_analysis_data(synthetic_run):
    table = pd.read_csv(synthetic_run / "results/tables/primary.csv")
    analysis = pd.read_parquet(synthetic_run / "results/data/analysis.parquet")
    flow = pd.read_csv(synthetic_run / "results/tables/sample_flow.csv")
    assert list(table["contrast"]) == ["growing vs cut", "stable vs cut"]
    assert (table["n_mothers"] == len(analysis)).all()
    assert (table["n_centres"] == analysis["centre_id"].nunique()).all()
    assert (table["n_las"] == analysis["la_code"].nunique()).all()
    assert flow["n_mothers"].iloc[-1] == len(analysis)
    assert ((table["ci_lower"] < table["estimate"]) & (table["estimate"] < table["ci_upper"])).all()
    assert table["synthetic_data"].all()
    assert set(analysis["funding_group"]) == {"cut", "stable", "growing"}


def test_report_states_headline_direction_and_synthetic_banner(synthetic_run):
    html = (synthetic_run / "results/report/report.html").read_text()
    table = pd.read_csv(synthetic_run / "results/tables/primary.csv")
    assert html.count("SYNTHETIC DEMONSTRATION DATA") >= 2  # top and bottom of the page
    assert "Lower scores mean less psychological distress" in html
    growing = table.iloc[0]
    assert f"{growing['ci_lower']:+.2f} to {growing['ci_upper']:+.2f}" in html
    assert "data:image/png;base64" in html  # figures are embedded, the page stands alone
    notebook = json.loads((synthetic_run / "results/report/report.ipynb").read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    assert outputs and not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"]  # no warnings printed in the report


def test_real_data_show_no_synthetic_banner(tmp_path):
    raw = tmp_path / "raw"
    write(simulate(PRESETS["tiny"]), raw)
    (raw / MARKER_FILE).unlink()
    (tmp_path / "work").mkdir()
    result = run_workflow(tmp_path / "work", raw)
    assert result.returncode == 0, result.stderr[-4000:]
    html = (tmp_path / "work/results/report/report.html").read_text()
    assert "SYNTHETIC DEMONSTRATION DATA" not in html
    assert "SYNTHETIC" not in (tmp_path / "work/results/tables/primary.md").read_text()
    assert not json.loads((tmp_path / "work/results/data/data_source.json").read_text())["synthetic"]


def test_bad_input_stops_the_run_with_a_clear_message_and_no_results(tmp_path):
    raw = tmp_path / "raw"
    write(simulate(PRESETS["tiny"]), raw)
    row = set_cell(raw, "survey.csv", 10, "k6_2", "8")
    (tmp_path / "work").mkdir()
    result = run_workflow(tmp_path / "work", raw)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "survey.csv, column 'k6_2'" in output and f"row {row}" in output
    assert "outside the valid range 1 to 5" in output
    left = [p for p in (tmp_path / "work" / "results").rglob("*") if p.is_file() and "logs" not in p.parts]
    assert left == []  # only logs remain: nothing that looks like a result
