"""DfE section 251 (s251) outturn: local-authority spend on Sure Start children's centres -> la_funding.csv.

read_s251(paths, line=..., measure=..., years=...) reads one or more files exactly as downloaded and returns
an Imported whose frame has la_funding.csv's columns: la_code, financial_year, spend_gbp (nominal pounds as
text, at most two decimals; blank = not reported). The rules, with the publisher's sources, are documented
in data/import/README.md. In short:

Formats, chosen per file by extension:
- .csv: the Explore Education Statistics (EES) file of "LA and school expenditure" (children's and young
  people's services, one row per time period, geography and line; 2015-16 onwards, values in pounds).
- .xlsx: a one-year workbook of the older LA-level outturn data (2010-11 to 2013-14 line wording; columns
  "LA", "LA Name", line number and description, then the expenditure columns), with title rows above the
  column headings and footnote rows below. The title rows must state the financial year (or the file name
  must) and the unit (pounds or thousands of pounds). .xls is refused: save it as .xlsx.

Rows: National and Regional rows (EES), England and region total rows (workbooks), lines other than the
children's-centre lines, memorandum lines and footnote rows are dropped and counted. A line is recognised by
its published wording (DESCRIPTIONS); a children's-centre line with other wording, an unrecognised row below
a workbook table, a missing or renamed column, a repeated LA-year, a missing year (when `years` is given) and
a negative amount are refused.

Values: plain numbers, an optional leading £ and thousands commas (workbook text cells), at most two decimals
in pounds. x, z and c (not available, not applicable, confidential) and a blank cell are "not reported"
(blank spend, counted). Thousands of pounds are multiplied by 1,000 (counted; the unit is in provenance).
Negative net expenditure (income above spending) is refused: it is not a spend on children's centres, and
no rule could turn it into one.

LA codes: an EES file's own new_la_code is taken as the GSS code; LA numbers (workbooks, or an EES row
without new_la_code) are looked up in data/import/la_codes.csv (load_la_codes), as the code in force that
year. `geography` then says under which code each LA-year is written:
- "as_published" (the default): the code of that year, unchanged, so that spend meets the survey's local
  authorities of the same years (an evaluation of 2011-14 uses the authorities of 2011-14). A window that
  straddles a boundary change gives the authorities concerned no change (no spend in one of its years):
  they have no funding group, and are counted as such.
- "current": today's codes, by one boundary rule: an LA whose area passed whole to one successor (a new
code, or a merger of whole LAs) has its spend added to the successor's; an LA whose area was divided
(Bedfordshire and Cheshire 2009, Dorset 2019, Northamptonshire 2021, Cumbria 2023) cannot be apportioned,
so its row is dropped and every successor (and every LA merged with part of it) has blank spend that year.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd

from analysis.contract import LA_CODE_PATTERN, LA_FUNDING, MONEY_LIMIT
from analysis.errors import PlanError, Problem, RawDataError, printable
from analysis.importers import Imported, ragged_rows

LA_CODES_FILE = Path(__file__).resolve().parents[2] / "data" / "import" / "la_codes.csv"

LINES = ("3.0.1", "3.0.2", "3.0.3", "3.0.4", "3.0.5")

# The expenditure columns, own provision through net current expenditure, by their EES names (the `measure`
# argument), with the headings of the same column in the two workbook layouts.
MEASURES = {
    "own_provision": ("OwnProvision", "Own Provision (y)"),
    "private_provision": ("PrivateProvision", "Private (z(i))"),
    "other_public_sector_provision": ("OtherPublic", "Other Public (z(ii))"),
    "voluntary_provision": ("Voluntary", "Voluntary (z(iii))"),
    "total_expenditure": ("TotalExpenditure", "Total Expenditure (k)"),
    "income": ("Income", "Income (l)"),
    "net_current_expenditure": ("NetCurrentExpenditure", "NET Current Expenditure (m)"),
}
NET_CURRENT_EXPENDITURE = "net_current_expenditure"

# Published wording of each children's-centre line, normalised by _wording(), and the line it is. Several
# wordings are the same line in different years (data/import/README.md lists which year uses which).
DESCRIPTIONS = {
    "spend on individual sure start childrens centres": "3.0.1",
    "spend by individual sure start childrens centres": "3.0.1",
    "spend for services delivered through sure start childrens centres": "3.0.2",
    "spend on local authority provided or commissioned area wide services delivered through sure start "
    "childrens centres": "3.0.2",
    "spend on local authority provided or commissioned area wide services": "3.0.2",
    "spend on management costs relating to sure start childrens centres": "3.0.3",
    "spend on local authority management costs relating to sure start childrens centres": "3.0.3",
    "other spend on children under 5": "3.0.4",
    "other early years funding": "3.0.4",
    "other early years expenditure": "3.0.4",
    "total sure start childrens centres and other spend on children under 5": "3.0.5",
    "total sure start childrens centres": "3.0.5",
}
# Words that make a line one of the children's-centre block: such a line with unknown wording is refused.
CENTRE_BLOCK_WORDS = ("sure start", "early years", "children under 5")

# GSS / EES symbols read as "not reported". Others ("-" nil or negligible, "low", "u") are refused.
MARKERS = {"x": "not available", "z": "not applicable", "c": "confidential"}

# ---- the EES CSV -----------------------------------------------------------------------------------------
EES_CENTRE_CATEGORY = "Sure Start and children aged under 5"
EES_REQUIRED = (
    "time_period", "time_identifier", "geographic_level", "country_code", "region_code", "la_name",
    "old_la_code", "new_la_code", "category_of_expenditure", "description_of_expenditure", *MEASURES,
)
EES_LEVELS_DROPPED = ("National", "Regional")
EES_LA_LEVEL = "Local authority"

# ---- the workbook ----------------------------------------------------------------------------------------
# Headings common to both layouts, then each layout's own (2010-11; 2011-12 to 2013-14).
WORKBOOK_LAYOUTS = {
    "2010-11": {"la": "LA", "name": "LA Name", "line": "Line", "description": "S52 Line Reference",
                "measure_index": 1},
    "2011-12": {"la": "LA", "name": "LA Name", "line": "LineNumber", "description": "CYPServiceDescription",
                "measure_index": 0},
}
HEADER_SEARCH_ROWS = 30  # the column headings are within the first rows of the sheet
# Names in a total row (LA number blank): England, the regions as DfE tables name them, and "Total".
TOTAL_ROW_NAMES = {
    "england", "total", "north east", "north west", "yorkshire and the humber", "yorkshire and humber",
    "east midlands", "west midlands", "east of england", "east", "london", "inner london", "outer london",
    "south east", "south west",
}
# A footnote row: one text cell in the first column, starting with a source or note label, a footnote
# number, an asterisk or dagger, or a marker legend such as "x = not available".
FOOTNOTE = re.compile(
    r"^\s*(source|sources|notes?|footnotes?)\b"
    r"|^\s*\(?\d{1,2}[).:]?\s"
    r"|^\s*[*\u2020]"
    r"|^\s*(x|z|c|\.\.|:|-)\s*(=|:|-)\s",
    re.IGNORECASE,
)
# Units a workbook title may state: thousands of pounds as DfE and spreadsheets write them (£ thousand,
# £000s, £'000, £k, thousands of pounds, thousand pounds, £ in thousands, thousands (£)), or pounds. Any other
# mention of a scale (millions, billions, a thousand not read as one of these) is refused, never read as
# pounds.
THOUSANDS_UNIT = re.compile(r"£\s*(in\s+)?(thousands?\b|'?000s?\b|k\b)|thousands?\s+(of\s+)?pounds|"
                            r"thousands?\s*\(\s*£\s*\)|\(\s*£\s*'?000s?\s*\)", re.IGNORECASE)
POUNDS_UNIT = re.compile(r"£|\bpounds\b", re.IGNORECASE)
OTHER_SCALE = re.compile(r"thousand|'?\b000s?\b|million|billion|\bbn\b|£\s*(m|bn|k)\b|\bmn\b", re.IGNORECASE)
FINANCIAL_YEAR_IN_TEXT = re.compile(r"(?<!\d)(\d{4})\s*(?:-|/|to|–)\s*(\d{2}|\d{4})(?!\d)")


def load_la_codes() -> pd.DataFrame:
    """The committed lookup of English upper-tier local authorities (data/import/la_codes.csv).

    One row per LA number and GSS code as used in a period: la_number (DfE's three-digit LA number), la_name,
    gss_code (blank for the two counties abolished in 2009, before GSS codes), first_year and last_year (the
    financial years the code was in use; blank = open), successor_gss (for a code no longer used: the
    code(s) that took over its area, separated by ';').
    """
    frame = pd.read_csv(LA_CODES_FILE, dtype=str, keep_default_na=False)
    return frame


# ---- values ----------------------------------------------------------------------------------------------

@dataclass
class Amount:
    """A cell read by the money rules: pounds (Decimal), not reported (None), or refused (problem text)."""

    pounds: Decimal | None = None
    problem: str | None = None
    marker: str | None = None  # the marker read as not reported, or "blank"
    cleaned: bool = False  # £ or thousands commas removed


MONEY_TEXT = re.compile(r"^(-)?£?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?$")


def read_amount(cell, thousands: bool = False) -> Amount:
    """One expenditure cell (text from a CSV, or an openpyxl value) read in pounds."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return Amount(marker="blank")
    if isinstance(cell, bool):
        return Amount(problem="is not an amount")
    if isinstance(cell, (int, float)):
        if isinstance(cell, float) and not math.isfinite(cell):
            return Amount(problem="is not a finite number")
        value = Decimal(repr(cell)) if isinstance(cell, float) else Decimal(cell)
        cleaned = False
    elif isinstance(cell, str):
        text = unicodedata.normalize("NFKC", cell).strip()
        if text.lower() in MARKERS:
            return Amount(marker=text.lower())
        if text in ("-", "\u2013", "\u2014"):
            return Amount(problem="holds '-' (nil or negligible), which is not read as an amount: write 0 if "
                                  "the LA spent nothing, or x if not reported")
        text = text.replace("£-", "-£")
        match = MONEY_TEXT.match(text)
        if not match:
            if re.match(r"^-?£?\d+,\d{1,2}$", text) or re.match(r"^-?£?[\d.]+,\d+$", text):
                return Amount(problem="looks like a decimal comma: pounds are written with a decimal point")
            if text.startswith("(") and text.endswith(")"):
                return Amount(problem="is in brackets (a negative amount)")
            return Amount(problem="is not an amount or a marker read here (x, z, c)")
        sign, digits, fraction = match.groups()
        value = Decimal((sign or "") + digits.replace(",", "") + (fraction or ""))
        cleaned = "£" in text or "," in text
    else:  # a date or another kind of cell
        return Amount(problem="is not an amount")
    if thousands:
        value = value * 1000
    if value != value.quantize(Decimal("0.01")):
        unit = "pounds (after multiplying thousands by 1,000)" if thousands else "pounds"
        return Amount(problem=f"has more than two decimal places in {unit}")
    if value < 0:
        return Amount(problem="is negative: net expenditure below zero (income above spending) is not a "
                              "spend on children's centres; check the return, or choose another measure")
    if value >= MONEY_LIMIT:
        return Amount(problem=f"is £{MONEY_LIMIT:,} or more, which is no LA's spend")
    return Amount(pounds=value, cleaned=cleaned)


def pounds_text(value: Decimal | None) -> str:
    """Pounds as la_funding.csv writes them: plain digits, pence only when there are any; blank if None."""
    if value is None:
        return ""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.quantize(Decimal('0.01')):f}"


def _wording(description: str) -> str:
    """A line description reduced to comparable words: the line number, case, apostrophes and punctuation
    removed ("3.0.1 Spend on individual Sure Start Children's Centres" -> "spend on individual sure start
    childrens centres")."""
    text = unicodedata.normalize("NFKC", str(description)).lower()
    text = re.sub(r"['\u2018\u2019`]", "", text)
    text = re.sub(r"^\s*\d+(?:\.\d+)*(?:[a-z](?:\.\d+)+)?", " ", text)
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return " ".join(text.split())


def _line_code(description: str) -> str | None:
    match = re.match(r"^\s*(\d+\.\d+\.\d+[a-z]?)\s", str(description))
    return match.group(1) if match else None


def financial_year_from_period(period: str) -> str | None:
    """EES time_period 201112 -> '2011-12' (None if it is not a financial year written that way)."""
    match = re.fullmatch(r"(\d{4})(\d{2})", period)
    if not match or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        return None
    return f"{match.group(1)}-{match.group(2)}"


def _financial_years_in(text: str) -> set[str]:
    years = set()
    for first, second in FINANCIAL_YEAR_IN_TEXT.findall(text):
        second_short = int(second) % 100
        if (int(first) + 1) % 100 == second_short:
            years.add(f"{first}-{second_short:02d}")
    return years


# ---- what each file yields -------------------------------------------------------------------------------

@dataclass
class Record:
    """One LA-year of the chosen line, before the boundary rule."""

    file: str
    row: int
    year: str
    gss: str | None  # the GSS code, from the file or the lookup (None for an LA abolished before GSS codes)
    la_number: str | None
    lookup_key: int | None  # index of the lookup row it matched (None: a GSS code not in the lookup)
    pounds: Decimal | None


class _Problems:
    def __init__(self):
        self.items: dict[tuple[str, str | None, str], list[int]] = {}

    def add(self, file: str, column: str | None, message: str, row: int | None = None) -> None:
        rows = self.items.setdefault((file, column, message), [])
        if row is not None:
            rows.append(row)

    def raise_if_any(self) -> None:
        if self.items:
            raise RawDataError([Problem(file, column, message, tuple(rows))
                                for (file, column, message), rows in self.items.items()])


class _Lookup:
    """la_codes.csv, indexed for the readers and the boundary rule."""

    def __init__(self):
        self.frame = load_la_codes()
        self.by_gss = {code: i for i, code in enumerate(self.frame["gss_code"]) if code}
        self.by_number: dict[str, list[int]] = {}
        for i, number in enumerate(self.frame["la_number"]):
            self.by_number.setdefault(number, []).append(i)

    def row_for_number(self, number: str, year: str) -> int | None | str:
        """The lookup row of an LA number in a financial year; else 'unknown' or 'not in use'."""
        rows = self.by_number.get(number)
        if not rows:
            return "unknown"
        for i in rows:
            first, last = self.frame.at[i, "first_year"], self.frame.at[i, "last_year"]
            if (not first or first <= year) and (not last or year <= last):
                return i
        return "not in use"

    def successors(self, i: int) -> list[str]:
        text = self.frame.at[i, "successor_gss"]
        return text.split(";") if text else []


# ---- the EES CSV -----------------------------------------------------------------------------------------

def _read_ees_csv(path: Path, line: str, measure: str, imported: Imported, problems: _Problems,
                  lookup: _Lookup) -> list[Record]:
    name = path.name
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.add(name, None, "is not UTF-8 text: save it as CSV UTF-8")
        return []
    if not text.strip():
        problems.add(name, None, "is empty: expected the EES header row and data")
        return []
    ragged = ragged_rows(text)
    for row in ragged:
        problems.add(name, None, "has a row with more or fewer fields than the header row (a comma inside an "
                                 "unquoted value, or a row cut short?)", row)
    if ragged:
        return []
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    stripped = {c: c.strip() for c in frame.columns}
    frame = frame.rename(columns=stripped)
    missing = [c for c in EES_REQUIRED if c not in frame.columns]
    for column in missing:
        similar = [c for c in frame.columns if c.lower().replace(" ", "_") == column]
        hint = f" (found '{printable(similar[0])}': EES column names are lower case)" if similar else ""
        problems.add(name, column, f"required column is missing{hint}")
    if missing:
        return []
    if frame.empty:
        problems.add(name, None, "has a header and no rows")
        return []
    trimmed = frame.apply(lambda column: column.str.strip())
    imported.count(name, None, "surrounding white space removed", int((trimmed != frame).to_numpy().sum()))
    frame = trimmed
    rows = pd.RangeIndex(2, len(frame) + 2)  # spreadsheet rows: header = 1
    frame.index = rows

    # A row with a first cell and nothing else is a note pasted below the data: EES data files have none.
    others = frame.columns[1:]
    footnote_like = (frame[frame.columns[0]] != "") & (frame[others] == "").all(axis=1)
    for row in frame.index[footnote_like]:
        problems.add(name, None, "a row with text in the first column only (a note or footnote): EES data "
                                 "files have none; remove it", row)
    blank = (frame == "").all(axis=1)
    imported.count(name, None, "blank row skipped", int(blank.sum()))
    frame = frame[~footnote_like & ~blank]

    bad_identifier = frame["time_identifier"] != "Financial year"
    for row in frame.index[bad_identifier]:
        problems.add(name, "time_identifier", "is not 'Financial year': only financial-year data are read",
                     row)
    years = frame["time_period"].map(financial_year_from_period)
    for row in frame.index[years.isna()]:
        problems.add(name, "time_period", "is not a financial year written as in EES (201112 for 2011-12)",
                     row)

    level = frame["geographic_level"]
    dropped_level = level.isin(EES_LEVELS_DROPPED)
    imported.count(name, "geographic_level", "National and Regional rows dropped (LA rows only)",
                   int(dropped_level.sum()))
    unknown_level = ~dropped_level & (level != EES_LA_LEVEL)
    for row in frame.index[unknown_level]:
        problems.add(name, "geographic_level", "is not a level read here (National, Regional, "
                                               "Local authority)", row)
    frame = frame[level == EES_LA_LEVEL].assign(financial_year=years)

    # Lines: the children's-centre block is checked line by line; the other lines are not used.
    codes = frame["description_of_expenditure"].map(_line_code)
    in_block = (frame["category_of_expenditure"] == EES_CENTRE_CATEGORY) | codes.fillna("").str.startswith(
        "3.0.")
    imported.count(name, "description_of_expenditure", "rows of lines other than the children's-centre lines "
                   "dropped", int((~in_block).sum()))
    frame = frame[in_block]
    wording_line = frame["description_of_expenditure"].map(lambda d: DESCRIPTIONS.get(_wording(d)))
    for row in frame.index[wording_line.isna() | (wording_line != codes[frame.index])]:
        problems.add(name, "description_of_expenditure", "is not a children's-centre line (3.0.1 to 3.0.5) "
                     "in its published wording: an unknown line is not read", row)
    chosen = frame[codes[frame.index] == line]
    imported.count(name, "description_of_expenditure", f"rows of lines other than {line} dropped",
                   len(frame) - len(chosen))

    # Each LA-year with children's-centre rows must have the chosen line (an LA is its number, or its code
    # where the number is blank). Not checked when a time period is unreadable: that is the fault to fix.
    la = frame["old_la_code"].where(frame["old_la_code"] != "", frame["new_la_code"])
    if not years.isna().any():
        have = set(zip(la[chosen.index], chosen["financial_year"], strict=True))
        for row, key in zip(frame.index, zip(la, frame["financial_year"], strict=True), strict=True):
            if key not in have:
                have.add(key)  # reported once per LA-year
                shown = frame.at[row, "new_la_code"] or key[0]
                problems.add(name, "description_of_expenditure", f"has no row for line {line} for this LA "
                             f"and year (LA {printable(shown)}, {key[1]})", row)

    records = []
    counts = {"marker": 0, "cleaned": 0, "looked_up": 0, "not_in_lookup": 0}
    for row, cells in chosen.iterrows():
        gss, number, year = cells["new_la_code"], cells["old_la_code"], cells["financial_year"]
        if year is None:
            continue
        key = _la_key(name, row, gss, number, year, lookup, problems, counts)
        if key is False:
            continue
        amount = read_amount(cells[measure])
        if amount.problem:
            problems.add(name, measure, amount.problem, row)
            continue
        counts["marker"] += amount.marker is not None
        counts["cleaned"] += amount.cleaned
        lookup_key, gss = key
        records.append(Record(name, row, year, gss, number or None, lookup_key, amount.pounds))
    _count_values(imported, name, measure, counts)
    imported.count(name, "new_la_code", "GSS code not in data/import/la_codes.csv taken from the file",
                   counts["not_in_lookup"])
    imported.count(name, "old_la_code", "GSS code looked up from the LA number (new_la_code blank)",
                   counts["looked_up"])
    return records


def _la_key(name, row, gss, number, year, lookup: _Lookup, problems: _Problems, counts):
    """(lookup row or None, GSS code) of an EES LA row, or False when it is refused."""
    if number and not re.fullmatch(r"\d{3}", number):
        problems.add(name, "old_la_code", "is not a three-digit LA number", row)
        return False
    if gss:
        if not re.fullmatch(LA_CODE_PATTERN, gss):
            problems.add(name, "new_la_code", f"'{printable(gss)}' is not the GSS code of an English "
                                              "upper-tier LA (E06, E08, E09 or E10 and six digits)", row)
            return False
        i = lookup.by_gss.get(gss)
        if i is None:
            counts["not_in_lookup"] += 1
            return None, gss
        if number and lookup.frame.at[i, "la_number"] != number:
            problems.add(name, "old_la_code", f"LA number {number} does not belong to GSS code {gss} "
                                              "(data/import/la_codes.csv)", row)
            return False
        return i, gss
    if not number:
        problems.add(name, "new_la_code", "is blank, and so is old_la_code: the LA cannot be identified", row)
        return False
    i = lookup.row_for_number(number, year)
    if isinstance(i, str):
        problems.add(name, "old_la_code", _number_problem(number, year, i), row)
        return False
    counts["looked_up"] += 1
    return i, lookup.frame.at[i, "gss_code"] or None


def _number_problem(number: str, year: str, why: str) -> str:
    if why == "unknown":
        return f"LA number {number} is not in data/import/la_codes.csv"
    return f"LA number {number} was not in use in {year} (data/import/la_codes.csv)"


def _count_values(imported: Imported, name: str, column: str, counts: dict) -> None:
    imported.count(name, column, "suppression or not-applicable marker (x, z, c) or blank read as not "
                   "reported", counts["marker"])
    imported.count(name, column, "money string cleaned (£ or thousands commas removed)", counts["cleaned"])


# ---- the workbook ----------------------------------------------------------------------------------------

def _read_workbook(path: Path, line: str, measure: str, imported: Imported, problems: _Problems,
                   lookup: _Lookup) -> list[Record]:
    import openpyxl  # only needed for workbooks

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged or non-xlsx file
        problems.add(path.name, None, "could not be opened as an Excel .xlsx workbook")
        return []
    try:
        found = []
        for sheet in book.worksheets:
            grid = [list(r) for r in sheet.iter_rows(values_only=True)]
            header = _find_header(grid)
            if header is not None:
                found.append((sheet.title, grid, header))
    finally:
        book.close()
    if len(found) != 1:
        what = "no sheet has" if not found else "more than one sheet has"
        problems.add(path.name, None, f"{what} the s251 LA-level column headings (LA, LA Name, the line "
                     "number and description, the expenditure columns): see data/import/README.md")
        return []
    sheet_name, grid, (header_index, layout) = found[0]
    file = f"{path.name}, sheet '{sheet_name}'"
    return _read_sheet(path.name, file, grid, header_index, layout, line, measure, imported, problems, lookup)


def _cell_text(value) -> str:
    return "" if value is None else unicodedata.normalize("NFKC", str(value)).strip()


def _find_header(grid) -> tuple[int, str] | None:
    """(row index, layout) of the column headings: the row with LA, LA Name and the line description."""
    for index, cells in enumerate(grid[:HEADER_SEARCH_ROWS]):
        texts = [_cell_text(c) for c in cells]
        for layout, names in WORKBOOK_LAYOUTS.items():
            if names["la"] in texts and names["name"] in texts and names["description"] in texts:
                return index, layout
    return None


def _read_sheet(file_name, file, grid, header_index, layout, line, measure, imported, problems, lookup):
    names = WORKBOOK_LAYOUTS[layout]
    headings = [_cell_text(c) for c in grid[header_index]]
    measure_headings = {m: h[names["measure_index"]] for m, h in MEASURES.items()}
    required = [names["la"], names["name"], names["line"], names["description"], *measure_headings.values()]
    missing = [h for h in required if h not in headings]
    repeated = sorted({h for h in required if headings.count(h) > 1})
    for heading in missing:
        problems.add(file, heading, "required column is missing (the headings must be as published)")
    for heading in repeated:
        problems.add(file, heading, "appears more than once in the heading row")
    if missing or repeated:
        return []
    position = {h: headings.index(h) for h in required}
    title = " ".join(_cell_text(c) for r in grid[:header_index] for c in r if _cell_text(c))

    year = _workbook_year(file_name, file, title, problems)
    thousands = THOUSANDS_UNIT.search(title) is not None
    rest = THOUSANDS_UNIT.sub("", title)
    if OTHER_SCALE.search(rest):
        problems.add(file, None, "the title rows state a unit that is not read: only pounds (£) and "
                                 "thousands of pounds (£ thousand, £000s) are; a workbook in millions is "
                                 "refused rather than read as pounds")
        return []
    pounds = POUNDS_UNIT.search(rest) is not None
    if thousands == pounds:
        problems.add(file, None, "the title rows above the column headings must state the unit: pounds (£) "
                                 "or thousands of pounds (£ thousand)" if not thousands else
                                 "the title rows state both pounds and thousands of pounds: which is it?")
        return []
    if year is None:
        return []
    imported.provenance.setdefault("units", {})[file_name] = "thousands of pounds" if thousands else "pounds"

    def cell(cells, heading):
        i = position[heading]
        return cells[i] if i < len(cells) else None

    records, counts = [], {"marker": 0, "cleaned": 0, "looked_up": 0, "not_in_lookup": 0}
    dropped = {"total": 0, "other_line": 0, "memorandum": 0, "footnote": 0, "blank": 0}
    chosen_rows: dict[str, int] = {}
    block_numbers: dict[str, int] = {}
    in_footer = False
    measure_heading = measure_headings[measure]
    for index in range(header_index + 1, len(grid)):
        cells = grid[index]
        row = index + 1  # the workbook row
        texts = [_cell_text(c) for c in cells]
        filled = [t for t in texts if t]
        if not filled:
            dropped["blank"] += 1
            continue
        number_text = texts[position[names["la"]]] if position[names["la"]] < len(texts) else ""
        if len(filled) == 1 and texts[0] and not number_text.isdigit():
            if FOOTNOTE.search(texts[0]):
                dropped["footnote"] += 1
                in_footer = True
                continue
            problems.add(file, None, "a row below or inside the table is neither an LA row nor a footnote "
                         "(a footnote starts with Source, Note, a footnote number such as 1. or (1), * or a "
                         "marker legend such as 'x = not available')", row)
            continue
        if in_footer:
            problems.add(file, None, "a table row below the footnotes: the table must end before them", row)
            continue
        la_name = _cell_text(cell(cells, names["name"])).lower()
        if not number_text:
            if la_name in TOTAL_ROW_NAMES or la_name.startswith("england"):
                dropped["total"] += 1
            else:
                problems.add(file, names["la"], "is blank in a row that is not an England, region or total "
                                                "row", row)
            continue
        number = _la_number(cell(cells, names["la"]))
        if number is None:
            problems.add(file, names["la"], "is not a three-digit LA number", row)
            continue
        wording = _wording(_cell_text(cell(cells, names["description"])))
        code = DESCRIPTIONS.get(wording)
        if code is None:
            if "memorandum" in wording:
                dropped["memorandum"] += 1
            elif any(word in wording for word in CENTRE_BLOCK_WORDS):
                problems.add(file, names["description"], "is not a children's-centre line in its published "
                             "wording: an unknown line is not read", row)
            else:
                dropped["other_line"] += 1
            continue
        block_numbers.setdefault(number, row)
        if code != line:
            dropped["other_line"] += 1
            continue
        if number in chosen_rows:
            problems.add(file, names["la"], f"LA {number}: line {line} appears more than once (rows "
                                            f"{chosen_rows[number]} and {row})", row)
            continue
        chosen_rows[number] = row
        i = lookup.row_for_number(number, year)
        if isinstance(i, str):
            problems.add(file, names["la"], _number_problem(number, year, i), row)
            continue
        amount = read_amount(cell(cells, measure_heading), thousands=thousands)
        if amount.problem:
            problems.add(file, measure_heading, amount.problem, row)
            continue
        counts["marker"] += amount.marker is not None
        counts["cleaned"] += amount.cleaned
        gss = lookup.frame.at[i, "gss_code"] or None
        records.append(Record(file, row, year, gss, number, i, amount.pounds))
    for number, row in block_numbers.items():
        if number not in chosen_rows:
            problems.add(file, names["description"], f"LA {number} has children's-centre lines but no line "
                                                     f"{line}", row)
    imported.count(file, names["la"], "England, region and total rows dropped (LA rows only)",
                   dropped["total"])
    imported.count(file, names["description"], "rows of other lines dropped", dropped["other_line"])
    imported.count(file, names["description"], "memorandum lines dropped", dropped["memorandum"])
    imported.count(file, None, "footnote rows dropped", dropped["footnote"])
    imported.count(file, None, "blank row skipped", dropped["blank"])
    _count_values(imported, file, measure_heading, counts)
    if thousands:
        imported.count(file, measure_heading, "thousands of pounds multiplied by 1,000 (pounds)",
                       len(records))
    return records


def _la_number(value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = _cell_text(value)
    return text if re.fullmatch(r"\d{3}", text) else None


def _workbook_year(file_name: str, file: str, title: str, problems: _Problems) -> str | None:
    in_title = _financial_years_in(title)
    in_name = _financial_years_in(Path(file_name).stem.replace("_", " "))
    if len(in_title) > 1:
        problems.add(file, None, "the title rows name more than one financial year: "
                                 f"{', '.join(sorted(in_title))}")
        return None
    if in_title and in_name and in_title != in_name:
        problems.add(file, None, f"the title says {next(iter(in_title))} but the file name says "
                                 f"{', '.join(sorted(in_name))}: which year is it?")
        return None
    years = in_title or in_name
    if len(years) != 1:
        problems.add(file, None, "the financial year is stated neither in the title rows nor in the file "
                                 "name (for example s251_2012-13.xlsx)")
        return None
    return next(iter(years))


# ---- all files together ----------------------------------------------------------------------------------

GEOGRAPHIES = ("as_published", "current")


def read_s251(paths: list[Path], *, line: str = "3.0.1", measure: str = NET_CURRENT_EXPENDITURE,
              years: list[str] | None = None, geography: str = "as_published") -> Imported:
    """Read s251 files as downloaded into la_funding.csv's frame (see the module docstring)."""
    if geography not in GEOGRAPHIES:
        raise PlanError(f"s251 geography '{geography}' is not one of {', '.join(GEOGRAPHIES)}")
    if line not in LINES:
        raise PlanError(f"s251 line '{line}' is not one of the children's-centre lines {', '.join(LINES)}")
    if measure not in MEASURES:
        raise PlanError(f"s251 measure '{measure}' is not one of {', '.join(MEASURES)}")
    if years is not None:
        for year in years:
            if not re.fullmatch(r"\d{4}-\d{2}", str(year)) or (int(year[:4]) + 1) % 100 != int(year[5:]):
                raise PlanError(f"s251 years: '{year}' is not a financial year written as 2011-12")
    if not paths:
        raise PlanError("s251: no file given")
    imported = Imported(frame=pd.DataFrame(columns=LA_FUNDING.column_names))
    imported.provenance.update({"publisher": "Department for Education, section 251 outturn", "line": line,
                                "measure": measure, "geography": geography,
                                "files": [Path(p).name for p in paths]})
    problems, lookup = _Problems(), _Lookup()
    records: list[Record] = []
    for path in map(Path, paths):
        suffix = path.suffix.lower()
        if not path.exists():
            problems.add(path.name, None, "not found")
        elif suffix == ".csv":
            records += _read_ees_csv(path, line, measure, imported, problems, lookup)
            imported.provenance.setdefault("units", {})[path.name] = "pounds"
        elif suffix == ".xlsx":
            records += _read_workbook(path, line, measure, imported, problems, lookup)
        elif suffix == ".xls":
            problems.add(path.name, None, "is an Excel 97-2003 .xls workbook, which is not read: open it in "
                                          "Excel or LibreOffice and save it as .xlsx")
        else:
            problems.add(path.name, None, "is neither an EES .csv file nor an .xlsx workbook")
    problems.raise_if_any()

    if years is not None:
        kept = [r for r in records if r.year in years]
        for file in sorted({r.file for r in records}):
            imported.count(file, None, "rows of financial years not asked for dropped",
                           sum(r.file == file and r.year not in years for r in records))
        records = kept
    label = ", ".join(Path(p).name for p in paths)  # rules and problems that concern all files together
    _refuse_repeats(records, problems)
    problems.raise_if_any()
    if geography == "current":
        spend = _apply_boundary_rule(records, lookup, imported, problems, label)
    else:
        spend = _as_published(records, lookup, imported, problems, label)
    problems.raise_if_any()
    _check_years(spend, years, problems, label)
    problems.raise_if_any()

    rows = sorted(spend.items())
    imported.frame = pd.DataFrame(
        [(code, year, pounds_text(value)) for (code, year), value in rows],
        columns=LA_FUNDING.column_names,
    )
    imported.provenance["financial_years"] = sorted({year for _, year in spend})
    return imported


def _refuse_repeats(records: list[Record], problems: _Problems) -> None:
    seen: dict[tuple, Record] = {}
    for record in records:
        key = (record.gss or f"LA {record.la_number}", record.year)
        if key in seen:
            first = seen[key]
            where = f"row {first.row}" if first.file == record.file else f"{first.file}, row {first.row}"
            problems.add(record.file, None, f"{key[0]} appears more than once for {record.year} "
                                            f"(also {where})", record.row)
        else:
            seen[key] = record


BOUNDARY_RULE = ("an LA whose area passed whole to one successor (a new code, or a merger of whole LAs) has "
                 "its spend added to the successor's; an LA whose area was divided cannot be apportioned, so "
                 "its row is dropped and every successor, and every LA merged with part of it, has blank "
                 "spend that year")


def _apply_boundary_rule(records: list[Record], lookup: _Lookup, imported: Imported, problems: _Problems,
                         label: str) -> dict:
    """{(current GSS code, year): pounds or None}, every record written under its LA's current code."""
    imported.provenance["boundary_rule"] = BOUNDARY_RULE

    def current(code: str) -> list[str]:
        """The current codes an area now lies in (following successive changes)."""
        i = lookup.by_gss.get(code)
        if i is None or not lookup.successors(i):
            return [code]
        return [c for s in lookup.successors(i) for c in current(s)]

    # A successor is comparable with the past only when each LA it took area from passed to it whole.
    divided = {i for i in range(len(lookup.frame)) if len(lookup.successors(i)) > 1}
    takes_part = {c for i in divided for s in lookup.successors(i) for c in current(s)}

    def replaced(record: Record) -> bool:
        return record.lookup_key is not None and bool(lookup.successors(record.lookup_key))

    spend: dict[tuple[str, str], Decimal | None] = {}
    for record in records:  # first the LAs as they are now, so that an old code reported beside them is seen
        if not replaced(record):
            spend[(record.gss, record.year)] = record.pounds
    direct = set(spend)
    blank: set[tuple[str, str]] = set()
    merged = divided_rows = 0
    for record in filter(replaced, records):
        targets = [c for s in lookup.successors(record.lookup_key) for c in current(s)]
        clash = [t for t in targets if (t, record.year) in direct]
        if clash:
            problems.add(record.file, None, f"LA {record.gss or record.la_number} is reported for "
                         f"{record.year} beside its successor {clash[0]}: the same area would be counted "
                         "twice", record.row)
            continue
        if record.lookup_key in divided:
            divided_rows += 1
            blank.update((t, record.year) for t in targets)
            continue
        key = (targets[0], record.year)
        merged += 1
        if key in spend:
            spend[key] = None if spend[key] is None or record.pounds is None else spend[key] + record.pounds
        else:
            spend[key] = record.pounds
        if key[0] in takes_part:  # merged with part of a divided LA: no comparable spend before the change
            blank.add(key)
    for key in blank:
        spend[key] = None
    imported.count(label, "la_code", "LA-year under an old code or of a merged LA added into its successor's "
                   "current code", merged)
    imported.count(label, "la_code", "LA-year of a divided LA dropped (its spend cannot be apportioned)",
                   divided_rows)
    imported.count(label, "la_code", "LA-year of a successor of a divided LA left blank (no comparable spend "
                   "before the change)", len(blank))
    return spend


def _as_published(records: list[Record], lookup: _Lookup, imported: Imported, problems: _Problems,
                  label: str) -> dict:
    """{(GSS code of the year, year): pounds or None}: each LA-year under the code in force that year.
    LA-years of an authority replaced within the files' years are counted (and listed in provenance): no
    change in spend can be computed across the boundary change, so a window spanning it leaves them
    ungrouped."""
    spend = {}
    for record in records:
        if record.gss is None:
            problems.add(record.file, None, f"LA {record.la_number} has no GSS code for {record.year} in "
                         "data/import/la_codes.csv", record.row)
        else:
            spend[(record.gss, record.year)] = record.pounds
    codes = {code for code, _ in spend}
    changed = sorted(code for code in codes if code in lookup.by_gss
                     and set(lookup.successors(lookup.by_gss[code])) & codes)
    imported.count(label, "la_code", "LA-year of an authority replaced within the files' years, kept under "
                   "its own code (geography: as_published)", sum(code in changed for code, _ in spend))
    if changed:
        imported.provenance["replaced_within_files"] = changed
    return spend


def _check_years(spend: dict, years: list[str] | None, problems: _Problems, label: str) -> None:
    """When years are asked for, each must be present for every LA in the output."""
    if years is None:
        return
    codes = sorted({code for code, _ in spend})
    for year in years:
        if not any(y == year for _, y in spend):
            problems.add(label, "financial_year", f"{year} is asked for but is in none of the files")
            continue
        for code in codes:
            if (code, year) not in spend:
                problems.add(label, "financial_year", f"LA {code} has no row for {year}")

