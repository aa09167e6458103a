"""Snakemake's command line, run in a process forked from one that has already imported Snakemake.

`python -m snakemake` spends about a second importing Snakemake, its plugins and pandas before it reads the
workflow, and the suite starts Snakemake well over a hundred times. multiprocessing's fork server imports
this module once per test process (preloaded: it imports only Snakemake's command line), and each run is a
fork of it with the run's own working directory, environment, command line and output files, as `python -m
snakemake` would have them. The workflow's own package (analysis) is not preloaded: each run imports it
after its environment is set, as a fresh process does (analysis.pdf looks Chromium up on PATH at import).

Only the parent's side (`run`) is called by tests; `_main` runs in the forked process.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import snakemake.cli

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([__name__])


def _main(args: list[str], cwd: str, env: dict, stdout: str, stderr: str) -> None:
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, stdout), (2, stderr)):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    # As `python -m` sets them: the working directory first on the module path, and argv.
    sys.path.insert(0, cwd)
    sys.argv = [str(Path(snakemake.__file__).with_name("__main__.py")), *args]
    snakemake.cli.main(args)  # exits with Snakemake's status


def _start_variables(env) -> dict:
    return {name: value for name, value in env.items() if name.startswith("PYTHON")}


def run(command: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    """subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout) for a
    command `python -m snakemake ARGS` of this interpreter, forked from the preloaded process. A command of
    another interpreter, or whose environment sets a variable that Python reads only as it starts (PYTHON*:
    the module path, the hash seed, ...) other than this process (and so the preloaded one) has it, runs as a
    new process instead."""
    prefix = [sys.executable, "-m", "snakemake"]
    if command[:3] != prefix or _start_variables(env) != _start_variables(os.environ):
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory() as scratch:
        out, err = Path(scratch, "stdout"), Path(scratch, "stderr")
        process = _CONTEXT.Process(target=_main, args=(command[3:], str(cwd), env, str(out), str(err)))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(command, timeout)
        return subprocess.CompletedProcess(command, process.exitcode, out.read_text(), err.read_text())
