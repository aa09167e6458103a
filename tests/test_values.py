"""How each raw value is read, character by character (data/raw/README.md, "Cleaning rules").

Every accepted spelling is checked against the value it must give; every refused spelling against its message.
The last tests are adversarial: hostile values in every column of every file, hostile column names and broken
bytes must end in cleaned data or a RawDataError, never another exception, and never echo a raw control
character or a restricted value.
"""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import contract
from analysis.cleaning import clean_all
from analysis.errors import CONTROL_NAMES, RawDataError, character_label
from analysis.exposure import ExposurePlan, exposure_by_centre
from tests.conftest import expect_error, log_count, set_cell
from tests.corpus_cases import _read, _write

FRAMES = {"centres.csv": "centres", "centre_funding.csv": "funding", "deflators.csv": "deflators",
          "survey.csv": "survey"}



def cleaned_cell(raw_dir, file, row, column):
    data = clean_all(raw_dir)
    return data, getattr(data, FRAMES[file]).loc[row, column]


def in_other_digits(text: str, zero: int) -> str:
    """`text` with its digits 0-9 written in another script (zero: code point of that script's 0)."""
    return "".join(chr(zero + int(c)) if c.isascii() and c.isdigit() else c for c in text)


ARABIC_INDIC, FULL_WIDTH, DEVANAGARI, MATH_BOLD = 0x0660, 0xFF10, 0x0966, 0x1D7CE


# ---- codes: whole numbers (K6 item k6_3, 1 to 5; row 7 answers it) ----------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), (" 3 ", 3), ("3.0", 3), ("3.", 3), ("3.000", 3), ("+3", 3), ("03", 3),
    ("\u0663", 3), ("\uff13", 3), ("\u096f", None), ("\U0001d7d1", 3), ("\u200b3", 3), ("3\u200e", 3),
    ("\u00a03\u202f", 3), ("\t3\r\n", 3), ("\ufeff3", 3),
])
def test_code_spellings_are_read_as_their_value(tiny_raw, text, value):
    if value is None:  # Devanagari nine: a digit, but outside 1-5
        set_cell(tiny_raw, "survey.csv", 7, "k6_3", text)
        expect_error(tiny_raw, "'k6_3'", "is outside the valid range 1 to 5")
        return
    set_cell(tiny_raw, "survey.csv", 7, "k6_3", text)
    _, cell = cleaned_cell(tiny_raw, "survey.csv", 7, "k6_3")
    assert cell == value


def test_code_missing_codes_are_read_by_their_value(tiny_raw):
    set_cell(tiny_raw, "survey.csv", 7, "k6_3", "-9.0")
    set_cell(tiny_raw, "survey.csv", 8, "k6_3", "-\u0668")  # -8 in Arabic-Indic digits
    data = clean_all(tiny_raw)
    assert data.survey.loc[[7, 8], "k6_3"].isna().all()
    assert log_count(data, "missing code -9 read as missing", "k6_3") >= 1
    assert log_count(data, "missing code -8 read as missing", "k6_3") >= 1
    assert log_count(data, "digits other than 0-9 read as their values", "k6_3") == 1


@pytest.mark.parametrize(("text", "why"), [
    ("2.5", "is not a whole number: codes have no fractional part"),
    ("3.0000000001", "is not a whole number: codes have no fractional part"),
    ("3,0", "uses a comma as the decimal mark or between thousands"),
    ("3e0", "is written in scientific notation"),
    ("1e400", "is written in scientific notation"),
    ("inf", "is not a finite number"), ("-Infinity", "is not a finite number"),
    ("NaN", "is not a finite number"),
    ("0x3", "is not a whole number (missing codes -9, -8, -1 are allowed)"),
    ("three", "is not a whole number"), ("3 0", "is not a whole number"),
    ("\u00bd", "contains U+00BD VULGAR FRACTION ONE HALF, which looks like a digit but is not one"),
    ("\u00b3", "contains U+00B3 SUPERSCRIPT THREE, which looks like a digit but is not one"),
    ("\u2212" + "3", "contains a character that is not read in numbers (for example U+2212 MINUS SIGN)"),
    ("3\x00", "contains the control character U+0000 NULL, which cannot be read safely"),
    ("3\u00a00", "contains U+00A0 NO-BREAK SPACE, a space or line break that is not allowed"),
    ("\ue003", "contains U+E003 unnamed character, which is not a printable character"),
    ("1" * 400, "is outside the valid range 1 to 5"),
])
def test_code_spellings_that_are_refused(tiny_raw, text, why):
    row = set_cell(tiny_raw, "survey.csv", 7, "k6_3", text)
    expect_error(tiny_raw, f"survey.csv, column 'k6_3', row {row}: ", why)


@pytest.mark.parametrize(("file", "column", "value"), [
    ("survey.csv", "wave", "2.5"), ("survey.csv", "wave", "inf"), ("survey.csv", "wave", "1e400"),
    ("survey.csv", "mother_education", "2.5"), ("survey.csv", "centre_visits_month", "1e2"),
    ("centres.csv", "idaci_decile", "inf"), ("centres.csv", "phase", "1.5"),
    ("centre_funding.csv", "services_offered", "2.5"), ("centre_funding.csv", "services_offered", "-inf"),
])
def test_no_faulty_code_is_ever_cast(tiny_raw, file, column, value):
    """These crashed with TypeError or OverflowError tracebacks: the fault was recorded, then cast."""
    row = set_cell(tiny_raw, file, 3, column, value)
    expect_error(tiny_raw, f"{file}, column '{column}', row {row}:")


# ---- numbers (mother_age, 12 to 65) ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("30", 30.0), ("30.5", 30.5), ("+30", 30.0), ("30.", 30.0), ("030.50", 30.5),
    (in_other_digits("30.5", ARABIC_INDIC), 30.5), (in_other_digits("41", FULL_WIDTH), 41.0),
])
def test_number_spellings_are_read_as_their_value(tiny_raw, text, value):
    set_cell(tiny_raw, "survey.csv", 7, "mother_age", text)
    _, cell = cleaned_cell(tiny_raw, "survey.csv", 7, "mother_age")
    assert cell == value


def test_minus_zero_is_zero(tiny_raw):
    set_cell(tiny_raw, "survey.csv", 7, "child_age_months", "-0")
    _, cell = cleaned_cell(tiny_raw, "survey.csv", 7, "child_age_months")
    assert cell == 0 and not np.signbit(float(cell))


@pytest.mark.parametrize(("text", "why"), [
    ("3.05E+01", "is written in scientific notation (as in 1.2E+05)"),
    ("30,5", "uses a comma as the decimal mark or between thousands (as in 2,5 or 1,000)"),
    ("Infinity", "is not a finite number (such as Infinity or NaN): if there is no value, leave the cell "
                 "blank"),
    ("nan", "is not a finite number"),
    ("thirty", "is not a number"), ("30 years", "is not a number"),
    ("1" * 400, "is outside the valid range 12 to 65"),
    ("3\u00b9", "contains U+00B9 SUPERSCRIPT ONE, which looks like a digit but is not one"),
    ("\u0663\u066b\u0665", "contains a character that is not read in numbers (for example U+066B ARABIC "
                           "DECIMAL SEPARATOR)"),
])
def test_number_spellings_that_are_refused(tiny_raw, text, why):
    row = set_cell(tiny_raw, "survey.csv", 7, "mother_age", text)
    expect_error(tiny_raw, f"survey.csv, column 'mother_age', row {row}: ", why)


# ---- money (budget_gbp) ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "pounds"), [
    ("£1,234.50", 1234.5), ("1234.5", 1234.5), ("398,123", 398123.0), ("398123", 398123.0),
    ("£ 398 123", 398123.0), ("398\u202f123.50", 398123.5), ("1\u00a0000\u00a0000", 1_000_000.0),
    (in_other_digits("398123", ARABIC_INDIC), 398123.0),
    (in_other_digits("£398,123.50", FULL_WIDTH), 398123.5),
    (in_other_digits("412345", DEVANAGARI), 412345.0), ("0", 0.0), ("£0.5", 0.5),
    ("\u200b£412,345\u200b", 412345.0), ("999999999999.99", 999_999_999_999.99),
])
def test_money_spellings_are_read_as_their_value(tiny_raw, text, pounds):
    set_cell(tiny_raw, "centre_funding.csv", 3, "budget_gbp", text)
    _, cell = cleaned_cell(tiny_raw, "centre_funding.csv", 3, "budget_gbp")
    assert cell == pounds


@pytest.mark.parametrize(("text", "why"), [
    ("398123,50", "looks like a decimal comma"), ("398,12", "looks like a decimal comma"),
    ("1,23,456", "looks like a decimal comma"), ("398 123,50", "looks like a decimal comma"),
    ("398.123", "pounds have at most two decimal places (pence); if the dot separates thousands"),
    ("1,234.567", "pounds have at most two decimal places (pence)"),
    ("1.234.567", "has more than one dot"), ("1.234,56", "is written in the European style"),
    ("$5000", "has a currency sign other than £"), ("€5.000", "has a currency sign other than £"),
    ("-5000", "is a negative budget"), ("-£5,000", "is a negative budget"),
    ("£-5,000", "is a negative budget"), ("£ -5 000", "is a negative budget"),
    ("(5,000)", "is in brackets, as accountants write a negative amount"),
    ("1 23", "has spaces inside the amount that do not separate groups of three digits"),
    ("1e6", "is not an amount of money"), ("Infinity", "is not an amount of money"),
    ("about 400k", "is not an amount of money"), ("398'123", "is not an amount of money"),
    ("5000£", "contains a character that is not read in amounts of money (for example U+00A3 POUND SIGN)"),
    ("\u22125000", "not read in amounts of money (for example U+2212 MINUS SIGN)"),
    ("£1,000,000,000,000", "is £1,000,000,000,000 or more"), ("9" * 400, "is £1,000,000,000,000 or more"),
    ("412\x1b345", "contains the control character U+001B ESCAPE"),
    ("412\u00b2", "contains U+00B2 SUPERSCRIPT TWO, which looks like a digit but is not one"),
])
def test_money_spellings_that_are_refused(tiny_raw, text, why):
    row = set_cell(tiny_raw, "centre_funding.csv", 3, "budget_gbp", text)
    expect_error(tiny_raw, f"centre_funding.csv, column 'budget_gbp', row {row}: ", why)


def test_money_cleaning_is_counted(tiny_raw):
    records = _read(tiny_raw / "centre_funding.csv")
    for record in records[1:]:
        record[2] = "412345"
    records[4][2] = in_other_digits("412345", ARABIC_INDIC)
    records[5][2] = "412\u00a0345"
    records[6][2] = "£412,345"
    _write(tiny_raw / "centre_funding.csv", records)
    data = clean_all(tiny_raw)
    assert log_count(data, "digits other than 0-9 read as their values", "budget_gbp") == 1
    assert log_count(data, "money string cleaned (£, commas or spaces removed)", "budget_gbp") == 2
    assert (data.funding["budget_gbp"] == 412345).all()


# ---- GDP deflators ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "why"), [
    ("Infinity", "is not a finite number"), ("NaN", "is not a finite number"),
    ("1e308", "is written in scientific notation"), ("0.0001", "is outside the valid range 1 to 1000"),
    ("0", "is outside the valid range 1 to 1000"), ("1000.5", "is outside the valid range 1 to 1000"),
    ("-100", "is outside the valid range 1 to 1000"), ("101,6", "uses a comma"),
])
def test_deflator_must_be_a_finite_index_in_plain_notation(tiny_raw, text, why):
    row = set_cell(tiny_raw, "deflators.csv", 2, "gdp_deflator", text)
    expect_error(tiny_raw, f"deflators.csv, column 'gdp_deflator', row {row}: ", why)


def test_deflator_bounds_are_in_the_contract():
    column = next(c for c in contract.DEFLATORS.columns if c.name == "gdp_deflator")
    assert (column.low, column.high) == (contract.DEFLATOR_LOW, contract.DEFLATOR_HIGH) == (1, 1000)


@pytest.mark.parametrize("value", ["155.3", "50.7", "1016"])
def test_deflator_far_out_of_step_with_its_neighbours_is_refused(tiny_raw, value):
    """2013-14 (row 5) next to 2012-13's 101.6: a likely typing error (1016 is also out of range)."""
    set_cell(tiny_raw, "deflators.csv", 3, "gdp_deflator", value)
    if value == "1016":
        expect_error(tiny_raw, "is outside the valid range 1 to 1000")
        return
    message = expect_error(tiny_raw, "deflators.csv, column 'gdp_deflator', rows ",
                           "changes by more than 50% from 2012-13 to 2013-14")
    assert value not in message


def test_deflator_change_over_a_gap_is_limited_per_year(tiny_raw):
    funding = _read(tiny_raw / "centre_funding.csv")
    _write(tiny_raw / "centre_funding.csv", [r for r in funding if r[1] not in ("2012-13", "2012/13")])
    records = _read(tiny_raw / "deflators.csv")
    years = [r[0] for r in records]
    del records[years.index("2012-13")]
    records[years.index("2013-14") - 1][1] = "200"  # +100% over two years: within 50% a year
    records[years.index("2014-15") - 1][1] = "204"
    _write(tiny_raw / "deflators.csv", records)
    clean_all(tiny_raw)
    records[years.index("2013-14") - 1][1] = "230"  # +130% over two years: more than 50% a year
    records[years.index("2014-15") - 1][1] = "234"
    _write(tiny_raw / "deflators.csv", records)
    expect_error(tiny_raw, "changes by more than 50% a year from 2011-12 to 2013-14")


def test_deflator_within_step_is_accepted(tiny_raw):
    set_cell(tiny_raw, "deflators.csv", 3, "gdp_deflator", "140")
    _, cell = cleaned_cell(tiny_raw, "deflators.csv", 3, "gdp_deflator")
    assert cell == 140.0


# ---- identifiers, names, codes of words, years, dates ----------------------------------------------------

def mother(raw_dir, row) -> str:
    return _read(raw_dir / "survey.csv")[row + 1][0].strip().upper()


@pytest.mark.parametrize(("spell", "rule"), [
    (lambda m: m + "\u200b", "invisible formatting characters removed"),
    (lambda m: "\u2060" + m + "\ufeff", "invisible formatting characters removed"),
    (lambda m: "\u200f" + m + "\u202c", "invisible formatting characters removed"),
    (lambda m: m[:2] + "\u00ad" + m[2:], "invisible formatting characters removed"),
    (lambda m: "\u00a0" + m + "\u3000", "surrounding white space removed"),
    (lambda m: m.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}),
     "Unicode compatibility characters normalised (NFKC)"),
    (lambda m: in_other_digits(m, ARABIC_INDIC), "digits other than 0-9 read as their values"),
    (lambda m: m.lower(), "id upper-cased"),
])
def test_identifier_spellings_name_the_same_mother(tiny_raw, spell, rule):
    """A zero-width space on some wave-3 ids once split mothers in two and shrank the primary sample."""
    original = mother(tiny_raw, 7)
    set_cell(tiny_raw, "survey.csv", 7, "mother_id", spell(original))
    data, cell = cleaned_cell(tiny_raw, "survey.csv", 7, "mother_id")
    assert cell == original
    assert log_count(data, rule, "mother_id") >= 1


@pytest.mark.parametrize("spelling", ["Stra\u00dfe", "STRA\u1e9eE", "strasse"])
def test_identifiers_are_case_folded(tiny_raw, spelling):
    """Unicode case folding: a sharp s (in either case) and SS are the same letters."""
    set_cell(tiny_raw, "survey.csv", 7, "mother_id", spelling)
    _, cell = cleaned_cell(tiny_raw, "survey.csv", 7, "mother_id")
    assert cell == "STRASSE"


@pytest.mark.parametrize(("suffix", "why"), [
    ("\x00", "contains the control character U+0000 NULL, which cannot be read safely: remove it "
             "({id}\\x00)"),
    ("\x1b[31m", "contains the control character U+001B ESCAPE, which cannot be read safely: remove it "
                 "({id}\\x1b[31m)"),
    ("\x7f", "contains the control character U+007F DELETE"),
    ("\x9b31m", "contains the control character U+009B CONTROL SEQUENCE INTRODUCER"),
    ("\x1c", "contains the control character U+001C INFORMATION SEPARATOR FOUR"),
    ("X\u2028Y", "contains U+2028 LINE SEPARATOR, a space or line break that is not allowed"),
    ("X\u1680Y", "contains U+1680 OGHAM SPACE MARK, a space or line break that is not allowed"),
    ("\ue000", "contains U+E000 unnamed character, which is not a printable character"),
    ("\u00b2", "contains U+00B2 SUPERSCRIPT TWO, which looks like a digit but is not one"),
    ("\u2460", "contains U+2460 CIRCLED DIGIT ONE, which looks like a digit but is not one"),
])
def test_identifier_with_an_unreadable_character_is_refused(tiny_raw, suffix, why):
    original = mother(tiny_raw, 7)
    row = set_cell(tiny_raw, "survey.csv", 7, "mother_id", original + suffix)
    message = expect_error(tiny_raw, f"survey.csv, column 'mother_id', row {row}: "
                           + why.replace("{id}", original))
    assert all(c.isprintable() or c == "\n" for c in message)


def test_many_kinds_of_unreadable_character_are_summarised(tiny_raw):
    survey = _read(tiny_raw / "survey.csv")
    for row, char in enumerate("\x01\x02\x03\x04\x05\x06\x07\x08", start=1):
        survey[row][0] += char
    _write(tiny_raw / "survey.csv", survey)
    message = expect_error(tiny_raw, "U+0001 START OF HEADING", "U+0005 ENQUIRY",
                           "contains other characters that cannot be read safely (U+0006, U+0007, U+0008)")
    assert "U+0006 ACKNOWLEDGE" not in message


def test_every_control_character_has_its_unicode_name():
    import unicodedata

    assert len(CONTROL_NAMES) == 65
    for code, name in CONTROL_NAMES.items():
        assert unicodedata.lookup(name) == chr(code)
    assert character_label("\x1b") == "U+001B ESCAPE"
    assert character_label("\u200b") == "U+200B ZERO WIDTH SPACE"


@pytest.mark.parametrize(("text", "cleaned", "rule"), [
    ("Caf\u00e9\tCorner Children's Centre", "Caf\u00e9 Corner Children's Centre",
     "line breaks or tabs inside a name replaced by spaces"),
    ("North\r\nEnd Children's Centre", "North End Children's Centre",
     "line breaks or tabs inside a name replaced by spaces"),
    ("\ufb01eld Children's Centre", "field Children's Centre",
     "Unicode compatibility characters normalised (NFKC)"),
    ("Soft\u00adhyphen Centre", "Softhyphen Centre", "invisible formatting characters removed"),
    ("Centre \u2116 2\u00bd", "Centre No 21\u20442", "Unicode compatibility characters normalised (NFKC)"),
    ("\u0645\u0631\u0643\u0632 \u0663", "\u0645\u0631\u0643\u0632 \u0663", None),  # a name keeps its digits
])
def test_names_are_read_as_text(tiny_raw, text, cleaned, rule):
    set_cell(tiny_raw, "centres.csv", 3, "centre_name", text)
    data, cell = cleaned_cell(tiny_raw, "centres.csv", 3, "centre_name")
    assert cell == cleaned
    if rule:
        assert log_count(data, rule, "centre_name") == 1


def test_a_name_with_a_control_character_is_refused_without_quoting_it(tiny_raw):
    row = set_cell(tiny_raw, "centres.csv", 3, "centre_name", "Secret Name\x1b[2J")
    message = expect_error(tiny_raw, f"centres.csv, column 'centre_name', row {row}: contains the control "
                           "character U+001B ESCAPE")
    assert "Secret" not in message


def test_words_and_codes_are_normalised(tiny_raw):
    la = _read(tiny_raw / "centres.csv")[4][2]
    set_cell(tiny_raw, "centres.csv", 3, "la_code", la.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}))
    set_cell(tiny_raw, "centres.csv", 3, "urban_rural", "\uff35\uff32\uff22\uff21\uff2e")  # full-width URBAN
    full_width_year = "\uff12\uff10\uff11\uff10\uff0f\uff11\uff11"  # 2010/11
    set_cell(tiny_raw, "centre_funding.csv", 3, "financial_year", full_width_year)
    set_cell(tiny_raw, "centre_funding.csv", 4, "financial_year", in_other_digits("2010-11", ARABIC_INDIC))
    data = clean_all(tiny_raw)
    assert data.centres.loc[3, "la_code"] == la
    assert data.centres.loc[3, "urban_rural"] == "urban"
    assert data.funding.loc[[3, 4], "financial_year"].tolist() == ["2010-11", "2010-11"]


@pytest.mark.parametrize(("file", "column", "value", "why"), [
    ("centre_funding.csv", "financial_year", "2011\u201312", "is not a financial year"),
    ("centre_funding.csv", "financial_year", "2011-1\u00b2", "which looks like a digit but is not one"),
    ("centres.csv", "la_code", "E0600000\u00b9", "which looks like a digit but is not one"),
    ("survey.csv", "interview_date", "2012-3-5", "is not a date written YYYY-MM-DD"),
    ("survey.csv", "interview_date", "2012-03-1\u00b2", "which looks like a digit but is not one"),
    ("survey.csv", "interview_date", "2012-02-30", "is not a date written YYYY-MM-DD"),
])
def test_years_codes_and_dates_that_are_refused(tiny_raw, file, column, value, why):
    row = set_cell(tiny_raw, file, 3, column, value)
    expect_error(tiny_raw, f"{file}, column '{column}', row {row}: ", why)


def test_dates_in_other_digits_are_read(tiny_raw):
    set_cell(tiny_raw, "survey.csv", 3, "interview_date", in_other_digits("2012-03-12", ARABIC_INDIC))
    _, cell = cleaned_cell(tiny_raw, "survey.csv", 3, "interview_date")
    assert cell == pd.Timestamp("2012-03-12")


# ---- column names and whole files ------------------------------------------------------------------------

def rename(raw_dir, file, column, to):
    records = _read(raw_dir / file)
    records[0][records[0].index(column)] = to
    _write(raw_dir / file, records)


@pytest.mark.parametrize("name", ["\ufeffwave", "wa\u200bve", " wave\u200e ", "\u00a0wave"])
def test_column_names_lose_invisible_characters_and_white_space(tiny_raw, name):
    rename(tiny_raw, "survey.csv", "wave", name)
    data = clean_all(tiny_raw)
    assert data.survey["wave"].notna().all()


@pytest.mark.parametrize(("name", "why"), [
    ("wa\x00ve", "column 'wa\\x00ve': the column name contains the control character U+0000 NULL"),
    ("wave\x1b[0m", "column 'wave\\x1b[0m': the column name contains the control character U+001B ESCAPE"),
    ("\uff57\uff41\uff56\uff45", "column 'wave': required column is missing (found "
                                 "'\uff57\uff41\uff56\uff45': column names are written in plain lower-case"),
    ("WAVE", "required column is missing (found 'WAVE': column names are lower case)"),
])
def test_column_names_that_are_refused(tiny_raw, name, why):
    rename(tiny_raw, "survey.csv", "wave", name)
    message = expect_error(tiny_raw, why)
    assert "\x1b" not in message and "\x00" not in message


def test_unknown_column_names_are_echoed_safely(tiny_raw, caplog):
    records = _read(tiny_raw / "centres.csv")
    _write(tiny_raw / "centres.csv", [records[0] + ["notes\u200b\u202e" + "x" * 100]]
           + [r + ["1"] for r in records[1:]])
    caplog.set_level(logging.INFO)
    clean_all(tiny_raw)
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # Invisible characters are removed from names, and a long name is cut short.
    assert warning.endswith("ignoring columns not in the contract: notes" + "x" * 55 + "...")


def test_a_nul_byte_in_a_file_is_refused_by_name(tiny_raw):
    """Python's csv module and Arrow's CSV reader both read NUL as a character; the control-character rule
    refuses it."""
    path = tiny_raw / "centres.csv"
    records = _read(path)
    data = path.read_bytes()
    position = data.index(records[4][1].encode())
    path.write_bytes(data[:position] + b"\x00" + data[position:])
    expect_error(tiny_raw, "centres.csv, column 'centre_name', row 5: contains the control character "
                 "U+0000 NULL")


def test_old_mac_line_endings_are_read(tiny_raw):
    """Lone carriage returns between records (classic Mac OS): both readers split records on them."""
    before = clean_all(tiny_raw)
    for name in FRAMES:
        path = tiny_raw / name
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    data = clean_all(tiny_raw)
    for frame in FRAMES.values():
        pd.testing.assert_frame_equal(getattr(data, frame), getattr(before, frame))


def test_a_lone_carriage_return_inside_a_record_is_refused(tiny_raw):
    path = tiny_raw / "centres.csv"
    text = path.read_bytes()
    position = text.index(b"Children", text.index(b"\n", 100))
    path.write_bytes(text[:position] + b"\r" + text[position:])
    expect_error(tiny_raw, "has a different number of fields from the header's 7")


def test_a_missing_file_is_named_without_the_folder(tiny_raw):
    (tiny_raw / "centres.csv").unlink()
    message = expect_error(tiny_raw, "centres.csv: not found in the raw-data folder (raw_dir)")
    assert str(tiny_raw) not in message


def test_a_file_that_cannot_be_opened_is_named_without_the_folder(tiny_raw, monkeypatch):
    real_open = open

    def refuse(file, *args, **kwargs):
        if str(file).endswith("deflators.csv"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    message = expect_error(tiny_raw, "deflators.csv: could not be read (Permission denied)")
    assert str(tiny_raw) not in message


# ---- adversarial: hostile values everywhere --------------------------------------------------------------

HOSTILE = [
    "", " ", "\t", "\x00", "a\x00b", "\x1b[31m", "M1\x1b]0;title\x07", "\x1b[2J\x1b[H", "\u200b", "3\u200b",
    "\u200e3\u200f", "\u202e321", "\ufeff", "\u00ad", "\U0001f600", "3\U0001f600", "x" * 5000, "9" * 400,
    "1e400", "-1e400", "-0", "+3", "--3", "3-", "0x1F", "1_000", "1'000", "\u00bd", "\u00b2", "\u0663",
    "\uff13",
    " 3 ", "3,0", "3.0", "3.", ".5", ".", "-", "+", "NaN", "nan", "-inf", "Infinity", "None", "NULL", "TRUE",
    "\u2014", '"', "'", '""', "\r", "a\rb", "\n", "3\r\n", "\r\n\r\n", "\ufffe", "\U0010ffff", "\ue000",
    "\u2028", "\x85", "\x1c3", "3\x1f", "\u0301", "e\u0301", "\u00df", "\u1e9e", "\u0130", "\u01c5", "\ufb00",
    "\u00a0", "\u1680", "\u3000", "\u066b", "1\u066b5", "\u2167", "\u2474", "\U0001d7d1", "%s%n", "{row}",
    "'; DROP TABLE survey; --", "£", "£-", "-£5", "(5)", "1.234,56", "12,345,67", "1 2 3", "2011-12",
    "2011/12", "2012-02-30", "0001-01-01", "9999-12-31", "E06000001", "urban", "RURAL", "-9", "-8", "-1",
    "-9.0", "0", "1",
]


def hostile_values(rng: random.Random, n: int) -> list[str]:
    """The fixed list and random strings of random code points (no surrogates: files are UTF-8)."""
    def code_point():
        while True:
            code = rng.choice([rng.randrange(0x20), rng.randrange(0x80, 0x3000), rng.randrange(0x110000)])
            if not 0xD800 <= code <= 0xDFFF:
                return chr(code)
    randoms = ["".join(code_point() if rng.random() < 0.5 else rng.choice("0123456789.,-") for _ in
                       range(rng.randrange(1, 8))) for _ in range(n)]
    return HOSTILE + randoms


def check_outcome(raw_dir: Path, plan: ExposurePlan, file: str, caplog) -> bool:
    """clean_all (and, for funding and deflators, the exposure) end in data or a RawDataError; a message or
    log line never holds a raw control character; cleaned text is printable and numbers finite. Returns
    whether the data were read."""
    caplog.clear()
    try:
        data = clean_all(raw_dir)
        if file in ("centre_funding.csv", "deflators.csv"):
            exposure = exposure_by_centre(data.centres, data.funding, data.deflators, plan)
            change = exposure["budget_change_pct"].astype(float)
            assert (np.isfinite(change) | change.isna()).all()
    except RawDataError as err:
        message = str(err)
        assert all(c.isprintable() or c == "\n" for c in message), repr(message)
        assert message.startswith("The raw data break the contract")
        read = False
    else:
        read = True
        for frame in (data.centres, data.funding, data.deflators, data.survey):
            for column in frame.columns:
                values = frame[column].dropna()
                if pd.api.types.is_string_dtype(values) or values.dtype == object:
                    assert all(c.isprintable() for v in values for c in str(v)), (column, values.tolist())
                elif pd.api.types.is_numeric_dtype(values):
                    assert np.isfinite(values.astype(float)).all(), column
    for record in caplog.records:
        assert all(c.isprintable() or c == "\n" for c in record.getMessage()), repr(record.getMessage())
    return read


@pytest.fixture
def exposure_plan(plan) -> ExposurePlan:
    return ExposurePlan.from_config(plan["exposure"])


def fresh(master: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(master, target)
    return target


@pytest.mark.parametrize("seed", [20120401, 31])
def test_hostile_values_in_every_column_end_in_data_or_a_raw_data_error(tiny_raw_master, tmp_path,
                                                                        exposure_plan, caplog, seed):
    """Every column of every file gets a batch of hostile values, one per row (every value of the pool in
    the survey and funding files; a sample in the short centre and deflator files), several columns per run
    since every fault is collected. Then one hostile value on its own in each column of the small files and in
    some survey columns: it may well be read, so that the success path and the exposure run too. Seeded."""
    caplog.set_level(logging.INFO)
    rng = random.Random(seed)
    pool = hostile_values(rng, 30)
    runs, read = 0, {}
    for spec in contract.RAW_FILES:
        records = _read(tiny_raw_master / spec.name)
        header, n_rows = records[0], len(records) - 1
        per_run = min(n_rows - 1, len(pool))
        tried = pool if n_rows > 30 else rng.sample(pool, 3 * per_run)
        chunks = {column: [shuffled[i:i + per_run] for i in range(0, len(tried), per_run)]
                  for column in spec.column_names for shuffled in [rng.sample(tried, len(tried))]}
        size = 4 if n_rows > len(pool) else len(spec.column_names)
        groups = [spec.column_names[i:i + size] for i in range(0, len(spec.column_names), size)]
        singles = [[c] for c in (spec.column_names if n_rows < 200 else rng.sample(spec.column_names, 8))]
        for group in groups + singles:
            for run in range(len(chunks[group[0]]) if len(group) > 1 or n_rows < 200 and group not in singles
                             else 1):
                changed = [list(r) for r in records]
                for column in group:
                    batch = chunks[column][run] if group not in singles else [rng.choice(pool)]
                    for row, value in zip(rng.sample(range(1, n_rows + 1), len(batch)), batch, strict=True):
                        changed[row][header.index(column)] = value
                raw = fresh(tiny_raw_master, tmp_path / "raw")
                _write(raw / spec.name, changed)
                outcome = check_outcome(raw, exposure_plan, spec.name, caplog)
                read[spec.name] = read.get(spec.name, 0) + outcome
                runs += 1
    assert runs < 60
    assert sum(read.values()) >= 3, read  # some hostile values are read: the success path ran too


@pytest.mark.parametrize("seed", [7, 8])
def test_hostile_column_names_and_bytes_end_in_data_or_a_raw_data_error(tiny_raw_master, tmp_path,
                                                                        exposure_plan, caplog, seed):
    """Hostile column names (replacing a contract name, or added), and broken bytes anywhere in a file."""
    caplog.set_level(logging.INFO)
    rng = random.Random(seed)
    pool = hostile_values(rng, 10)
    for spec in contract.RAW_FILES:
        records = _read(tiny_raw_master / spec.name)
        for _ in range(2):  # a hostile column name, in place of a contract name or added
            raw = fresh(tiny_raw_master, tmp_path / "raw")
            changed = [list(r) for r in records]
            if rng.random() < 0.5:
                changed[0][rng.randrange(len(changed[0]))] = rng.choice(pool)
            else:
                changed = [changed[0] + [rng.choice(pool)]] + [r + [rng.choice(pool)] for r in changed[1:]]
            _write(raw / spec.name, changed)
            check_outcome(raw, exposure_plan, spec.name, caplog)
        for _ in range(3):  # broken bytes: NUL, CR, quotes, commas, stray bytes (perhaps not UTF-8)
            raw = fresh(tiny_raw_master, tmp_path / "raw")
            data = bytearray((raw / spec.name).read_bytes())
            for _ in range(rng.randrange(1, 4)):
                position = rng.randrange(len(data))
                insert = rng.choice([b"\x00", b"\r", b'"', b",", b"\n", b"\xef\xbb\xbf", b"\xe2\x80\x8b",
                                     bytes([rng.randrange(256)])])
                data[position:position] = insert
            (raw / spec.name).write_bytes(bytes(data))
            check_outcome(raw, exposure_plan, spec.name, caplog)


SPACES = [" ", "\u00a0", "\u3000", "\t", "\u2009", "\u202f", "\u2007"]
INVISIBLES = ["\u200b", "\ufeff", "\u200e", "\u200f", "\u2060", "\u00ad", "\u200c", "\u200d", "\u2066",
              "\u2069", "\u202a", "\u202c", "\u061c"]
DIGIT_ZEROS = [0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0xFF10, 0x1D7CE, 0x1D7D8, 0x1D7F6]


def disguise(value: str, kind: str, rng: random.Random) -> str:
    """The same value as another spreadsheet might write it: digits of another script (not in names),
    invisible characters anywhere, spaces of other kinds around it."""
    if kind != "text" and rng.random() < 0.6:
        value = in_other_digits(value, rng.choice(DIGIT_ZEROS))
    for _ in range(rng.randrange(3)):
        at = rng.randrange(len(value) + 1)
        value = value[:at] + rng.choice(INVISIBLES) + value[at:]
    return rng.choice(SPACES + [""]) + value + rng.choice(SPACES + [""])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_disguised_values_give_the_same_cleaned_data(tiny_raw_master, tmp_path, exposure_plan, seed):
    """Every column of every file, in a sample of rows, written with other digits, invisible characters and
    other spaces: the cleaned data (and the exposure) equal those of the unchanged dataset."""
    rng = random.Random(seed)
    valid = clean_all(tiny_raw_master)
    raw = fresh(tiny_raw_master, tmp_path / "raw")
    for spec in contract.RAW_FILES:
        records = _read(raw / spec.name)
        for column in spec.columns:
            position = records[0].index(column.name)
            for row in rng.sample(range(1, len(records)), min(12, len(records) - 1)):
                records[row][position] = disguise(records[row][position], column.kind, rng)
        _write(raw / spec.name, records)
    data = clean_all(raw)
    for frame in FRAMES.values():
        pd.testing.assert_frame_equal(getattr(data, frame), getattr(valid, frame), obj=frame)
    pd.testing.assert_frame_equal(
        exposure_by_centre(data.centres, data.funding, data.deflators, exposure_plan),
        exposure_by_centre(valid.centres, valid.funding, valid.deflators, exposure_plan))
    for rule in ("invisible formatting characters removed", "digits other than 0-9 read as their values"):
        assert log_count(data, rule) > 0


# ---- restricted data: a refused value is never echoed ----------------------------------------------------

SECRET = "73915"
SECRET_SPELLINGS = [f"{SECRET}.5.5", f"{SECRET}e5", f"{SECRET},55", f"{SECRET}x", f"\u2212{SECRET}",
                    f"{SECRET}\x1b", f"({SECRET})", f"{SECRET[:2]}.{SECRET[2:]}9", f"${SECRET}"]


@pytest.mark.parametrize("spec", contract.RAW_FILES, ids=lambda spec: spec.name)
def test_refused_values_are_never_quoted(tiny_raw_master, tmp_path, spec, caplog):
    """Only identifiers may be quoted: a refused budget, answer or name is described, never shown. Every
    column but the identifiers gets the spellings at once (every fault is collected)."""
    caplog.set_level(logging.INFO)
    records = _read(tiny_raw_master / spec.name)
    for column in spec.columns:
        if column.kind != "id":
            position = records[0].index(column.name)
            for row, value in enumerate(SECRET_SPELLINGS[:len(records) - 2], start=1):
                records[row][position] = value
    raw = fresh(tiny_raw_master, tmp_path / "raw")
    _write(raw / spec.name, records)
    with pytest.raises(RawDataError) as err:
        clean_all(raw)
    assert SECRET not in str(err.value) and SECRET[:3] not in str(err.value), str(err.value)
    assert SECRET not in caplog.text
    refused = {p.column for p in err.value.problems}
    assert refused >= {c.name for c in spec.columns if c.kind not in ("id", "text")}, refused
