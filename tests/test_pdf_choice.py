"""The PDF is chosen in the settings (report_pdf: none or chromium), never by whether a browser is installed:
the same command gives the same jobs on every machine, and a run that chose the PDF where Chromium is missing
is refused, in words, before any job runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis.pdf import CHROMIUM_NAMES
from tests.workflow import PRINT_PDF, chromium_env, copy_project, run_workflow, snakemake

pytestmark = pytest.mark.slow

PDF_RULES = {"report_pdf", "brief_pdf"}
PDFS = {"results/report/report.pdf", "results/report/brief.pdf"}
JOB_HEADER = re.compile(r"^(?:local)?rule (\w+):$")


def dry_run_jobs(result: subprocess.CompletedProcess) -> set[tuple[str, frozenset, frozenset]]:
    """Every job a dry run lists, as (rule, its inputs, its outputs): the DAG, without job ids or times."""
    assert result.returncode == 0, result.stderr[-3000:]
    jobs, rule, files = set(), None, {}
    for line in [*result.stdout.splitlines(), ""]:
        header = JOB_HEADER.match(line)
        if header or not line.strip():
            if rule is not None:
                jobs.add((rule, frozenset(files.get("input", ())), frozenset(files.get("output", ()))))
            rule, files = (header.group(1) if header else None), {}
        elif rule is not None and line.startswith(("    input: ", "    output: ")):
            kind, _, listed = line.strip().partition(": ")
            files[kind] = listed.split(", ")
    return jobs


def final_targets(jobs) -> frozenset:
    return next(inputs for rule, inputs, _ in jobs if rule == "all")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("pdf_choice") / "work")


@pytest.fixture(scope="module")
def environments(tmp_path_factory) -> dict[str, dict]:
    scratch = tmp_path_factory.mktemp("path")
    hidden, installed = chromium_env(scratch, installed=False), chromium_env(scratch, installed=True)
    # What find_chromium sees in each (shutil.which on PATH), and that the hidden PATH keeps other programs.
    assert not [name for name in CHROMIUM_NAMES if shutil.which(name, path=hidden["PATH"])]
    assert shutil.which("sh", path=hidden["PATH"]) and shutil.which("which", path=hidden["PATH"])
    assert any(shutil.which(name, path=installed["PATH"]) for name in CHROMIUM_NAMES)
    return {"hidden": hidden, "installed": installed}


def test_without_the_pdf_the_jobs_are_the_same_whether_chromium_is_installed_or_not(project, synthetic_raw,
                                                                                   environments):
    jobs = {where: dry_run_jobs(snakemake(project, synthetic_raw, "--dry-run", env=env))
            for where, env in environments.items()}
    assert jobs["hidden"] == jobs["installed"]
    rules = {rule for rule, _, _ in jobs["installed"]}
    assert {"render_report", "brief", "manifest", "all"} <= rules and not rules & PDF_RULES
    assert not [path for path in final_targets(jobs["installed"]) if path.endswith(".pdf")]


def test_with_the_pdf_chosen_the_pdf_jobs_and_targets_are_added_and_nothing_else(project, synthetic_raw,
                                                                                environments):
    env = environments["installed"]
    without = dry_run_jobs(snakemake(project, synthetic_raw, "--dry-run", env=env))
    with_pdf = dry_run_jobs(snakemake(project, synthetic_raw, "--dry-run", env=env, config=PRINT_PDF))
    added = {rule for rule, _, _ in with_pdf - without}
    # The PDF jobs, and the two jobs that take the PDFs as inputs: the manifest (it hashes every deliverable)
    # and the final target.
    assert added == PDF_RULES | {"manifest", "all"}
    assert {rule for rule, _, _ in without - with_pdf} == {"manifest", "all"}
    assert final_targets(with_pdf) - final_targets(without) == PDFS
    assert final_targets(without) < final_targets(with_pdf)


def test_the_pdf_chosen_without_chromium_is_refused_before_any_job_runs(tmp_path, synthetic_raw,
                                                                         environments):
    workdir = tmp_path / "work"
    result = run_workflow(workdir, synthetic_raw, env=environments["hidden"], config=PRINT_PDF)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    for words in ("report_pdf: chromium", "no Chromium browser was found on PATH",
                  "apt-get install chromium", "make browser", "report_pdf: none", "--config report_pdf=none"):
        assert words in output, f"{words!r} not in:\n{output[-3000:]}"
    assert "Traceback" not in output and "Error in" not in output  # the message alone
    assert not (workdir / "results").exists()  # no job ran, not even the run's start time was written
