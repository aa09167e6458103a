"""Result tables as a reader sees them: the headline contrast, and Markdown / LaTeX renderings of a tidy table
(one row per contrast or term; models.contrast_table and models.coefficient_table build those of a fit)."""

from __future__ import annotations

import pandas as pd

from analysis.errors import DesignError

SYNTHETIC_BANNER = ("SYNTHETIC DEMONSTRATION DATA - these numbers are not evidence about any real "
                    "centre, local authority or family.")


def headline_contrast(table: pd.DataFrame) -> str:
    """The contrast a report leads with: the first of the table's contrasts, in its order (the plan's:
    growing vs cut, then stable vs cut), that could be estimated, e.g. stable vs cut when no centre grew."""
    estimable = set(table.loc[table["estimate"].notna(), "contrast"])
    for contrast in table["contrast"].drop_duplicates():
        if contrast in estimable:
            return contrast
    raise DesignError("no contrast of the primary analysis could be estimated")


DISPLAY_COLUMNS = {
    "contrast": "Contrast",
    "estimate": "Difference",
    "std_error": "SE",
    "ci_lower": "95% CI lower",
    "ci_upper": "95% CI upper",
    "p_value": "p",
    "n_mothers": "Mothers",
    "n_centres": "Centres",
    "n_las": "LAs",
}


def display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The columns a reader needs, rounded for reading (the CSV keeps full precision)."""
    shown = table[[c for c in DISPLAY_COLUMNS if c in table.columns]].copy()
    for column in ("estimate", "std_error", "ci_lower", "ci_upper"):
        if column in shown:  # no estimate: a contrast of a group without mothers (its note says so)
            shown[column] = shown[column].map(lambda v: "not estimable" if pd.isna(v) else f"{v:.2f}")
    if "p_value" in shown:
        shown["p_value"] = shown["p_value"].map(
            lambda p: "-" if pd.isna(p) else "<0.001" if p < 0.001 else f"{p:.3f}")
    return shown.rename(columns=DISPLAY_COLUMNS)


def table_notes(table: pd.DataFrame) -> list[str]:
    """Footnotes stating estimand, direction and methods, once each when shared by every row."""
    labels = {"estimand": "Estimand", "direction": "Direction", "se_method": "Standard errors",
              "ci_method": "Intervals and p-values", "note": "Note", "design_note": "Design",
              "wcr_note": "Bootstrap"}
    notes = []
    for column, label in labels.items():
        if column in table:
            notes.extend(f"{label}: {v}" for v in table[column].dropna().unique() if str(v).strip())
    return notes


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    return display_frame(table) if "estimate" in table.columns else table


def to_markdown(table: pd.DataFrame, title: str, synthetic: bool, footer: list[str] = ()) -> str:
    """A pipe table with its notes; `footer` adds lines such as the disclosure rule and provenance."""
    banner = [f"> **{SYNTHETIC_BANNER}**", ""] if synthetic else []
    notes = [f"- {n}" for n in [*table_notes(table), *footer]]
    return "\n".join([*banner, f"## {title}", "", _shown(table).to_markdown(index=False), "", *notes,
                      *banner[:1], ""])


def to_latex(table: pd.DataFrame, title: str, synthetic: bool, footer: list[str] = ()) -> str:
    """A booktabs table; notes and, for synthetic data, the banner are set below it."""
    shown = _shown(table).copy()
    shown.columns = [latex_escape(str(c)) for c in shown.columns]
    for column in shown.columns:
        if not pd.api.types.is_numeric_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: latex_escape(str(v)))
    latex = shown.style.hide(axis="index").to_latex(hrules=True, caption=latex_escape(title))
    notes = ([SYNTHETIC_BANNER] if synthetic else []) + table_notes(table) + list(footer)
    return latex + "".join(f"\\par\\footnotesize {latex_escape(n)}\n" for n in notes)


def latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                          ("#", r"\#"), ("$", r"\$"), ("^", r"\^{}"), ("<", r"\textless{}"),
                          (">", r"\textgreater{}")):
        text = text.replace(char, escaped)
    return text
