"""The broken-input corpus (tests/corpus/cases.yaml): the tiny valid dataset with one change per case.

Each case names one change (an operation below, applied to the raw CSV text) and what the pipeline must
do with it: stop with an error, log a documented warning and go on, or accept the file. The expected
message fragments may name cells of the changed row ({row} is its spreadsheet row, {centre_id} etc. its
identifiers), so a case does not depend on which ids the simulator happens to draw.

Materialise every variant for inspection, or to run the pipeline on one by hand:

    python -m tests.corpus_cases OUT_DIR
"""

from __future__ import annotations

import csv
import io
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from analysis.simulate import PRESETS, simulate, write

CASES_FILE = Path(__file__).resolve().parent / "corpus" / "cases.yaml"
OUTCOMES = ("error", "warning", "accepted")


@dataclass(frozen=True)
class Case:
    id: str
    description: str
    operation: str
    arguments: dict
    expect: str
    stage: str = "clean"  # the stage that must react: clean, exposure (needs the clean data), or models (the
    # primary sample and model: a design the data may or may not support)
    messages: tuple[str, ...] = field(default=())
    workflow: bool = False  # also run through Snakemake (every warning and later-stage case is anyway)

    @property
    def through_snakemake(self) -> bool:
        return self.workflow or self.expect == "warning" or self.stage != "clean"


def load_cases() -> list[Case]:
    cases = []
    for entry in yaml.safe_load(CASES_FILE.read_text()):
        (operation, arguments), = entry["change"].items()
        case = Case(id=entry["id"], description=entry["description"], operation=operation,
                    arguments=arguments or {}, expect=entry["expect"], stage=entry.get("stage", "clean"),
                    messages=tuple(entry.get("messages", ())), workflow=bool(entry.get("workflow", False)))
        if case.expect not in OUTCOMES or case.operation not in OPERATIONS:
            raise ValueError(f"corpus case {case.id}: unknown expect or change")
        cases.append(case)
    return cases


# ---- the CSV as text: header and records, written back as a spreadsheet would --------------------------

def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _write(path: Path, records: list[list[str]], quoting=csv.QUOTE_MINIMAL) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=quoting).writerows(records)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _select(records: list[list[str]], row) -> int:
    """Index (in `records`, header = 0) of a data row given as a 0-based number or {column: value}."""
    if isinstance(row, int):
        return row + 1
    header = records[0]
    for index, record in enumerate(records[1:], start=1):
        if all(record[header.index(k)].strip() == str(v) for k, v in row.items()):
            return index
    raise ValueError(f"no row matches {row}")


def _context(records: list[list[str]], index: int, row_number: int | None = None) -> dict:
    """The changed row's identifiers and spreadsheet row, for the expected messages."""
    header = records[0]
    cells = {name: value.strip().upper() for name, value in zip(header, records[index], strict=False)
             if name in ("mother_id", "centre_id", "financial_year", "wave")}
    return {**cells, "row": row_number or index + 1}


def set_cell(path: Path, row, column: str, value: str) -> dict:
    records = _read(path)
    index = _select(records, row)
    context = _context(records, index)
    records[index][records[0].index(column)] = value
    _write(path, records)
    return context


def add_row(path: Path, row, set: dict) -> dict:  # noqa: A002 (the YAML key)
    """Append a copy of a row with some cells changed."""
    records = _read(path)
    copy = list(records[_select(records, row)])
    for column, value in set.items():
        copy[records[0].index(column)] = value
    records.append(copy)
    _write(path, records)
    return _context(records, len(records) - 1)


def drop_row(path: Path, row) -> dict:
    records = _read(path)
    index = _select(records, row)
    context = _context(records, index)
    del records[index]
    _write(path, records)
    return context


def drop_column(path: Path, column: str) -> dict:
    records = _read(path)
    position = records[0].index(column)
    _write(path, [r[:position] + r[position + 1:] for r in records])
    return {}


def add_column(path: Path, column: str, value: str) -> dict:
    records = _read(path)
    _write(path, [records[0] + [column]] + [r + [value] for r in records[1:]])
    return {}


def rename_column(path: Path, column: str, to: str) -> dict:
    records = _read(path)
    records[0][records[0].index(column)] = to
    _write(path, records)
    return {}


def delete_file(path: Path) -> dict:
    path.unlink()
    return {}


def empty_file(path: Path) -> dict:
    path.write_bytes(b"")
    return {}


def header_only(path: Path) -> dict:
    _write(path, _read(path)[:1])
    return {}


def cp1252_cell(path: Path, row, column: str, value: str) -> dict:
    """Set one cell to text saved in Windows-1252 (as old Excel does), leaving the rest UTF-8."""
    placeholder = "\u2603PLACEHOLDER\u2603"
    context = set_cell(path, row, column, placeholder)
    path.write_bytes(path.read_bytes().replace(placeholder.encode(), value.encode("cp1252")))
    return context


def byte_order_mark(path: Path) -> dict:
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return {}


def windows_line_endings(path: Path) -> dict:
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    return {}


def mac_line_endings(path: Path) -> dict:
    """Lone carriage returns between records, as classic Mac OS (and some exports from it) wrote them."""
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    return {}


def wrap_cells(path: Path, column: str, prefix: str = "", suffix: str = "", row=None,
               where: dict | None = None, every: int = 1) -> dict:
    """Add text (often invisible) around the cells of one column: in one row, or in every `every`-th row
    matching `where` ({column: value}). The context is the first changed row's."""
    records = _read(path)
    chosen = [_select(records, row)] if row is not None else _matching(records, where)[::every]
    context = _context(records, chosen[0])
    position = records[0].index(column)
    for index in chosen:
        records[index][position] = f"{prefix}{records[index][position]}{suffix}"
    _write(path, records)
    return context


def _matching(records: list[list[str]], where: dict | None) -> list[int]:
    header = records[0]
    return [i for i, record in enumerate(records[1:], start=1)
            if all(record[header.index(k)].strip() == str(v) for k, v in (where or {}).items())]


def set_column(path: Path, columns: list[str], value: str, where: dict | None = None) -> dict:
    """Set whole columns to one value (in the rows matching `where`): a design change, such as every
    centre in one local authority, or every wave-3 K6 item unanswered."""
    records = _read(path)
    rows = _matching(records, where)
    for index in rows:
        for column in columns:
            records[index][records[0].index(column)] = value
    _write(path, records)
    return _context(records, rows[0])


def drop_rows(path: Path, where: dict) -> dict:
    """Remove every row matching `where` ({column: value}), e.g. every wave-3 interview."""
    records = _read(path)
    gone = set(_matching(records, where))
    _write(path, [r for i, r in enumerate(records) if i not in gone])
    return {}


def set_budget_change(path: Path, year: str, base_year: str, factors: list[float]) -> dict:
    """Set each centre's `year` budget to its `base_year` budget times a factor, cycling through `factors`
    centre by centre: e.g. [0.8, 1.0] leaves no centre growing in real terms."""
    records = _read(path)
    header = records[0]
    centre, fy, budget = (header.index(c) for c in ("centre_id", "financial_year", "budget_gbp"))
    base = {r[centre]: r[budget] for r in records[1:] if r[fy].replace("/", "-") == base_year}
    changed = 0
    for record in records[1:]:
        amount = base.get(record[centre], "").replace("£", "").replace(",", "").strip()
        if record[fy].replace("/", "-") == year and amount:
            record[budget] = f"{float(amount) * factors[changed % len(factors)]:.0f}"
            changed += 1
    _write(path, records)
    return {}


SCRIPT_ZEROS = {"arabic-indic": 0x0660, "full-width": 0xFF10, "devanagari": 0x0966}


def digits_in(path: Path, row, column: str, script: str) -> dict:
    """Write one cell's digits 0-9 in another script: the same number, as a spreadsheet might."""
    records = _read(path)
    index = _select(records, row)
    context = _context(records, index)
    position = records[0].index(column)
    zero = SCRIPT_ZEROS[script]
    records[index][position] = "".join(chr(zero + int(c)) if "0" <= c <= "9" else c
                                       for c in records[index][position])
    _write(path, records)
    return context


def quote_every_field(path: Path) -> dict:
    _write(path, _read(path), quoting=csv.QUOTE_ALL)
    return {}


def pad_with_spaces(path: Path) -> dict:
    """White space around every value and column name."""
    _write(path, [[f"  {cell} " for cell in record] for record in _read(path)])
    return {}


def separate_with(path: Path, separator: str) -> dict:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", delimiter=separator).writerows(_read(path))
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return {}


def edit_line(path: Path, row: int, prefix: str = "", suffix: str = "", cut_last_field: bool = False) -> dict:
    """Change one line's raw text (0-based data row): add text around it, or cut its last field."""
    lines = path.read_text(encoding="utf-8").split("\n")
    index = row + 1
    line = lines[index].rsplit(",", 1)[0] if cut_last_field else lines[index]
    lines[index] = f"{prefix}{line}{suffix}"
    path.write_text("\n".join(lines), encoding="utf-8")
    return {"row": index + 1}


def insert_lines(path: Path, after_row: int, lines: list[str]) -> dict:
    """Insert raw lines after a data row (0-based); {row} is the first data row moved down by them."""
    text = path.read_text(encoding="utf-8").split("\n")
    index = after_row + 2
    text[index:index] = lines
    path.write_text("\n".join(text), encoding="utf-8")
    return {"row": index + len(lines) + 1}


OPERATIONS = {f.__name__: f for f in (
    set_column, drop_rows, set_budget_change,
    set_cell, add_row, drop_row, drop_column, add_column, rename_column, delete_file, empty_file, header_only,
    cp1252_cell, byte_order_mark, windows_line_endings, mac_line_endings, quote_every_field, pad_with_spaces,
    separate_with, edit_line, insert_lines, wrap_cells, digits_in,
)}


def apply(case: Case, raw_dir: Path) -> dict:
    """Apply the case's one change to the raw files in `raw_dir`; returns the message context."""
    arguments = dict(case.arguments)
    path = raw_dir / arguments.pop("file")
    return OPERATIONS[case.operation](path, **arguments)


def expected_messages(case: Case, context: dict) -> list[str]:
    return [message.format(**context) for message in case.messages]


def tiny_dataset(out: Path) -> Path:
    write(simulate(PRESETS["tiny"]), out)
    return out


def build(out: Path) -> None:
    """Write every variant to out/<case id>/, with the case's description and expected messages."""
    valid = tiny_dataset(out / "_valid")
    for case in load_cases():
        target = out / case.id
        shutil.copytree(valid, target)
        context = apply(case, target)
        (target / "EXPECTED.txt").write_text(
            f"{case.description}\nexpect: {case.expect}\n"
            + "".join(f"message: {m}\n" for m in expected_messages(case, context)))


if __name__ == "__main__":
    build(Path(sys.argv[1]))
