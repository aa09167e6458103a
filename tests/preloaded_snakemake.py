"""Snakemake's command line, run in a process forked from one that has already imported Snakemake.

`python -m snakemake` spends about a second importing Snakemake, its plugins and pandas before it reads the
workflow, and the suite starts Snakemake well over a hundred times. multiprocessing's fork server imports
Snakemake's command line once per test process (preloaded), and each run is a fork of it with the run's own
working directory, environment, module path, command line and output files, as `python -m snakemake` would
have them. The workflow's own package (analysis) is not preloaded: each run imports it after its
environment is set, as a fresh process does (analysis.pdf looks Chromium up on PATH at import).

What a fork cannot have afresh is what Python fixes as it starts: a run whose environment sets a PYTHON*
variable otherwise than the test process runs as a new process. The string-hash seed is one of those: forks
of one server share it, so where a new process would pick among jobs ready at the same time in a random
order, the forked runs of one test process all pick in the same one. Output goes to files, not pipes, so a
process a run leaves behind does not hold the call up.

Only the parent's side (`run`) is called by tests; `_main` runs in the forked process.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import subprocess
import sys
import tempfile
import threading
from functools import cache
from pathlib import Path

import snakemake

_CONTEXT = multiprocessing.get_context("forkserver")
# By name from site-packages: the fork server imports it wherever the tests run from.
_CONTEXT.set_forkserver_preload(["snakemake.cli"])
# Starting a process polls the others, which on Python 3.11 can read another thread's ending child's exit
# status before that thread does (CPython gh-130895): starts and exit statuses are taken one at a time.
_PROCESSES = threading.Lock()


def _main(args: list[str], cwd: str, env: dict, module_path: list[str], stdout: str, stderr: str) -> None:
    for fd, path in ((1, stdout), (2, stderr)):  # first, so that any error below reaches the caller
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    # As `python -m snakemake` has them: the working directory, then the interpreter's own path; argv.
    sys.path[:] = [cwd, *module_path]
    sys.argv = [str(Path(snakemake.__file__).with_name("__main__.py")), *args]
    from snakemake import cli  # preloaded by the fork server

    cli.main(args)  # exits with Snakemake's status


@cache
def _interpreter_path() -> list[str]:
    """The module path of a new process of this interpreter once it has imported Snakemake's command line
    (Snakemake adds a folder), less its first entry (the working folder)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import json, sys, snakemake.cli; print(json.dumps(sys.path[1:]))"],
        capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(probe.stdout)


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
        process = _CONTEXT.Process(target=_main, args=(command[3:], str(cwd), env, _interpreter_path(),
                                                       str(out), str(err)))
        with _PROCESSES:
            process.start()
        ended = multiprocessing.connection.wait([process.sentinel], timeout)
        with _PROCESSES:
            if not ended:
                process.kill()
            process.join()
        if not ended:
            raise subprocess.TimeoutExpired(command, timeout)
        return subprocess.CompletedProcess(command, process.exitcode, out.read_text(), err.read_text())
