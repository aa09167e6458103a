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
        if self.column is None:
            where = self.file
        else:  # a key of several columns is given as "a, b"
            where = f"{self.file}, {'columns' if ', ' in self.column else 'column'} '{self.column}'"
        if not self.rows:
            return f"{where}: {self.message}"
        rows = "row" if len(self.rows) == 1 else "rows"
        return f"{where}, {rows} {first_few(self.rows)}: {self.message}"


def first_few(items) -> str:
    """The first ROWS_QUOTED items, comma-separated, then how many more there are."""
    items = list(items)
    quoted = ", ".join(str(item) for item in items[:ROWS_QUOTED])
    more = len(items) - ROWS_QUOTED
    return quoted + (f" and {more} more" if more > 0 else "")


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



class PlanError(ValueError):
    """The analysis plan (config/config.yaml) is inconsistent, or names something the data do not hold."""
