"""Running the real workflow from tests: a copy of the project in a scratch folder, on raw data elsewhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PROJECT_FILES = ["Snakefile", "config", "workflow"]
LOCAL_PROFILE = "workflow/profiles/local"  # as make run uses it
# The shipped plan with lighter computation where accuracy is not what is tested.
SCENARIO = ROOT / "tests" / "scenarios" / "tiny_fast" / "config.yaml"


def copy_project(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workdir / name)
        else:
            shutil.copy(source, workdir / name)
    return workdir


def snakemake_command(raw_dir: Path, *args: str, cores: int = 2, scenario: bool = True,
                      config: tuple[str, ...] = ()) -> list[str]:
    """Snakemake on `raw_dir` (args: targets, then options), with the test scenario layered over the
    shipped plan as a plan file (--config plan_file=..., the documented route: read as plain YAML, never
    evaluated); scenario=False runs it on the workflow's own config/config.yaml only. `config`: further
    --config key=value entries."""
    plan = [f"plan_file={SCENARIO}"] if scenario else []
    return [sys.executable, "-m", "snakemake", *args, "--workflow-profile", LOCAL_PROFILE,
            "--cores", str(cores), "--config", f"raw_dir={raw_dir}", *plan, *config]


def workflow_env(**extra: str) -> dict:
    """The test's environment, with this interpreter's folder first on PATH (the notebook kernel)."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra)


def snakemake(workdir: Path, raw_dir: Path, *args: str, cores: int = 2, scenario: bool = True,
              env: dict | None = None, config: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    command = snakemake_command(raw_dir, *args, cores=cores, scenario=scenario, config=config)
    return subprocess.run(command, cwd=workdir, env=env or workflow_env(), capture_output=True, text=True,
                          timeout=900)


def run_workflow(workdir: Path, raw_dir: Path, *args: str, **options) -> subprocess.CompletedProcess:
    """Copy the workflow into `workdir` and run it there on `raw_dir`."""
    copy_project(workdir)
    return snakemake(workdir, raw_dir, *args, **options)


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's dry-run job table: rule name -> number of jobs."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, flags=re.MULTILINE)}


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
