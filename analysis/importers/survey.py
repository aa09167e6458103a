"""Survey files as distributed (Stata .dta, SPSS .sav, tab-delimited, CSV), read through a declarative
mapping file (YAML) into the contract's survey.csv.

The mapping language is documented in data/import/README.md and its shape is checked against
data/import/mappings/mapping.schema.yaml. The rules:

- Files: each wave names its tables by file-name templates (`mcs{number}_parent_interview.dta`, with the
  wave's `prefix` and `number` filled in); the first table gives the rows, the others are joined on their
  declared `keys`, bringing only their declared `columns` (and `optional_columns`, when present). A table
  whose file name has no wave field is one file holding every wave (wide); otherwise there is one file per
  wave (long). Files are found among those given by their name as downloaded; a file the mapping does not
  name is ignored (listed in the provenance). The reader is chosen by the extension, or declared.
- Values: Stata and SPSS files are read as numeric codes, never labels (pyreadstat); text files as text
  (pandas, every cell a string, nothing read as missing by pandas). A variable is looked up by its exact
  published name; a missing one is refused, naming any spelling that differs only in letter case.
- Ids: mother_id joins the declared id columns with the declared separator; invisible formatting
  characters and surrounding white space are removed (counted). A blank or fractional id is refused; so are
  two rows of one wave whose ids are the same, or differ only by invisible characters, spacing or letter
  case. A joined table must have one row per key; a row without a match is refused, or dropped and counted
  when the table says `unmatched: drop`.
- Selection: `select` keeps the rows whose code is listed; every other row is dropped and counted.
- Codes: a column with a code list is read as whole-number codes; every code must be listed, and is written
  as its listed contract code or blank (counted when changed); an unlisted or non-numeric code is refused by
  file, variable and row. `reverse` then turns a scale the other way round (low + high - value; counted).
  A column without a code list is passed through as text (whole numbers without a decimal point, dates as
  YYYY-MM-DD); the contract's checks read it afterwards. A system-missing value (Stata or SPSS) becomes a
  blank cell, counted.
- Columns: every contract column but mother_id and wave is either renamed from a source variable or listed
  under `absent`; absent columns are blank, said in the log and counted. At least one of centre_id and
  la_code must come from the files; la_code is in the output only when it does.
- Problems: every problem found is collected and raised together as one RawDataError naming the file as
  downloaded (never its folder), the variable as published and the rows: spreadsheet rows (header = row 1)
  for text files, observation numbers for Stata and SPSS files (said in the message). A problem in the
  mapping names the mapping file and key. Messages quote identifiers, variable names and row numbers, never
  an answer.
"""

from __future__ import annotations

import io
import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pyreadstat
import yaml

from analysis.cleaning import INVISIBLE_TABLE, WHITE_SPACE, WHOLE
from analysis.contract import MISSING_CODES, SURVEY
from analysis.errors import Problem, RawDataError, printable
from analysis.importers import Imported, ragged_rows

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "data" / "import" / "mappings"
SCHEMA_PATH = MAPPINGS_DIR / "mapping.schema.yaml"

READERS_BY_EXTENSION = {".csv": "csv", ".tab": "tab", ".tsv": "tab", ".dta": "stata", ".sav": "spss",
                        ".zsav": "spss"}
READER_NAMES = {"csv": "a comma-separated text file (.csv)", "tab": "a tab-delimited text file (.tab)",
                "stata": "a Stata file (.dta)", "spss": "an SPSS file (.sav)"}
WAVE_FIELDS = ("prefix", "number")
GEOGRAPHY = ("centre_id", "la_code")
CONTRACT_MISSING = tuple(int(code) for code in MISSING_CODES)
OUTPUT_COLUMNS = SURVEY.column_names
MAPPED_COLUMNS = [name for name in OUTPUT_COLUMNS if name not in ("mother_id", "wave")] + ["la_code"]
SPECS = {column.name: column for column in SURVEY.columns}
WHOLE_TEXT = re.compile(WHOLE)


# ---- the mapping file ------------------------------------------------------------------------------------

def load_mapping(path) -> dict:
    """Read a mapping file (a path, or the bare name of a shipped mapping such as "mcs_parent_interview")
    with yaml.safe_load, and check it against mapping.schema.yaml and the rules of the mapping language.
    Refused with a RawDataError naming the mapping file and key."""
    path = Path(path)
    if not path.suffix and not path.exists():
        path = MAPPINGS_DIR / f"{path.name}.yaml"
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        shipped = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml") if p.name != SCHEMA_PATH.name))
        raise RawDataError([Problem(name, None, f"mapping file not found (shipped: {shipped})")]) from None
    except (OSError, UnicodeDecodeError):
        raise RawDataError([Problem(name, None, "could not be read as a UTF-8 text file")]) from None
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise RawDataError([Problem(name, None, f"is not valid YAML{where}")]) from None
    problems = check_mapping(mapping, name)
    if problems:
        raise RawDataError(problems)
    return mapping


def check_mapping(mapping, name: str = "mapping") -> list[Problem]:
    """Every problem of a mapping (already parsed): the schema first, then the rules across keys."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    problems = [Problem(name, _key_path(error.absolute_path), _schema_message(error))
                for error in sorted(validator.iter_errors(mapping), key=lambda e: list(map(str, e.path)))]
    return problems or _cross_key_problems(mapping, name)


def _key_path(path) -> str | None:
    parts = [f"[{part + 1}]" if isinstance(part, int) else str(part) for part in path]
    return "".join(p if p.startswith("[") else f".{p}" for p in parts).lstrip(".") or None


def _schema_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"the key '{missing}' is missing"
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"unknown key(s) {', '.join(map(repr, unknown))}: see data/import/README.md"
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"must be one of: {allowed}"
    if error.validator == "const":
        return f"must be {error.validator_value}"
    if error.validator == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        words = {"string": "a text (write templates such as {prefix}PPHDE00 in quotes)",
                 "object": "a mapping", "array": "a list", "integer": "a whole number", "null": "null"}
        return f"must be {' or '.join(words.get(w, w) for w in wanted.split(' or '))}"
    if error.validator in ("minItems", "minProperties", "minLength"):
        return "must not be empty"
    if error.validator == "maxItems":
        return f"has more than {error.validator_value} entries"
    if error.validator == "oneOf":
        return "must be a file-name template or a list of them"
    if error.validator == "pattern":
        return "must be lower-case letters, digits and underscores, starting with a letter"
    return "is not what the mapping language allows here"


def _fields(template: str) -> set[str] | None:
    """The {fields} a template names, or None when its braces do not parse."""
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError:
        return None


def _cross_key_problems(mapping: dict, name: str) -> list[Problem]:
    problems: list[Problem] = []

    def fault(key: str, message: str) -> None:
        problems.append(Problem(name, key, message))

    waves = [entry["wave"] for entry in mapping["waves"]]
    if len(set(waves)) != len(waves):
        fault("waves", "a contract wave is declared twice")
    available = {field for field in WAVE_FIELDS if all(field in entry for entry in mapping["waves"])}

    def check_template(key: str, template: str) -> None:
        fields = _fields(template)
        if fields is None:
            fault(key, "has unbalanced braces { }")
        elif fields - available:
            unknown = ", ".join(sorted(fields - available))
            fault(key, f"names {{{unknown}}}, which is not a field of every wave (fields: prefix, number)")

    names = [table["name"] for table in mapping["tables"]]
    if len(set(names)) != len(names):
        fault("tables", "two tables have the same name")
    for index, table in enumerate(mapping["tables"], start=1):
        key = f"tables[{index}]"
        files = table["file"] if isinstance(table["file"], list) else [table["file"]]
        for template in files:
            check_template(f"{key}.file", template)
        for part in ("keys", "columns", "optional_columns"):
            for template in table.get(part, []):
                check_template(f"{key}.{part}", template)
        if index == 1:
            for part in ("keys", "columns", "optional_columns", "unmatched"):
                if part in table:
                    fault(f"{key}.{part}", "the first table gives the rows and is not joined: remove it")
        elif "keys" not in table:
            fault(f"{key}.keys", "a joined table needs the id columns it is joined on")
        elif not table.get("columns") and not table.get("optional_columns"):
            fault(f"{key}.columns", "a joined table must bring at least one column")
    for template in mapping["mother_id"]["columns"]:
        check_template("mother_id.columns", template)
    for index, rule in enumerate(mapping.get("select", []), start=1):
        check_template(f"select[{index}].column", rule["column"])
    targets: dict[str, str] = {}
    for source, target in mapping["renames"].items():
        check_template(f"renames.{source}", source)
        if target in targets:
            fault(f"renames.{source}", f"'{target}' is already renamed from '{targets[target]}'")
        targets[target] = source
    absent = mapping["absent"]
    if len(set(absent)) != len(absent):
        fault("absent", "lists a column twice")
    for column in MAPPED_COLUMNS:
        if column in targets and column in absent:
            fault("absent", f"'{column}' is renamed from '{targets[column]}' and listed as absent: "
                            "choose one")
        elif column not in targets and column not in absent and column != "la_code":
            fault("absent", f"contract column '{column}' is neither renamed from a source variable nor "
                            "listed as absent")
    if not any(column in targets for column in GEOGRAPHY):
        fault("renames", "neither centre_id nor la_code is mapped: every mother needs her centre or local "
                         "authority")
    lists = mapping.get("code_lists", {})
    for list_name, entries in lists.items():
        codes = [entry["code"] for entry in entries]
        if len(set(codes)) != len(codes):
            fault(f"code_lists.{list_name}", "lists a source code twice")
    for column, list_name in mapping.get("recodes", {}).items():
        key = f"recodes.{column}"
        if column not in targets:
            fault(key, f"'{column}' is not renamed from any source variable")
        elif SPECS.get(column) is None or SPECS[column].kind != "code":
            fault(key, f"'{column}' is not a coded column of the contract")
        elif list_name not in lists:
            fault(key, f"code list '{list_name}' is not defined under code_lists")
        else:
            low, high = int(SPECS[column].low), int(SPECS[column].high)
            for entry in lists[list_name]:
                to = entry["to"]
                if to is not None and to not in CONTRACT_MISSING and not low <= to <= high:
                    fault(f"code_lists.{list_name}",
                          f"code {entry['code']} goes to {to}, outside {column}'s range {low}-{high} and not "
                          f"a missing code ({', '.join(MISSING_CODES)})")
    for column, (low, high) in mapping.get("reverse", {}).items():
        key = f"reverse.{column}"
        if column not in targets:
            fault(key, f"'{column}' is not renamed from any source variable")
        elif column not in mapping.get("recodes", {}):
            fault(key, "a reversed item needs a code list (recodes), so that every code is known")
        elif low >= high:
            fault(key, "the scale must be written [lowest, highest]")
        elif SPECS.get(column) is not None and (low, high) != (SPECS[column].low, SPECS[column].high):
            spec = SPECS[column]
            fault(key, f"the reversed scale {low}-{high} must be the contract's {spec.low:g}-{spec.high:g}")
    return problems


# ---- reading files --------------------------------------------------------------------------------------

@dataclass
class Table:
    """One file as read: its columns as published, and how its rows are numbered in messages."""

    name: str  # the file's name as downloaded
    columns: list[str]
    binary: bool  # Stata or SPSS: rows are observation numbers
    path: Path
    reader: str
    frame: pd.DataFrame | None = None

    def rows_note(self) -> str:
        kind = "Stata" if self.reader == "stata" else "SPSS"
        return f" (observation numbers in the {kind} file)" if self.binary else ""

    def row_numbers(self, positions) -> tuple[int, ...]:
        offset = 1 if self.binary else 2
        return tuple(int(p) + offset for p in positions)


class _Reader:
    """Opens each file once, reading only the variables asked for."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        self.tables: dict[Path, Table | None] = {}

    def open(self, path: Path, declared: str) -> Table | None:
        if path in self.tables:
            return self.tables[path]
        table = self._open(path, declared)
        self.tables[path] = table
        return table

    def _open(self, path: Path, declared: str) -> Table | None:
        by_extension = READERS_BY_EXTENSION.get(path.suffix.lower())
        reader = by_extension if declared == "auto" else declared
        if reader is None:
            self.problems.append(Problem(path.name, None, "has an extension this importer does not read (it "
                                                          "reads .dta, .sav, .tab, .tsv and .csv)"))
            return None
        if by_extension is not None and by_extension != reader:
            self.problems.append(Problem(path.name, None, f"is {READER_NAMES[by_extension]}, but the mapping "
                                                          f"reads it as {READER_NAMES[reader]}"))
            return None
        try:
            if reader in ("stata", "spss"):
                read = pyreadstat.read_dta if reader == "stata" else pyreadstat.read_sav
                _, meta = read(str(path), metadataonly=True)
                return Table(path.name, list(meta.column_names), True, path, reader)
            separator = "," if reader == "csv" else "\t"
            text = path.read_text(encoding="utf-8-sig")
            ragged = ragged_rows(text, separator)
            if ragged:
                self.problems.append(Problem(path.name, None, "has rows with more or fewer fields than the "
                                             "header row (a row cut short, or a stray note?)", tuple(ragged)))
                return None
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=separator)
        except UnicodeDecodeError:
            self.problems.append(Problem(path.name, None, "is not UTF-8 text: save it as UTF-8"))
            return None
        except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, pd.errors.ParserError,
                pd.errors.EmptyDataError, ValueError, OSError):
            self.problems.append(Problem(path.name, None, f"could not be read as {READER_NAMES[reader]}: is "
                                                          "it the file as downloaded?"))
            return None
        frame.columns = [str(column).strip() for column in frame.columns]
        if reader == "csv" and len(frame.columns) == 1 and "\t" in frame.columns[0]:
            self.problems.append(Problem(path.name, None, "is tab-delimited, not comma-separated: "
                                                          "name it .tab"))
            return None
        return Table(path.name, list(frame.columns), False, path, reader, frame)

    def load(self, table: Table, columns: list[str]) -> pd.DataFrame:
        """The named columns (all present), as objects: numbers as floats, text as str, missing as None."""
        if table.frame is not None:
            return table.frame[columns]
        read = pyreadstat.read_dta if table.reader == "stata" else pyreadstat.read_sav
        frame, _ = read(str(table.path), usecols=list(dict.fromkeys(columns)), apply_value_formats=False)
        return frame[columns]


# ---- values -----------------------------------------------------------------------------------------------

def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


def _as_text(value) -> str | None:
    """A source value as the text written to survey.csv (None when system-missing)."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _as_code(value) -> int | str | None:
    """A whole-number code, None when missing or blank, or the reason it is not a code."""
    if _is_missing(value):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else "is not a whole-number code"
    text = str(value).strip()
    if text == "":
        return None
    if WHOLE_TEXT.fullmatch(text):
        return int(float(text))
    return "is not a whole-number code"


def _without_invisible(text: str) -> str:
    """The contract cleaning's first two steps: invisible formatting characters removed, then its white space
    trimmed (never the control characters U+001C-U+001F, which the cleaning refuses)."""
    return text.translate(INVISIBLE_TABLE).strip(WHITE_SPACE)


def _comparison_key(text: str) -> str:
    """Ids compared as the contract's cleaning will read them, and without any spacing at all."""
    text = unicodedata.normalize("NFKC", _without_invisible(text))
    return "".join(char for char in text if not char.isspace()).casefold()


# ---- the importer -----------------------------------------------------------------------------------------

def read_mapped_survey(mapping: dict, files: list[Path], *, mapping_name: str = "mapping") -> Imported:
    """Read the survey files (as downloaded) through a mapping (see load_mapping) into a frame with the
    contract's survey.csv columns (and la_code when the files carry it), as text. Refused with a
    RawDataError listing every problem found."""
    problems = check_mapping(mapping, mapping_name)
    if problems:
        raise RawDataError(problems)
    imported = Imported(frame=pd.DataFrame(columns=OUTPUT_COLUMNS))
    run = _Run(mapping, [Path(f) for f in files], mapping_name, imported)
    waves = [run.read_wave(entry) for entry in sorted(mapping["waves"], key=lambda e: e["wave"])]
    run.problems.extend(run.duplicate_ids(waves))
    run.problems.extend(run.geography_problems())
    if run.problems:
        raise RawDataError(list(dict.fromkeys(run.problems)))  # a wide file's fault is found once per wave
    frame = pd.concat([wave.frame for wave in waves], ignore_index=True)
    la_code_read = "la_code" in mapping["renames"].values() and "la_code" not in run.blank_columns()
    columns = OUTPUT_COLUMNS + (["la_code"] if la_code_read else [])
    for column in columns:
        if column not in frame.columns:
            frame[column] = ""
    imported.frame = frame[columns].fillna("").astype(str).reset_index(drop=True)
    for wave in waves:
        for column in [c for c in run.blank_columns() if c in columns]:
            imported.count(mapping_name, column, "not in the source: left blank (listed under absent in the "
                                                 "mapping, or not in the geography file)", len(wave.frame))
    used = {table.path for table in run.reader.tables.values() if table is not None}
    imported.provenance = {
        "mapping": mapping_name,
        "survey": mapping["survey"],
        "sources": list(mapping.get("sources", [])),
        "waves": {entry["wave"]: entry.get("label", entry["prefix"]) for entry in mapping["waves"]},
        "files_read": sorted(path.name for path in used),
        "files_ignored": sorted(path.name for path in run.files if path not in used),
        "blank_columns": run.blank_columns(),
    }
    return imported


@dataclass
class _Wave:
    number: int
    frame: pd.DataFrame  # the wave's output rows, plus the private columns below
    main: Table | None
    id_columns: list[str]


ROW = "_row"  # position of the row in the first table
KEY = "_key"  # comparison key of mother_id
RAW = "_raw"  # the id columns as published, before invisible characters and surrounding spaces are removed


class _Run:
    def __init__(self, mapping: dict, files: list[Path], mapping_name: str, imported: Imported):
        self.mapping = mapping
        self.files = files
        self.mapping_name = mapping_name
        self.imported = imported
        self.problems: list[Problem] = []
        self.reader = _Reader(self.problems)
        self.geography_found: set[str] = set()
        self.geography_missing: set[str] = set()
        self.by_name = {}
        for path in files:
            self.by_name.setdefault(path.name, []).append(path)

    def fault(self, file: str, column: str | None, message: str, rows=()) -> None:
        self.problems.append(Problem(file, column, message, tuple(rows)))

    def count(self, file: str, column: str | None, rule: str, n_rows: int) -> None:
        self.imported.count(file, column, rule, n_rows)

    def blank_columns(self) -> list[str]:
        blank = list(self.mapping["absent"])
        blank += [c for c in self._optional_geography() if c in self.mapping["renames"].values()
                  and c not in self.geography_found]
        return [c for c in OUTPUT_COLUMNS + ["la_code"] if c in blank]

    # -- files

    def _find(self, templates: list[str], fields: dict, key: str, wave: int) -> Path | None:
        names = [template.format(**fields) for template in templates]
        found = [path for name in names for path in self.by_name.get(name, [])]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            self.fault(found[0].name, None, f"more than one file given for mapping key {key} in wave {wave} "
                                            f"({', '.join(p.name for p in found)}): give one")
            return None
        lower = {path.name.lower(): path for path in self.files}
        near = [lower[name.lower()].name for name in names if name.lower() in lower]
        hint = f"; '{near[0]}' differs only in letter case: give it its name as downloaded" if near else ""
        label = next(e.get("label", e["prefix"]) for e in self.mapping["waves"] if e["wave"] == wave)
        self.fault(names[0], None, f"not found among the files given, needed for wave {wave} ({label}) by "
                                   f"{self.mapping_name} key {key}{hint}")
        return None

    def _columns(self, table: Table, wanted: list[str], keys: dict[str, str]) -> bool:
        absent = [column for column in wanted if column not in table.columns]
        for column in absent:
            near = [c for c in table.columns if c.casefold() == column.casefold()]
            hint = f"; found '{printable(near[0])}', which differs only in letter case" if near else ""
            self.fault(table.name, column, f"variable not found (named by {self.mapping_name} key "
                                           f"{keys.get(column, 'tables')})" + hint)
        return not absent

    def _naming_keys(self, fill) -> dict[str, str]:
        """For each variable of a wave, the mapping key that names it (for messages)."""
        keys: dict[str, str] = {}
        for source in self.mapping["renames"]:
            keys.setdefault(fill(source), f"renames.{source}")
        for index, rule in enumerate(self.mapping.get("select", []), start=1):
            keys.setdefault(fill(rule["column"]), f"select[{index}].column")
        for index, table in enumerate(self.mapping["tables"], start=1):
            for part in ("keys", "columns"):
                for template in table.get(part, []):
                    keys.setdefault(fill(template), f"tables[{index}].{part}")
        for template in self.mapping["mother_id"]["columns"]:
            keys[fill(template)] = "mother_id.columns"
        return keys

    # -- one wave

    def read_wave(self, entry: dict) -> _Wave:
        wave = entry["wave"]
        fields = {field: entry.get(field, "") for field in WAVE_FIELDS}
        fill = lambda template: template.format(**fields)  # noqa: E731
        tables = self.mapping["tables"]
        empty = _Wave(wave, pd.DataFrame(), None, [])
        paths = [self._find(t["file"] if isinstance(t["file"], list) else [t["file"]], fields,
                            f"tables[{i}].file ({t['name']})", wave) for i, t in enumerate(tables, start=1)]
        opened = [self.reader.open(path, spec.get("reader", "auto")) if path else None
                  for path, spec in zip(paths, tables, strict=True)]
        if any(table is None for table in opened):
            return empty
        main, joined = opened[0], list(zip(tables[1:], opened[1:], strict=True))
        brought = {fill(c) for t, _ in joined for c in t.get("columns", []) + t.get("optional_columns", [])}
        id_columns = [fill(c) for c in self.mapping["mother_id"]["columns"]]
        selects = [(fill(rule["column"]), rule) for rule in self.mapping.get("select", [])]
        renames = {fill(source): target for source, target in self.mapping["renames"].items()}
        main_wanted = list(dict.fromkeys(
            id_columns + [fill(k) for t, _ in joined for k in t["keys"]]
            + [c for c, _ in selects if c not in brought] + [c for c in renames if c not in brought]))
        naming = self._naming_keys(fill)
        ok = self._columns(main, main_wanted, naming)
        for index, (spec, table) in enumerate(joined, start=2):
            wanted = [fill(k) for k in spec["keys"]] + [fill(c) for c in spec.get("columns", [])]
            ok &= self._columns(table, wanted, {**naming, **{k: f"tables[{index}].keys" for k in
                                                            map(fill, spec["keys"])}})
        if not ok:
            return empty
        frame = self.reader.load(main, main_wanted).reset_index(drop=True)
        frame[ROW] = np.arange(len(frame))
        raw_texts: dict[str, list[str]] = {}
        keys_text = self._ids(frame, main, list(dict.fromkeys(id_columns + [fill(k) for t, _ in joined
                                                                             for k in t["keys"]])), raw_texts)
        if keys_text is None:
            return empty
        frame = frame.assign(**{f"_id:{c}": v for c, v in keys_text.items()},
                             **{f"_raw:{c}": v for c, v in raw_texts.items()})
        frame = self._select(frame, main, [(c, r) for c, r in selects if c not in brought])
        for index, (spec, table) in enumerate(joined, start=2):
            frame = self._join(frame, main, spec, table, fill, index)
            if frame is None:
                return empty
        frame = self._select(frame, main, [(c, r) for c, r in selects if c in brought])
        output = self._values(frame, main, renames)
        separator = self.mapping["mother_id"].get("separator", "")
        output["mother_id"] = frame[[f"_id:{c}" for c in id_columns]].agg(separator.join, axis=1).to_numpy() \
            if len(frame) else []
        output["wave"] = str(wave)
        output[ROW] = frame[ROW].to_numpy()
        output[KEY] = [_comparison_key(text) for text in output["mother_id"]]
        output[RAW] = frame[[f"_raw:{c}" for c in id_columns]].agg(separator.join, axis=1).to_numpy() \
            if len(frame) else []
        return _Wave(wave, output, main, id_columns)

    def _ids(self, frame: pd.DataFrame, table: Table, columns: list[str],
             raw_texts: dict[str, list[str]] | None = None) -> dict[str, list[str]] | None:
        """Each id column as cleaned text (None when an id is blank or fractional: refused); the text as
        published goes into raw_texts, when given, so that ids differing only in invisible characters can be
        told apart from true duplicates."""
        result: dict[str, list[str]] = {}
        faults = 0
        for column in columns:
            texts, blank, fractional, cleaned = [], [], [], 0
            for position, value in enumerate(frame[column].tolist()):
                if isinstance(value, (float, np.floating)) and not _is_missing(value) \
                        and not float(value).is_integer():
                    fractional.append(position)
                    texts.append("")
                    if raw_texts is not None:
                        raw_texts.setdefault(column, []).append("")
                    continue
                raw = _as_text(value) or ""
                if raw_texts is not None:
                    raw_texts.setdefault(column, []).append(raw)
                text = _without_invisible(raw)
                cleaned += text != raw
                if text == "":
                    blank.append(position)
                texts.append(text)
            if blank:
                self.fault(table.name, column, "id is blank or missing" + table.rows_note(),
                           table.row_numbers(blank))
            if fractional:
                self.fault(table.name, column, "id is a number with a fractional part" + table.rows_note(),
                           table.row_numbers(fractional))
            faults += bool(blank or fractional)
            self.count(table.name, column, "invisible formatting characters or surrounding white space "
                                           "removed from an id", cleaned)
            result[column] = texts
        return None if faults else result

    def _select(self, frame: pd.DataFrame, table: Table, rules) -> pd.DataFrame:
        for column, rule in rules:
            codes = [_as_code(value) for value in frame[column].tolist()]
            keep = np.array([code in rule["keep"] for code in codes], dtype=bool)
            listed = ", ".join(map(str, rule["keep"]))
            reason = f" ({rule['reason']})" if rule.get("reason") else ""
            self.count(table.name, column, f"row dropped: not selected, code is not {listed}{reason}",
                       int((~keep).sum()))
            frame = frame[keep]
        return frame

    def _join(self, frame: pd.DataFrame, main: Table, spec: dict, table: Table, fill, index: int):
        keys = [fill(k) for k in spec["keys"]]
        optional = [fill(c) for c in spec.get("optional_columns", [])]
        present = [c for c in optional if c in table.columns]
        for column in optional:
            if column in self.mapping["renames"] and column in GEOGRAPHY:
                (self.geography_found if column in present else self.geography_missing).add(column)
        columns = [fill(c) for c in spec.get("columns", [])] + present
        other = self.reader.load(table, list(dict.fromkeys(keys + columns))).reset_index(drop=True)
        other_ids = self._ids(other, table, keys)
        if other_ids is None:
            return None
        other_key = pd.Series(["\x1f".join(_comparison_key(other_ids[k][i]) for k in keys)
                               for i in range(len(other))], dtype=object)
        duplicated = other_key.duplicated(keep=False)
        if duplicated.any():
            self.fault(table.name, ", ".join(keys), "more than one row for the same id, or ids that differ "
                       "only by invisible characters, spacing or letter case: a joined table needs one row "
                       "per id"
                       + table.rows_note(), table.row_numbers(np.flatnonzero(duplicated.to_numpy())))
            return None
        lookup = dict(zip(other_key, range(len(other)), strict=True))
        main_key = ["\x1f".join(_comparison_key(frame[f"_id:{k}"].iloc[i]) for k in keys)
                    for i in range(len(frame))]
        position = np.array([lookup.get(key, -1) for key in main_key], dtype=int)
        unmatched = position < 0
        if unmatched.any():
            if spec.get("unmatched", "refuse") == "drop":
                self.count(main.name, ", ".join(keys), f"row dropped: no row for its id in {table.name}",
                           int(unmatched.sum()))
            else:
                self.fault(main.name, ", ".join(keys), f"no row for this id in {table.name} (mapping key "
                           f"tables[{index}], {spec['name']})" + main.rows_note(),
                           main.row_numbers(frame[ROW].to_numpy()[unmatched]))
                return None
        frame = frame[~unmatched].copy()
        taken = other.iloc[position[~unmatched]].reset_index(drop=True)
        frame = frame.reset_index(drop=True)
        for column in columns:
            frame[column] = taken[column].to_numpy()
        return frame

    def _values(self, frame: pd.DataFrame, main: Table, renames: dict[str, str]) -> pd.DataFrame:
        output = pd.DataFrame(index=range(len(frame)))
        lists = self.mapping.get("code_lists", {})
        for source, target in renames.items():
            if source not in frame.columns:  # an optional column the file does not carry
                continue
            values = frame[source].tolist()
            rows = frame[ROW].to_numpy()
            list_name = self.mapping.get("recodes", {}).get(target)
            if list_name is None:
                texts = [_as_text(value) for value in values]
                self.count(main.name, source, "system-missing value written as blank",
                           sum(_is_missing(v) for v in values) if main.binary else 0)
                output[target] = [text if text is not None else "" for text in texts]
                continue
            output[target] = self._recode(values, rows, main, source, target, lists[list_name], list_name)
        return output

    def _recode(self, values, rows, table: Table, source: str, target: str, entries: list[dict],
                list_name: str) -> list[str]:
        table_of = {entry["code"]: entry["to"] for entry in entries}
        reverse = self.mapping.get("reverse", {}).get(target)
        written: list[str] = []
        unlisted, not_code, changed, reversed_, system_missing = [], [], {}, 0, 0
        for position, value in enumerate(values):
            code = _as_code(value)
            if code is None:
                system_missing += _is_missing(value)
                written.append("")
                continue
            if isinstance(code, str):
                not_code.append(rows[position])
                written.append("")
                continue
            if code not in table_of:
                unlisted.append(rows[position])
                written.append("")
                continue
            to = table_of[code]
            if to != code:
                changed[(code, to)] = changed.get((code, to), 0) + 1
            if to is not None and reverse and reverse[0] <= to <= reverse[1]:
                to = reverse[0] + reverse[1] - to
                reversed_ += 1
            written.append("" if to is None else str(to))
        if unlisted:
            self.fault(table.name, source, f"holds a code not listed in code list '{list_name}' of "
                       f"{self.mapping_name}: add it to the mapping with its meaning" + table.rows_note(),
                       table.row_numbers(unlisted))
        if not_code:
            self.fault(table.name, source, "is not a whole-number code" + table.rows_note(),
                       table.row_numbers(not_code))
        for (code, to), n in sorted(changed.items(), key=lambda item: str(item[0])):
            rule = f"code {code} read as " + ("blank (missing)" if to is None else str(to))
            self.count(table.name, source, f"{rule} (code list {list_name})", n)
        if reverse:
            self.count(table.name, source, f"item reversed on the scale {reverse[0]}-{reverse[1]} "
                                           "(low + high - code)", reversed_)
        self.count(table.name, source, "system-missing value written as blank", system_missing)
        return written

    # -- across waves

    def duplicate_ids(self, waves: list[_Wave]) -> list[Problem]:
        problems = []
        for wave in waves:
            if wave.main is None or wave.frame.empty:
                continue
            groups = wave.frame.groupby(KEY, sort=False)
            for _, group in groups:
                if len(group) < 2:
                    continue
                rows = wave.main.row_numbers(sorted(group[ROW]))
                if group[RAW].nunique() == 1:
                    shown = printable(group["mother_id"].iloc[0])
                    message = f"mother {shown} appears more than once in wave {wave.number}"
                else:
                    shown = ", ".join(f"'{printable(t)}'" for t in group[RAW].unique())
                    message = (f"ids {shown} differ only by invisible characters, spacing or letter case, "
                               f"so they name one mother twice in wave {wave.number}")
                problems.append(Problem(wave.main.name, ", ".join(wave.id_columns),
                                        message + wave.main.rows_note(), rows))
        return problems

    def geography_problems(self) -> list[Problem]:
        mapped = [c for c in GEOGRAPHY if c in self.mapping["renames"].values()]
        unconditional = [c for c in mapped if c not in self._optional_geography()]
        if self.problems or unconditional or self.geography_found:
            return []
        wanted = " or ".join(mapped)
        return [Problem(self.mapping_name, "renames", f"the files carry no {wanted} column: every mother "
                                                      "needs her centre or local authority")]

    def _optional_geography(self) -> set[str]:
        return {c for t in self.mapping["tables"] for c in t.get("optional_columns", []) if c in GEOGRAPHY}
