"""Errors raised for bad raw data, worded for the data manager who must fix the file."""

from __future__ import annotations

import unicodedata
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


# Longest piece of raw text (an identifier, a column name) echoed in a message before it is cut short.
ECHO_LIMIT = 60


def printable(text) -> str:
    """Raw text made safe to echo in a message or a log: every character that is not printable (control and
    format characters, private-use and unassigned code points, line and paragraph separators; Python's
    str.isprintable) is written as its escape (\\x1b, \\u200b), so that an escape sequence inside an
    identifier cannot reach the terminal, and long text is cut to ECHO_LIMIT characters."""
    text = str(text)
    shown = "".join(c if c.isprintable() else _escape(c) for c in text[:ECHO_LIMIT])
    return shown + ("..." if len(text) > ECHO_LIMIT else "")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def character_name(char: str) -> str:
    """'U+200B ZERO WIDTH SPACE': a character named for a data manager, whatever it is."""
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')}"


# Names of the control characters, which have none in unicodedata: their Unicode name aliases
# (NameAliases.txt, type "control").
CONTROL_NAMES = dict(enumerate((
    "NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION", "ENQUIRY",
    "ACKNOWLEDGE", "ALERT", "BACKSPACE", "CHARACTER TABULATION", "LINE FEED", "LINE TABULATION",
    "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN", "DATA LINK ESCAPE", "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO", "DEVICE CONTROL THREE", "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE", "END OF TRANSMISSION BLOCK", "CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE",
    "INFORMATION SEPARATOR FOUR", "INFORMATION SEPARATOR THREE", "INFORMATION SEPARATOR TWO",
    "INFORMATION SEPARATOR ONE",
)))
CONTROL_NAMES[0x7F] = "DELETE"
CONTROL_NAMES.update(enumerate((
    "PADDING CHARACTER", "HIGH OCTET PRESET", "BREAK PERMITTED HERE", "NO BREAK HERE", "INDEX", "NEXT LINE",
    "START OF SELECTED AREA", "END OF SELECTED AREA", "CHARACTER TABULATION SET",
    "CHARACTER TABULATION WITH JUSTIFICATION", "LINE TABULATION SET", "PARTIAL LINE FORWARD",
    "PARTIAL LINE BACKWARD", "REVERSE LINE FEED", "SINGLE SHIFT TWO", "SINGLE SHIFT THREE",
    "DEVICE CONTROL STRING", "PRIVATE USE ONE", "PRIVATE USE TWO", "SET TRANSMIT STATE", "CANCEL CHARACTER",
    "MESSAGE WAITING", "START OF GUARDED AREA", "END OF GUARDED AREA", "START OF STRING",
    "SINGLE GRAPHIC CHARACTER INTRODUCER", "SINGLE CHARACTER INTRODUCER", "CONTROL SEQUENCE INTRODUCER",
    "STRING TERMINATOR", "OPERATING SYSTEM COMMAND", "PRIVACY MESSAGE", "APPLICATION PROGRAM COMMAND",
), start=0x80))


def character_label(char: str) -> str:
    """As character_name, but a control character is named by its Unicode alias ('U+001B ESCAPE',
    'U+0000 NULL') rather than as unnamed."""
    name = CONTROL_NAMES.get(ord(char)) or unicodedata.name(char, "unnamed character")
    return f"U+{ord(char):04X} {name}"


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


class DesignError(ValueError):
    """The data meet the contract, but their study design cannot support an analysis the plan asks for (an
    empty primary sample, no mothers in the reference group, an exposure that cannot be told apart from a
    covariate). The message says why, in the data manager's words; nothing downstream may run."""
