"""Errors raised for bad raw data, worded for the data manager who must fix the file."""

from __future__ import annotations

from dataclasses import dataclass, field

# How many offending rows to quote before summarising the rest.
ROWS_QUOTED = 5


@dataclass(frozen=True)
class Problem:
    """One kind of fault in one column of one file, with the spreadsheet rows where it occurs."""

    file: str
    column: str | None
    message: str
    rows: tuple[int, ...] = field(default=())

    def describe(self) -> str:
        where = self.file if self.column is None else f"{self.file}, column '{self.column}'"
        if not self.rows:
            return f"{where}: {self.message}"
        quoted = ", ".join(str(r) for r in self.rows[:ROWS_QUOTED])
        more = len(self.rows) - ROWS_QUOTED
        rows = f"row {quoted}" if len(self.rows) == 1 else f"rows {quoted}"
        if more > 0:
            rows += f" and {more} more"
        return f"{where}, {rows}: {self.message}"


class RawDataError(ValueError):
    """The raw data break the contract in data/raw/README.md; nothing downstream may run.

    Row numbers are spreadsheet rows: the header is row 1, the first data row is row 2.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = [p.describe() for p in self.problems]
        header = (
            f"The raw data break the contract in {len(lines)} way(s) "
            "(rows counted as in a spreadsheet, header = row 1):"
        )
        super().__init__("\n".join([header, *(f"  - {line}" for line in lines)]))

