"""Publishing every exact table in one job (analysis.stages.tables.publish_tables): each table through the
disclosure rule, under its own title, to the files named after it; files that do not match are refused."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis.stages.tables import publish_tables

DISCLOSURE = {"suppress_below": 10, "round_to": 5}


@pytest.fixture
def exact(tmp_path):
    folder = tmp_path / "exact"
    folder.mkdir()
    counts = pd.DataFrame({"group": ["growing", "cut"], "n_mothers": [123, 7]})
    counts.to_csv(folder / "counts.csv", index=False)
    pd.DataFrame({"contrast": ["growing vs cut"], "estimate": [-0.91]}).to_csv(folder / "effect.csv",
                                                                               index=False)
    (tmp_path / "source.json").write_text(json.dumps({"synthetic": True}))
    (tmp_path / "provenance.json").write_text(json.dumps({"provenance_hash": "ab" * 32}))
    return folder


def published(tmp_path, names, ext):
    return [str(tmp_path / "tables" / f"{name}.{ext}") for name in names]


def test_every_table_is_published_under_its_own_title_through_the_disclosure_rule(exact, tmp_path):
    names = ["counts", "effect"]
    titles = {"counts": "Mothers by funding group", "effect": "Primary estimate"}
    publish_tables([str(exact / f"{n}.csv") for n in names], titles, str(tmp_path / "source.json"),
                   str(tmp_path / "provenance.json"), DISCLOSURE, *(published(tmp_path, names, ext)
                                                                    for ext in ("csv", "md", "tex")))
    counts = pd.read_csv(tmp_path / "tables/counts.csv", dtype=str)
    assert counts["n_mothers"].tolist() == ["125", "<10"]  # rounded to 5; under 10 suppressed
    for name in names:
        for ext in ("md", "tex"):
            text = (tmp_path / "tables" / f"{name}.{ext}").read_text()
            assert titles[name] in text and "abababababab" in text  # its title; the provenance it cites
            assert titles[({"counts", "effect"} - {name}).pop()] not in text
    assert "-0.91" in (tmp_path / "tables/effect.csv").read_text()


def test_published_files_not_named_after_their_table_are_refused_before_anything_is_written(exact, tmp_path):
    names = ["counts", "effect"]
    outputs = [published(tmp_path, names, ext) for ext in ("csv", "md", "tex")]
    outputs[1] = outputs[1][::-1]  # the Markdown files in the other order
    with pytest.raises(ValueError, match="do not match the table"):
        publish_tables([str(exact / f"{n}.csv") for n in names], {n: n for n in names},
                       str(tmp_path / "source.json"), str(tmp_path / "provenance.json"), DISCLOSURE, *outputs)
    with pytest.raises(ValueError, match="zip"):  # one table without its files
        publish_tables([str(exact / f"{n}.csv") for n in names], {n: n for n in names},
                       str(tmp_path / "source.json"), str(tmp_path / "provenance.json"), DISCLOSURE,
                       *(files[:1] for files in outputs))
