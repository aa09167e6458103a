"""The HM Treasury GDP deflator importer (analysis/importers/deflators.py): fixture, rules and corpus."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from analysis.errors import RawDataError
from analysis.importers.deflators import DEFLATOR_COLUMNS, read_hmt_deflators
from tests.formats import hmt as hmt_format

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import" / "hmt"
XLSX = FIXTURES / hmt_format.XLSX_FIXTURE
CSV = FIXTURES / hmt_format.CSV_FIXTURE
CORPUS = Path(__file__).resolve().parent / "corpus" / "import_hmt.yaml"


def grid(path: Path) -> list[list]:
    book = openpyxl.load_workbook(path, data_only=True)
    rows = [list(row) for row in book.active.iter_rows(values_only=True)]
    return [row[: max((i + 1 for i, v in enumerate(row) if v is not None), default=0)] for row in rows]


# ---- the committed fixtures ------------------------------------------------------------------------------


def test_committed_fixtures_are_what_the_writer_makes(tmp_path):
    hmt_format.write_fixtures(tmp_path)
    assert grid(tmp_path / XLSX.name) == grid(XLSX)

    def read(path):
        return pd.read_csv(path, header=None, names=range(10), dtype=str, keep_default_na=False)

    pd.testing.assert_frame_equal(read(tmp_path / CSV.name), read(CSV))


def test_workbook_layout_matches_the_published_one():
    rows = grid(XLSX)
    assert rows[6][1:4] == ["Financial year", "2022-23 = 100", "per cent change on previous year"]
    assert rows[6][7:9] == ["Calendar year", "2022 = 100"]  # the calendar block, from column H
    assert rows[7][1] == "2005-06" and rows[0][0] is None  # column A empty, data from row 8


# ---- rules -----------------------------------------------------------------------------------------------


def test_reads_the_financial_year_series():
    result = read_hmt_deflators(XLSX)
    frame = result.frame
    assert list(frame.columns) == DEFLATOR_COLUMNS
    expected = hmt_format.fixture_deflators()
    assert list(frame["financial_year"]) == list(expected["financial_year"])
    assert frame["gdp_deflator"].to_numpy() == pytest.approx(expected["gdp_deflator"].to_numpy(), abs=1e-9)
    assert frame.loc[frame["financial_year"] == "2022-23", "gdp_deflator"].item() == pytest.approx(100)
    provenance = result.provenance
    assert provenance["vintage"] == "March 2024"
    assert provenance["publisher_base_year"] == provenance["base_year"] == "2022-23"
    assert provenance["years_with_footnote_markers"] == ["2027-28", "2028-29"]
    assert {entry["rule"]: entry["n_rows"] for entry in result.log} == {
        "footnote marker after the year removed": 2
    }


def test_csv_needs_the_vintage_and_matches_the_workbook():
    with pytest.raises(RawDataError, match="its title does not name the release month"):
        read_hmt_deflators(CSV)
    from_csv = read_hmt_deflators(CSV, vintage="march 2024")
    assert from_csv.provenance["vintage"] == "March 2024"
    pd.testing.assert_frame_equal(from_csv.frame, read_hmt_deflators(XLSX).frame)


def test_rebasing():
    result = read_hmt_deflators(XLSX, base_year="2011/12")
    frame = result.frame.set_index("financial_year")["gdp_deflator"]
    original = read_hmt_deflators(XLSX).frame.set_index("financial_year")["gdp_deflator"]
    assert frame["2011-12"] == pytest.approx(100, abs=1e-12)
    assert (frame / original).to_numpy() == pytest.approx(100 / original["2011-12"], rel=1e-12)
    assert result.provenance["base_year"] == "2011-12"
    assert result.provenance["publisher_base_year"] == "2022-23"
    assert result.log[-1]["rule"] == "rebased from 2022-23 = 100 to 2011-12 = 100"


def test_rebasing_to_the_publishers_base_changes_nothing():
    result = read_hmt_deflators(XLSX, base_year="2022-23")
    pd.testing.assert_frame_equal(result.frame, read_hmt_deflators(XLSX).frame)
    assert not any("rebased" in entry["rule"] for entry in result.log)


def test_bad_vintage_argument():
    with pytest.raises(ValueError, match="release month"):
        read_hmt_deflators(CSV, vintage="2024-03")


def test_several_problems_reported_together(tmp_path):
    rows = grid(XLSX)
    rows[9][2] = "n/a"  # 2007-08 index
    rows[12][1] = "2010"  # a calendar year
    path = _save(rows, tmp_path)
    with pytest.raises(RawDataError) as caught:
        read_hmt_deflators(path)
    messages = [problem.message for problem in caught.value.problems]
    assert messages == ["is not a number (2007-08)", "is a calendar year, not a financial year"]


def test_missing_file(tmp_path):
    with pytest.raises(RawDataError, match="GDP_Deflators.xlsx: was not found"):
        read_hmt_deflators(tmp_path / "GDP_Deflators.xlsx")


# ---- the bad-input corpus --------------------------------------------------------------------------------


def _save(rows, folder: Path, name: str = XLSX.name) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "GDP deflators"
    for row in rows:
        sheet.append(row)
    path = folder / name
    book.save(path)
    return path


def _row(rows, year) -> int:
    return next(i for i, row in enumerate(rows) if len(row) > 1 and str(row[1]).split(" ")[0] == str(year))


def set_cell(rows, year, offset, value):
    rows[_row(rows, year)][1 + offset] = value


def index_as_text(rows, year):
    row = rows[_row(rows, year)]
    row[2] = f"{row[2]}"


def set_header(rows, offset, value):
    rows[6][1 + offset] = value


def set_title(rows, text):
    rows[0][1] = text


def append_row(rows, cells):
    rows.append([None, *cells])


def insert_row_after(rows, year, cells):
    rows.insert(_row(rows, year) + 1, [None, *cells] if cells else [])


def delete_year(rows, year):
    del rows[_row(rows, year)]


def duplicate_year(rows, year):
    at = _row(rows, year)
    rows.insert(at + 1, list(rows[at]))


def calendar_only(rows):
    for index, row in enumerate(rows):
        rows[index] = [None, *row[7:]] if len(row) > 7 else [None]


def none(rows):
    pass


OPERATIONS = {
    function.__name__: function
    for function in (
        set_cell,
        index_as_text,
        set_header,
        set_title,
        append_row,
        insert_row_after,
        delete_year,
        duplicate_year,
        calendar_only,
        none,
    )
}
CASES = yaml.safe_load(CORPUS.read_text())


def make_variant(change: dict, folder: Path) -> Path:
    ((operation, arguments),) = change.items()
    rows = grid(XLSX)
    if operation == "rename_to":
        return _save(rows, folder, XLSX.with_suffix(arguments["suffix"]).name)
    OPERATIONS[operation](rows, **(arguments or {}))
    return _save(rows, folder)


def test_corpus_is_well_formed():
    assert len({case["id"] for case in CASES}) == len(CASES)
    for case in CASES:
        ((operation, _),) = case["change"].items()
        assert operation in OPERATIONS or operation == "rename_to", case["id"]
        assert case["expect"] in ("error", "accepted", "warning"), case["id"]
        assert case["expect"] == "accepted" or case.get("messages"), case["id"]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_corpus_case(case, tmp_path):
    path = make_variant(case["change"], tmp_path)
    options = case.get("options") or {}
    if case["expect"] == "error":
        with pytest.raises(RawDataError) as caught:
            read_hmt_deflators(path, **options)
        text = str(caught.value)
        for message in case["messages"]:
            assert message in text, text
        assert str(tmp_path) not in text
        return
    result = read_hmt_deflators(path, **options)
    if case["expect"] == "accepted":
        pd.testing.assert_frame_equal(result.frame, read_hmt_deflators(XLSX, **options).frame)
    else:
        logged = " | ".join(entry["rule"] for entry in result.log)
        for message in case["messages"]:
            assert message in logged, logged
