"""Every cleaning rule of the raw-data contract (data/raw/README.md), and errors beyond the one-change corpus.

The one-change error cases are in tests/corpus/cases.yaml (tests/test_corpus.py); how each value is read,
character by character, and the adversarial (hostile-value) tests are in tests/test_values.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.cleaning import clean_all
from tests.conftest import expect_error, log_count, read_text_table, set_cell, write_text_table
from tests.corpus_cases import insert_lines

# ---- rules that clean ------------------------------------------------------------------------------

def test_valid_tiny_dataset_is_accepted(tiny_raw):
    data = clean_all(tiny_raw)
    assert len(data.centres) == 24
    assert data.survey["k6"].between(0, 24).all()


def test_ids_are_trimmed_and_upper_cased(tiny_raw):
    survey = read_text_table(tiny_raw / "survey.csv")
    original = survey.loc[0, "mother_id"].strip().upper()
    survey.loc[0, "mother_id"] = f"  {original.lower()} "
    survey.loc[1, "centre_id"] = survey.loc[1, "centre_id"].lower()
    write_text_table(survey, tiny_raw / "survey.csv")
    data = clean_all(tiny_raw)
    assert original in set(data.survey["mother_id"])
    assert (data.survey["centre_id"] == data.survey["centre_id"].str.upper()).all()
    assert log_count(data, "id upper-cased", "centre_id") == 1


def test_slash_financial_years_become_dashes(tiny_raw):
    set_cell(tiny_raw, "centre_funding.csv", 0, "financial_year", "2010/11")
    data = clean_all(tiny_raw)
    assert set(data.funding["financial_year"]) <= {"2010-11", "2011-12", "2012-13", "2013-14", "2014-15"}
    assert log_count(data, "financial year 'YYYY/YY' rewritten as 'YYYY-YY'") >= 1


@pytest.mark.parametrize(("text", "pounds"), [("£412,345", 412345.0), ("412345.00", 412345.0),
                                               ("412345", 412345.0), (" £ 1,000.50 ", 1000.5)])
def test_money_strings(tiny_raw, text, pounds):
    set_cell(tiny_raw, "centre_funding.csv", 3, "budget_gbp", text)
    data = clean_all(tiny_raw)
    assert data.funding.loc[3, "budget_gbp"] == pytest.approx(pounds)


def test_blank_budget_is_missing_and_counted(tiny_raw):
    set_cell(tiny_raw, "centre_funding.csv", 3, "budget_gbp", "")
    data = clean_all(tiny_raw)
    assert pd.isna(data.funding.loc[3, "budget_gbp"])
    assert log_count(data, "blank read as missing", "budget_gbp") >= 1


def test_missing_codes_become_missing_and_are_counted(tiny_raw):
    survey = read_text_table(tiny_raw / "survey.csv")
    survey["income_band"] = survey["income_band"].astype(str)
    survey.loc[0, "income_band"] = "-9"
    survey.loc[1, "income_band"] = "-8"
    survey.loc[2, "income_band"] = "-1"
    write_text_table(survey, tiny_raw / "survey.csv")
    data = clean_all(tiny_raw)
    assert data.survey["income_band"].isna().sum() >= 3
    for code in ("-9", "-8", "-1"):
        assert log_count(data, f"missing code {code} read as missing", "income_band") >= 1


def test_exact_duplicate_rows_are_dropped_and_counted(tiny_raw):
    survey = read_text_table(tiny_raw / "survey.csv")
    before = clean_all(tiny_raw)
    write_text_table(pd.concat([survey, survey.iloc[[5, 9]]]), tiny_raw / "survey.csv")
    data = clean_all(tiny_raw)
    assert len(data.survey) == len(before.survey)
    rule = "exact duplicate row dropped"
    assert log_count(data, rule) == log_count(before, rule) + 2


@pytest.mark.parametrize(("column", "value", "why"), [
    ("k6_3", "7", "outside the valid range 1 to 5"),
    ("k6_3", "0", "outside the valid range 1 to 5"),
    ("ghq_b", "5", "outside the valid range 1 to 4"),
    ("k6_3", "often", "not a whole number"),
    ("wave", "4", "outside the valid range 1 to 3"),
    ("wave", "-9", "outside the valid range 1 to 3"),
    ("interview_date", "12/03/2012", "not a date written YYYY-MM-DD"),
    ("mother_age", "thirty", "not a number"),
])
def test_invalid_survey_value_names_file_column_and_row(tiny_raw, column, value, why):
    row = set_cell(tiny_raw, "survey.csv", 7, column, value)
    expect_error(tiny_raw, "survey.csv", f"'{column}'", f"row {row}", why)


@pytest.mark.parametrize("value", ["2011-13", "2011", "11/12", "FY2011"])
def test_malformed_financial_year_is_an_error(tiny_raw, value):
    row = set_cell(tiny_raw, "centre_funding.csv", 1, "financial_year", value)
    expect_error(tiny_raw, "centre_funding.csv", "'financial_year'", f"row {row}", "financial year")


@pytest.mark.parametrize("value", ["E07000123", "E0600012", "W06000001", "e06000001"])
def test_malformed_la_code_is_an_error(tiny_raw, value):
    row = set_cell(tiny_raw, "centres.csv", 1, "la_code", value)
    expect_error(tiny_raw, "centres.csv", "'la_code'", f"row {row}", "local-authority code")


def test_every_problem_in_a_file_is_reported_together(tiny_raw):
    set_cell(tiny_raw, "survey.csv", 1, "k6_1", "9")
    set_cell(tiny_raw, "survey.csv", 2, "ghq_a", "9")
    message = expect_error(tiny_raw, "'k6_1'", "'ghq_a'")
    assert "2 way(s)" in message


# ---- records and spreadsheet rows -------------------------------------------------------------------------
# The csv module counts each file's records; Arrow's reader reads their text (analysis.cleaning.read_raw).
# A message's row is the record's spreadsheet row whatever lies between: blank lines of every kind, and
# quoted values that hold a line break.

def _insert_blank_lines(raw, after_row: int) -> int:
    """Insert one blank line of each kind after a survey data row (0-based): an empty line, spaces, a tab, a
    zero-width space, four commas and a row of empty cells, one per column. Returns how many."""
    n_columns = len(read_text_table(raw / "survey.csv").columns)
    lines = ["", "   ", "\t", "\u200b", ",,,,", "," * (n_columns - 1)]
    insert_lines(raw / "survey.csv", after_row, lines)
    return len(lines)


def test_rows_after_blank_lines_of_every_kind_keep_their_spreadsheet_rows(tiny_raw):
    row = set_cell(tiny_raw, "survey.csv", 45, "k6_3", "7")
    inserted = _insert_blank_lines(tiny_raw, after_row=40)
    expect_error(tiny_raw, "survey.csv", "'k6_3'", f"row {row + inserted}", "outside the valid range 1 to 5")


def test_blank_lines_of_every_kind_are_skipped_and_counted(tiny_raw):
    before = clean_all(tiny_raw)
    inserted = _insert_blank_lines(tiny_raw, after_row=40)
    after = clean_all(tiny_raw)
    assert log_count(after, "blank row skipped") == log_count(before, "blank row skipped") + inserted
    pd.testing.assert_frame_equal(after.survey.drop(columns="source_row"),
                                  before.survey.drop(columns="source_row"))
    moved = before.survey["source_row"] > 42
    assert (after.survey["source_row"] == before.survey["source_row"] + inserted * moved).all()


def test_a_quoted_line_break_inside_a_value_does_not_move_later_rows(tiny_raw):
    set_cell(tiny_raw, "centres.csv", 2, "centre_name", "Gorsegarth Bridge\nChildren's Centre")
    row = set_cell(tiny_raw, "centres.csv", 5, "la_code", "E0600012")
    assert "\"Gorsegarth Bridge\n" in (tiny_raw / "centres.csv").read_text(encoding="utf-8")
    expect_error(tiny_raw, "centres.csv", "'la_code'", f"row {row}", "local-authority code")


def test_text_that_reads_as_missing_elsewhere_stays_text(tiny_raw):
    """Arrow's and pandas' readers take NA, NULL or an empty field for a missing value unless told not to:
    here every cell stays text, and only the contract's rules say what is missing."""
    names = ["NA", "NULL", "nan", "N/A", "#N/A", "None"]
    for row, name in enumerate(names):
        set_cell(tiny_raw, "centres.csv", row, "centre_name", name)
    centres = clean_all(tiny_raw).centres
    assert centres["centre_name"].head(len(names)).tolist() == names


# ---- restricted data: raw files are only read ------------------------------------------------------------

OPENED: list[tuple[str, str]] = []
RECORDING = {"on": False}


def _record_opens(event, args):
    if RECORDING["on"] and event == "open" and isinstance(args[0], str | Path):
        OPENED.append((str(args[0]), str(args[1])))


def test_raw_files_are_opened_read_only(tiny_raw):
    """Python's audit hook sees every open(): the cleaning and provenance code open raw files to read only."""
    from analysis.provenance import sha256_file

    sys.addaudithook(_record_opens)  # hooks cannot be removed; this one records only while asked to
    RECORDING["on"] = True
    try:
        clean_all(tiny_raw)
        for path in tiny_raw.iterdir():
            sha256_file(path)
    finally:
        RECORDING["on"] = False
    raw = [(path, mode) for path, mode in OPENED if path.startswith(str(tiny_raw))]
    assert {Path(p).name for p, _ in raw} >= {"centres.csv", "centre_funding.csv", "deflators.csv",
                                              "survey.csv"}
    assert all(mode in ("r", "rb") for _, mode in raw), raw
