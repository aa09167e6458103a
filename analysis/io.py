"""Small I/O helpers shared by the stages: atomic writes and logging set-up."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the frames' own methods write them: the jobs that write no table never import pandas
    import pandas as pd

# The memory allocator's settings for every job (glibc's malloc reads GLIBC_TUNABLES when a process starts;
# workflow/rules/common.smk puts them in the environment the jobs inherit, on a cluster too): freed memory is
# kept for reuse instead of being handed back to the system and faulted in again. mmap_max=0 takes large
# arrays from the heap; trim_threshold (64 GiB) keeps the heap from shrinking. The model fits allocate many
# arrays the size of the data: at national scale the attrition job went from 76 s to 61 s, with 6% more peak
# memory. Where the C library is not glibc, the variable is ignored.
ALLOCATOR_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it into place only if the block succeeds.

    No output is ever written in place: a run killed mid-write leaves at most the hidden partial file,
    which the rerun overwrites (its name is fixed) and renames. The partial keeps the extension, for tools
    that choose a format by it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_json(data: dict, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def log_to(path: str | Path) -> None:
    """Send this process's log records to `path` and to stderr (so errors also reach the terminal)."""
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (logging.FileHandler(path, mode="w"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    logging.captureWarnings(True)


def run_logged(log_path: str | Path, stage, **kwargs) -> None:
    """Run one pipeline stage with logging; bad data, a plan the data cannot satisfy or a design they cannot
    support end the process with the plain message, no traceback."""
    from analysis.errors import DesignError, PlanError, RawDataError  # local: keeps io importable on its own

    log_to(log_path)
    try:
        stage(**kwargs)
    except (RawDataError, PlanError, DesignError) as err:
        logging.getLogger(stage.__module__).error("%s", err)
        sys.exit(1)
    except Exception:
        logging.getLogger(stage.__module__).exception("stage %s failed", stage.__name__)
        raise
