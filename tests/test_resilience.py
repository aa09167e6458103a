"""Interrupted runs, reproducibility and restricted data, on the whole workflow.

- A run killed (SIGKILL, no chance to clean up) in the middle of a model rule, then resumed, ends with the
  same outputs, byte for byte, as an uninterrupted run; no half-written file is ever left under its name.
- Two runs from a clean results/ (different Python hash seeds, one of them interrupted) give byte-identical
  tables, figures and data products.
- Raw inputs are only read: never modified, never copied into results/, and no log quotes their values.
- A run that fails leaves nothing in the published folders: every published output, this run's or an
  earlier run's, is moved to results/withdrawn/<UTC time>/ with a WITHDRAWN.txt; a run refused before any
  job touches nothing.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, set_cell
from tests.workflow import PRINT_PDF, copy_project, files_under, snakemake, snakemake_command, workflow_env

pytestmark = pytest.mark.slow

# Outputs that legitimately differ between runs: the manifest records the run's start and end times; logs
# and benchmarks are about the run itself.
RUN_SPECIFIC = ("manifest.json",)
RUN_RECORDS = ("logs/", "benchmarks/")


def outputs(workdir: Path) -> dict[str, bytes]:
    results = workdir / "results"
    return {name: (results / name).read_bytes() for name in files_under(results)
            if not name.startswith(RUN_RECORDS) and name not in RUN_SPECIFIC}


def session_processes(session: int) -> list[str]:
    """Command lines of the processes in a session (the killed run's Snakemake and its jobs)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                found.append((stat_file.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return found


def kill_during(workdir: Path, raw: Path, script: str, env: dict, timeout: float = 600) -> None:
    """Start the workflow and SIGKILL it, jobs and all, while a job running `script` is in progress."""
    with open(workdir / "killed_run.txt", "w") as log:
        run = subprocess.Popen(snakemake_command(raw, config=PRINT_PDF), cwd=workdir, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not any(script in command for command in session_processes(run.pid)):
            assert run.poll() is None, "the workflow ended before the model rule started"
            assert time.monotonic() < deadline, "the model rule never started"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the fit: imports alone take longer
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory, synthetic_raw):
    workdir = copy_project(tmp_path_factory.mktemp("killed"))
    env = workflow_env(PYTHONHASHSEED="12345")  # the uninterrupted run uses random hash seeds
    kill_during(workdir, synthetic_raw, "fit_model.py", env)
    # Snakemake marks the outputs of running jobs incomplete (file names are base64 of the paths).
    interrupted = [base64.b64decode(p.name).decode() for p in (workdir / ".snakemake/incomplete").iterdir()]
    # The killed run's lock is stale; the run asked for the PDFs, as the uninterrupted run did.
    unlock = snakemake(workdir, synthetic_raw, "--unlock", env=env, config=PRINT_PDF)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = snakemake(workdir, synthetic_raw, env=env, config=PRINT_PDF)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    return workdir, interrupted, resumed.stderr


def test_a_run_killed_in_a_model_rule_resumes_to_the_same_outputs(resumed_run, synthetic_run):
    workdir, interrupted, log = resumed_run
    killed_fits = [path for path in interrupted if path.startswith("results/models/")]
    assert killed_fits, f"the kill did not land in a model fit (incomplete: {interrupted})"
    for path in killed_fits:  # each interrupted model was fitted again
        assert f"wildcards: model={Path(path).name.removesuffix('_fit.json')}" in log
    # SIGKILL gives Snakemake no chance to run its onerror handler, so nothing was withdrawn; the resumed run
    # completed every output.
    assert not (workdir / "results/withdrawn").exists()
    resumed, uninterrupted = outputs(workdir), outputs(synthetic_run)
    assert sorted(resumed) == sorted(uninterrupted)
    differ = [name for name in resumed if resumed[name] != uninterrupted[name]]
    assert differ == []
    # No partial file survives under its own or a hidden name.
    assert [f for f in files_under(workdir / "results") if ".partial" in f] == []
    assert resumed["report/report.pdf"].startswith(b"%PDF-")  # compared above, like every output


def test_two_runs_from_a_clean_results_folder_give_byte_identical_tables(resumed_run, synthetic_run):
    workdir, _, _ = resumed_run
    for folder in ("tables", "figures", "data/tables"):
        first, second = (files_under(w / "results" / folder) for w in (synthetic_run, workdir))
        assert first == second and len(first) >= 7
        for name in first:
            assert (synthetic_run / "results" / folder / name).read_bytes() == \
                (workdir / "results" / folder / name).read_bytes(), name


def test_no_python_writes_an_output_in_place():
    """Every file the pipeline writes goes through analysis.io: written to a partial file, then renamed.

    A write is allowed only as a call of analysis.io's helpers or into the `partial` file that
    io.atomic_path yields."""
    writers = {"to_csv", "to_parquet", "to_json", "savefig", "write_text", "write_bytes", "dump", "write"}
    offenders = []
    for path in [*(ROOT / "analysis").glob("*.py"), *(ROOT / "analysis" / "stages").glob("*.py"),
                 *(ROOT / "workflow" / "scripts").glob("*.py")]:
        if path.name in ("io.py", "simulate.py"):  # the helpers themselves; the demo-data generator
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            helper = isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "io"
            receiver = [node.func.value] if isinstance(node.func, ast.Attribute) else []
            into_partial = any(isinstance(n, ast.Name) and n.id == "partial" for a in [*receiver, *node.args]
                               for n in ast.walk(a))
            mode = node.args[1] if name == "open" and len(node.args) > 1 else None
            mode = next((k.value for k in node.keywords if k.arg == "mode"), mode)
            writes_file = name == "open" and isinstance(mode, ast.Constant) and mode.value[0] in "wax"
            if (name in writers or writes_file) and not (helper or into_partial):
                offenders.append(f"{path.name}:{node.lineno} {name}")
    assert offenders == []
    rules = "".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    assert "shell:" not in rules  # a shell command would write in place; every rule runs a script


def test_raw_inputs_are_only_read_and_never_copied_or_quoted(synthetic_run, synthetic_raw):
    raw_files = sorted(synthetic_raw.iterdir())
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in raw_files}
    # The raw files were written by the simulator before the run and not touched since.
    written = max(p.stat().st_mtime_ns for p in raw_files)
    started = (synthetic_run / "results/logs/run_started.txt").stat().st_mtime_ns
    assert written < started
    assert all(p.stat().st_mtime_ns <= written for p in raw_files)
    results = [p for p in (synthetic_run / "results").rglob("*") if p.is_file()]
    assert not [p for p in results if hashlib.sha256(p.read_bytes()).hexdigest() in digests]
    survey = pd.read_csv(synthetic_raw / "survey.csv", dtype=str, keep_default_na=False)
    funding = pd.read_csv(synthetic_raw / "centre_funding.csv", dtype=str, keep_default_na=False)
    # Row-level values that are not identifiers: interview dates and budgets, as written in the raw files.
    values = {v for v in survey["interview_date"] if v} | {v for v in funding["budget_gbp"] if len(v) > 5}
    logs = [p for p in (synthetic_run / "results/logs").rglob("*.log")]
    assert logs
    for path in logs:
        text = path.read_text()
        assert not [v for v in values if v in text], path.name
    # Nor does any output name where the restricted data live.
    published = [p for p in results if p.suffix in (".csv", ".md", ".tex", ".html", ".json", ".ipynb")
                 and "logs" not in p.parts]
    assert published and not [p for p in published if str(synthetic_raw) in p.read_text()]


def test_the_workflow_runs_on_read_only_raw_files(synthetic_raw, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for path in synthetic_raw.iterdir():
        (raw / path.name).write_bytes(path.read_bytes())
        (raw / path.name).chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    raw.chmod(stat.S_IRUSR | stat.S_IXUSR)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in raw.iterdir()}
    try:
        result = snakemake(copy_project(tmp_path / "work"), raw, "results/data/analysis.parquet")
        assert result.returncode == 0, result.stderr[-3000:]
        assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in raw.iterdir()} == before
    finally:
        raw.chmod(stat.S_IRWXU)


# What may leave a secure environment (README "Releasing results"), relative to results/.
PUBLISHED = ("tables", "figures", "report", "report.zip", "manifest.json", "provenance.json",
             "disclosure_check.json")


def published(results: Path) -> dict[str, bytes]:
    """Every file in the published folders and files, with its content."""
    return {name: (results / name).read_bytes() for name in files_under(results)
            if name.split("/")[0] in PUBLISHED}


def withdrawn(results: Path) -> Path:
    """The one folder a failed run withdrew its published outputs to."""
    folders = sorted((results / "withdrawn").iterdir())
    assert len(folders) == 1, folders
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", folders[0].name)  # UTC time of the failure
    return folders[0]


def copy_run(synthetic_run: Path, tmp_path: Path) -> Path:
    work = tmp_path / "copy"
    shutil.copytree(synthetic_run, work, symlinks=True)
    return work


def test_a_failed_rerun_withdraws_every_earlier_output(synthetic_run, synthetic_raw, tmp_path):
    work = copy_run(synthetic_run, tmp_path)
    results = work / "results"
    (results / "report.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an earlier snakemake --report archive
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    row = set_cell(raw, "survey.csv", 3, "k6_1", "9")
    before = published(results)
    for name in ("tables/primary.csv", "figures/forest.png", "report/report.html", "report/appendix.tex",
                 "report.zip", "manifest.json", "provenance.json", "disclosure_check.json"):
        assert name in before, name
    result = snakemake(work, raw)
    assert result.returncode != 0
    assert f"survey.csv, column 'k6_1', row {row}: is outside the valid range 1 to 5" in result.stderr
    # Nothing is left in the published folders (nor the folders themselves).
    assert published(results) == {}
    assert not [name for name in PUBLISHED if (results / name).exists()]
    # The earlier run's outputs are withdrawn, byte for byte, under their relative paths, with a notice.
    folder = withdrawn(results)
    assert f"were withdrawn to results/withdrawn/{folder.name}/" in result.stderr
    assert "they do not reflect the inputs of this run and are not cleared for release" in result.stderr
    moved = {name: (folder / name).read_bytes() for name in files_under(folder) if name != "WITHDRAWN.txt"}
    assert moved == before
    notice = (folder / "WITHDRAWN.txt").read_text()
    assert notice.startswith("WITHDRAWN: NOT CLEARED FOR RELEASE")
    for words in ("because the pipeline run failed", "do not reflect the inputs of the run that failed",
                  "not cleared for", "The failed run started at"):
        assert words in notice.replace("\n", " "), words
    assert all(f"\n  {name}\n" in notice for name in before)
    # Restricted outputs are neither published nor withdrawn: they stay where they are.
    assert (results / "data/analysis.parquet").exists()


def test_a_run_that_fails_after_publishing_leaves_the_published_folders_empty(synthetic_run, synthetic_raw,
                                                                               tmp_path):
    work = copy_run(synthetic_run, tmp_path)
    results = work / "results"
    # A late job fails: the model diagnostics lack the design record the report reads, so execute_report,
    # which also needs every published table and figure, fails after this run has published the tables again
    # (forced) and checked them. The power planner reads the same record but not its design, so it runs.
    # (Breaking the notebook instead would change the code's hash and republish everything.)
    fit = json.loads((results / "models/primary_fit.json").read_text())
    del fit["design"]
    (results / "models/primary_fit.json").write_text(json.dumps(fit))
    republished = [f"tables/{p.name}" for p in sorted((results / "tables").iterdir())]
    started = time.time() - 1  # file times may be rounded down to the second
    result = snakemake(work, synthetic_raw, "results/report/report.ipynb", "--forcerun", "publish_tables")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule execute_report" in output and "rule publish_tables" in output
    assert published(results) == {}
    folder = withdrawn(results)
    assert "were withdrawn to results/withdrawn/" in result.stderr and (folder / "WITHDRAWN.txt").exists()
    # Withdrawn: the tables this run published again before it failed (the same bytes as before), and the
    # earlier run's outputs beside them, which this run never reached.
    assert all((folder / name).stat().st_mtime >= started for name in republished)
    earlier = (synthetic_run / "results/tables/primary.csv").read_bytes()
    assert (folder / "tables/primary.csv").read_bytes() == earlier
    report = (synthetic_run / "results/report/report.html").read_bytes()
    assert (folder / "report/report.html").read_bytes() == report
    assert (folder / "report/report.html").stat().st_mtime < started


def test_a_table_breaking_the_disclosure_rule_fails_the_run_and_is_deleted_not_withdrawn(
        synthetic_run, synthetic_raw, tmp_path):
    """A published table with a small cell fails the disclosure check, which names it and deletes it (with
    its renderings) before its job fails; the withdrawal runs after the failed jobs have ended, so that
    table is gone, not kept among the withdrawn outputs, and the check's record is never written."""
    work = copy_run(synthetic_run, tmp_path)
    results = work / "results"
    table = results / "tables/primary.csv"
    frame = pd.read_csv(table, dtype=str, keep_default_na=False)
    frame.loc[1, "n_mothers"] = "7"  # a small cell, as if a rule had published an exact count
    frame.to_csv(table, index=False, lineterminator="\n")
    result = snakemake(work, synthetic_raw, "results/disclosure_check.json")
    assert result.returncode != 0
    assert "primary.csv, column 'n_mothers', row 3" in result.stdout + result.stderr
    assert "below 10" in result.stdout + result.stderr
    assert published(results) == {}
    names = files_under(withdrawn(results))
    assert not [name for name in names if name.startswith("tables/primary.")]
    assert "tables/primary_coefficients.csv" in names and "report/report.html" in names


def test_a_run_refused_before_any_job_touches_nothing(synthetic_run, synthetic_raw, tmp_path):
    work = copy_run(synthetic_run, tmp_path)
    plan_path = work / "config/config.yaml"
    plan = yaml.safe_load(plan_path.read_text())
    plan["exposure"]["base_year"] = "2014-15"  # after end_year: the plan is inconsistent
    plan_path.write_text(yaml.safe_dump(plan))
    before = {name: (work / "results" / name).read_bytes() for name in files_under(work / "results")}
    result = snakemake(work, synthetic_raw)
    assert result.returncode != 0
    assert "exposure.base_year 2014-15 is not before end_year 2013-14" in result.stderr
    assert {name: (work / "results" / name).read_bytes() for name in files_under(work / "results")} == before
