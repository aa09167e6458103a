"""Shared fixtures: a tiny, valid raw dataset made by the simulator, and helpers to break it."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from analysis.primary import load_plan
from analysis.simulate import PRESETS, simulate, write

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture(scope="session")
def plan() -> dict:
    return load_plan()


def read_text_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_text_table(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def set_cell(raw_dir: Path, file: str, row: int, column: str, value: str) -> int:
    """Set one cell (0-based data row) of a raw file; returns its spreadsheet row number."""
    frame = read_text_table(raw_dir / file)
    frame.loc[row, column] = value
    write_text_table(frame, raw_dir / file)
    return row + 2


def clean_settings():
    """The tiny preset without messy formats, for tests that need plain values."""
    return replace(PRESETS["tiny"], messy_formats=False, exact_duplicates=0)
