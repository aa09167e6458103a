"""Running the real workflow from tests: a copy of the project in a scratch folder, on raw data elsewhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from analysis.pdf import CHROMIUM_NAMES
from tests import preloaded_snakemake
from tests.conftest import ROOT

PROJECT_FILES = ["Snakefile", "config", "workflow"]
LOCAL_PROFILE = "workflow/profiles/local"  # as make run uses it
# The shipped plan with lighter computation where accuracy is not what is tested.
SCENARIO = ROOT / "tests" / "scenarios" / "tiny_fast" / "config.yaml"
# The --config entry that asks for the report and the brief as PDFs (the plan's report_pdf; CI has Chromium).
PRINT_PDF = ("report_pdf=chromium",)


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


def chromium_env(scratch: Path, installed: bool) -> dict:
    """workflow_env() with Chromium installed or not, as far as analysis.pdf.find_chromium (a PATH lookup)
    can tell. Installed: a stand-in `chromium` script is put last on PATH where none is installed (a dry run
    or a report archive never starts it). Not installed: each PATH folder holding a Chromium is replaced by a
    folder of links to everything else in it, so every other program stays where it was found."""
    env = workflow_env()
    folders = env["PATH"].split(os.pathsep)
    if installed:
        stand_in = scratch / "chromium-stand-in"
        stand_in.mkdir(parents=True, exist_ok=True)
        (stand_in / "chromium").write_text("#!/bin/sh\necho 'not a browser' >&2\nexit 1\n")
        (stand_in / "chromium").chmod(0o755)
        return {**env, "PATH": os.pathsep.join([*folders, str(stand_in)])}
    kept = []
    for number, folder in enumerate(folders):
        if not any((Path(folder) / name).exists() for name in CHROMIUM_NAMES):
            kept.append(folder)
            continue
        links = scratch / f"path-without-chromium-{number}"
        links.mkdir(parents=True, exist_ok=True)
        for program in Path(folder).iterdir():
            if program.name not in CHROMIUM_NAMES and not os.path.lexists(links / program.name):
                (links / program.name).symlink_to(program)
        kept.append(str(links))
    return {**env, "PATH": os.pathsep.join(kept)}


def snakemake(workdir: Path, raw_dir: Path, *args: str, cores: int = 2, scenario: bool = True,
              env: dict | None = None, config: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    command = snakemake_command(raw_dir, *args, cores=cores, scenario=scenario, config=config)
    return preloaded_snakemake.run(command, cwd=workdir, env=env or workflow_env(), timeout=900)


def run_workflow(workdir: Path, raw_dir: Path, *args: str, **options) -> subprocess.CompletedProcess:
    """Copy the workflow into `workdir` and run it there on `raw_dir`."""
    copy_project(workdir)
    return snakemake(workdir, raw_dir, *args, **options)


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's dry-run job table: rule name -> number of jobs."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, flags=re.MULTILINE)}


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
