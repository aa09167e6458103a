"""Importers: published files read in their own layout and written as the raw-data contract's CSVs.

Each importer reads one named `format` (the plan's `sources:` block) and returns an `Imported`: a frame with
exactly the contract file's columns, and the counted rules it applied. The contract checks of
analysis.cleaning then run on what it wrote, unchanged. An importer refuses what it cannot read by a
documented rule with analysis.errors.RawDataError, naming the file as downloaded (never its folder), the
column and the rows as a spreadsheet counts them (or the sheet and row of a workbook). The formats, with the
publishers' documentation for every column and code, are in data/import/README.md.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Imported:
    """What an importer made of a published file."""

    frame: pd.DataFrame  # exactly the contract file's columns, values as text or numbers the contract reads
    log: list[dict] = field(default_factory=list)  # {"file", "column", "rule", "n_rows"}, as the cleaning log
    provenance: dict = field(default_factory=dict)  # what a reader must know of the source (release, vintage)

    def count(self, file: str, column: str | None, rule: str, n_rows: int) -> None:
        """Record a rule applied to n_rows rows (nothing when none)."""
        if n_rows:
            self.log.append({"file": file, "column": column or "", "rule": rule, "n_rows": int(n_rows)})


def ragged_rows(text: str, separator: str = ",") -> list[int]:
    """Spreadsheet rows (header = 1) of the records of a text file whose number of fields differs from the
    header's: a footnote or stray row, or a row cut short or split by an unquoted separator. A reader would
    pad a short row with blanks (a value silently lost) or stop without naming the row; an importer refuses
    them instead. Blank records are not counted here."""
    records = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    header = next(records, [])
    return [number for number, record in enumerate(records, start=2) if record and len(record) != len(header)]
