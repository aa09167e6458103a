"""Validate and clean the four raw files against the contract in analysis.contract.

Every rule that changes or removes something is counted in a CleaningLog; every breach of the contract is
collected into one RawDataError naming file, column and spreadsheet rows, and nothing is returned.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis import contract
from analysis.contract import Column, RawFile
from analysis.errors import ROWS_QUOTED, Problem, RawDataError
from analysis.scoring import score_survey

log = logging.getLogger(__name__)

ROW = "source_row"  # spreadsheet row of each record in its raw file (header = row 1)
FINANCIAL_YEAR = re.compile(r"^(\d{4})[-/](\d{2})$")
PLAIN_NUMBER = re.compile(r"^\d+(\.\d+)?$")


class CleaningLog:
    """Counts of every cleaning rule applied, in the order applied."""

    COLUMNS = ["file", "column", "rule", "n_rows"]

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def record(self, file: str, column: str | None, rule: str, n_rows: int) -> None:
        if n_rows:
            self.entries.append({"file": file, "column": column or "", "rule": rule, "n_rows": n_rows})
            where = f"{file}, column '{column}'" if column else file
            log.info("%s: %s (%d rows)", where, rule, n_rows)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.entries, columns=self.COLUMNS)


@dataclass
class CleanData:
    centres: pd.DataFrame
    funding: pd.DataFrame
    deflators: pd.DataFrame
    survey: pd.DataFrame
    log: CleaningLog


def _header_and_records(path: Path, name: str) -> tuple[list[str], int, list[int]]:
    """The header, the number of data records and the spreadsheet rows of blank ones.

    pandas fills a short row with blanks without a word; this pass counts the fields of every record
    (quoted fields may hold commas and line breaks) so that cannot happen silently. A record with the wrong
    number of fields is an error; a blank record (an empty line, or a row of empty cells as spreadsheets
    export) is skipped and counted by the caller.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            records = csv.reader(handle)
            header = next(records, None)
            if header is None or not any(field.strip() for field in header):
                raise RawDataError([Problem(name, None, "is empty: expected a header row and data")])
            n_records, blank, ragged = 0, [], []
            for number, record in enumerate(records, start=2):
                n_records += 1
                if not any(field.strip() for field in record):
                    blank.append(number)
                elif len(record) != len(header):
                    ragged.append(number)
    except UnicodeDecodeError:
        raise RawDataError([Problem(name, None, _not_utf8(path))]) from None
    except csv.Error as err:
        raise RawDataError([Problem(name, None, f"is not a well-formed CSV ({err})")]) from None
    header = [column.strip() for column in header]
    problems = _header_problems(name, header)
    if ragged:
        problems.append(Problem(name, None, f"has a different number of fields from the header's "
                                f"{len(header)} (a stray comma, a value with a comma or line break that "
                                "is not in double quotes, or a double quote that is never closed)",
                                tuple(ragged)))
    if problems:
        raise RawDataError(problems)
    return header, n_records, blank


def _not_utf8(path: Path) -> str:
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        data.decode("utf-8")
        line = "?"
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
    return (f"is not UTF-8 text: the first byte that is not UTF-8 is on line {line}; re-save the file as "
            "UTF-8 (in Excel: CSV UTF-8)")


def _header_problems(name: str, header: list[str]) -> list[Problem]:
    problems = []
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        separator = "semicolons" if ";" in header[0] else "tabs"
        return [Problem(name, None, f"is separated by {separator}, not commas: save it as CSV with commas "
                        "(in Excel: CSV UTF-8 (Comma delimited))")]
    seen = set()
    for column in header:
        if column in seen:
            problems.append(Problem(name, column, "appears more than once in the header row"))
        seen.add(column)
    return problems


def read_raw(path: Path, spec: RawFile, cleaning: CleaningLog) -> pd.DataFrame:
    """Read one raw CSV as text, checking encoding, structure, emptiness and the column set."""
    name = spec.name
    if not path.is_file():
        raise RawDataError([Problem(name, None, f"file not found at {path}")])
    header, n_records, blank = _header_and_records(path, name)
    present = set(header)
    problems = []
    for column in spec.columns:
        if column.required and column.name not in present:
            near = [c for c in header if c.lower() == column.name.lower()]
            hint = f" (found '{near[0]}': column names are lower case)" if near else ""
            problems.append(Problem(name, column.name, f"required column is missing{hint}"))
    if problems:
        raise RawDataError(problems)
    if n_records == len(blank):
        raise RawDataError([Problem(name, None, "has a header but no data rows")])
    extra = [c for c in header if c not in spec.column_names]
    if extra:
        log.warning("%s: ignoring columns not in the contract: %s", name, ", ".join(extra))
    # utf-8-sig accepts a byte-order mark; every cell stays text so that parsing is ours.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False,
                        skip_blank_lines=False)
    if len(frame) != n_records:  # the structural pass and pandas must agree on what a record is
        raise RawDataError([Problem(name, None, "could not be read consistently (check for unbalanced "
                                    "double quotes)")])
    frame.columns = header
    keep = [c for c in spec.column_names if c in present]
    frame = frame[keep].copy()
    frame.insert(0, ROW, np.arange(n_records, dtype=np.int64) + 2)
    if blank:
        cleaning.record(name, None, "blank row skipped", len(blank))
        frame = frame[~frame[ROW].isin(blank)].reset_index(drop=True)
    return frame


def _rows(frame: pd.DataFrame, mask: pd.Series) -> tuple[int, ...]:
    return tuple(int(r) for r in frame.loc[mask, ROW])


def _parse_column(
    frame: pd.DataFrame, spec: RawFile, column: Column, cleaning: CleaningLog, problems: list[Problem]
) -> pd.Series:
    """Parse one text column into its typed values; faults go to `problems`."""
    file, name = spec.name, column.name
    raw = frame[name].str.strip()
    cleaning.record(file, name, "surrounding white space removed", int((raw != frame[name]).sum()))

    blank = raw == ""
    coded = raw.isin(spec.missing_codes) if column.nullable else pd.Series(False, index=raw.index)
    missing = blank | coded
    if column.nullable:
        cleaning.record(file, name, "blank read as missing", int(blank.sum()))
        for code in spec.missing_codes:
            cleaning.record(file, name, f"missing code {code} read as missing", int((raw == code).sum()))
    elif blank.any():
        problems.append(Problem(file, name, "is blank, but a value is required", _rows(frame, blank)))
    present = ~missing

    def fault(mask: pd.Series, message: str) -> None:
        mask = mask & present
        if mask.any():
            problems.append(Problem(file, name, message, _rows(frame, mask)))

    kind = column.kind
    if kind == "id":
        upper = raw.str.upper()
        cleaning.record(file, name, "id upper-cased", int((upper != raw).sum()))
        return upper.where(present)
    if kind == "text":
        return raw.where(present)
    if kind == "la_code":
        fault(~raw.str.fullmatch(contract.LA_CODE_PATTERN), "is not an ONS local-authority code "
              "of the form E06/E08/E09/E10 followed by six digits")
        return raw.where(present)
    if kind == "category":
        lower = raw.str.lower()
        cleaning.record(file, name, "lower-cased", int((lower != raw).sum()))
        fault(~lower.isin(column.levels), f"must be one of: {', '.join(column.levels)}")
        return lower.where(present)
    if kind == "financial_year":
        parts = raw.str.extract(FINANCIAL_YEAR)
        start = pd.to_numeric(parts[0], errors="coerce")
        end = pd.to_numeric(parts[1], errors="coerce")
        bad = start.isna() | ((start + 1) % 100 != end)
        fault(bad, "is not a financial year written like 2011-12 or 2011/12")
        normal = parts[0] + "-" + parts[1]
        cleaning.record(file, name, "financial year 'YYYY/YY' rewritten as 'YYYY-YY'",
                        int((raw.str.contains("/", regex=False) & ~bad).sum()))
        return normal.where(present & ~bad)
    if kind == "date":
        parsed = pd.to_datetime(raw.where(present), format="%Y-%m-%d", errors="coerce")
        fault(parsed.isna(), "is not a date written YYYY-MM-DD")
        return parsed
    if kind == "money":
        stripped = raw.str.replace(r"[£,\s]", "", regex=True)
        cleaning.record(file, name, "money string cleaned (£, commas or spaces removed)",
                        int(((stripped != raw) & present).sum()))
        negative = stripped.str.fullmatch(r"-\d+(\.\d+)?")
        fault(negative, "is a negative budget; budgets are pounds spent, zero or more")
        fault(~stripped.str.fullmatch(PLAIN_NUMBER.pattern) & ~negative,
              "is not an amount of money (expected e.g. £412,345 or 412345.00)")
        return pd.to_numeric(stripped.where(present), errors="coerce")
    # code or number
    values = _to_number(raw.where(present))
    if kind == "code":
        not_whole = values.isna() | (values != np.round(values))
        allowed = f" (missing codes {', '.join(spec.missing_codes)} are allowed)" if (
            column.nullable and spec.missing_codes) else ""
        fault(not_whole, "is not a whole number" + allowed)
    else:
        fault(values.isna(), "is not a number")
    low = -np.inf if column.low is None else column.low
    high = np.inf if column.high is None else column.high
    below = (values <= low) if column.low_exclusive else (values < low)
    fault(values.notna() & (below | (values > high)), _range_text(column))
    return values.astype("Float64") if kind == "number" else values.astype("Int64")


def _to_number(text: pd.Series) -> pd.Series:
    """Text to float, missing where the text is not a number (as pandas' to_numeric with coerce).

    Arrow's cast parses a clean column many times faster; it accepts no number pandas would refuse and
    fails on the first bad cell, so a column with any fault goes through pandas, which marks every one."""
    try:
        values = pc.cast(pa.array(text, type=pa.string()), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(text, errors="coerce")
    return pd.Series(values.to_numpy(zero_copy_only=False), index=text.index)


def _range_text(column: Column) -> str:
    if column.high is None:
        return f"must be {'more than' if column.low_exclusive else 'at least'} {column.low:g}"
    return f"is outside the valid range {column.low:g} to {column.high:g}"


def parse_file(frame: pd.DataFrame, spec: RawFile, cleaning: CleaningLog) -> pd.DataFrame:
    """Parse every contract column of a raw file; raise RawDataError listing every fault."""
    problems: list[Problem] = []
    parsed = {ROW: frame[ROW]}
    for column in spec.columns:
        if column.name in frame.columns:
            parsed[column.name] = _parse_column(frame, spec, column, cleaning, problems)
    if problems:
        raise RawDataError(problems)
    return pd.DataFrame(parsed)


def _duplicated_key(frame: pd.DataFrame, file: str, keys: list[str], message: str) -> list[Problem]:
    """Rows sharing a key, with the first few keys quoted (identifiers only, never other values)."""
    dup = frame.duplicated(keys, keep=False)
    if not dup.any():
        return []
    examples = frame.loc[dup, keys].drop_duplicates().head(ROWS_QUOTED)
    ids = "; ".join(" ".join(f"{k} {v}" for k, v in zip(keys, row, strict=True))
                    for row in examples.itertuples(index=False))
    return [Problem(file, ", ".join(keys), f"{message} ({ids})", _rows(frame, dup))]


def _unknown_centres(frame: pd.DataFrame, file: str, known: pd.Series) -> list[Problem]:
    unknown = ~frame["centre_id"].isin(set(known))
    if not unknown.any():
        return []
    ids = ", ".join(sorted(frame.loc[unknown, "centre_id"].unique())[:5])
    return [Problem(file, "centre_id", f"centre not listed in centres.csv ({ids})",
                    _rows(frame, unknown))]


def clean_survey_rows(survey: pd.DataFrame, cleaning: CleaningLog) -> pd.DataFrame:
    """Drop exact duplicates (counted); two different records for one mother and wave are an error."""
    content = [c for c in survey.columns if c != ROW]
    exact = survey.duplicated(content, keep="first")
    cleaning.record(contract.SURVEY.name, None, "exact duplicate row dropped", int(exact.sum()))
    survey = survey.loc[~exact]
    keys = ["mother_id", "wave"]
    conflicting = survey.duplicated(keys, keep=False)
    # A mother at two centres in one wave gets its own message: her exposure would be ambiguous.
    centres = survey.loc[conflicting].groupby(keys)["centre_id"].transform("nunique")
    two_centres = (centres > 1).reindex(survey.index, fill_value=False)
    problems = _duplicated_key(survey.loc[two_centres], contract.SURVEY.name, keys,
                               "the same mother is recorded at more than one centre in one wave")
    problems += _duplicated_key(survey.loc[~two_centres], contract.SURVEY.name, keys,
                                "the same mother and wave has two different records")
    if problems:
        raise RawDataError(problems)
    return survey.reset_index(drop=True)


def clean_all(raw_dir: Path) -> CleanData:
    """Read, validate and clean the four raw files in `raw_dir`, cross-checking their keys."""
    raw_dir = Path(raw_dir)
    cleaning = CleaningLog()
    parsed = {}
    problems: list[Problem] = []
    for spec in contract.RAW_FILES:
        try:
            parsed[spec.name] = parse_file(read_raw(raw_dir / spec.name, spec, cleaning), spec, cleaning)
        except RawDataError as err:
            problems.extend(err.problems)
    if problems:
        raise RawDataError(problems)

    centres = parsed["centres.csv"]
    funding = parsed["centre_funding.csv"]
    deflators = parsed["deflators.csv"]
    survey = parsed["survey.csv"]

    problems += _duplicated_key(centres, "centres.csv", ["centre_id"], "centre appears more than once")
    problems += _duplicated_key(funding, "centre_funding.csv", ["centre_id", "financial_year"],
                                "centre and financial year appear more than once")
    problems += _duplicated_key(deflators, "deflators.csv", ["financial_year"],
                                "financial year appears more than once")
    problems += _unknown_centres(funding, "centre_funding.csv", centres["centre_id"])
    problems += _unknown_centres(survey, "survey.csv", centres["centre_id"])
    no_deflator = ~funding["financial_year"].isin(set(deflators["financial_year"]))
    if no_deflator.any():
        years = ", ".join(sorted(funding.loc[no_deflator, "financial_year"].unique()))
        problems.append(Problem("centre_funding.csv", "financial_year",
                                f"no GDP deflator in deflators.csv for {years}",
                                _rows(funding, no_deflator)))
    if problems:
        raise RawDataError(problems)

    survey = clean_survey_rows(survey, cleaning)
    survey = score_survey(survey, cleaning)
    return CleanData(centres, funding, deflators, survey, cleaning)


