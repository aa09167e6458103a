"""Statistical disclosure control for result tables that leave the secure data environment.

Small counts are suppressed and every other count is rounded, both in count columns (named ``n`` or
``n_*``) and in counts written into free text ("193 mothers left out").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import ROWS_QUOTED, Problem

# Units that make a number in free text a count of people, places or records. Singular forms are included
# because "1 row" is exactly the kind of small count the rule exists for; "clusters" because the
# cluster count (n_clusters) is quoted in the standard-error notes.
_UNITS = (r"mothers?|centres?|local\s+authorit(?:ies|y)|LAs?|famil(?:ies|y)|rows?|records?|cells?"
          r"|clusters?")
# A count mention: an optional "<" (an existing suppression label), a number (thousands commas allowed)
# and a unit. The look-behind keeps "wave-1 centre", "2.5 rows" and "a<3 rows" from matching mid-token.
_MENTION = re.compile(
    rf"(?<![\w.,\-<])(?P<lt><\s*)?(?P<number>\d{{1,3}}(?:,\d{{3}})+|\d+)(?P<unit>\s+(?:{_UNITS}))\b",
    re.IGNORECASE,
)
_LABEL = re.compile(r"<\s*(\d+)")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_MISSING_TEXT = {"", "nan", "na", "<na>", "none"}


@dataclass(frozen=True)
class DisclosureRule:
    """Counts 1 .. suppress_below-1 are suppressed; other non-zero counts are rounded to round_to."""

    suppress_below: int = 10
    round_to: int = 5

    def __post_init__(self):
        for name in ("suppress_below", "round_to"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"disclosure rule: {name} must be a whole number >= 1, not {value!r}")

    @classmethod
    def from_config(cls, block: dict) -> DisclosureRule:
        """The rule from a config block with keys suppress_below and round_to (both required)."""
        missing = [key for key in ("suppress_below", "round_to") if key not in block]
        if missing:
            # No silent defaults: a misspelt key must not quietly publish under a weaker rule.
            raise ValueError(f"disclosure rule: config block lacks {', '.join(missing)}")
        return cls(suppress_below=block["suppress_below"], round_to=block["round_to"])

    @property
    def suppressed_label(self) -> str:
        return f"<{self.suppress_below}"

    @property
    def smallest_shown(self) -> int:
        """The smallest non-zero count that may be published: the first multiple of round_to >= threshold.

        Rounding must never take a count below the threshold (e.g. 7 -> 5 when suppress_below = 7):
        since smaller counts are suppressed, such a value would identify the true count exactly.
        """
        return -(-self.suppress_below // self.round_to) * self.round_to

    def protect_count(self, value):
        """The publishable form of one count: an int, the suppression label, or NaN for a missing value."""
        kind, number = _read_count(value)
        if kind == "missing":
            return np.nan
        if kind == "label":
            if number <= self.suppress_below:
                return self.suppressed_label
            raise ValueError(f"{value!r} is a bound, not a count; only {self.suppressed_label} may be shown")
        if number == 0:
            return 0
        if number < self.suppress_below:
            return self.suppressed_label
        return max(self._nearest(number), self.smallest_shown)

    def is_safe(self, value) -> bool:
        """Whether a published cell (int, float or text read back from CSV) obeys the rule."""
        return self.fault(value) is None

    def fault(self, value) -> str | None:
        """What is wrong with a published count, and what the rule requires; None when it is safe."""
        try:
            kind, number = _read_count(value)
        except ValueError:
            return f"{value!r} is not a count (expected a whole number, {self.suppressed_label} or blank)"
        if kind == "missing" or (kind == "label" and str(value).strip() == self.suppressed_label):
            return None
        if kind == "label":
            return f"'{str(value).strip()}' is not the suppression label {self.suppressed_label}"
        if number == 0:
            return None
        shown = _format(number)
        if number != int(number):
            return f"count {shown} is not a whole number (counts must be multiples of {self.round_to})"
        if number < self.suppress_below:
            return (f"count {shown} is below {self.suppress_below} and not suppressed "
                    f"(show it as {self.suppressed_label})")
        if number % self.round_to:
            return f"count {shown} is not rounded (counts must be multiples of {self.round_to})"
        return None

    def describe(self) -> str:
        """One sentence stating the rule, for table footnotes and the report."""
        if self.suppress_below <= 1:
            suppressed = "No counts are suppressed; "
            other = "counts"
        else:
            small = "1" if self.suppress_below == 2 else f"1-{self.suppress_below - 1}"
            suppressed = f"Counts of {small} are suppressed (shown as {self.suppressed_label}); "
            other = "other counts"
        if self.round_to == 1:
            rounding = f"{other} are shown unrounded"
        else:
            rounding = f"{other} are rounded to the nearest {self.round_to}"
        if self._nearest(self.suppress_below) < self.suppress_below:
            rounding += f" and shown as at least {self.smallest_shown}"
        text = suppressed + rounding + "."
        return text[0].upper() + text[1:]

    def _nearest(self, number: float) -> int:
        """Nearest multiple of round_to, halves upwards, in exact integer arithmetic for whole numbers."""
        if number == int(number):
            quotient, remainder = divmod(int(number), self.round_to)
            return (quotient + (2 * remainder >= self.round_to)) * self.round_to
        return math.floor(number / self.round_to + 0.5) * self.round_to


def _read_count(value) -> tuple[str, float | int | None]:
    """Classify a cell as ("missing", None), ("label", N) for "<N", or ("number", x) with x >= 0."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "missing", None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{value!r} is not a count")
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _MISSING_TEXT:
            return "missing", None
        label = _LABEL.fullmatch(text)
        if label:
            return "label", int(label.group(1))
        if _THOUSANDS.fullmatch(text):
            text = text.replace(",", "")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a count") from None
    if isinstance(value, Integral):
        number: float | int = int(value)
    elif isinstance(value, Real):
        number = float(value)
        if math.isnan(number):
            return "missing", None
        if math.isinf(number):
            raise ValueError(f"{value!r} is not a count")
        if number.is_integer():
            number = int(number)
    else:
        raise ValueError(f"{value!r} is not a count")
    if number < 0:
        raise ValueError(f"count {_format(number)} is negative")
    return "number", number


def _format(number: float | int) -> str:
    return str(int(number)) if number == int(number) else str(number)


def publishable_share(count: int, total: int, min_cell: int) -> float:
    """The per cent `count` is of `total`, to one decimal, where both `count` and `total - count` are at least
    `min_cell` (a share of a small count, or of a small remainder, would reveal it); else NaN. One decimal,
    so the share does not give back more of the exact counts that rounding hides."""
    return round(100 * count / total, 1) if min(count, total - count) >= min_cell else np.nan


def count_columns(frame) -> list[str]:
    """Columns holding counts, by project convention named exactly ``n`` or starting with ``n_``."""
    return [c for c in frame.columns if isinstance(c, str) and (c == "n" or c.startswith("n_"))]


def _text_columns(frame: pd.DataFrame) -> list[str]:
    counts = set(count_columns(frame))
    return [c for c in frame.columns if c not in counts
            and (pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c]))]


def protect_text(text: str, rule: DisclosureRule) -> str:
    """Free text with every count mention ("193 mothers", "3 rows") protected."""

    def protect(match: re.Match) -> str:
        number = int(match["number"].replace(",", ""))
        if match["lt"] is not None:
            # "<N" at or below the threshold is a suppression label (perhaps of another rule); a larger
            # bound reveals less than the label would, so it is left as written.
            if number > rule.suppress_below:
                return match[0]
            return rule.suppressed_label + match["unit"]
        shown = rule.protect_count(number)
        if isinstance(shown, int) and "," in match["number"]:
            shown = f"{shown:,}"
        return f"{shown}{match['unit']}"

    return _MENTION.sub(protect, text)


def _text_faults(text: str, rule: DisclosureRule) -> list[str]:
    faults = []
    for match in _MENTION.finditer(text):
        number = int(match["number"].replace(",", ""))
        mention = " ".join(match[0].split())
        if match["lt"] is not None:
            if number < rule.suppress_below:
                faults.append(f"text '{mention}' is not the suppression label {rule.suppressed_label}")
            continue
        fault = rule.fault(number)
        if fault:
            faults.append(f"text '{mention}': {fault}")
    return faults


def protect_table(frame: pd.DataFrame, rule: DisclosureRule) -> pd.DataFrame:
    """A copy of a result table with every count cell, and every count written in text, protected."""
    out = frame.copy()
    for column in count_columns(frame):
        values = []
        for position, value in enumerate(frame[column]):
            try:
                values.append(rule.protect_count(value))
            except ValueError as error:
                raise ValueError(f"column '{column}', row {position + 2}: {error}") from None
        if any(isinstance(v, str) for v in values):
            dtype = object
        elif any(isinstance(v, float) for v in values):
            dtype = "Int64"  # whole numbers with blanks: nullable ints, so the CSV shows 2035, not 2035.0
        else:
            dtype = "int64"
        out[column] = pd.Series([pd.NA if dtype == "Int64" and isinstance(v, float) else v for v in values],
                                index=frame.index, dtype=dtype)
    for column in _text_columns(frame):
        original = frame[column]
        rewritten = [protect_text(v, rule) if isinstance(v, str) else v for v in original]
        if rewritten != list(original):
            out[column] = pd.Series(rewritten, index=frame.index, dtype=original.dtype)
    return out


def _problem(file: str, column: str, found: list[tuple[int, str]]) -> Problem:
    """One Problem for a column: its offending rows and the distinct faults found there."""
    faults = list(dict.fromkeys(fault for _, fault in found))
    message = "; ".join(faults[:ROWS_QUOTED])
    if len(faults) > ROWS_QUOTED:
        message += f"; and {len(faults) - ROWS_QUOTED} other unsafe value(s)"
    return Problem(file, column, message, tuple(sorted({row for row, _ in found})))


def violations(frame: pd.DataFrame, rule: DisclosureRule, file: str) -> list[Problem]:
    """Cells of a table (as built, or as read back from CSV) that break the rule, one Problem per column."""
    problems = []
    for column in count_columns(frame):
        found = [(position + 2, fault) for position, value in enumerate(frame[column])
                 if (fault := rule.fault(value)) is not None]
        if found:
            problems.append(_problem(file, column, found))
    for column in _text_columns(frame):
        found = [(position + 2, fault) for position, value in enumerate(frame[column])
                 if isinstance(value, str) for fault in _text_faults(value, rule)]
        if found:
            problems.append(_problem(file, column, found))
    return problems


def visible_text(page: str) -> str:
    """The text a reader of an HTML page sees: tags, styles and scripts left out, entities decoded."""
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []
            self.hidden = 0

        def handle_starttag(self, tag, attrs):
            self.hidden += tag in ("style", "script")

        def handle_endtag(self, tag):
            self.hidden -= tag in ("style", "script")

        def handle_data(self, data):
            if not self.hidden:
                self.parts.append(data)

    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


def text_violations(text: str, rule: DisclosureRule, file: str) -> list[Problem]:
    """Counts in a page's visible text (a brief, a report) that break the rule, as one Problem."""
    faults = _text_faults(text, rule)
    return [Problem(file, None, "; ".join(dict.fromkeys(faults)))] if faults else []


class DisclosureError(ValueError):
    """A table about to leave the secure environment breaks the disclosure rule; nothing may be released.

    Row numbers are spreadsheet rows: the header is row 1, the first data row is row 2.
    """

    def __init__(self, problems: list[Problem], rule: DisclosureRule | None = None):
        self.problems = list(problems)
        self.rule = rule
        lines = [p.describe() for p in self.problems]
        header = f"The published tables break the disclosure rule in {len(lines)} way(s)"
        if rule is not None:
            header += f" (rule: {rule.describe().rstrip('.')})"
        header += "; rows counted as in a spreadsheet, header = row 1:"
        super().__init__("\n".join([header, *(f"  - {line}" for line in lines)]))


def read_table(path: str | Path) -> pd.DataFrame:
    """A result CSV as published: count columns as text (so labels such as <10 survive), blanks as NaN."""
    header = pd.read_csv(path, nrows=0)
    return pd.read_csv(path, dtype={c: str for c in count_columns(header)}, keep_default_na=True)


def published_renderings(name: str, tables: Iterable[str | Path]) -> list[Path]:
    """The published CSV among `tables` that a problem names (by file name), with its Markdown and LaTeX
    renderings."""
    matches = [Path(t) for t in tables if Path(t).name == Path(name).name]
    return [m.with_suffix(ext) for m in matches for ext in (".csv", ".md", ".tex")]


def check_tables(paths: Iterable[str | Path], rule: DisclosureRule) -> None:
    """Raise DisclosureError naming every file, column and row of the CSVs that break the rule."""
    problems = []
    for path in paths:
        problems += violations(read_table(path), rule, str(path))
    if problems:
        raise DisclosureError(problems, rule)


def count_text(value) -> str:
    """A published count as a reader sees it: thousands separated, or the suppression label as published."""
    try:
        return f"{int(float(value)):,}"
    except ValueError:
        return str(value)
