"""Interrupted runs, reproducibility and restricted data, on the whole workflow.

- A run killed (SIGKILL, no chance to clean up) in the middle of a model rule, then resumed, ends with the
  same outputs, byte for byte, as an uninterrupted run; no half-written file is ever left under its name.
- Two runs from a clean results/ (different Python hash seeds, one of them interrupted) give byte-identical
  tables, figures and data products.
- Raw inputs are only read: never modified, never copied into results/, and no log quotes their values.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, set_cell
from tests.workflow import copy_project, files_under, snakemake, snakemake_command, workflow_env

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
        run = subprocess.Popen(snakemake_command(raw), cwd=workdir, env=env, stdout=log,
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
    unlock = snakemake(workdir, synthetic_raw, "--unlock", env=env)  # the killed run's lock is stale
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = snakemake(workdir, synthetic_raw, env=env)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    return workdir, interrupted, resumed.stderr


def test_a_run_killed_in_a_model_rule_resumes_to_the_same_outputs(resumed_run, synthetic_run):
    workdir, interrupted, log = resumed_run
    killed_fits = [path for path in interrupted if path.startswith("results/models/")]
    assert killed_fits, f"the kill did not land in a model fit (incomplete: {interrupted})"
    for path in killed_fits:  # each interrupted model was fitted again
        assert f"wildcards: model={Path(path).name.removesuffix('_fit.json')}" in log
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
    for path in [*(ROOT / "analysis").glob("*.py"), *(ROOT / "workflow" / "scripts").glob("*.py")]:
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


def test_a_failed_rerun_says_that_the_outputs_left_are_from_the_earlier_run(synthetic_run, synthetic_raw,
                                                                           tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(synthetic_run, work, symlinks=True)
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    row = set_cell(raw, "survey.csv", 3, "k6_1", "9")
    tables = {p.name: p.read_bytes() for p in (work / "results/tables").iterdir()}
    result = snakemake(work, raw)
    assert result.returncode != 0
    assert f"survey.csv, column 'k6_1', row {row}: is outside the valid range 1 to 5" in result.stderr
    assert "outputs left under results/ are from an earlier run and do not reflect" in result.stderr
    # The earlier run's tables are untouched; the failed run wrote none.
    assert {p.name: p.read_bytes() for p in (work / "results/tables").iterdir()} == tables
