"""The tests' way of running Snakemake (tests/preloaded_snakemake.py): a fork of a process that has imported
it, which must answer as `python -m snakemake` does in a process of its own."""

import os
import subprocess
import sys

import pytest

from tests import preloaded_snakemake

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


def test_the_run_gets_its_own_folder_and_environment(tmp_path):
    """A Snakefile printing the working folder and a variable set only for the run."""
    (tmp_path / "Snakefile").write_text('import os\nprint(os.getcwd(), os.environ["ONLY_FOR_THIS_RUN"])\n')
    env = dict(os.environ, ONLY_FOR_THIS_RUN="yes")
    result = preloaded_snakemake.run([*SNAKEMAKE, "--dry-run", "--quiet"], cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path} yes" in result.stdout
    assert "ONLY_FOR_THIS_RUN" not in os.environ


def test_a_run_past_its_time_is_stopped(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        preloaded_snakemake.run([*SNAKEMAKE, "--version"], cwd=tmp_path, env=dict(os.environ), timeout=0.001)
