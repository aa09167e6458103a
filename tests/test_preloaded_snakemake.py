"""The tests' way of running Snakemake (tests/preloaded_snakemake.py): a fork of a process that has imported
it, which must answer as `python -m snakemake` does in a process of its own."""

import json
import os
import subprocess
import sys

import pytest

from tests import preloaded_snakemake
from tests.conftest import ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.mark.parametrize("args", [["--version"], ["--no-such-option"], ["--dry-run"]],
                         ids=["version", "unknown option", "no Snakefile"])
def test_a_forked_run_answers_as_a_new_process_does(args, tmp_path):
    (tmp_path / "work").mkdir()
    env = dict(os.environ, SNAKEMAKE_TEST_MARK="1")
    forked = preloaded_snakemake.run([*SNAKEMAKE, *args], cwd=tmp_path / "work", env=env, timeout=120)
    new = subprocess.run([*SNAKEMAKE, *args], cwd=tmp_path / "work", env=env, capture_output=True, text=True,
                         timeout=120)
    assert (forked.returncode, forked.stdout) == (new.returncode, new.stdout)
    # Snakemake's messages; the run's own lines may carry times or folders, so compare the last line.
    assert forked.stderr.strip().splitlines()[-1:] == new.stderr.strip().splitlines()[-1:]
    assert forked.args == [*SNAKEMAKE, *args]


def test_the_run_gets_its_own_folder_environment_and_module_path(tmp_path):
    """A Snakefile printing the working folder, a variable set only for the run, and the module path, which
    must be a new process's (not the test process's, which holds the project's folders)."""
    (tmp_path / "Snakefile").write_text('import json, os, sys\n'
                                        'print(os.getcwd(), os.environ["ONLY_FOR_THIS_RUN"])\n'
                                        'print(json.dumps(sys.path))\n')
    env = dict(os.environ, ONLY_FOR_THIS_RUN="yes")
    command = [*SNAKEMAKE, "--dry-run", "--quiet"]
    forked = preloaded_snakemake.run(command, cwd=tmp_path, env=env, timeout=120)
    new = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert forked.returncode == 0, forked.stderr
    assert f"{tmp_path} yes" in forked.stdout
    assert "ONLY_FOR_THIS_RUN" not in os.environ
    module_path = [json.loads(line) for line in forked.stdout.splitlines() if line.startswith("[")]
    assert module_path == [json.loads(line) for line in new.stdout.splitlines() if line.startswith("[")]
    assert module_path[0][0] == str(tmp_path) and str(ROOT / "tests") not in module_path[0]


def test_an_error_before_snakemake_starts_reaches_the_caller(tmp_path):
    missing = tmp_path / "missing"
    result = preloaded_snakemake.run([*SNAKEMAKE, "--version"], cwd=missing, env=dict(os.environ), timeout=60)
    assert result.returncode != 0 and "FileNotFoundError" in result.stderr


def test_a_run_past_its_time_is_stopped(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        preloaded_snakemake.run([*SNAKEMAKE, "--version"], cwd=tmp_path, env=dict(os.environ), timeout=0.001)
