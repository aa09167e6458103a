"""Validate and clean the four raw files against the contract in analysis.contract.

Every rule that changes or removes something is counted in a CleaningLog; every breach of the contract is
collected into one RawDataError naming file, column and spreadsheet rows, and nothing is returned.

Each cell of a contract column is read in these steps (data/raw/README.md, "Cleaning rules"):

1. invisible formatting characters (Unicode category Cf: zero-width spaces, byte-order marks, direction
   marks, soft hyphens) are removed;
2. white space around the value is removed (Unicode White_Space: spaces of every width, tabs, line breaks);
3. in a name (kind text), line breaks and tabs inside the value become a space;
4. outside names, decimal digits of any script (category Nd: Arabic-Indic, full-width, ...) become 0-9;
5. a character that cannot be shown safely (control characters, private-use or unassigned code points, line
   and paragraph separators, spaces other than the ordinary one in codes, numbers and column names), or,
   outside names, a character that looks like a digit but is not one (superscripts, fractions: category
   No), is refused, naming the character;
6. identifiers, names, local-authority codes, categories, years and dates are normalised to Unicode NFKC
   (full-width letters, no-break spaces, ligatures); numbers never are (NFKC would read 10² as 102);
7. the value is read by its kind's grammar, in ASCII only, or refused with a message saying what is wrong.

A cell of printable ASCII only (nearly every cell) cannot be changed by steps 1 and 3-6, and takes a
vectorised path; any other cell is read character by character.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from analysis import contract
from analysis.contract import Column, RawFile
from analysis.errors import ROWS_QUOTED, Problem, RawDataError, character_label, first_few, printable
from analysis.scoring import score_survey

log = logging.getLogger(__name__)

ROW = "source_row"  # spreadsheet row of each record in its raw file (header = row 1)

# ---- characters -----------------------------------------------------------------------------------------

# Unicode's White_Space property. Python's str.strip() also strips the control characters U+001C-U+001F,
# which must be refused, not dropped.
WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
               + "\u2028\u2029\u202f\u205f\u3000")
LINE_BREAKS = re.compile("[\t\n\x0b\x0c\r\x85\u2028\u2029]+")
# Categories never read: control, format (removed before this check), private use, unassigned, surrogate,
# line and paragraph separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})
NFKC_KINDS = frozenset({"id", "text", "la_code", "category", "financial_year", "date"})
HEADER = "header"  # the careful path for a column name: steps 1, 2 and 5 only

# Normalisations of the careful path, as bit flags, with the cleaning-log rule each is counted under.
INVISIBLE, SPACE, LINES, DIGITS, NFKC = 1, 2, 4, 8, 16
RULES = {
    INVISIBLE: "invisible formatting characters removed",
    SPACE: "surrounding white space removed",
    LINES: "line breaks or tabs inside a name replaced by spaces",
    DIGITS: "digits other than 0-9 read as their values",
    NFKC: "Unicode compatibility characters normalised (NFKC)",
}

# ---- grammars (ASCII only: the careful path has already turned other digits into 0-9) ---------------------

FINANCIAL_YEAR = r"([0-9]{4})[-/]([0-9]{2})"
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
WHOLE = r"[+-]?[0-9]+(\.0*)?"  # a code: a whole number, perhaps with a decimal part of zeros (2.0)
DECIMAL = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"  # a number in plain decimal notation
SCIENTIFIC = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
NOT_FINITE = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)
WITH_COMMA = re.compile(r"[+-]?[0-9.]*,[0-9.,]*")
MONEY_PLAIN = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
MONEY_GROUPED = re.compile(r"[0-9]{1,3}(,[0-9]{3})+(\.[0-9]{1,2})?")
SPACE_GROUPED = re.compile(r"[0-9]{1,3}( [0-9]{3})+([.,][0-9]*)?")
EUROPEAN = re.compile(r"[0-9]{1,3}(\.[0-9]{3})+,[0-9]{1,2}")
DOT_THOUSANDS = re.compile(r"([0-9]+|[0-9]{1,3}(,[0-9]{3})+)\.[0-9]{3,}")
DIGITS_AND_MARKS = re.compile(r"[0-9.,]+")
MONEY_PREFIX = re.compile(r"(-?) *(£?) *(-?) *(.*)", re.DOTALL)  # a sign before or after the £
DIGITS_SPACES_AND_MARKS = re.compile(r"[0-9 .,]+")


class CleaningLog:
    """Counts of every cleaning rule applied, in the order applied."""

    COLUMNS = ["file", "column", "rule", "n_rows"]

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def record(self, file: str, column: str | None, rule: str, n_rows: int) -> None:
        if n_rows:
            self.entries.append({"file": file, "column": column or "", "rule": rule, "n_rows": n_rows})
            where = f"{file}, column '{printable(column)}'" if column else file
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


# ---- the careful path: one cell at a time -----------------------------------------------------------------

class _Invisible(dict):
    """A str.translate table, filled as characters are met: a format character (Cf) to nothing, any other
    to itself."""

    def __missing__(self, code: int) -> int | None:
        self[code] = None if unicodedata.category(chr(code)) == "Cf" else code
        return self[code]


class _Digits(dict):
    """A str.translate table, filled as characters are met: a decimal digit of any script (Nd) to its value
    in 0-9, any other character to itself."""

    def __missing__(self, code: int) -> int | str:
        char = chr(code)
        self[code] = str(unicodedata.decimal(char)) if unicodedata.category(char) == "Nd" else code
        return self[code]


INVISIBLE_TABLE, DIGIT_TABLE = _Invisible(), _Digits()


def _careful(text: str, kind: str) -> tuple[str, int, str]:
    """Steps 1-6 of the module docstring for one cell: (the value, the rules applied as RULES flags, the
    first character refused or "")."""
    flags = 0
    value = text.translate(INVISIBLE_TABLE)
    if value != text:
        flags |= INVISIBLE
    stripped = value.strip(WHITE_SPACE)
    if stripped != value:
        flags |= SPACE
        value = stripped
    if kind == "text":
        joined = LINE_BREAKS.sub(" ", value)
        if joined != value:
            flags |= LINES
            value = joined
    elif kind != HEADER:
        converted = value.translate(DIGIT_TABLE)
        if converted != value:
            flags |= DIGITS
            value = converted
    refused = _refused_character(value, kind)
    if refused or kind not in NFKC_KINDS:
        return value, flags, refused
    normal = unicodedata.normalize("NFKC", value).strip(WHITE_SPACE)
    if normal != value:
        flags |= NFKC
        value = normal
    # NFKC turns every space but U+1680 into an ordinary one; anything else unprintable was refused above.
    return value, flags, next((c for c in value if not c.isprintable() and c != " "), "")


def _refused_character(value: str, kind: str) -> str:
    """The first character of `value` a cell of this kind may not hold, or ""."""
    for char in value:
        category = unicodedata.category(char)
        if category in UNSAFE_CATEGORIES:
            return char
        if category == "No" and kind not in ("text", HEADER):  # 2, 1/2, circled 3: like a digit, not one
            return char
        if category == "Zs" and char != " " and kind not in NFKC_KINDS and kind != "money":
            return char  # money reads spaces of every kind; NFKC turns them into ordinary spaces
    return ""


def _refusal(char: str) -> str:
    """Why a character is refused, naming it by code point and name (never the rest of the value)."""
    category = unicodedata.category(char)
    name = character_label(char)
    if category == "Cc":
        return f"contains the control character {name}, which cannot be read safely: remove it"
    if category == "No":
        return f"contains {name}, which looks like a digit but is not one: write the digits 0-9"
    if category.startswith("Z"):
        return f"contains {name}, a space or line break that is not allowed inside this value: remove it"
    return f"contains {name}, which is not a printable character and cannot be read safely: remove it"


# ---- reading a file -------------------------------------------------------------------------------------

def _is_blank(text: str) -> bool:
    """Whether a record's fields, joined, hold nothing but white space and invisible characters (an empty
    line, or a row of empty cells as spreadsheets export)."""
    if not text.strip(WHITE_SPACE):
        return True
    return not text.isascii() and not _careful(text, HEADER)[0]


@dataclass
class _Structure:
    header: list[str]  # as written
    n_records: int
    blank: list[int]  # spreadsheet rows of blank records
    ragged: list[int]  # spreadsheet rows of records with a different number of fields from the header
    blank_misfit: list[int]  # the blank records among those (an empty line, a line of spaces)
    n_chars: int  # characters in the data fields of the records with the header's number of fields


def _header_and_records(path: Path, name: str) -> _Structure:
    """The structure of a raw CSV as Python's csv module reads it.

    A reader that fills a short row with blanks would do so without a word; this pass counts the fields of
    every record (quoted fields may hold commas and line breaks) so that cannot happen silently. A record with
    the wrong number of fields is an error unless it is blank; a blank record is skipped and counted by the
    caller. The character count lets read_raw check that Arrow's reader read the same text as this pass.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            records = csv.reader(handle)
            header = next(records, None)
            if header is None or _is_blank("".join(header)):
                raise RawDataError([Problem(name, None, "is empty: expected a header row and data")])
            n_records, n_chars, blank, ragged, blank_misfit = 0, 0, [], [], []
            for number, record in enumerate(records, start=2):
                n_records += 1
                text = "".join(record)
                fits = len(record) == len(header)
                if fits:
                    n_chars += len(text)
                if _is_blank(text):
                    blank.append(number)
                    if not fits:
                        blank_misfit.append(number)
                elif not fits:
                    ragged.append(number)
    except UnicodeDecodeError:
        raise RawDataError([Problem(name, None, _not_utf8(path))]) from None
    except csv.Error as err:  # Python's messages name no values, e.g. "field larger than field limit"
        raise RawDataError([Problem(name, None, f"is not a well-formed CSV ({printable(err)}), near line "
                                    f"{records.line_num}")]) from None
    except OSError as err:  # strerror names no path: the raw folder is never written into results/
        raise RawDataError([Problem(name, None, f"could not be read ({err.strerror})")]) from None
    return _Structure(header, n_records, blank, ragged, blank_misfit, n_chars)


def _not_utf8(path: Path) -> str:
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        data.decode("utf-8")
        line = "?"
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
    return (f"is not UTF-8 text: the first byte that is not UTF-8 is on line {line}; re-save the file as "
            "UTF-8 (in Excel: CSV UTF-8)")


def _clean_header(name: str, header: list[str], cleaning: CleaningLog) -> tuple[list[str], list[Problem]]:
    """Column names with invisible characters and surrounding white space removed (counted), and the
    problems: a name holding a character that cannot be shown safely, or appearing twice."""
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        separator = "semicolons" if ";" in header[0] else "tabs"
        raise RawDataError([Problem(name, None, f"is separated by {separator}, not commas: save it as CSV "
                                    "with commas (in Excel: CSV UTF-8 (Comma delimited))")])
    problems: list[Problem] = []
    cleaned: list[str] = []
    seen: set[str] = set()
    for written in header:
        column, flags, refused = _careful(written, HEADER)
        cleaned.append(column)
        if refused:
            problems.append(Problem(name, printable(column), f"the column name {_refusal(refused)}"))
            continue
        if flags & INVISIBLE:
            cleaning.record(name, column, "invisible formatting characters removed from the column name", 1)
        if flags & SPACE:
            cleaning.record(name, column, "white space around the column name removed", 1)
        if column in seen:
            problems.append(Problem(name, printable(column), "appears more than once in the header row"))
        seen.add(column)
    return cleaned, problems


def read_raw(path: Path, spec: RawFile, cleaning: CleaningLog) -> pd.DataFrame:
    """Read one raw CSV as text, checking encoding, structure, emptiness and the column set.

    Messages name the file, never the folder: raw_dir may be a secure path that must not reach results/."""
    name = spec.name
    if not path.is_file():
        raise RawDataError([Problem(name, None, "not found in the raw-data folder (raw_dir)")])
    structure = _header_and_records(path, name)
    n_records, blank = structure.n_records, structure.blank
    header, problems = _clean_header(name, structure.header, cleaning)
    if structure.ragged:
        problems.append(Problem(name, None, f"has a different number of fields from the header's "
                                f"{len(header)} (a stray comma, a value with a comma or line break that "
                                "is not in double quotes, or a double quote that is never closed)",
                                tuple(structure.ragged)))
    if problems:
        raise RawDataError(problems)
    present = set(header)
    for column in spec.columns:
        if column.required and column.name not in present:
            problems.append(Problem(name, column.name, f"required column is missing{_near(column, header)}"))
    if problems:
        raise RawDataError(problems)
    if n_records == len(blank):
        raise RawDataError([Problem(name, None, "has a header but no data rows")])
    extra = [c for c in header if c not in spec.column_names]
    if extra:
        log.warning("%s: ignoring columns not in the contract: %s", name, ", ".join(map(printable, extra)))
    frame = _read_records(path, len(header))
    if not _same_text(frame, structure):
        raise RawDataError([Problem(name, None, "could not be read consistently (check for unbalanced "
                                    "double quotes)")])
    frame.columns = header
    keep = [c for c in spec.column_names if c in present]
    frame = frame[keep].copy()
    numbers = np.arange(n_records, dtype=np.int64) + 2
    frame.insert(0, ROW, np.setdiff1d(numbers, structure.blank_misfit, assume_unique=True))
    if blank:
        cleaning.record(name, None, "blank row skipped", len(blank))
        frame = frame[~frame[ROW].isin(blank)].reset_index(drop=True)
    return frame


def _read_records(path: Path, n_fields: int) -> pd.DataFrame | None:
    """The data records of a raw CSV as text columns (every cell stays text, so that parsing is ours), read by
    Arrow's CSV reader on every core (at national scale about five times faster than pandas' reader); None
    when it cannot read them. The header row is skipped (the structural pass read it). The blank records
    with a different number of fields from the header (an empty line, a line of spaces) are left out: the
    structural pass has refused every other record with the wrong number of fields."""
    names = [str(i) for i in range(n_fields)]
    as_text = pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.large_string()),
                                    strings_can_be_null=False, quoted_strings_can_be_null=False)
    records = pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=lambda row: "skip")
    try:
        table = pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(skip_rows=1, column_names=names),
                                parse_options=records, convert_options=as_text)
    except (pa.ArrowInvalid, OSError):
        return None
    return table.to_pandas()


def _same_text(frame: pd.DataFrame | None, structure: _Structure) -> bool:
    """Whether Arrow's reader read the records, fields and characters the structural pass did."""
    return (frame is not None and len(frame) == structure.n_records - len(structure.blank_misfit)
            and frame.shape[1] == len(structure.header)
            and sum(pc.sum(pc.utf8_length(_arrow(frame[c]))).as_py() or 0 for c in frame.columns)
            == structure.n_chars)


def _near(column: Column, header: list[str]) -> str:
    """A hint when the file has the column under another spelling (case, full-width letters)."""
    for found in header:
        if found != column.name and unicodedata.normalize("NFKC", found).lower() == column.name:
            why = ("column names are lower case" if found.lower() == column.name else
                   "column names are written in plain lower-case letters, digits and underscores")
            return f" (found '{printable(found)}': {why})"
    return ""


def _rows(frame: pd.DataFrame, mask: pd.Series) -> tuple[int, ...]:
    return tuple(int(r) for r in frame.loc[mask, ROW])


# ---- reading a column -----------------------------------------------------------------------------------

def _mask(series: pd.Series) -> np.ndarray:
    """A boolean Series (perhaps with missing values, read as False) as a numpy array."""
    return series.to_numpy(dtype=bool, na_value=False)


def _arrow(text: pd.Series) -> pa.Array:
    """A text column as an Arrow array (no copy for pandas' Arrow-backed strings)."""
    return pa.array(text, type=pa.large_string())


def _normalise(frame: pd.DataFrame, file: str, column: Column, cleaning: CleaningLog,
               problems: list[Problem]) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Steps 1-6 of the module docstring for one column: (the values as text, the cells refused for a
    character, the cells that took the careful path)."""
    name, kind = column.name, column.kind
    written = frame[name]
    odd = ~np.asarray(pc.ascii_is_printable(_arrow(written)), dtype=bool)
    text = written.str.strip(" ")  # printable ASCII holds no other white space
    counts = dict.fromkeys(RULES, 0)
    counts[SPACE] = int((_mask(text != written) & ~odd).sum())
    refused = np.zeros(len(written), dtype=bool)
    if odd.any():
        careful = [_careful(cell, kind) for cell in written[odd]]
        text = text.copy()
        text[odd] = [value for value, _, _ in careful]
        for flag in RULES:
            counts[flag] += sum(1 for _, flags, _ in careful if flags & flag)
        characters = pd.Series([char for _, _, char in careful], index=written.index[odd], dtype=object)
        characters = characters[characters != ""]
        refused = written.index.isin(characters.index)
        problems.extend(_character_problems(frame, file, column, characters))
    for flag, rule in RULES.items():
        cleaning.record(file, name, rule, counts[flag])
    return text, refused, odd


def _character_problems(frame: pd.DataFrame, file: str, column: Column,
                        characters: pd.Series) -> list[Problem]:
    """One problem per refused character (the first ROWS_QUOTED kinds; the rest together). An identifier is
    quoted, escaped, so that the data manager can find it; other values never are."""
    problems = []
    kinds = list(dict.fromkeys(characters))
    for char in kinds[:ROWS_QUOTED]:
        hit = characters.index[characters == char]
        message = _refusal(char)
        if column.kind == "id":
            cells = frame.loc[hit, column.name].str.strip(WHITE_SPACE)
            message += f" ({first_few(printable(cell) for cell in cells)})"
        problems.append(Problem(file, column.name, message, tuple(int(r) for r in frame.loc[hit, ROW])))
    if len(kinds) > ROWS_QUOTED:
        hit = characters.index[characters.isin(kinds[ROWS_QUOTED:])]
        others = first_few(f"U+{ord(char):04X}" for char in kinds[ROWS_QUOTED:])
        problems.append(Problem(file, column.name, f"contains other characters that cannot be read safely "
                                f"({others}): remove them", tuple(int(r) for r in frame.loc[hit, ROW])))
    return problems


def _parse_column(
    frame: pd.DataFrame, spec: RawFile, column: Column, cleaning: CleaningLog, problems: list[Problem]
) -> pd.Series:
    """Parse one text column into its typed values; faults go to `problems`. A faulty cell is missing in
    the values returned, so that no faulty value is ever cast."""
    file, name, kind = spec.name, column.name, column.kind
    raw, refused, odd = _normalise(frame, file, column, cleaning, problems)
    blank = np.asarray(pc.equal(_arrow(raw), ""), dtype=bool)
    if column.nullable:
        cleaning.record(file, name, "blank read as missing", int(blank.sum()))
    elif blank.any():
        problems.append(Problem(file, name, "is blank, but a value is required", _rows(frame, blank)))
    candidate = ~blank & ~refused

    def fault(mask: np.ndarray, message: str) -> None:
        if mask.any():
            problems.append(Problem(file, name, message, _rows(frame, mask)))

    if kind in ("code", "number", "money"):
        values = (_read_money(frame, spec, column, raw, candidate, cleaning, fault) if kind == "money" else
                  _read_number(frame, spec, column, raw, candidate, cleaning, fault))
        return values
    coded = np.zeros(len(raw), dtype=bool)
    if column.nullable:
        for code in spec.missing_codes:
            hit = candidate & _mask(raw == code)
            cleaning.record(file, name, f"missing code {code} read as missing", int(hit.sum()))
            coded |= hit
    present = candidate & ~coded
    if kind == "id":
        upper = raw.str.upper()
        if odd.any():  # Unicode case folding, so that e.g. a sharp s and SS are one letter
            upper[odd] = [cell.casefold().upper() for cell in raw[odd]]
        cleaning.record(file, name, "id upper-cased", int((_mask(upper != raw) & present).sum()))
        return upper.where(present)
    if kind == "text":
        return raw.where(present)
    if kind == "la_code":
        fault(present & ~_mask(raw.str.fullmatch(contract.LA_CODE_PATTERN)), "is not an ONS "
              "local-authority code of the form E06/E08/E09/E10 followed by six digits")
        return raw.where(present)
    if kind == "category":
        lower = raw.str.lower()
        cleaning.record(file, name, "lower-cased", int((_mask(lower != raw) & present).sum()))
        fault(present & ~_mask(lower.isin(column.levels)), f"must be one of: {', '.join(column.levels)}")
        return lower.where(present)
    if kind == "financial_year":
        parts = raw.where(present).str.extract("^" + FINANCIAL_YEAR + "$")
        start = pd.to_numeric(parts[0], errors="coerce")
        end = pd.to_numeric(parts[1], errors="coerce")
        bad = present & _mask(start.isna() | ((start + 1) % 100 != end))
        fault(bad, "is not a financial year written like 2011-12 or 2011/12")
        normal = parts[0] + "-" + parts[1]
        cleaning.record(file, name, "financial year 'YYYY/YY' rewritten as 'YYYY-YY'",
                        int((present & _mask(raw.str.contains("/", regex=False)) & ~bad).sum()))
        return normal.where(present & ~bad)
    if kind == "date":
        dated = present & _mask(raw.str.fullmatch(DATE))
        parsed = pd.to_datetime(raw.where(dated), format="%Y-%m-%d", errors="coerce")
        fault(present & _mask(parsed.isna()), "is not a date written YYYY-MM-DD")
        return parsed
    raise ValueError(f"unknown column kind {kind!r} in the contract")  # a programming error, not bad data


# ---- numbers --------------------------------------------------------------------------------------------

def _read_number(frame, spec: RawFile, column: Column, raw: pd.Series, candidate: np.ndarray,
                 cleaning: CleaningLog, fault) -> pd.Series:
    """A code (a whole number) or a number, in plain ASCII decimal notation; then missing codes, then the
    range. Returns Int64 (code) or Float64 (number), missing wherever the cell is blank, coded or faulty."""
    file, name, kind = spec.name, column.name, column.kind
    # In Arrow: plain digits (nearly every cell) are checked without a regular expression.
    text = _arrow(raw)
    valid = candidate & np.asarray(pc.ascii_is_decimal(text), dtype=bool)
    rest = candidate & ~valid
    dotted = np.zeros(len(raw), dtype=bool)
    if rest.any():
        others = pc.filter(text, pa.array(rest))
        grammar = "^(?:" + (WHOLE if kind == "code" else DECIMAL) + ")$"
        valid[rest] = np.asarray(pc.match_substring_regex(others, grammar), dtype=bool)
        dotted[rest] = np.asarray(pc.match_substring(others, "."), dtype=bool)
    values = np.full(len(raw), np.nan)
    if valid.any():
        values[valid] = _to_number(pc.filter(text, pa.array(valid))) + 0.0  # + 0.0: -0 is 0
    invalid = candidate & ~valid
    if invalid.any():
        for message, labels in _number_faults(raw[invalid], column, spec).items():
            fault(raw.index.isin(labels), message)
    if kind == "code":
        cleaning.record(file, name, "whole number written with a decimal point (2.0) read as a whole number",
                        int((valid & dotted).sum()))
    coded = np.zeros(len(raw), dtype=bool)
    if column.nullable:  # a missing code by its value, so -9.0 is -9
        for code in spec.missing_codes:
            hit = valid & (values == float(code))
            cleaning.record(file, name, f"missing code {code} read as missing", int(hit.sum()))
            coded |= hit
    ok = valid & ~coded
    low = -np.inf if column.low is None else column.low
    high = np.inf if column.high is None else column.high
    inside = (values > low if column.low_exclusive else values >= low) & (values <= high)  # NaN, inf: outside
    fault(ok & ~inside, _range_text(column))
    values = pd.Series(np.where(ok & inside, values, np.nan), index=raw.index)
    return values.astype("Float64") if kind == "number" else values.astype("Int64")


def _number_faults(texts: pd.Series, column: Column, spec: RawFile) -> dict[str, list]:
    """What is wrong with each number that is not in plain notation: {message: index labels}."""
    whole = column.kind == "code"
    listed = ", ".join(spec.missing_codes)
    codes = (f": if there is no value, leave the cell blank or use a missing code ({listed})"
             if column.nullable and spec.missing_codes else ": if there is no value, leave the cell blank"
             if column.nullable else "")
    example = ""
    found: dict[str, list] = {}
    for label, text in texts.items():
        if not text.isascii():
            example = example or character_label(next(c for c in text if not c.isascii()))
            key = "ascii"
        elif NOT_FINITE.fullmatch(text):
            key = "finite"
        elif SCIENTIFIC.fullmatch(text):
            key = "scientific"
        elif WITH_COMMA.fullmatch(text):
            key = "comma"
        elif whole and re.fullmatch(DECIMAL, text):
            key = "fraction"
        else:
            key = "other"
        found.setdefault(key, []).append(label)
    messages = {
        "ascii": (f"contains a character that is not read in numbers (for example {example}): write the "
                  "digits 0-9, with a leading minus sign and a decimal point if needed"),
        "finite": f"is not a finite number (such as Infinity or NaN){codes}",
        "scientific": ("is written in scientific notation (as in 1.2E+05): write the "
                       f"{'whole number' if whole else 'number'} in plain digits"),
        "comma": ("uses a comma as the decimal mark or between thousands (as in 2,5 or 1,000): write " + (
            "a whole number in plain digits" if whole else "plain digits with a decimal point (2.5)")),
        "fraction": "is not a whole number: codes have no fractional part (as in 2.5)",
        "other": ("is not a whole number" + (f" (missing codes {', '.join(spec.missing_codes)} are allowed)"
                                             if column.nullable and spec.missing_codes else "")
                  if whole else "is not a number"),
    }
    return {messages[key]: labels for key, labels in found.items()}


def _to_number(text: pa.Array) -> np.ndarray:
    """Text already checked to be plain decimal notation, as floats.

    Arrow's cast parses a column many times faster than pandas; it is given only text the grammar accepted
    (it would also read 0x1F, inf and 1e5, which the contract refuses)."""
    try:
        values = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(text.to_pandas(), errors="coerce").to_numpy(dtype=float)
    return values.to_numpy(zero_copy_only=False)


def _range_text(column: Column) -> str:
    if column.high is None:
        return f"must be {'more than' if column.low_exclusive else 'at least'} {column.low:g}"
    return f"is outside the valid range {column.low:g} to {column.high:g}"


# ---- money ----------------------------------------------------------------------------------------------

MONEY_FAULTS = {
    "negative": "is a negative budget; budgets are pounds spent, zero or more",
    "brackets": ("is in brackets, as accountants write a negative amount; budgets are pounds spent, zero or "
                 "more"),
    "spaces": ("has spaces inside the amount that do not separate groups of three digits (as in 1 000 000): "
               "remove them"),
    "currency": "has a currency sign other than £: budgets are in pounds",
    "ascii": ("contains a character that is not read in amounts of money (for example {example}): write "
              "amounts like £412,345 or 412345.00"),
    "european": ("is written in the European style, with dots between thousands and a decimal comma (as in "
                 "1.234,56): write 1234.56 or 1,234.56"),
    "dots": ("has more than one dot (as in 1.234.567): an amount has at most one decimal point; if the dots "
             "separate thousands, remove them or write commas (1,234,567)"),
    "decimals": ("has more than two digits after the decimal point: pounds have at most two decimal places "
                 "(pence); if the dot separates thousands (as in 398.123), remove it or write a comma "
                 "(398,123)"),
    "comma": ("has a comma that does not separate thousands, so it looks like a decimal comma (as in "
              "398123,50) or misplaced separators (as in 1,23,456): write pounds with a decimal point, and "
              "commas only between groups of three digits (398,123.50)"),
    "large": (f"is £{contract.MONEY_LIMIT:,} or more, larger than any budget (and than a number can hold to "
              "the penny): check the amount"),
    "other": "is not an amount of money (expected e.g. £412,345 or 412345.00)",
}


def _read_money(frame, spec: RawFile, column: Column, raw: pd.Series, candidate: np.ndarray,
                cleaning: CleaningLog, fault) -> pd.Series:
    """Pounds, as float64: missing where blank or faulty."""
    file, name = spec.name, column.name
    amounts: dict = {}
    faults: dict[str, list] = {}
    cleaned, example = 0, ""
    for label, text in raw[candidate].items():
        pounds, key, changed = _money(text)
        cleaned += changed
        if key:
            faults.setdefault(key, []).append(label)
            if key == "ascii" and not example:
                example = character_label(next(c for c in text if not c.isascii()))
        else:
            amounts[label] = pounds
    cleaning.record(file, name, "money string cleaned (£, commas or spaces removed)", cleaned)
    for key, message in MONEY_FAULTS.items():
        if key in faults:
            fault(raw.index.isin(faults[key]), message.format(example=example))
    return pd.Series(amounts, dtype=float).reindex(raw.index)


def _money(text: str) -> tuple[float | None, str, bool]:
    """One amount: (pounds, the MONEY_FAULTS key if it is refused, whether £, commas or spaces went)."""
    if len(text) > 2 and text[0] == "(" and text[-1] == ")":
        return None, "brackets", False
    spaced = "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)
    first, pound, second, body = MONEY_PREFIX.fullmatch(spaced).groups()
    if first and second:
        return None, "other", False
    negative = bool(first or second)
    changed = bool(pound) or len(first + pound + second + body) < len(spaced)  # spaces after - or £
    if " " in body and DIGITS_SPACES_AND_MARKS.fullmatch(body):  # spaces between thousands
        if not SPACE_GROUPED.fullmatch(body):
            return None, "spaces", changed
        body, changed = body.replace(" ", ""), True
    if MONEY_PLAIN.fullmatch(body):
        amount = body
    elif MONEY_GROUPED.fullmatch(body):
        amount, changed = body.replace(",", ""), True
    else:
        return None, _money_fault(body), changed
    if negative:
        return None, "negative", changed
    pounds = float(amount)
    return (None, "large", changed) if pounds >= contract.MONEY_LIMIT else (pounds, "", changed)


def _money_fault(body: str) -> str:
    """Why an amount (without its £ and sign) is refused: the MONEY_FAULTS key."""
    if any(unicodedata.category(c) == "Sc" and c != "£" for c in body):
        return "currency"
    if not body.isascii():
        return "ascii"
    if not DIGITS_AND_MARKS.fullmatch(body):
        return "other"
    if EUROPEAN.fullmatch(body):
        return "european"
    if body.count(".") > 1:
        return "dots"
    if DOT_THOUSANDS.fullmatch(body):
        return "decimals"
    return "comma" if "," in body else "other"


# ---- files and keys -------------------------------------------------------------------------------------

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
    ids = "; ".join(" ".join(f"{k} {printable(v)}" for k, v in zip(keys, row, strict=True))
                    for row in examples.itertuples(index=False))
    return [Problem(file, ", ".join(keys), f"{message} ({ids})", _rows(frame, dup))]


def _unknown_centres(frame: pd.DataFrame, file: str, known: pd.Series) -> list[Problem]:
    unknown = ~frame["centre_id"].isin(set(known))
    if not unknown.any():
        return []
    ids = ", ".join(printable(c) for c in sorted(frame.loc[unknown, "centre_id"].unique())[:5])
    return [Problem(file, "centre_id", f"centre not listed in centres.csv ({ids})",
                    _rows(frame, unknown))]


def _deflator_steps(deflators: pd.DataFrame) -> list[Problem]:
    """A deflator that changes by more than DEFLATOR_MAX_YEARLY_CHANGE a year from one financial year in the
    file to the next one in the file is a likely typing error: a GDP deflator moves a few per cent a year.
    Over a gap of k years the bounds compound: at most (1 + limit)^k, at least (1 - limit)^k times."""
    by_year = deflators.sort_values("financial_year")
    years = by_year["financial_year"].tolist()
    index = by_year["gdp_deflator"].astype(float).tolist()
    rows = by_year[ROW].tolist()
    limit = contract.DEFLATOR_MAX_YEARLY_CHANGE
    problems = []
    for i in range(1, len(years)):
        gap = int(years[i][:4]) - int(years[i - 1][:4])
        ratio = index[i] / index[i - 1]
        if ratio > (1 + limit) ** gap or ratio < (1 - limit) ** gap:
            problems.append(Problem(
                "deflators.csv", "gdp_deflator",
                f"changes by more than {limit:.0%}{' a year' if gap > 1 else ''} from {years[i - 1]} to "
                f"{years[i]}, which is likely a typing error (a GDP deflator moves a few per cent a year)",
                (int(rows[i - 1]), int(rows[i]))))
    return problems


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


def clean_all(raw_dir: Path, level: str = "centre", paths: dict[str, Path] | None = None) -> CleanData:
    """Read, validate and clean the raw files of this exposure level (contract.raw_files), cross-checking
    their keys. Each file is raw_dir/<name>, or where `paths` says (an importer's output).

    At LA level, `funding` holds la_funding.csv, centres.csv may be absent when the survey names no centre,
    and every survey record ends with its mother's la_code (her own, or her centre's) and her centre's
    idaci_decile and urban_rural (blank without a centre), the centre characteristics a model may use."""
    raw_dir = Path(raw_dir)
    paths = {spec.name: Path((paths or {}).get(spec.name, raw_dir / spec.name)) for spec in
             contract.raw_files(level)}
    cleaning = CleaningLog()
    parsed = {}
    problems: list[Problem] = []
    for spec in contract.raw_files(level):
        if level == "la" and spec is contract.CENTRES and not paths[spec.name].exists():
            continue  # a survey that names centres is refused below
        try:
            parsed[spec.name] = parse_file(read_raw(paths[spec.name], spec, cleaning), spec, cleaning)
        except RawDataError as err:
            problems.extend(err.problems)
    if problems:
        raise RawDataError(problems)

    funding_spec = contract.LA_FUNDING if level == "la" else contract.CENTRE_FUNDING
    centres = parsed.get(contract.CENTRES.name)
    funding = parsed[funding_spec.name]
    deflators = parsed["deflators.csv"]
    survey = parsed["survey.csv"]

    if centres is not None:
        problems += _duplicated_key(centres, "centres.csv", ["centre_id"], "centre appears more than once")
    if level == "la":
        problems += _duplicated_key(funding, funding_spec.name, ["la_code", "financial_year"],
                                    "local authority and financial year appear more than once")
        survey, la_problems = _mothers_local_authorities(survey, centres)
        problems += la_problems
    else:
        problems += _duplicated_key(funding, funding_spec.name, ["centre_id", "financial_year"],
                                    "centre and financial year appear more than once")
        problems += _unknown_centres(funding, funding_spec.name, centres["centre_id"])
        problems += _unknown_centres(survey, "survey.csv", centres["centre_id"])
    deflator_years = _duplicated_key(deflators, "deflators.csv", ["financial_year"],
                                     "financial year appears more than once")
    problems += deflator_years or _deflator_steps(deflators)
    no_deflator = ~funding["financial_year"].isin(set(deflators["financial_year"]))
    if no_deflator.any():
        years = ", ".join(printable(y) for y in sorted(funding.loc[no_deflator, "financial_year"].unique()))
        problems.append(Problem(funding_spec.name, "financial_year",
                                f"no GDP deflator in deflators.csv for {years}",
                                _rows(funding, no_deflator)))
    if problems:
        raise RawDataError(problems)

    if level == "la":
        _warn_unfunded(survey, funding)
    if centres is None:
        centres = pd.DataFrame({c.name: pd.Series(dtype="object") for c in contract.CENTRES.columns})
    survey = clean_survey_rows(survey, cleaning)
    survey = score_survey(survey, cleaning)
    return CleanData(centres, funding, deflators, survey, cleaning)


def _warn_unfunded(survey: pd.DataFrame, funding: pd.DataFrame) -> None:
    """At LA level, name the survey's local authorities that la_funding.csv does not hold: their mothers get
    no funding group (excluded from the models, counted in sample_flow.csv)."""
    unfunded = sorted(set(survey["la_code"].dropna()) - set(funding["la_code"]))
    if unfunded:
        log.warning("survey.csv, column 'la_code': %d local authorities of the survey (or of its centres) "
                    "are not in la_funding.csv (%s): their mothers have no funding group and are excluded "
                    "from the models (counted in sample_flow.csv). A code of another year's geography? The "
                    "GIAS register gives today's codes; section 251 spend keeps each year's unless its "
                    "geography is 'current' (data/import/README.md)", len(unfunded),
                    first_few(printable(code) for code in unfunded))


def _mothers_local_authorities(survey: pd.DataFrame, centres: pd.DataFrame | None) -> tuple[pd.DataFrame,
                                                                                            list[Problem]]:
    """At LA level: each survey record's local authority, from its la_code or its centre's (they must agree
    when both are given), and its centre's characteristics. A record with neither is refused."""
    survey = survey.copy()
    if "la_code" not in survey.columns:
        survey["la_code"] = pd.Series(pd.NA, index=survey.index, dtype="object")
    if "centre_id" not in survey.columns:
        survey["centre_id"] = pd.Series(pd.NA, index=survey.index, dtype="object")
    problems = []
    named = survey["centre_id"].notna()
    if named.any() and centres is None:
        problems.append(Problem("survey.csv", "centre_id", "names centres, but there is no centres.csv to "
                                "place them in local authorities: add it, or give la_code instead",
                                _rows(survey, named)))
        return survey, problems
    register = (centres.set_index("centre_id") if centres is not None else
                pd.DataFrame(columns=["la_code", *contract.CENTRE_CHARACTERISTICS]))
    problems += _unknown_centres(survey.loc[named], "survey.csv", register.index.to_series())
    centre_la = survey["centre_id"].map(register["la_code"])
    disagree = named & survey["la_code"].notna() & centre_la.notna() & (centre_la != survey["la_code"])
    if disagree.any():
        problems.append(Problem("survey.csv", "la_code", "is not the local authority of the record's centre "
                                "in centres.csv", _rows(survey, disagree)))
    survey["la_code"] = survey["la_code"].fillna(centre_la)
    neither = survey["la_code"].isna()
    if neither.any():
        problems.append(Problem("survey.csv", "la_code", "is blank and the record names no centre, so the "
                                "mother's local authority is unknown", _rows(survey, neither)))
    for column in contract.CENTRE_CHARACTERISTICS:
        survey[column] = survey["centre_id"].map(register[column])
    return survey, problems
