"""Plain-English sentences for the report, filled in from the result tables (never typed by hand)."""

from __future__ import annotations

import pandas as pd

from analysis.labels import SCORE_LABELS, split_outcome


def _points(value: float) -> str:
    return f"{abs(value):.2f} point{'' if abs(value) == 1 else 's'}"


def headline(row: pd.Series) -> str:
    """One sentence: the difference, its direction in words, and its confidence interval."""
    group, reference = row["contrast"].split(" vs ")
    level = int(round(100 * row["ci_level"]))
    score, wave = split_outcome(row["outcome"])
    scale = SCORE_LABELS.get(score, score)
    if row["estimate"] == 0:
        comparison = "the same as"
    else:
        comparison = f"{_points(row['estimate'])} {'lower' if row['estimate'] < 0 else 'higher'} than"
    when = f" at wave {wave}" if wave else ""
    return (
        f"Mothers at {group} centres scored {comparison} similar mothers at {reference} centres{when} "
        f"on {scale} (difference {row['estimate']:+.2f}, {level}% confidence interval "
        f"{row['ci_lower']:+.2f} to {row['ci_upper']:+.2f}). Lower scores mean less psychological "
        "distress, that is, better mental health."
    )


def certainty(row: pd.Series) -> str:
    """How sure the interval lets us be, without overstating it."""
    level = int(round(100 * row["ci_level"]))
    if row["ci_lower"] > 0 or row["ci_upper"] < 0:
        side = "less" if row["ci_upper"] < 0 else "more"
        return (f"The {level}% confidence interval excludes zero: taken at face value, the data point to "
                f"{side} distress at {row['contrast'].split(' vs ')[0]} centres, though the size of the "
                "difference is uncertain within the interval.")
    return (f"The {level}% confidence interval includes zero: the data are consistent with no "
            "difference, as well as with differences in either direction as large as the interval's ends.")
