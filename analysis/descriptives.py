"""Descriptive tables for the report: centres by funding group, and mean distress by wave and group.

Statistics of a cell with fewer units than the disclosure threshold are left blank here, because the
publishing step (analysis.disclosure) can round and suppress counts but cannot know which statistics
describe a small cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.design import CLUSTERS, cluster_design
from analysis.disclosure import publishable_share
from analysis.exposure import GROUPS, exposure_level
from analysis.labels import SCORE_LABELS, cluster_words
from analysis.panel import build_panel

NO_GROUP = "no funding group"


def funding_groups(exposure: pd.DataFrame, cut_pct: float, growth_pct: float, window: str,
                   min_cell: int) -> pd.DataFrame:
    """One row per funding group (and one for units without a group): centres, LAs, budget change.

    At LA level the units are local authorities (their spend on children's centres): n_centres is blank.
    Quartiles of budget change are shown only for groups of at least `min_cell` units.
    """
    at_la = exposure_level(exposure) == "la"
    what = "real-terms change in the local authority's children's-centre spend" if at_la else \
        "real-terms budget change"
    definitions = {
        "cut": f"{what} of {cut_pct:+g}% or less, {window}",
        "stable": f"{what} between {cut_pct:+g}% and {growth_pct:+g}%, {window}",
        "growing": f"{what} of {growth_pct:+g}% or more, {window}",
    }
    rows = []
    for group in [*GROUPS, NO_GROUP]:
        if group == NO_GROUP:
            members = exposure[exposure["funding_group"].isna()]
            reasons = members["no_group_reason"].fillna("").value_counts()
            definition = "; ".join(reason for reason in sorted(reasons.index) if reason) or "-"
        else:
            members = exposure[exposure["funding_group"] == group]
            definition = definitions[group]
        changes = members["budget_change_pct"].dropna()
        shown = len(members) >= min_cell and len(changes) >= min_cell
        quartiles = changes.quantile([0.25, 0.5, 0.75]).to_numpy() if shown else [np.nan] * 3
        rows.append({
            "funding_group": group,
            "definition": definition,
            "cut_threshold_pct": cut_pct,
            "growth_threshold_pct": growth_pct,
            "n_centres": pd.NA if at_la else len(members),
            "n_las": members["la_code"].nunique(),
            "budget_change_pct_q1": quartiles[0],
            "budget_change_pct_median": quartiles[1],
            "budget_change_pct_q3": quartiles[2],
        })
    return pd.DataFrame(rows)


def caseness_cut_off(binary_scores: dict, score: str) -> float | None:
    """The threshold of the first of the plan's binary scores (`binary_scores`: name -> {score, at_least})
    made from `score`, e.g. 13 for K6 >= 13; None when none is."""
    cut_offs = [float(entry["at_least"]) for entry in binary_scores.values() if entry["score"] == score]
    return cut_offs[0] if cut_offs else None


def score_by_wave(survey: pd.DataFrame, exposure: pd.DataFrame, score: str, baseline_wave: int,
                  level: float, min_cell: int, cut_off: float | None = None) -> pd.DataFrame:
    """Mean score by funding group and wave, with a confidence interval clustered by local authority, and
    with `cut_off` the prevalence of a score at or above it (K6 >= 13: serious psychological distress).

    Mothers are grouped by their baseline-wave centre, as in the difference-in-differences panel. The
    interval is statsmodels' cluster-robust one for an intercept-only OLS (CR1 factor, t with G - 1 df).
    Cells with fewer than `min_cell` mothers or fewer than two clusters get no mean (clusters are local
    authorities, or centres when the data hold a single local authority).
    """
    panel, _ = build_panel(survey, exposure, score=score, baseline_wave=baseline_wave)
    # statsmodels is imported where used, module by module: statsmodels.api alone costs a job about 1.3 s.
    from statsmodels.regression.linear_model import OLS

    cluster = cluster_design(panel, CLUSTERS).robust  # LAs, or centres when the data hold a single LA
    rows = []
    for (group, wave), cell in panel.groupby(["funding_group", "wave"], sort=False):
        row = {"score": score, "score_label": SCORE_LABELS.get(score, score), "funding_group": group,
               "wave": int(wave), "n_mothers": cell["mother_id"].nunique(),
               "n_las": cell["la_code"].nunique(),
               "mean": np.nan, "ci_lower": np.nan, "ci_upper": np.nan, "ci_level": level}
        if cut_off is not None:
            cases = int((cell[score] >= cut_off).sum())
            row.update(cut_off=cut_off, n_at_or_above_cut_off=cases,
                       pct_at_or_above_cut_off=publishable_share(cases, len(cell), min_cell))
        if row["n_mothers"] >= min_cell and cell[cluster].nunique() >= 2:
            fit = OLS(cell[score].to_numpy(float), np.ones((len(cell), 1))).fit(
                cov_type="cluster", cov_kwds={"groups": pd.factorize(cell[cluster])[0]}, use_t=True)
            low, high = fit.conf_int(alpha=1 - level)[0]
            row.update(mean=float(fit.params[0]), ci_lower=float(low), ci_upper=float(high))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["funding_group"] = pd.Categorical(table["funding_group"], categories=list(GROUPS), ordered=True)
    table = table.sort_values(["funding_group", "wave"]).reset_index(drop=True)
    table["funding_group"] = table["funding_group"].astype(str)
    table["ci_method"] = (f"cluster-robust by {cluster_words(cluster)} (statsmodels CR1, factor G/(G-1)); "
                          "t with G-1 df; "
                          f"cells under {min_cell} mothers not shown"
                          + (f"; share at or above {cut_off:g} shown where at least {min_cell} mothers are "
                             "on each side of it" if cut_off is not None else ""))
    return table
