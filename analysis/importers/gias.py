"""Get Information about Schools (GIAS) establishment extract -> centres.csv.

GIAS is the Department for Education's register of establishments; children's centres are establishment
type 47 ("Children's centre") and their linked sites type 48 ("Children's centre linked site"). The rules,
with the publisher's documentation for each, are in data/import/README.md. In short:

- The file is a GIAS establishment CSV as downloaded (edubasealldata*.csv, edubaseallchildrencentre*.csv or
  an establishment search export): one header row, columns named as GIAS names them ("URN", "LA (code)",
  "TypeOfEstablishment (code)", ...). Columns the importer does not read are ignored, since GIAS adds and
  drops columns between releases.
- Text encoding: GIAS writes Windows-1252. A file whose bytes are valid UTF-8 (re-saved by a spreadsheet)
  is read as UTF-8; bytes that are neither are refused.
- Every record must have as many fields as the header; a record that does not (a footnote, a note) is
  refused. Blank records are skipped and counted. Every URN is a whole number and appears once.
- Rows of other establishment types are dropped and counted. Linked sites (48) are dropped and counted
  unless include_linked_sites, since budgets are reported for the centre. The type name must agree with its
  code. A file with no children's centre is refused: DfE's "All establishment data" download no longer
  carries children's centres (see data/import/README.md).
- Dates are dd-mm-yyyy as GIAS writes them (a blank CloseDate: not closed; a blank OpenDate: open before
  the register's records begin, counted). With open_during=(first, last financial year), a centre is kept
  when it was open on any day from 1 April of the first year to 31 March of the year after the last;
  centres closed before or opened after the window are dropped and counted, and a "Closed" centre with no
  CloseDate is refused (it cannot be placed). Without a window every centre in the file is kept.
- centre_id = URN. la_code = "GSSLACode (name)" when it holds an English local-authority GSS code; else the
  three-digit "LA (code)" looked up in la_lookup (la_number -> gss_code), counted; else refused.
- urban_rural from "UrbanRural (name)": the ONS rural-urban classification labels of 2011
  ("(England/Wales) Urban major conurbation", ...) and 2021 ("Urban: Nearer to a major town or city",
  "Larger rural: ...", "Smaller rural: ..."), listed in full below; any other label (Scotland, the pseudo
  code, a blank) is refused by column and row.
- phase: GIAS shows a children's centre's phase only to signed-in users, so no public extract carries it:
  left blank and counted. idaci_decile: blank and counted, unless idaci_path names an English Indices of
  Deprivation file holding "LSOA code (2011)" or "LSOA code (2021)" and the IDACI decile column; then joined
  on the centre's "LSOA (code)", and a centre whose LSOA is blank or not in that file is refused.
"""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pandas as pd

from analysis.contract import CENTRES, LA_CODE_PATTERN
from analysis.errors import PlanError, Problem, RawDataError
from analysis.importers import Imported, ragged_rows

CENTRE_COLUMNS = CENTRES.column_names

URN = "URN"
LA_NUMBER = "LA (code)"
LA_NAME = "LA (name)"
NAME = "EstablishmentName"
TYPE_CODE = "TypeOfEstablishment (code)"
TYPE_NAME = "TypeOfEstablishment (name)"
STATUS = "EstablishmentStatus (name)"
OPEN_DATE = "OpenDate"
CLOSE_DATE = "CloseDate"
URBAN_RURAL = "UrbanRural (name)"
GSS_CODE = "GSSLACode (name)"  # GIAS names the column "(name)", but it holds the GSS code
LSOA = "LSOA (code)"
ALWAYS_READ = (
    URN,
    LA_NUMBER,
    LA_NAME,
    NAME,
    TYPE_CODE,
    TYPE_NAME,
    STATUS,
    OPEN_DATE,
    CLOSE_DATE,
    URBAN_RURAL,
)

CHILDRENS_CENTRE = 47
LINKED_SITE = 48
TYPE_NAMES = {CHILDRENS_CENTRE: "children's centre", LINKED_SITE: "children's centre linked site"}
STATUSES = ("Open", "Closed", "Open, but proposed to close", "Proposed to open")

# ONS rural-urban classification labels as GIAS writes them: the 2011 classification (RUC2011, England and
# Wales) and the 2021 one (RUC2021).
URBAN_RURAL_LABELS = {
    "(England/Wales) Urban major conurbation": "urban",
    "(England/Wales) Urban minor conurbation": "urban",
    "(England/Wales) Urban city and town": "urban",
    "(England/Wales) Urban city and town in a sparse setting": "urban",
    "(England/Wales) Rural town and fringe": "rural",
    "(England/Wales) Rural town and fringe in a sparse setting": "rural",
    "(England/Wales) Rural village": "rural",
    "(England/Wales) Rural village in a sparse setting": "rural",
    "(England/Wales) Rural hamlet and isolated dwellings": "rural",
    "(England/Wales) Rural hamlet and isolated dwellings in a sparse setting": "rural",
    "Urban: Nearer to a major town or city": "urban",
    "Urban: Further from a major town or city": "urban",
    "Larger rural: Nearer to a major town or city": "rural",
    "Larger rural: Further from a major town or city": "rural",
    "Smaller rural: Nearer to a major town or city": "rural",
    "Smaller rural: Further from a major town or city": "rural",
}

IDACI_DECILE = (
    "Income Deprivation Affecting Children Index (IDACI) Decile (where 1 is most deprived 10% of LSOAs)"
)
IOD_LSOA_COLUMNS = ("LSOA code (2011)", "LSOA code (2021)")

GIAS_DATE = re.compile(r"(\d{2})-(\d{2})-(\d{4})")
FINANCIAL_YEAR = re.compile(r"(\d{4})-(\d{2})")
WHOLE_NUMBER = re.compile(r"\d+")


# ---- reading published text ------------------------------------------------------------------------------


def decode_published_text(raw: bytes, file: str) -> tuple[str, str]:
    """The text of a downloaded CSV and the encoding it was read in: UTF-8 when its bytes are valid UTF-8
    (with or without a byte-order mark), else Windows-1252 as DfE and GOV.UK write; refused when neither."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RawDataError(
            [
                Problem(
                    file,
                    None,
                    f"is neither UTF-8 nor Windows-1252 text (byte {error.start + 1}, line {line}, cannot be "
                    "read in either): save it again as CSV (UTF-8)",
                )
            ]
        ) from None


def read_published_csv(path: Path, log: Imported) -> tuple[pd.DataFrame, str]:
    """The CSV as text cells, one row per record; records whose field count differs from the header's are
    refused (a footnote or note row), blank records are skipped and counted. The frame keeps each record's
    spreadsheet row number (header = 1) in its index."""
    file = path.name
    if not path.exists():
        raise RawDataError([Problem(file, None, "was not found")])
    text, encoding = decode_published_text(path.read_bytes(), file)
    if not text.strip():
        raise RawDataError([Problem(file, None, "is empty: expected a header row and data")])
    wrong_width = ragged_rows(text)
    if wrong_width:
        raise RawDataError(
            [
                Problem(
                    file,
                    None,
                    "has a different number of fields from the header row (a footnote, note or stray row?):"
                    " remove it, or download the file again",
                    tuple(wrong_width),
                )
            ]
        )
    frame = pd.read_csv(
        io.StringIO(text, newline=""), dtype=str, keep_default_na=False, skip_blank_lines=False
    )
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    frame = frame.fillna("")
    blank = frame.apply(lambda row: all(not str(cell).strip() for cell in row), axis=1)
    log.count(file, None, "blank row skipped", int(blank.sum()))
    return frame[~blank], encoding


def missing_columns(frame: pd.DataFrame, wanted, file: str) -> list[Problem]:
    """A problem for each wanted column the header lacks, naming a near spelling when there is one."""
    problems = []
    for column in wanted:
        if column in frame.columns:
            continue
        near = [found for found in frame.columns if found not in wanted and _near(found, column)]
        hint = f" (found {near[0]!r}: GIAS spells it {column!r})" if near else ""
        problems.append(Problem(file, column, f"required column is missing{hint}"))
    return problems


def _near(found, wanted) -> bool:
    """Whether a header name looks like a respelling or shortening of a wanted one."""
    found, wanted = _squash(found), _squash(wanted)
    return bool(found) and (found == wanted or wanted.startswith(found) or found.startswith(wanted))


def _squash(name) -> str:
    return re.sub(r"[\s_()]", "", str(name)).casefold()


# ---- the importer ----------------------------------------------------------------------------------------


def read_gias(
    path: Path,
    *,
    include_linked_sites: bool = False,
    open_during: tuple[str, str] | None = None,
    idaci_path: Path | None = None,
    la_lookup: pd.DataFrame | None = None,
) -> Imported:
    """centres.csv made from a GIAS establishment extract (rules in the module docstring).

    include_linked_sites: keep type 48 linked sites as centres of their own (default: dropped, counted).
    open_during: (first, last) financial year, "2011-12": keep the centres open at any time in that window.
    idaci_path: an English Indices of Deprivation file with the IDACI decile by LSOA.
    la_lookup: DfE LA number -> GSS code (columns la_number, gss_code), used where GIAS's GSS code is absent.
    """
    path = Path(path)
    file = path.name
    result = Imported(frame=pd.DataFrame(columns=CENTRE_COLUMNS))
    window = _window(open_during)
    frame, encoding = read_published_csv(path, result)

    wanted = list(ALWAYS_READ)
    if la_lookup is None:
        wanted.append(GSS_CODE)
    if idaci_path is not None:
        wanted.append(LSOA)
    problems = missing_columns(frame, wanted, file)
    if problems:
        raise RawDataError(problems)
    frame = frame.apply(lambda column: column.str.strip())

    problems += _check_urns(frame, file)
    type_code = pd.to_numeric(frame[TYPE_CODE].where(frame[TYPE_CODE].str.fullmatch(WHOLE_NUMBER.pattern)))
    bad_type = type_code.isna()
    if bad_type.any():
        problems.append(
            Problem(
                file, TYPE_CODE, "is not a whole-number establishment type code", tuple(frame.index[bad_type])
            )
        )
    if problems:
        raise RawDataError(problems)

    is_centre = type_code.isin([CHILDRENS_CENTRE, LINKED_SITE])
    result.count(
        file,
        TYPE_CODE,
        "not a children's centre (type 47) or linked site (type 48): dropped",
        int((~is_centre).sum()),
    )
    if not is_centre.any():
        raise RawDataError(
            [
                Problem(
                    file,
                    TYPE_CODE,
                    "holds no children's centre (type 47) or linked site (type 48). DfE's 'All establishment "
                    "data' download does not include children's centres: download 'Children's centre fields "
                    "CSV' (open centres) or an establishment search export of children's centres, closed "
                    "ones included",
                )
            ]
        )
    centres = frame[is_centre].copy()
    centres["type"] = type_code[is_centre].astype(int)

    problems += _check_type_names(centres, file)
    linked = centres["type"] == LINKED_SITE
    if include_linked_sites:
        result.count(
            file, TYPE_CODE, "children's centre linked site (type 48) kept as a centre", int(linked.sum())
        )
    else:
        result.count(file, TYPE_CODE, "children's centre linked site (type 48) dropped", int(linked.sum()))
        centres = centres[~linked]

    problems += _place_in_window(centres, window, file, result)
    if problems:
        raise RawDataError(problems)
    centres = centres[centres["in_window"]]
    if centres.empty:
        raise RawDataError(
            [
                Problem(
                    file,
                    None,
                    "holds no children's centre open in the analysis window "
                    f"{open_during[0]} to {open_during[1]}",
                )
            ]
        )

    la_codes, la_problems = _la_codes(centres, frame.columns, la_lookup, file, result)
    urban_rural, ur_problems = _urban_rural(centres, file)
    problems += la_problems + ur_problems
    idaci = pd.Series("", index=centres.index)
    if idaci_path is None:
        result.count(
            file, None, "idaci_decile left blank: no Indices of Deprivation file given", len(centres)
        )
    else:
        idaci, idaci_problems, idaci_source = _idaci(centres, Path(idaci_path), file)
        problems += idaci_problems
        result.provenance["idaci"] = idaci_source
    if problems:
        raise RawDataError(problems)

    result.count(
        file, None, "phase left blank: GIAS does not publish a children's centre's phase", len(centres)
    )
    result.frame = pd.DataFrame(
        {
            "centre_id": centres[URN],
            "centre_name": centres[NAME],
            "la_code": la_codes,
            "la_name": centres[LA_NAME],
            "phase": "",
            "idaci_decile": idaci,
            "urban_rural": urban_rural,
        },
        columns=CENTRE_COLUMNS,
    ).reset_index(drop=True)
    result.provenance.update(
        {
            "source": "Get Information about Schools (DfE) establishment extract",
            "file": file,
            "encoding": encoding,
            "analysis_window": list(open_during) if open_during else None,
            "linked_sites": "kept" if include_linked_sites else "dropped",
        }
    )
    return result


def _window(open_during) -> tuple[date, date] | None:
    if open_during is None:
        return None
    first, last = open_during
    years = []
    for year in (first, last):
        match = FINANCIAL_YEAR.fullmatch(str(year))
        if not match or (int(match[1]) + 1) % 100 != int(match[2]):
            raise PlanError(f"open_during: {year!r} is not a financial year written as 2011-12")
        years.append(int(match[1]))
    if years[0] > years[1]:
        raise PlanError("open_during: the first financial year is after the last")
    return date(years[0], 4, 1), date(years[1] + 1, 3, 31)


def _check_urns(frame: pd.DataFrame, file: str) -> list[Problem]:
    problems = []
    not_urn = ~frame[URN].str.fullmatch(WHOLE_NUMBER.pattern)
    if not_urn.any():
        problems.append(
            Problem(
                file,
                URN,
                "is not a URN (a whole number): a footnote, note or stray row? Remove it",
                tuple(frame.index[not_urn]),
            )
        )
    repeated = frame[URN].duplicated(keep=False) & ~not_urn
    if repeated.any():
        urns = ", ".join(sorted(set(frame.loc[repeated, URN])))
        problems.append(
            Problem(
                file,
                URN,
                f"appears more than once (URN {urns}): each establishment is one row",
                tuple(frame.index[repeated]),
            )
        )
    return problems


def _check_type_names(centres: pd.DataFrame, file: str) -> list[Problem]:
    expected = centres["type"].map(TYPE_NAMES)
    written = centres[TYPE_NAME].str.replace("\u2019", "'").str.casefold()
    disagree = written != expected
    if not disagree.any():
        return []
    return [
        Problem(
            file,
            TYPE_NAME,
            "does not name the establishment type its code gives (47 is \"Children's "
            'centre", 48 "Children\'s centre linked site"): an unknown or changed code',
            tuple(centres.index[disagree]),
        )
    ]


def _parse_dates(column: pd.Series, file: str, name: str) -> tuple[pd.Series, list[Problem]]:
    parsed, bad = {}, []
    for row, text in column.items():
        if not text:
            parsed[row] = None
            continue
        match = GIAS_DATE.fullmatch(text)
        try:
            parsed[row] = date(int(match[3]), int(match[2]), int(match[1])) if match else None
        except ValueError:
            match = None
        if not match:
            bad.append(row)
    problems = (
        [
            Problem(
                file,
                name,
                "is not a date written dd-mm-yyyy, as GIAS writes dates, or is not a date that exists",
                tuple(bad),
            )
        ]
        if bad
        else []
    )
    return pd.Series(parsed, index=column.index, dtype=object), problems


def _place_in_window(centres: pd.DataFrame, window, file: str, result: Imported) -> list[Problem]:
    """Sets centres['in_window'] by the documented rule; returns the problems found in status and dates."""
    opened, problems = _parse_dates(centres[OPEN_DATE], file, OPEN_DATE)
    closed, close_problems = _parse_dates(centres[CLOSE_DATE], file, CLOSE_DATE)
    problems += close_problems
    unknown_status = ~centres[STATUS].isin(STATUSES)
    if unknown_status.any():
        problems.append(
            Problem(
                file,
                STATUS,
                "is not a GIAS establishment status (Open; Closed; Open, but "
                "proposed to close; Proposed to open)",
                tuple(centres.index[unknown_status]),
            )
        )
    both = opened.notna() & closed.notna()
    backwards = both & (closed[both] < opened[both]).reindex(centres.index, fill_value=False)
    if backwards.any():
        problems.append(Problem(file, CLOSE_DATE, "is before the OpenDate", tuple(centres.index[backwards])))
    centres["in_window"] = True
    if problems:
        return problems
    is_closed = centres[STATUS] == "Closed"
    if window is None:
        result.count(file, STATUS, "closed centre kept (no analysis window given)", int(is_closed.sum()))
        return []
    start, end = window
    undated = is_closed & closed.isna()
    if undated.any():
        return [
            Problem(
                file,
                CLOSE_DATE,
                "is blank for a centre whose status is Closed, so it cannot be told "
                "whether it was open in the analysis window",
                tuple(centres.index[undated]),
            )
        ]
    before = closed.map(lambda day: day is not None and day < start).astype(bool)
    after = opened.map(lambda day: day is not None and day > end).astype(bool)
    result.count(file, CLOSE_DATE, "closed before the analysis window: dropped", int(before.sum()))
    result.count(file, OPEN_DATE, "opened after the analysis window: dropped", int(after.sum()))
    kept = ~before & ~after
    result.count(
        file,
        OPEN_DATE,
        "OpenDate blank: read as open before the register's records begin",
        int((opened.isna() & kept).sum()),
    )
    centres["in_window"] = kept
    return []


def _la_codes(centres, columns, la_lookup, file, result) -> tuple[pd.Series, list[Problem]]:
    gss = centres[GSS_CODE] if GSS_CODE in columns else pd.Series("", index=centres.index)
    valid = gss.str.fullmatch(LA_CODE_PATTERN)
    codes = gss.where(valid, "")
    needs_lookup = ~valid
    if not needs_lookup.any():
        return codes, []
    if la_lookup is None:
        return codes, [
            Problem(
                file,
                GSS_CODE,
                "is not an English local-authority GSS code (E06, E08, E09 or E10 "
                "and six digits), and no LA lookup was given to read it from 'LA (code)'",
                tuple(centres.index[needs_lookup]),
            )
        ]
    lookup = dict(
        zip(
            la_lookup["la_number"].astype(str).str.strip().str.zfill(3),
            la_lookup["gss_code"].astype(str).str.strip(),
            strict=True,
        )
    )
    numbers = centres.loc[needs_lookup, LA_NUMBER]
    found = numbers.map(lookup)
    unknown = found.isna() | ~found.fillna("").str.fullmatch(LA_CODE_PATTERN)
    if unknown.any():
        return codes, [
            Problem(
                file,
                LA_NUMBER,
                "is not a local-authority number in the LA lookup (la_codes.csv)",
                tuple(numbers.index[unknown]),
            )
        ]
    codes[needs_lookup] = found
    result.count(
        file, GSS_CODE, "GSS code read from 'LA (code)' through the LA lookup", int(needs_lookup.sum())
    )
    return codes, []


def _urban_rural(centres, file) -> tuple[pd.Series, list[Problem]]:
    mapped = centres[URBAN_RURAL].map(URBAN_RURAL_LABELS)
    unknown = mapped.isna()
    if not unknown.any():
        return mapped, []
    return mapped, [
        Problem(
            file,
            URBAN_RURAL,
            "is not an England rural-urban classification label (ONS 2011 "
            "or 2021) that reads as urban or rural",
            tuple(centres.index[unknown]),
        )
    ]


def _idaci(centres, idaci_path: Path, file: str) -> tuple[pd.Series, list[Problem], dict]:
    deciles, lsoa_column, idaci_file = read_iod_idaci(idaci_path)
    lsoa = centres[LSOA]
    blank = lsoa == ""
    missing = ~blank & ~lsoa.isin(deciles.index)
    problems = []
    if blank.any():
        problems.append(
            Problem(
                file,
                LSOA,
                "is blank, so the centre's IDACI decile cannot be read",
                tuple(centres.index[blank]),
            )
        )
    if missing.any():
        problems.append(
            Problem(
                file,
                LSOA,
                f"is not an LSOA in {idaci_file} ({lsoa_column}): LSOAs of another census year?",
                tuple(centres.index[missing]),
            )
        )
    return lsoa.map(deciles).fillna(""), problems, {"file": idaci_file, "lsoa_column": lsoa_column}


def read_iod_idaci(path: Path) -> tuple[pd.Series, str, str]:
    """IDACI decile (text '1'..'10') by LSOA code from an English Indices of Deprivation file (.csv, or .xlsx
    with one sheet holding both columns in its first row), with the LSOA column and file name."""
    file = path.name
    if not path.exists():
        raise RawDataError([Problem(file, None, "was not found")])
    if path.suffix.lower() == ".xlsx":
        frame, file = _iod_sheet(path)
    elif path.suffix.lower() == ".csv":
        scratch = Imported(frame=pd.DataFrame())
        frame, _ = read_published_csv(path, scratch)
        frame = frame.apply(lambda column: column.str.strip())
    else:
        raise RawDataError([Problem(file, None, "is not a .csv or .xlsx file (save an .xls file as .xlsx)")])
    lsoa_columns = [column for column in IOD_LSOA_COLUMNS if column in frame.columns]
    problems = []
    if not lsoa_columns:
        problems.append(
            Problem(file, IOD_LSOA_COLUMNS[0], "required column is missing (or 'LSOA code (2021)')")
        )
    if IDACI_DECILE not in frame.columns:
        problems.append(Problem(file, IDACI_DECILE, "required column is missing"))
    if problems:
        raise RawDataError(problems)
    lsoa_column = lsoa_columns[0]
    decile = frame[IDACI_DECILE].map(_decile_text)
    bad = decile.isna()
    if bad.any():
        problems.append(
            Problem(file, IDACI_DECILE, "is not a whole number from 1 to 10", tuple(frame.index[bad]))
        )
    repeated = frame[lsoa_column].duplicated(keep=False)
    if repeated.any():
        problems.append(Problem(file, lsoa_column, "appears more than once", tuple(frame.index[repeated])))
    if problems:
        raise RawDataError(problems)
    return pd.Series(decile.to_numpy(), index=frame[lsoa_column].to_numpy()), lsoa_column, file


def _decile_text(value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer() and 1 <= value <= 10:
        return str(int(value))
    text = str(value).strip()
    return text if WHOLE_NUMBER.fullmatch(text) and 1 <= int(text) <= 10 and text[0] != "0" else None


def _iod_sheet(path: Path) -> tuple[pd.DataFrame, str]:
    sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl", dtype=object)
    holding = [name for name, sheet in sheets.items() if IDACI_DECILE in sheet.columns]
    if len(holding) != 1:
        where = "no sheet" if not holding else "more than one sheet"
        raise RawDataError([Problem(path.name, IDACI_DECILE, f"is in {where} of the workbook (in row 1)")])
    frame = sheets[holding[0]]
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    frame = frame.dropna(how="all")
    for column in IOD_LSOA_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype(str).str.strip()
    return frame, f"{path.name}, sheet '{holding[0]}'"
