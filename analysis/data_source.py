"""Whether a run's raw data are the simulator's synthetic data: recorded once by cleaning (data_source.json)
and read by every stage that shows a result, so that each one can mark it synthetic."""

from __future__ import annotations

from pathlib import Path

from analysis.io import read_json
from analysis.simulate import MARKER_FILE

SYNTHETIC_NOTE = ("SYNTHETIC DEMONSTRATION DATA: these numbers are not evidence about any real centre, "
                  "local authority or family.")


def data_source(raw_dir: str | Path) -> dict:
    """Whether the raw data in `raw_dir` are synthetic (the simulator's marker file sits beside them)."""
    synthetic = (Path(raw_dir) / MARKER_FILE).is_file()
    return {"synthetic": synthetic, "note": SYNTHETIC_NOTE if synthetic else ""}


def is_synthetic(source: str | Path) -> bool:
    """What a data-source record written by `data_source` says."""
    return bool(read_json(source)["synthetic"])
