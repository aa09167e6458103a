"""The SLURM check (cluster/slurm_check.sh) and the comparison behind it (cluster/compare_runs.py): what
counts as the same results."""

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.workflow import PRINT_PDF, workflow_env

SCRIPT = ROOT / "cluster" / "compare_runs.py"


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("apt-get") is None,
                    reason="starting SLURM daemons needs root and Debian's packages (sudo make slurm-check)")
def test_the_whole_pipeline_through_slurm_gives_the_local_runs_outputs(synthetic_run, synthetic_raw):
    """The SLURM profile on a real (single-node) SLURM: every output of the whole pipeline, run through
    --executor slurm on the tests' synthetic data and plan, is the uninterrupted local run's, byte for byte.
    (make slurm-check runs the same check on its own, with a local run of its own.) First in this file: the
    suite's workers start it first (tests/conftest.py, LONGEST_FIRST)."""
    check = subprocess.Popen(
        [str(ROOT / "cluster" / "slurm_check.sh"), "--raw", str(synthetic_raw),
         "--reference", str(synthetic_run / "results"), "--config", *PRINT_PDF],
        env=workflow_env(PYTHON=sys.executable), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        output, _ = check.communicate(timeout=1800)
    finally:
        if check.poll() is None:  # timed out or interrupted: the script's trap stops the daemons it started
            os.killpg(check.pid, signal.SIGTERM)
            output, _ = check.communicate()
    print(output)
    assert check.returncode == 0, output[-5000:]
    assert "outputs identical in both runs" in output


def results(folder, files: dict):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def compare(a, b):
    return subprocess.run([sys.executable, str(SCRIPT), str(a), str(b)], capture_output=True, text=True)


def test_identical_outputs_agree_whatever_the_run_records_say(tmp_path):
    a = results(tmp_path / "a", {"tables/primary.csv": "x\n", "manifest.json": "start 1",
                                 "logs/fit.log": "a", "benchmarks/fit.tsv": "1.0"})
    b = results(tmp_path / "b", {"tables/primary.csv": "x\n", "manifest.json": "start 2",
                                 "logs/fit.log": "b", "benchmarks/fit.tsv": "2.0"})
    outcome = compare(a, b)
    assert outcome.returncode == 0, outcome.stdout
    assert "1 outputs identical" in outcome.stdout


def test_a_changed_or_missing_output_is_named(tmp_path):
    a = results(tmp_path / "a", {"tables/primary.csv": "x\n", "figures/forest.png": "p"})
    b = results(tmp_path / "b", {"tables/primary.csv": "y\n", "report/report.html": "r"})
    outcome = compare(a, b)
    assert outcome.returncode == 1
    assert "differs: tables/primary.csv" in outcome.stdout
    assert f"only in {a}: figures/forest.png" in outcome.stdout
    assert f"only in {b}: report/report.html" in outcome.stdout


def test_an_empty_run_does_not_pass(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert compare(tmp_path / "a", tmp_path / "b").returncode == 1
