"""Withdrawing published outputs after a failed run (analysis.publication), called by onerror."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis import publication
from analysis.publication import NOTICE, published_files, withdraw

NOW = datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)
# What the workflow lists as published (workflow/rules/common.smk, published_outputs), in small.
LISTED = ["results/tables/primary.csv", "results/tables/primary.md", "results/figures/forest.png",
          "results/report/report.html", "results/report.zip", "results/manifest.json",
          "results/provenance.json", "results/disclosure_check.json"]
RESTRICTED = ["results/data/tables/primary.csv", "results/data/analysis.parquet", "results/logs/clean.log",
              "results/models/primary_fit.json", "results/data/specifications/s1.csv"]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the workflow's paths are relative to its folder
    return tmp_path


def make(names) -> dict[str, bytes]:
    for name in names:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_bytes(f"content of {name}".encode())
    return {name: Path(name).read_bytes() for name in names}


def test_nothing_to_withdraw_creates_nothing(in_tmp):
    assert withdraw(LISTED, reason="the pipeline run failed", now=NOW) is None
    assert not Path("results").exists()
    make(RESTRICTED)  # a failed first run: restricted outputs only, nothing published
    Path("results/tables").mkdir()  # an empty published folder holds nothing to withdraw
    assert withdraw(LISTED, reason="the pipeline run failed", now=NOW) is None
    assert not Path("results/withdrawn").exists()


def test_every_published_output_is_moved_keeping_its_relative_path(in_tmp):
    # Listed outputs (one missing), and files the list does not name in the published folders: a table of
    # an earlier plan, the executed notebook, a partial file, a nested file.
    unlisted = ["results/tables/old_model.csv", "results/report/report.ipynb",
                "results/tables/.primary.partial.csv", "results/figures/extra/old.png"]
    published = make([*LISTED[:-1], *unlisted])
    restricted = make(RESTRICTED)
    result = withdraw(LISTED, reason="the pipeline run failed", now=NOW,
                      details=["Snakemake's log of the failed run: .snakemake/log/x.log"])
    folder = Path("results/withdrawn/2026-11-28T01-02-03Z")
    assert result.folder == folder and result.stuck == ()
    assert sorted(result.files) == sorted(name.removeprefix("results/") for name in published)
    for name, content in published.items():
        assert not Path(name).exists()
        assert (folder / name.removeprefix("results/")).read_bytes() == content
    # Restricted outputs stay; the published folders, now empty, are gone.
    assert {name: Path(name).read_bytes() for name in RESTRICTED} == restricted
    assert not [p for p in ("tables", "figures", "report") if (Path("results") / p).exists()]
    notice = (folder / NOTICE).read_text()
    flat = " ".join(notice.split())
    assert notice.startswith("WITHDRAWN: NOT CLEARED FOR RELEASE\n")
    for words in ("Withdrawn on 2026-11-28 01:02:03 UTC, because the pipeline run failed.",
                  "They do not reflect the inputs of the run that failed, and they are not cleared for",
                  "do not copy them out of the secure environment",
                  "Snakemake's log of the failed run: .snakemake/log/x.log"):
        assert words in flat, words
    assert all(f"\n  {name}\n" in notice for name in result.files)
    assert max(len(line) for line in notice.splitlines()) <= 100
    message = result.message()
    assert message.startswith(f"This run failed. {len(published)} published output(s) were withdrawn to "
                              f"{folder}/ (see WITHDRAWN.txt there)")
    assert "do not reflect the inputs of this run and are not cleared for release" in message


def test_published_files_takes_each_published_folder_whole_but_not_the_results_folder(in_tmp):
    make(["results/tables/a.csv", "results/tables/b.csv", "results/manifest.json", "results/notes.txt",
          *RESTRICTED])
    found = published_files(["results/tables/a.csv", "results/manifest.json", "results/report.zip"])
    assert [str(p) for p in found] == ["results/manifest.json", "results/tables/a.csv",
                                       "results/tables/b.csv"]


def test_two_failures_in_one_second_get_a_folder_each(in_tmp):
    make(LISTED)
    first = withdraw(LISTED, reason="the pipeline run failed", now=NOW)
    make(LISTED[:2])
    second = withdraw(LISTED, reason="the pipeline run failed", now=NOW)
    assert first.folder.name == "2026-11-28T01-02-03Z" and second.folder.name == "2026-11-28T01-02-03Z-2"
    assert sorted(second.files) == ["tables/primary.csv", "tables/primary.md"]
    assert len(first.files) == len(LISTED)


def test_a_path_outside_the_results_folder_is_refused(in_tmp):
    with pytest.raises(ValueError, match="is not under results/"):
        withdraw(["report.html"], reason="the pipeline run failed", now=NOW)


def test_an_output_that_cannot_be_moved_is_named_for_deletion(in_tmp, monkeypatch):
    make(LISTED)
    real_replace = os.replace

    def replace(source, target):
        if str(source).endswith("manifest.json"):
            raise PermissionError("read-only")
        real_replace(source, target)

    monkeypatch.setattr(publication.os, "replace", replace)
    result = withdraw(LISTED, reason="the pipeline run failed", now=NOW)
    assert result.stuck == ("results/manifest.json",)
    assert "Could not move 1 published output(s); delete them before releasing anything: " \
           "results/manifest.json" in result.message()
    assert "Could not be moved (delete them before releasing anything):\n  results/manifest.json" in \
           (result.folder / NOTICE).read_text()
    assert len(result.files) == len(LISTED) - 1
