"""The s251 importer (analysis/importers/s251.py): its fixtures, rules, boundary rule and bad-input corpus."""

from __future__ import annotations

import csv
import re
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from analysis.contract import LA_CODE_PATTERN
from analysis.errors import PlanError, RawDataError
from analysis.importers.s251 import (
    DESCRIPTIONS,
    LINES,
    MEASURES,
    _wording,
    financial_year_from_period,
    load_la_codes,
    read_amount,
)
from analysis.importers.s251 import read_s251 as read_s251_as_published
from tests.formats.s251 import (
    FIXTURE_FILES,
    FIXTURES,
    fixture_frame,
    write_fixtures,
    write_s251_ees_csv,
    write_s251_workbook,
)


def read_s251(paths, **options):
    """Most tests here check the boundary rule, so they read under today's codes (geography: current)."""
    return read_s251_as_published(paths, **{"geography": "current", **options})


CORPUS = Path(__file__).resolve().parent / "corpus" / "import_s251.yaml"
BOTH_YEARS = ["2012-13", "2013-14"]
FILES = {"ees": FIXTURE_FILES["ees"], "pounds": FIXTURE_FILES["workbook_pounds"],
         "thousands": FIXTURE_FILES["workbook_thousands"]}
FILE_YEARS = {"ees": BOTH_YEARS, "pounds": ["2013-14"], "thousands": ["2012-13"]}

# What the fixtures hold, on current geography (see tests/fixtures/import/s251/SOURCE.md).
EXPECTED = {
    ("E09000007", "2012-13"): "4141589", ("E09000007", "2013-14"): "3924019.11",  # Camden
    ("E08000025", "2012-13"): "29838572", ("E08000025", "2013-14"): "28100000",  # Birmingham
    ("E06000060", "2012-13"): "1702792", ("E06000060", "2013-14"): "1650000.50",  # Buckinghamshire, new code
    # Bournemouth and Poole merged into BCP with part of the divided Dorset; Northamptonshire was divided.
    ("E06000058", "2012-13"): "", ("E06000058", "2013-14"): "",
    ("E06000061", "2012-13"): "", ("E06000061", "2013-14"): "",
    ("E06000062", "2012-13"): "", ("E06000062", "2013-14"): "",
}


def _as_dict(frame: pd.DataFrame) -> dict:
    return {(r.la_code, r.financial_year): r.spend_gbp for r in frame.itertuples()}


def _rules(imported) -> set[str]:
    return {entry["rule"] for entry in imported.log}


# ---- the lookup ------------------------------------------------------------------------------------------

def test_lookup_covers_every_upper_tier_la_with_its_history():
    codes = load_la_codes()
    assert list(codes.columns) == ["la_number", "la_name", "gss_code", "first_year", "last_year",
                                   "successor_gss"]
    current = codes[codes["successor_gss"] == ""]
    assert len(current) == 153  # the English upper-tier LAs from April 2023, the Isles of Scilly included
    assert current["gss_code"].str.match(LA_CODE_PATTERN).all()
    assert current["la_number"].is_unique and current["gss_code"].is_unique
    assert codes.loc[codes["gss_code"] != "", "gss_code"].is_unique
    for successors in codes.loc[codes["successor_gss"] != "", "successor_gss"]:
        for code in successors.split(";"):
            assert code in set(codes["gss_code"]), code
    split = codes.set_index("la_number")["successor_gss"]
    assert split["820"] == "E06000055;E06000056" and split["875"] == "E06000049;E06000050"
    assert split["928"] == "E06000061;E06000062" and split["909"] == "E06000063;E06000064"


# ---- the fixtures ----------------------------------------------------------------------------------------

def test_committed_fixtures_are_what_the_writers_make_now(tmp_path):
    write_fixtures(tmp_path)
    for name in FIXTURE_FILES.values():
        committed, fresh = FIXTURES / name, tmp_path / name
        if name.endswith(".csv"):
            pd.testing.assert_frame_equal(pd.read_csv(committed, dtype=str), pd.read_csv(fresh, dtype=str))
        else:
            for a, b in zip(openpyxl.load_workbook(committed).worksheets,
                            openpyxl.load_workbook(fresh).worksheets, strict=True):
                assert a.title == b.title
                assert list(a.iter_rows(values_only=True)) == list(b.iter_rows(values_only=True))


def test_ees_header_is_the_published_one():
    with open(FIXTURES / FILES["ees"], newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    # As in DfE's s251_childrens_young_peoples_services_la_regional_national file (see SOURCE.md).
    assert header[:12] == ["time_period", "time_identifier", "geographic_level", "country_name",
                           "country_code", "region_name", "region_code", "la_name", "old_la_code",
                           "new_la_code", "category_of_expenditure", "description_of_expenditure"]
    assert header[12:19] == list(MEASURES)


@pytest.mark.parametrize("which", ["ees", "pounds", "thousands"])
def test_each_fixture_reads_to_the_expected_spend(which):
    imported = read_s251([FIXTURES / FILES[which]])
    assert list(imported.frame.columns) == ["la_code", "financial_year", "spend_gbp"]
    expected = {k: v for k, v in EXPECTED.items() if k[1] in FILE_YEARS[which]}
    assert _as_dict(imported.frame) == expected


def test_thousands_are_converted_to_pounds_and_recorded():
    imported = read_s251([FIXTURES / FILES["thousands"]])
    assert imported.provenance["units"] == {FILES["thousands"]: "thousands of pounds"}
    assert "thousands of pounds multiplied by 1,000 (pounds)" in _rules(imported)
    camden = float(_as_dict(imported.frame)[("E09000007", "2012-13")])
    assert camden == pytest.approx(4_141_589, abs=0.005)


def test_workbook_money_text_and_markers_are_counted():
    imported = read_s251([FIXTURES / FILES["pounds"]])
    assert imported.provenance["units"] == {FILES["pounds"]: "pounds"}
    log = {entry["rule"]: entry["n_rows"] for entry in imported.log}
    assert log["money string cleaned (£ or thousands commas removed)"] == 5
    assert log["suppression or not-applicable marker (x, z, c) or blank read as not reported"] == 1  # Poole
    assert log["footnote rows dropped"] == 3
    assert log["England, region and total rows dropped (LA rows only)"] == 5


def test_workbook_and_ees_give_the_same_spend():
    ees = read_s251([FIXTURES / FILES["ees"]])
    workbooks = read_s251([FIXTURES / FILES["thousands"], FIXTURES / FILES["pounds"]], years=BOTH_YEARS)
    assert _as_dict(ees.frame) == _as_dict(workbooks.frame)


@pytest.mark.parametrize("line", LINES)
def test_every_line_can_be_chosen_and_the_total_is_the_sum(line):
    by_line = {ln: read_s251([FIXTURES / FILES["ees"]], line=ln) for ln in LINES}
    chosen = _as_dict(by_line[line].frame)
    assert chosen.keys() == EXPECTED.keys()
    for key in ("E09000007", "2013-14"), ("E08000025", "2012-13"):
        parts = sum(Decimal(_as_dict(by_line[ln].frame)[key]) for ln in LINES[:4])
        assert Decimal(_as_dict(by_line["3.0.5"].frame)[key]) == parts


def test_measure_is_chosen_by_its_ees_name():
    gross = _as_dict(read_s251([FIXTURES / FILES["ees"]], measure="total_expenditure").frame)
    net = _as_dict(read_s251([FIXTURES / FILES["ees"]]).frame)
    assert float(gross[("E09000007", "2012-13")]) > float(net[("E09000007", "2012-13")])


def test_bad_arguments_are_plan_errors():
    with pytest.raises(PlanError, match="not one of the children's-centre lines"):
        read_s251([FIXTURES / FILES["ees"]], line="3.0.6")
    with pytest.raises(PlanError, match="measure 'net_revenue_expenditure'"):
        read_s251([FIXTURES / FILES["ees"]], measure="net_revenue_expenditure")
    with pytest.raises(PlanError, match="'2012/13' is not a financial year"):
        read_s251([FIXTURES / FILES["ees"]], years=["2012/13"])


# ---- the rules, one by one -------------------------------------------------------------------------------

@pytest.mark.parametrize(("cell", "thousands", "pounds"), [
    ("412345", False, "412345"), ("£412,345", False, "412345"), ("1,234,567.89", False, "1234567.89"),
    (412345, False, "412345"), (3138033.41, False, "3138033.41"), (4141.589, True, "4141589"),
    ("0", False, "0"), (1.5, True, "1500"),
])
def test_amounts_read(cell, thousands, pounds):
    amount = read_amount(cell, thousands=thousands)
    assert amount.problem is None and amount.pounds == Decimal(pounds)


@pytest.mark.parametrize(("cell", "message"), [
    ("-5000", "is negative"), ("£-5,000", "is negative"), ("(5,000)", "in brackets"),
    ("398,12", "decimal comma"),
    ("398.123", "more than two decimal places"), ("1e6", "not an amount"), ("$5000", "not an amount"),
    ("-", "nil or negligible"), ("low", "not an amount"), (float("nan"), "not a finite number"),
    ("1000000000000", "£1,000,000,000,000 or more"),
])
def test_amounts_refused(cell, message):
    assert message in read_amount(cell).problem


@pytest.mark.parametrize("marker", ["x", "z", "c", "X", "", None])
def test_markers_are_not_reported(marker):
    amount = read_amount(marker)
    assert amount.pounds is None and amount.problem is None and amount.marker


def test_published_line_wordings_are_recognised():
    published = {  # as in the DfE files quoted in data/import/README.md
        "3.0.1 Spend on individual Sure Start Childrens Centres": "3.0.1",
        "1 Spend by individual Sure Start Children's Centres ": "3.0.1",
        "Spend on local authority provided or commissioned area-wide services": "3.0.2",
        "2 Spend on local authority provided or commissioned area-wide services delivered through Sure Start "
        "Children\u2019s Centres": "3.0.2",
        "3 Spend on local authority management costs relating to sure Start Children's Centres": "3.0.3",
        "3 Other early years funding": "3.0.4",
        "5 Total Sure Start Children's Centres": "3.0.5",
        "3.0.5 Total Sure Start childrens centres and other spend on children under 5": "3.0.5",
    }
    for description, line in published.items():
        assert DESCRIPTIONS[_wording(description)] == line, description
    assert _wording("11Short breaks (respite) for looked after disabled children").startswith("short breaks")


def test_financial_year_from_time_period():
    assert financial_year_from_period("201112") == "2011-12"
    assert financial_year_from_period("199900") == "1999-00"
    assert financial_year_from_period("201113") is None and financial_year_from_period("2011-12") is None


def test_made_up_gss_codes_are_taken_from_the_ees_file(tmp_path):
    frame = pd.DataFrame({"la_code": ["E10000717", "E10000717", "E09000007", "E09000007"],
                          "financial_year": ["2011-12", "2012-13", "2011-12", "2012-13"],
                          "spend_gbp": ["1000", "", "2500.25", "0"]})
    path = tmp_path / "s251.csv"
    write_s251_ees_csv(frame, path)
    imported = read_s251([path], years=["2011-12", "2012-13"])
    assert _as_dict(imported.frame) == {("E09000007", "2011-12"): "2500.25", ("E09000007", "2012-13"): "0",
                                        ("E10000717", "2011-12"): "1000", ("E10000717", "2012-13"): ""}
    assert "GSS code not in data/import/la_codes.csv taken from the file" in _rules(imported)


def test_old_code_beside_its_successor_is_refused(tmp_path):
    frame = pd.DataFrame({"la_code": ["E10000002", "E06000060"], "financial_year": ["2020-21", "2020-21"],
                          "spend_gbp": ["10", "20"], "la_number": ["825", "825"]})
    path = tmp_path / "s251.csv"
    write_s251_ees_csv(frame, path)
    with pytest.raises(RawDataError, match="beside its successor E06000060"):
        read_s251([path])


def test_division_before_and_after(tmp_path):
    """Northamptonshire: blank for both successors before 2021-22, their own spend from then on."""
    frame = pd.DataFrame({"la_code": ["E10000021", "E06000061", "E06000062"],
                          "financial_year": ["2020-21", "2021-22", "2021-22"],
                          "spend_gbp": ["900", "500", "300"]})
    path = tmp_path / "s251.csv"
    write_s251_ees_csv(frame, path)
    spend = _as_dict(read_s251([path]).frame)
    assert spend == {("E06000061", "2020-21"): "", ("E06000062", "2020-21"): "",
                     ("E06000061", "2021-22"): "500", ("E06000062", "2021-22"): "300"}


def test_as_published_keeps_each_year_under_its_own_code(tmp_path):
    """The default geography: Northamptonshire before its division and Gateshead's old code stay as they
    were that year, so that they meet a survey of the same years."""
    frame = pd.DataFrame({"la_code": ["E10000021", "E06000061", "E06000062"],
                          "financial_year": ["2020-21", "2021-22", "2021-22"],
                          "spend_gbp": ["900", "500", "300"]})
    path = tmp_path / "s251.csv"
    write_s251_ees_csv(frame, path)
    imported = read_s251_as_published([path])
    assert _as_dict(imported.frame) == {("E10000021", "2020-21"): "900", ("E06000061", "2021-22"): "500",
                                        ("E06000062", "2021-22"): "300"}
    assert imported.provenance["geography"] == "as_published"
    assert imported.provenance["replaced_within_files"] == ["E10000021"]
    assert any("replaced within the files' years" in entry["rule"] and entry["n_rows"] == 1
               for entry in imported.log)
    with pytest.raises(PlanError, match="geography 'today'"):
        read_s251_as_published([path], geography="today")


def test_gateshead_old_code_is_its_new_code(tmp_path):
    frame = pd.DataFrame({"la_code": ["E08000037"], "financial_year": ["2012-13"], "spend_gbp": ["1234"],
                          "la_number": ["390"]})
    path = tmp_path / "s251_2012-13.xlsx"
    write_s251_workbook(frame, "2012-13", path)
    assert _as_dict(read_s251([path]).frame) == {("E08000037", "2012-13"): "1234"}


def test_workbook_year_from_file_name_when_title_has_none(tmp_path):
    path = tmp_path / "s251_2012-13.xlsx"
    write_s251_workbook(fixture_frame(), "2012-13", path)
    book = openpyxl.load_workbook(path)
    book["Table A1"]["A1"] = "Local authority expenditure by line (£)"
    book.save(path)
    assert read_s251([path]).provenance["financial_years"] == ["2012-13"]


# ---- the bad-input corpus --------------------------------------------------------------------------------

def _load_corpus() -> list[dict]:
    return yaml.safe_load(CORPUS.read_text())


def _grid_of(path: Path):
    """(rows as lists, header index, writer) of a fixture: the CSV records, or the workbook's data sheet."""
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))

        def save(rows, target):
            with open(target, "w", newline="", encoding="utf-8") as handle:
                csv.writer(handle, lineterminator="\n").writerows(rows)
        return rows, 0, save
    book = openpyxl.load_workbook(path)
    sheet = book["Table A1"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(rows) if r and r[0] == "LA")

    def save(rows, target):
        sheet.delete_rows(1, sheet.max_row)
        for r in rows:
            sheet.append(list(r))
        book.save(target)
    return rows, header, save


def _matches(row, header, where) -> bool:
    def shown(value):
        return "" if value is None else str(int(value)) if isinstance(value, float) and value.is_integer() \
            else str(value)
    return all(header.index(k) < len(row) and shown(row[header.index(k)]) == str(v) for k, v in where.items())


def _apply(change: dict, folder: Path) -> list[Path]:
    """Apply one corpus change to copies of the fixtures in `folder`; return the files to read."""
    (operation, arguments), = change.items()
    which = arguments.get("file", "ees")
    path = folder / FILES[which]
    paths = [path]
    if operation == "none":
        return paths
    if operation == "also_read":
        return [folder / FILES["ees"], path]
    if operation == "rename_file":
        target = folder / arguments["to"]
        path.rename(target)
        return [target]
    if operation == "empty_file":
        path.write_bytes(b"")
        return paths
    rows, h, save = _grid_of(path)
    header = list(rows[h])
    data = range(h + 1, len(rows))
    if operation == "rename_column" or operation == "set_heading":
        old = arguments.get("column", arguments.get("heading"))
        rows[h][header.index(old)] = arguments["to"]
    elif operation == "drop_column":
        i = header.index(arguments["column"])
        rows = [r[:i] + r[i + 1:] for r in rows]
    elif operation == "add_column":
        rows = [r + [arguments["column"] if k == h else arguments["value"]] for k, r in enumerate(rows)]
    elif operation == "append_row":
        cells = list(arguments["cells"])
        rows.append(cells + [""] * (len(header) - len(cells)) if which == "ees" else cells)
    elif operation == "insert_row":
        k = next(k for k in data if _matches(rows[k], header, arguments["before"]))
        rows.insert(k, [None if c == "" else c for c in arguments["cells"]])
    elif operation == "duplicate_row":
        k = next(k for k in data if _matches(rows[k], header, arguments["where"]))
        rows.insert(k + 1, list(rows[k]))
    elif operation == "drop_rows":
        rows = [r for k, r in enumerate(rows) if k <= h or not _matches(r, header, arguments["where"])]
    elif operation == "set_value":
        hits = [k for k in data if _matches(rows[k], header, arguments["where"])]
        for k in hits if arguments.get("all") else hits[:1]:
            rows[k][header.index(arguments["column"])] = arguments["value"]
    elif operation == "set_title":
        rows[0] = [arguments["text"]]
    elif operation == "cut_row":  # a row that lost its last fields (a truncated download)
        k = next(k for k in data if _matches(rows[k], header, arguments["where"]))
        rows[k] = rows[k][:arguments["keep"]]
    else:
        raise ValueError(f"unknown corpus change {operation}")
    save(rows, path)
    return paths


CASES = _load_corpus()


def test_corpus_covers_what_the_issue_asks():
    ids = {case["id"] for case in CASES}
    assert {"ees_renamed_column", "workbook_unrecognised_row_below_table", "ees_unknown_line",
            "ees_year_missing_for_one_la", "workbook_saved_as_xls", "ees_negative_net"} <= ids
    assert len(ids) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_corpus_case(case, tmp_path):
    for name in FILES.values():
        shutil.copy(FIXTURES / name, tmp_path / name)
    (operation, arguments), = case["change"].items()
    which = arguments.get("file", "ees")
    years = case.get("years", BOTH_YEARS if operation == "also_read" else FILE_YEARS[which])
    baseline = read_s251([FIXTURES / FILES[which]], years=FILE_YEARS[which])
    paths = _apply(case["change"], tmp_path)
    if case["expect"] == "error":
        with pytest.raises(RawDataError) as raised:
            read_s251(paths, years=years)
        text = str(raised.value)
        for message in case.get("messages", []):
            assert message in text, text
        # No amount is quoted (the only six-digit number allowed is the time-period example).
        assert not re.search(r"\b\d{6,}\b", text.replace("201112 for 2011-12", "")), text
        return
    imported = read_s251(paths, years=years)
    if case["expect"] == "accepted":
        assert _as_dict(imported.frame) == _as_dict(baseline.frame)
    for message in case.get("messages", []):
        assert any(message in rule for rule in _rules(imported)), _rules(imported)


def workbook_titled(folder: Path, unit: str) -> Path:
    """The fixture's 2012-13 workbook (values in thousands) with its unit written as `unit` in the title."""
    path = folder / "s251_2012-13.xlsx"
    write_s251_workbook(fixture_frame(), "2012-13", path, unit="thousands")
    book = openpyxl.load_workbook(path)
    book["Table A1"]["A1"] = f"Local authority expenditure by line, 2012-13 ({unit})"
    book.save(path)
    return path


@pytest.mark.parametrize("unit", ["£ thousand", "£000s", "£'000s", "£k", "thousand pounds", "Thousands (£)",
                                  "£ in thousands", "(£'000)"])
def test_every_way_of_writing_thousands_is_read_as_thousands(tmp_path, unit):
    """A title in thousands written another way must never be read as pounds (a thousandfold error)."""
    path = workbook_titled(tmp_path, unit)
    as_written = {key: Decimal(value) for key, value in _as_dict(read_s251([path]).frame).items() if value}
    # the committed fixture's title says "£ thousand": the same cells, the same pounds
    in_thousands = {key: Decimal(value) for key, value in _as_dict(read_s251(
        [FIXTURES / FILES["thousands"]]).frame).items() if value and key[1] == "2012-13"}
    assert as_written and set(as_written) == set(in_thousands)
    assert as_written == in_thousands


@pytest.mark.parametrize("unit", ["£m", "£ million", "£bn", "thousands of thousands (£m)"])
def test_a_unit_that_is_not_read_is_refused(tmp_path, unit):
    path = workbook_titled(tmp_path, unit)
    with pytest.raises(RawDataError, match="state a unit that is not read"):
        read_s251([path])
