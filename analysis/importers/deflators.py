"""HM Treasury "GDP deflators at market prices, and money GDP" -> deflators.csv.

The release (GOV.UK, after each ONS Quarterly National Accounts and each OBR forecast) is a sheet with title
and note rows, then two blocks side by side: financial years and calendar years, each with the deflator
index, its per cent change and money GDP. The rules, with sources, are in data/import/README.md:

- Read: .xlsx (every sheet is searched; exactly one must hold the table) or .csv (UTF-8, else
  Windows-1252). An .xls file is refused with a request to save it as .xlsx.
- The header row is the one whose cells read "Financial year", then "YYYY-YY = 100" (the publisher's base
  year), then "per cent change on previous year". No such row, or only the calendar-year header
  ("Calendar year", "YYYY = 100"), is refused: only the financial-year series is read.
- The vintage (release month, "March 2024") is read from a title cell above the header naming the release
  and a month; otherwise the `vintage` argument is required; when both are given they must agree.
- Data rows follow the header: each a financial year "2011-12" (a footnote marker after it, "2011-12 (1)",
  is removed and counted) and a number. The series ends at the first row whose year cell is blank; below
  it, only blank rows and footnotes ("(1) ...", "Source...", "Note...") are allowed. A year that is not the
  one after the year above (a gap), a repeated year, a non-numeric index, a calendar year or any other text
  in the series is refused. The index must be 100 in the publisher's base year.
- Projection rows (OBR forecasts) are kept: HM Treasury says forecast years can be used exactly as the
  historical series. The file does not mark them in a way this importer can verify, so they are not counted
  apart; years carrying footnote markers are listed in the provenance.
- base_year given: every value is multiplied by 100 / value in base_year (which must be in the file), and
  counted. The vintage, the publisher's base year and the base year used go in Imported.provenance.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from analysis.contract import DEFLATORS
from analysis.errors import PlanError, Problem, RawDataError
from analysis.importers import Imported
from analysis.importers.gias import decode_published_text

DEFLATOR_COLUMNS = DEFLATORS.column_names

FINANCIAL_YEAR_HEADER = "financial year"
CALENDAR_YEAR_HEADER = "calendar year"
PER_CENT_HEADER = "per cent change on previous year"
FINANCIAL_BASE = re.compile(r"\(?\s*(\d{4})\s*-\s*(\d{2})\s*=\s*100\s*\)?")
CALENDAR_BASE = re.compile(r"\(?\s*(\d{4})\s*=\s*100\s*\)?")
YEAR_LABEL = re.compile(r"(\d{4})-(\d{2})((?:\s*\(\d+\)\s*,?)*)")
CALENDAR_LABEL = re.compile(r"(\d{4})((?:\s*\(\d+\)\s*,?)*)")
NUMBER = re.compile(r"\d+(\.\d+)?")
FOOTNOTE = re.compile(r"(\(\d+\)|\d+[.)]\s|source|note|\*)", re.IGNORECASE)
TITLE = re.compile(r"gdp deflators at market prices", re.IGNORECASE)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
VINTAGE = re.compile(r"\b(" + "|".join(MONTHS) + r")\s+(\d{4})\b", re.IGNORECASE)


def read_hmt_deflators(path: Path, *, vintage: str | None = None, base_year: str | None = None) -> Imported:
    """deflators.csv from HM Treasury's GDP deflator release (rules in the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise RawDataError([Problem(path.name, None, "was not found")])
    sheets = _grids(path)
    where, grid, header_row, year_col = _find_header(sheets, path.name)
    result = Imported(frame=pd.DataFrame(columns=DEFLATOR_COLUMNS))
    base_header = _text(grid[header_row][year_col + 1])
    publisher_base = "{}-{}".format(*FINANCIAL_BASE.fullmatch(base_header).groups())
    release = _vintage(grid[:header_row], vintage, where)

    years, values, marked = _series(grid, header_row, year_col, where, base_header, result)
    if publisher_base in years and abs(values[years.index(publisher_base)] - 100) > 0.0005:
        raise RawDataError(
            [
                Problem(
                    where,
                    base_header,
                    f"is not 100 in its base year {publisher_base}",
                    (header_row + 2 + years.index(publisher_base),),
                )
            ]
        )

    used_base = publisher_base
    if base_year is not None:
        wanted = str(base_year).strip().replace("/", "-")
        if wanted not in years:
            raise RawDataError(
                [
                    Problem(
                        where,
                        "Financial year",
                        f"does not hold the base year asked for, "
                        f"{wanted}: choose a year from {years[0]} to {years[-1]}",
                    )
                ]
            )
        base_value = values[years.index(wanted)]
        values = [value * 100 / base_value for value in values]
        used_base = wanted
        if wanted != publisher_base:
            result.count(
                where, base_header, f"rebased from {publisher_base} = 100 to {wanted} = 100", len(values)
            )

    result.frame = pd.DataFrame({"financial_year": years, "gdp_deflator": values}, columns=DEFLATOR_COLUMNS)
    result.provenance.update(
        {
            "source": "HM Treasury, GDP deflators at market prices, and money GDP",
            "file": path.name,
            "sheet": where,
            "vintage": release,
            "publisher_base_year": publisher_base,
            "base_year": used_base,
            "first_year": years[0],
            "last_year": years[-1],
            "years_with_footnote_markers": marked,
            "projections": "kept: outturn and OBR forecast years are read alike",
        }
    )
    return result


# ---- the grid of cells -----------------------------------------------------------------------------------


def _grids(path: Path) -> dict[str, list[list]]:
    """Every sheet as rows of cell values ('where' -> rows), the file's own name for a CSV."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise RawDataError(
            [
                Problem(
                    path.name,
                    None,
                    "is an old-style .xls workbook: open it and save it as "
                    ".xlsx (Excel Workbook), then point the pipeline at that file",
                )
            ]
        )
    if suffix == ".xlsx":
        import openpyxl  # only needed for workbooks; the workflow's parse imports this module

        try:
            book = openpyxl.load_workbook(path, data_only=True, read_only=True)
        except Exception as error:  # openpyxl raises several types for a damaged or mislabelled file
            raise RawDataError(
                [Problem(path.name, None, f"cannot be opened as an .xlsx workbook ({type(error).__name__})")]
            ) from None
        try:
            return {
                f"{path.name}, sheet '{sheet.title}'": [
                    list(row) for row in sheet.iter_rows(values_only=True)
                ]
                for sheet in book.worksheets
            }
        finally:
            book.close()
    if suffix == ".csv":
        text, _ = decode_published_text(path.read_bytes(), path.name)
        width = max((len(record) for record in csv.reader(io.StringIO(text, newline=""))), default=0)
        if not width:
            raise RawDataError([Problem(path.name, None, "is empty")])
        frame = pd.read_csv(
            io.StringIO(text, newline=""),
            header=None,
            names=range(width),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
        return {path.name: frame.fillna("").to_numpy().tolist()}
    raise RawDataError([Problem(path.name, None, "is not an .xlsx or .csv file")])


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _cell(row: list, col: int):
    return row[col] if col < len(row) else None


def _find_header(sheets, file: str):
    """(where, grid, header row index, year column index) of the one financial-year header row."""
    found, calendar, mentions_financial = [], [], False
    for where, grid in sheets.items():
        for r, row in enumerate(grid):
            for c, value in enumerate(row):
                label, right = _text(value).casefold(), _text(_cell(row, c + 1))
                mentions_financial = mentions_financial or FINANCIAL_YEAR_HEADER in label
                if label == FINANCIAL_YEAR_HEADER and FINANCIAL_BASE.fullmatch(right):
                    found.append((where, grid, r, c))
                elif label == CALENDAR_YEAR_HEADER and CALENDAR_BASE.fullmatch(right):
                    calendar.append(where)
    if len(found) > 1:
        raise RawDataError(
            [
                Problem(
                    found[1][0],
                    "Financial year",
                    "the financial-year header row appears more than once",
                    tuple(hit[2] + 1 for hit in found),
                )
            ]
        )
    if not found:
        if calendar and not mentions_financial:
            raise RawDataError(
                [
                    Problem(
                        calendar[0],
                        "Calendar year",
                        "holds the calendar-year series only: the "
                        "pipeline needs the financial-year series (the 'Financial year' block of "
                        "HM Treasury's release)",
                    )
                ]
            )
        raise RawDataError(
            [
                Problem(
                    file,
                    "Financial year",
                    "no header row reads 'Financial year' with "
                    "'YYYY-YY = 100' beside it: a renamed column, or not HM Treasury's GDP "
                    "deflator release",
                )
            ]
        )
    where, grid, r, c = found[0]
    per_cent = _text(_cell(grid[r], c + 2))
    if per_cent.casefold() != PER_CENT_HEADER:
        raise RawDataError(
            [
                Problem(
                    where,
                    "per cent change on previous year",
                    "required column is missing beside the deflator index (renamed?)",
                    (r + 1,),
                )
            ]
        )
    return found[0]


def _vintage(rows_above, given: str | None, where: str) -> str:
    titled = None
    for row in rows_above:
        for value in row:
            text = _text(value)
            if TITLE.search(text) and VINTAGE.search(text):
                month, year = VINTAGE.search(text).groups()
                titled = f"{month.capitalize()} {year}"
    if given is not None:
        match = VINTAGE.fullmatch(given.strip())
        if not match:
            raise PlanError(f"vintage: {given!r} is not a release month written like 'March 2024'")
        given = f"{match[1].capitalize()} {match[2]}"
    if titled and given and titled != given:
        raise RawDataError(
            [
                Problem(
                    where,
                    None,
                    f"its title names the release {titled}, but the plan says "
                    f"{given}: check which release was downloaded",
                )
            ]
        )
    if not (titled or given):
        raise RawDataError(
            [
                Problem(
                    where,
                    None,
                    "its title does not name the release month: give the "
                    "vintage (for example 'March 2024') in the plan's sources block",
                )
            ]
        )
    return titled or given


def _series(grid, header_row, year_col, where, base_header, result):
    """The financial years and index values below the header, by the documented rules."""
    index_col = year_col + 1
    years, values, rows, marked, problems = [], [], [], [], []
    started = ended = False
    for r in range(header_row + 1, len(grid)):
        row, number = grid[r], r + 1
        label, value = _text(_cell(grid[r], year_col)), _cell(row, index_col)
        if ended:
            _check_below_series(row, number, year_col, index_col, where, problems)
            continue
        if not label:
            if started:
                ended = True
            elif _text(value):
                problems.append(
                    Problem(where, base_header, "holds a value with no financial year", (number,))
                )
            continue
        match = YEAR_LABEL.fullmatch(label)
        if not match:
            what = (
                "is a calendar year, not a financial year"
                if CALENDAR_LABEL.fullmatch(label)
                else "is not a financial year written 2011-12 (a note or footnote inside the series?)"
            )
            problems.append(Problem(where, "Financial year", what, (number,)))
            continue
        started = True
        first, second, markers = int(match[1]), int(match[2]), match[3]
        if (first + 1) % 100 != second:
            problems.append(
                Problem(
                    where,
                    "Financial year",
                    "is not a financial year: the second year is not the year after the first",
                    (number,),
                )
            )
            continue
        year = f"{first}-{second:02d}"
        if markers.strip():
            marked.append(year)
        number_value = _number(value)
        if number_value is None:
            problems.append(Problem(where, base_header, f"is not a number ({year})", (number,)))
        elif number_value <= 0:
            problems.append(Problem(where, base_header, f"is not a positive index ({year}): a price index is "
                                    "above zero", (number,)))
        years.append(year)
        values.append(number_value)
        rows.append(number)
    result.count(where, "Financial year", "footnote marker after the year removed", len(marked))
    if not years and not problems:
        problems.append(Problem(where, "Financial year", "no financial year below the header row"))
    if not problems:  # a refused row would also show as a gap
        problems = _sequence_problems(years, rows, where)
    if problems:
        raise RawDataError(problems)
    return years, values, marked


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value == value and abs(value) != float("inf") else None
    text = _text(value)
    return float(text) if NUMBER.fullmatch(text) else None


def _check_below_series(row, number, year_col, index_col, where, problems):
    cells = [_text(value) for value in row]
    filled = [text for text in cells if text]
    if not filled:
        return
    label = _text(_cell(row, year_col))
    if YEAR_LABEL.fullmatch(label) or CALENDAR_LABEL.fullmatch(label):
        problems.append(
            Problem(
                where,
                "Financial year",
                "is a year below the end of the series (after a blank "
                "row): remove the blank row, or the stray year",
                (number,),
            )
        )
    elif not FOOTNOTE.match(filled[0]) or _text(_cell(row, index_col)):
        problems.append(
            Problem(
                where,
                None,
                "is not a recognised footnote row below the series (footnotes begin "
                "'(1)', 'Source' or 'Note'): remove it",
                (number,),
            )
        )


def _sequence_problems(years, rows, where) -> list[Problem]:
    problems = []
    seen = {}
    for year, row in zip(years, rows, strict=True):
        if year in seen:
            problems.append(
                Problem(where, "Financial year", f"{year} appears more than once", (seen[year], row))
            )
        seen.setdefault(year, row)
    for (before, _), (after, row) in zip(
        zip(years, rows, strict=True), zip(years[1:], rows[1:], strict=True), strict=False
    ):
        step = int(after[:4]) - int(before[:4])
        if step > 1:
            missing = f"{int(before[:4]) + 1}-{(int(before[:4]) + 2) % 100:02d}"
            more = f" to {int(after[:4]) - 1}-{int(after[:4]) % 100:02d}" if step > 2 else ""
            problems.append(
                Problem(
                    where,
                    "Financial year",
                    f"the series jumps from {before} to {after}: {missing}{more} missing",
                    (row,),
                )
            )
        elif step < 1 and after != before:
            problems.append(
                Problem(
                    where, "Financial year", f"{after} follows {before}: the years are not in order", (row,)
                )
            )
    return problems
