"""Whether the raw data are synthetic: recorded from the simulator's marker file, read back by every stage."""

from __future__ import annotations

import pytest

from analysis import io
from analysis.data_source import SYNTHETIC_NOTE, data_source, is_synthetic
from analysis.simulate import MARKER_FILE


@pytest.mark.parametrize("marked", [True, False])
def test_the_marker_file_decides_and_the_record_reads_back(tmp_path, marked):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "survey.csv").write_text("mother_id\n1\n")
    if marked:
        (raw / MARKER_FILE).write_text("{}")
    record = data_source(raw)
    assert record == {"synthetic": marked, "note": SYNTHETIC_NOTE if marked else ""}
    io.write_json(record, tmp_path / "data_source.json")
    assert is_synthetic(tmp_path / "data_source.json") is marked


def test_a_marker_elsewhere_does_not_count(tmp_path):
    (tmp_path / MARKER_FILE).write_text("{}")  # beside the folder, not in it
    (tmp_path / "raw").mkdir()
    assert not data_source(tmp_path / "raw")["synthetic"]
