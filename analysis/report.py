"""The report's plain-English summary and figure descriptions, filled in from the published result tables.

No number is typed by hand: each one in the summary is a `Fact` (table, row, column, format) and is rendered
inside a <span class="fact"> naming its source, so a test can check every number against the tables.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.disclosure import count_text
from analysis.labels import SCORE_LABELS, mothers_in, split_outcome
from analysis.results import headline_contrast

MINUS = "\u2212"


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", MINUS)


def _bound(value: float) -> str:
    return "unbounded" if np.isinf(float(value)) else _signed(value)


def approximate(value) -> str:
    """A projected number of mothers, unsigned, as a reader should see it: whole mothers below 10, the
    nearest 10 below 1,000, two significant figures above (a projection is no more precise than that);
    halves round up."""
    size = abs(float(value))
    places = 0 if size < 10 else 1 if size < 1000 else len(str(int(size))) - 2
    return f"{int(np.floor(size / 10**places + 0.5)) * 10**places:,}"


def _signed_approximate(value) -> str:
    text = approximate(value)
    return MINUS + text if float(value) < 0 and text != "0" else text


FORMATS = {
    "signed": _signed,                                    # -0.91 -> "−0.91"
    "bound": _bound,                                      # an interval end that may be infinite
    "size": lambda v: f"{abs(float(v)):.2f}",             # magnitude of a difference
    "count": count_text,
    "level": lambda v: f"{round(100 * float(v))}",        # 0.95 -> "95"
    "wave": lambda v: split_outcome(str(v))[1],           # "k6_w3" -> "3"
    "p": lambda v: "<0.001" if float(v) < 0.001 else f"{float(v):.3f}",
    "threshold": lambda v: f"{float(v):+g}".replace("-", MINUS),
    "pct": lambda v: f"{float(v):.1f}",                   # a share in per cent: 3.578 -> "3.6"
    "pct_signed": lambda v: f"{float(v):+.1f}".replace("-", MINUS),  # a change in per cent: "−51.9"
    "mothers": approximate,                               # projected mothers: 420.7 -> "420"
    "signed_mothers": _signed_approximate,                # the same, signed: -306.6 -> "−310"
    "plain": lambda v: f"{float(v):g}",                   # a threshold from the plan: 13.0 -> "13"
    "text": str,                                          # a financial year as written: "2014-15"
}


@dataclass(frozen=True)
class Fact:
    """One number in the summary: where it comes from and how it is written."""

    table: str
    key_column: str
    key: str
    column: str
    kind: str

    def value(self, tables: dict[str, pd.DataFrame]):
        table = tables[self.table]
        rows = table[table[self.key_column].astype(str) == self.key]
        if rows.empty:
            raise KeyError(f"{self.table}.csv has no row with {self.key_column} = {self.key!r}")
        return rows.iloc[0][self.column]

    def html(self, tables: dict[str, pd.DataFrame]) -> str:
        text = FORMATS[self.kind](self.value(tables))
        return (f'<span class="fact" data-table="{self.table}" data-key-column="{self.key_column}" '
                f'data-key="{html.escape(self.key)}" data-column="{self.column}" data-kind="{self.kind}">'
                f"{html.escape(text)}</span>")


def _excludes_zero(row: pd.Series, lower: str = "ci_lower", upper: str = "ci_upper") -> bool:
    return row[upper] < 0 or row[lower] > 0


def _row(table: pd.DataFrame, contrast: str) -> pd.Series:
    return table[table["contrast"] == contrast].iloc[0]


def summary_html(tables: dict[str, pd.DataFrame], primary: str = "primary",
                 few_clusters: str = "primary_ols_cr2", contrast: str | None = None,
                 design: dict | None = None, few_clusters_threshold: int = 10,
                 exposure_level: str = "centre") -> str:
    """The one-screen summary: what was compared, in whom, the headline with its interval, how sure we can
    be, and what the analysis cannot say. `tables` maps table names to published tables (results/tables).

    `contrast` defaults to the headline contrast (growing vs cut, or the next one estimable). `design` is the
    primary fit's design record (results/models/primary_fit.json): with a single local authority the
    summary says so; with fewer than `few_clusters_threshold` local authorities the few-cluster model's wild
    cluster bootstrap interval carries the weight, and the summary says so. At LA level (`exposure_level`
    la) the groups are local authorities' children's-centre spending, and the summary says that the local
    authorities are the comparison's effective sample. Its exact counts only choose the wording: every number
    shown is a published table cell."""
    contrast = contrast or headline_contrast(tables[primary])
    design = design or {}

    def fact(table, column, kind, key=contrast, key_column="contrast"):
        return Fact(table, key_column, key, column, kind).html(tables)

    def group_fact(group, column, kind):
        return fact("funding_groups", column, kind, key=group, key_column="funding_group")

    head = _row(tables[primary], contrast)
    group, reference = contrast.split(" vs ")
    score, _ = split_outcome(head["outcome"])
    scale = SCORE_LABELS.get(score, score).split(" (")[0]
    direction = "lower" if head["estimate"] < 0 else "higher"
    level = fact(primary, "ci_level", "level")
    others = [c for c in tables[primary]["contrast"].drop_duplicates() if c != contrast]
    other_lines = "".join(_other_contrast(tables, primary, c, fact, group_fact, exposure_level)
                          for c in others)
    n_las = design.get("local_authorities")
    single = n_las == 1
    # At LA level the exposure varies only between local authorities: the few-cluster interval leads whatever
    # their number.
    few = n_las is not None and 1 < n_las and (n_las < few_clusters_threshold or exposure_level == "la")
    cr2 = _row(tables[few_clusters], contrast)

    def estimate_and_interval(table, lower="ci_lower", upper="ci_upper", kind="signed"):
        return (f"{fact(table, 'estimate', 'signed')} ({fact(table, 'ci_level', 'level')}% CI "
                f"{fact(table, lower, kind)} to {fact(table, upper, kind)})")

    weight = " that carries the weight" if few else ""
    if _excludes_zero(*((cr2, "wcr_ci_lower", "wcr_ci_upper") if few else (head,))):
        sure = (f"The {level}% confidence interval{weight} excludes no difference, so chance alone is an "
                "unlikely explanation; the size of the difference is uncertain within the interval.")
    else:
        sure = (f"The {level}% confidence interval{weight} includes no difference: the data are consistent "
                "with no difference, and with differences in either direction as large as the interval's "
                "ends.")
    if few and exposure_level == "la":
        few_text = (" The funding groups are whole local authorities, so the interval built for comparisons "
                    "between a modest number of groups carries the weight: a wild cluster bootstrap of the "
                    "same comparison by regression, "
                    f"{estimate_and_interval(few_clusters, 'wcr_ci_lower', 'wcr_ci_upper', 'bound')}.")
    elif few:
        few_text = (f" Budgets were decided by only {fact(few_clusters, 'n_las', 'count')} local "
                    "authorities, too few for the mixed model's interval to be trusted on its own, so the "
                    "interval built for few groups carries the weight: a wild cluster bootstrap of the same "
                    "comparison by regression, "
                    f"{estimate_and_interval(few_clusters, 'wcr_ci_lower', 'wcr_ci_upper', 'bound')}.")
    elif single:
        few_text = (" All the centres are in a single local authority, so this compares centres of one "
                    "council with each other; the model has no local-authority level, and its standard "
                    "errors allow for mothers at the same centre being alike.")
    else:
        few_text = (f" Because budgets were decided by only {fact(few_clusters, 'n_las', 'count')} local "
                    "authorities, we also used a method built for few groups (CR2 standard errors): "
                    f"{estimate_and_interval(few_clusters)}, which "
                    f"{'also excludes' if _excludes_zero(cr2) else 'includes'} no difference.")
    where = ("in a single local authority" if single
             else f"in {fact(primary, 'n_las', 'count')} local authorities")
    if exposure_level == "la":
        compared = (f"""Mothers living in local authorities whose spending on children's centres
<b>grew</b> in real terms (a change of {group_fact('growing', 'growth_threshold_pct', 'threshold')}% or more
after inflation), or stayed <b>stable</b>, were compared with mothers in local authorities whose spending was
<b>cut</b> ({group_fact('cut', 'cut_threshold_pct', 'threshold')}% or less)""")
        who = f"{fact(primary, 'n_mothers', 'count')} mothers {where}."
        sure += (" Spending is known only for whole local authorities, so the comparison rests on the "
                 f"{fact(primary, 'n_las', 'count')} local authorities, not on the number of mothers: they "
                 "are its effective sample size, and the intervals allow for it.")
    else:
        compared = (f"""Mothers using children's centres whose budgets <b>grew</b> in real terms
(a change of {group_fact('growing', 'growth_threshold_pct', 'threshold')}% or more after inflation), or
stayed <b>stable</b>, were compared with mothers at centres whose budgets were <b>cut</b>
({group_fact('cut', 'cut_threshold_pct', 'threshold')}% or less)""")
        who = (f"{fact(primary, 'n_mothers', 'count')} mothers at {fact(primary, 'n_centres', 'count')} "
               f"centres\n{where}.")
    at_group, at_reference = mothers_in(group, exposure_level), mothers_in(reference, exposure_level)
    return f"""<section id="summary" class="summary">
<h2>Summary</h2>
<p><b>What was compared.</b> {compared}, on their psychological distress at survey
wave {fact(primary, 'outcome', 'wave')} ({scale}: higher scores mean more distress), taking account of their
distress at the first interview and their circumstances.</p>
<p><b>Who.</b> {who}</p>
<p><b>The headline.</b> Mothers {at_group} scored {fact(primary, 'estimate', 'size')} points
{direction} than similar mothers {at_reference} (difference {fact(primary, 'estimate', 'signed')},
{level}% confidence interval {fact(primary, 'ci_lower', 'signed')} to {fact(primary, 'ci_upper', 'signed')}).
Lower scores mean less distress, that is, better mental health.{other_lines}</p>
<p><b>How sure can we be?</b> {sure}{few_text}</p>
<p><b>What this cannot say.</b> This is an observational comparison, not an experiment. Local authorities
decided which centres were cut, and their reasons (deprivation, politics, other services) may also affect
mothers' mental health. The analysis adjusts for measured circumstances but not for anything unmeasured, so
the differences are associations, not proof that funding caused them.</p>
</section>"""


def _other_contrast(tables: dict[str, pd.DataFrame], primary: str, contrast: str, fact, group_fact,
                    level: str = "centre") -> str:
    """One sentence on a further contrast of table `primary`: its estimate, or why it cannot be estimated."""
    row = _row(tables[primary], contrast)
    group = contrast.split(" vs ")[0]
    if pd.isna(row["estimate"]):
        threshold = ""
        if group == "growing":
            whose = ("local authority's children's-centre spending" if level == "la"
                     else "centre's real-terms budget")
            threshold = (f" (no {whose} grew by "
                         f"{group_fact(group, 'growth_threshold_pct', 'threshold')}% or more)")
        return (f" Mothers {mothers_in(group, level)} could not be compared: none of the mothers in the "
                f"analysis were {mothers_in(group, level)}{threshold}.")
    estimate, low, high = (fact(primary, column, "signed", contrast)
                           for column in ("estimate", "ci_lower", "ci_upper"))
    return (f" Mothers {mothers_in(group, level)}: {estimate} "
            f"({fact(primary, 'ci_level', 'level', contrast)}% CI {low} to {high}).")


def model_sentence(fit: dict) -> str:
    """The primary model in words, from its fit record (results/models/primary_fit.json): which random
    intercepts it has, whether the fit is on the boundary, and how its optimum was confirmed."""
    if fit.get("random_intercepts") == ["inner"] and fit.get("design", {}).get("local_authorities", 1) > 1:
        structure = ("linear mixed model (REML) with a random intercept for local authority; no separate "
                     "centre level, since each local authority has a single centre (or none named) in the "
                     "data")
    elif fit.get("random_intercepts") == ["inner"]:
        structure = ("linear mixed model (REML) with a random intercept for centre; no local-authority "
                     "level, since the data hold a single local authority")
    else:
        structure = ("linear mixed model (REML) with random intercepts for local authority and for centre "
                     "within local authority")
    singular = ""
    if fit.get("singular"):
        levels = " and ".join({"outer": "local authorities", "inner": "centres"}[level]
                              for level in fit["boundary_levels"])
        singular = (f"; a boundary (singular) fit: the variance between {levels} is estimated at zero, as "
                    "lme4 would report")
    methods = fit["confirming_methods"]
    return (f"{structure}; REML log-likelihood {fit['reml_loglik']:.3f}, confirmed by {len(methods)} "
            f"optimisers ({', '.join(methods)}){singular}.")


def figure_html(path: str | Path, alt: str, caption: str) -> str:
    """A figure embedded in the page (self-contained HTML) with alt text and a caption."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
            f'style="max-width:100%;height:auto"><figcaption>{caption}</figcaption></figure>')


def _range(values: pd.Series) -> str:
    return f"{_signed(values.min())} to {_signed(values.max())}"


def alt_budget(groups: pd.DataFrame) -> str:
    rows = groups[groups["funding_group"] != "no funding group"]
    at_la = rows["n_centres"].isna().all()
    parts = [f"{r['funding_group']}: " + (f"{count_text(r['n_las'])} local authorities" if at_la
                                          else f"{count_text(r['n_centres'])} centres")
             for _, r in rows.iterrows()]
    first = rows.iloc[0]
    return ("Histogram of children's centres' real-terms budget change in per cent, coloured by funding "
            f"group, with dashed lines at {first['cut_threshold_pct']:+g}% and "
            f"{first['growth_threshold_pct']:+g}%. "
            + "; ".join(parts) + ".")


def alt_score_by_wave(table: pd.DataFrame) -> str:
    shown = table.dropna(subset=["mean"])
    parts = [f"{r['funding_group']} wave {r['wave']}: {r['mean']:.1f}" for _, r in shown.iterrows()]
    score = table["score_label"].iloc[0].split(" (")[0]
    return (f"Line chart of mean {score} by survey wave for each funding group, with confidence "
            "intervals. Means: " + "; ".join(parts) + ".")


def alt_estimates(table: pd.DataFrame) -> str:
    parts = [f"{r['contrast']}: not estimable" if pd.isna(r["estimate"]) else
             f"{r['contrast']}: {_signed(r['estimate'])} ({_signed(r['ci_lower'])} to "
             f"{_signed(r['ci_upper'])})" for _, r in table.iterrows()]
    return "Dot-and-interval chart of the primary differences in distress. " + "; ".join(parts) + "."


def alt_forest(rows: pd.DataFrame) -> str:
    return (f"Forest plot of {len(rows)} estimates of the growing versus cut difference, one per "
            f"analysis, ranging from {_range(rows['estimate'])} points; each interval is drawn against a "
            "line at zero.")


# Each kind of forest row (analysis.figures.FOREST_METHODS) in the report's words; {analysis} names the
# model a row comes from.
FOREST_WORDS = {
    "mixed_model": "from the mixed model {analysis}",
    "ols_cr2": "from ordinary least squares with small-sample cluster-robust standard errors (CR2, model "
               "{analysis})",
    "wild_bootstrap": "with a wild cluster bootstrap interval of the same regression",
    "multiple_imputation": "after multiple imputation of missing follow-up answers",
    "response_weighting": "with inverse-probability-of-response weights",
    "difference_in_differences": "from a difference-in-differences comparison in which each mother is "
                                 "compared with herself at the first interview",
}


def forest_words(rows: pd.DataFrame, group: str) -> str:
    """The forest plot's analyses in words, in its order, from the published forest table (its `method` and
    `analysis` columns), and the range of their estimates."""
    phrases = [FOREST_WORDS[method].format(analysis=analysis)
               for method, analysis in zip(rows["method"], rows["analysis"], strict=True)]
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + ", and " + phrases[-1]
    few = (" (CR2 and the wild cluster bootstrap respect that funding was decided by few local authorities)"
           if rows["method"].isin(["ols_cr2", "wild_bootstrap"]).any() else "")
    low, high = (_signed(rows["estimate"].agg(side)) for side in ("min", "max"))
    ways = "one way" if len(rows) == 1 else f"{len(rows)} ways"
    return (f"**Every pre-specified way of estimating it.** Figure 4 shows the {group}-vs-cut difference "
            f"estimated {ways}: {listed}{few}. The estimates range from {low} to {high} points.")


# Said where the dose-response figure would be, when the plan names no dose_curve model.
NO_DOSE_CURVE = ("No dose-response curve was pre-specified: the analysis plan names no model for it "
                 "(model_roles.dose_curve), so no curve of distress against real-terms budget change is "
                 "drawn.")


def alt_specification_curve(curve: pd.DataFrame, contrast: str = "growing vs cut") -> str:
    rows = curve[(curve["contrast"] == contrast) & curve["estimate"].notna()]
    below = int((rows["ci_upper"] < 0).sum())
    return (f"Specification curve: {len(rows)} estimable estimates of {contrast}, sorted, ranging from "
            f"{_range(rows['estimate'])} points; {below} have an interval entirely below zero. A grid below "
            "marks the analysis choices of each.")


def alt_dose(table: pd.DataFrame) -> str:
    parts = [f"{r['contrast'].replace('budget_change_pct ', '')}: {_signed(r['estimate'])}"
             for _, r in table.iterrows()]
    return ("Line chart of the fitted difference in distress by real-terms budget change in per cent, "
            "relative to no change, with a confidence band. Differences: " + "; ".join(parts) + ".")


def alt_flow(flow: pd.DataFrame) -> str:
    first, last = flow.iloc[0], flow.iloc[-1]
    return (f"Flow diagram from {count_text(first['n_mothers'])} mothers in the survey to "
            f"{count_text(last['n_mothers'])} in the analysis, with the number excluded at each of "
            f"{len(flow) - 1} steps.")
