"""Shared fixtures: a tiny, valid raw dataset made by the simulator, and helpers to break it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from analysis.cleaning import clean_all
from analysis.errors import RawDataError
from analysis.primary import load_plan
from analysis.simulate import PRESETS, simulate, write
from tests import corpus_cases

ROOT = Path(__file__).resolve().parent.parent

# The test files holding the suite's longest tests, in the order make test's pytest-xdist workers start them
# (each file runs on one worker, --dist loadfile): the SLURM run first, as it mostly waits on the scheduler,
# then the rest longest first (durations from make test), so that no worker is left with one of them while
# the other has nothing to do. Every other file follows, in pytest-xdist's own order. Within such a file the
# longest test comes before at least three short ones where it can: a worker is sent its next file when two
# of its tests are left, and that file would wait behind the long test.
LONGEST_FIRST = ("test_cluster.py", "test_corpus.py", "test_import_pipeline.py", "test_resilience.py",
                 "test_pipeline.py", "test_coverage.py", "test_untrusted_config.py", "test_plan_slices.py",
                 "test_specification_joint_test.py")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's, which a run without it does not know
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadfile":
        return None  # pytest-xdist's own scheduler
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):
        def _assign_work_unit(self, node) -> None:
            first = min(self.workqueue, key=rank)  # of equal ranks, the first queued
            self.workqueue.move_to_end(first, last=False)
            super()._assign_work_unit(node)

    def rank(scope: str) -> int:
        name = Path(scope).name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    return LongestFirst(config, log)


@pytest.fixture(scope="session")
def tiny_raw_master(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_raw")
    write(simulate(PRESETS["tiny"]), out)
    return out


@pytest.fixture
def tiny_raw(tiny_raw_master, tmp_path) -> Path:
    """A private copy of the tiny raw dataset that a test may edit."""
    target = tmp_path / "raw"
    shutil.copytree(tiny_raw_master, target)
    return target


@contextlib.contextmanager
def made_once(tmp_path_factory, name: str):
    """A folder made once per test session, however many pytest-xdist workers ask for it (make test runs one
    per core; each would otherwise make its own session fixtures): the first maker holds a lock while it makes
    the folder, the others wait, then every one reads it. Yields (folder, whether the caller must make it)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the workers' common folder
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield folder, not done.exists()
        done.touch()


@pytest.fixture(scope="session")
def synthetic_raw(tmp_path_factory) -> Path:
    """The tiny synthetic dataset, kept outside any workflow copy (as restricted data would be)."""
    with made_once(tmp_path_factory, "restricted") as (folder, make):
        if make:
            write(simulate(PRESETS["tiny"]), folder / "raw")
    return folder / "raw"


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory, synthetic_raw) -> Path:
    """The whole workflow run once, uninterrupted, on the tiny synthetic data (tests/workflow.py), with the
    report and the brief printed to PDF. Tests read it and never change it (they copy what they change)."""
    from tests.workflow import PRINT_PDF, run_workflow  # tests.workflow imports this module

    with made_once(tmp_path_factory, "synthetic_run") as (workdir, make):
        if make:
            result = run_workflow(workdir, synthetic_raw, config=PRINT_PDF)  # the PDFs: the tests check them
            assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.fixture(scope="session")
def plan() -> dict:
    return load_plan()


def expect_error(raw_dir, *fragments) -> str:
    """The contract error cleaning `raw_dir` raises, checked to contain every fragment."""
    with pytest.raises(RawDataError) as err:
        clean_all(raw_dir)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    return message


def log_count(data, rule, column=None) -> int:
    """How many rows a cleaning rule applied to (in one column, or in all)."""
    log = data.log.to_frame()
    hit = log[(log["rule"] == rule) & ((log["column"] == column) if column else True)]
    return int(hit["n_rows"].sum())


def read_text_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_text_table(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def set_cell(raw_dir: Path, file: str, row: int, column: str, value: str) -> int:
    """Set one cell (0-based data row) of a raw file; returns its spreadsheet row number."""
    return corpus_cases.set_cell(raw_dir / file, row, column, value)["row"]


def clean_settings():
    """The tiny preset without messy formats, for tests that need plain values."""
    return replace(PRESETS["tiny"], messy_formats=False, exact_duplicates=0)


def hand_made_survey_and_exposure() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A survey where each mother but OK fails exactly one inclusion step (named by her id)."""
    def record(mother, wave, centre="C1", k6=5.0, age=30):
        return {"mother_id": mother, "wave": wave, "centre_id": centre, "k6": k6, "mother_age": age,
                "ethnicity": 1, "child_sex": 1}

    survey = pd.DataFrame([
        record("OK", 1), record("OK", 3, centre="C2", k6=7.0),  # moved centre: exposure is wave-1's C1
        record("NO_W3", 1),
        record("NO_K6_W1", 1, k6=None), record("NO_K6_W1", 3),
        record("NO_K6_W3", 1), record("NO_K6_W3", 3, k6=None),
        record("NO_GROUP", 1, centre="C3"), record("NO_GROUP", 3, centre="C3"),
        record("NO_AGE", 1, age=None), record("NO_AGE", 3),
        record("NO_W1", 2), record("NO_W1", 3),
    ])
    exposure = pd.DataFrame({
        "centre_id": ["C1", "C2", "C3"], "la_code": ["E06000001"] * 3,
        "funding_group": pd.array(["growing", "cut", None], dtype="string"),
        "budget_change_pct": [8.0, -12.0, None], "idaci_decile": [2, 5, 9],
        "urban_rural": ["urban", "rural", "urban"],
    })
    return survey, exposure
