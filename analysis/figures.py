"""Figures for the report. Each is titled, has labelled axes with units, and carries a visible
synthetic-data marking when made from demonstration data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.exposure import GROUPS  # noqa: E402
from analysis.labels import outcome_label  # noqa: E402

GROUP_COLOURS = {"cut": "#b2182b", "stable": "#8c8c8c", "growing": "#2166ac"}
SYNTHETIC_MARK = "SYNTHETIC DATA - NOT EVIDENCE"


def _mark_synthetic(fig: plt.Figure) -> None:
    fig.text(0.5, 0.5, SYNTHETIC_MARK, fontsize=26, color="#d62728", alpha=0.22, rotation=20,
             ha="center", va="center", weight="bold")
    fig.text(0.5, 1.0, "Synthetic demonstration data: not evidence", fontsize=10, color="#d62728",
             weight="bold", ha="center", va="bottom")


def _save(fig: plt.Figure, path, synthetic: bool) -> None:
    if synthetic:
        _mark_synthetic(fig)
    # Fixed metadata so that the same inputs give the same file.
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def budget_change_figure(exposure: pd.DataFrame, cut_pct: float, growth_pct: float, window: str,
                         path, synthetic: bool) -> None:
    """Each centre's real-terms budget change, by funding group, with the group thresholds marked."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    grouped = exposure.dropna(subset=["budget_change_pct"])
    # 2.5-point bins whose edges include both thresholds, so no bar mixes two groups.
    width = 2.5
    low = min(np.floor(grouped["budget_change_pct"].min() / width), np.floor(cut_pct / width))
    high = max(np.ceil(grouped["budget_change_pct"].max() / width), np.ceil(growth_pct / width))
    edges = np.union1d(np.arange(low, high + 1) * width, [cut_pct, growth_pct])
    for group in GROUPS:
        values = grouped.loc[grouped["funding_group"] == group, "budget_change_pct"]
        ax.hist(values, bins=edges, color=GROUP_COLOURS[group], alpha=0.85,
                label=f"{group} ({len(values)} centres)")
    for threshold in (cut_pct, growth_pct):
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"{threshold:+g}%", (threshold, ax.get_ylim()[1] * 0.95), ha="center",
                    fontsize=9, backgroundcolor="white")
    ax.set_title(f"Real-terms budget change of each children's centre, {window}")
    ax.set_xlabel("Change in real-terms budget (%)")
    ax.set_ylabel("Number of centres")
    ax.legend(title="Funding group", frameon=False)
    _save(fig, path, synthetic)


def estimates_figure(contrasts: pd.DataFrame, path, synthetic: bool) -> None:
    """Each contrast's estimate with its confidence interval, against a line at no difference."""
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.8 * len(contrasts)))
    y = np.arange(len(contrasts))[::-1]
    ax.errorbar(contrasts["estimate"], y,
                xerr=[contrasts["estimate"] - contrasts["ci_lower"],
                      contrasts["ci_upper"] - contrasts["estimate"]],
                fmt="o", color="black", capsize=4)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(y, contrasts["contrast"])
    ax.set_ylim(-0.7, len(contrasts) - 0.3)
    level = int(round(100 * contrasts["ci_level"].iloc[0]))
    reference = contrasts["reference"].iloc[0]
    ax.set_xlabel(f"Difference in {outcome_label(contrasts['outcome'].iloc[0])}\n"
                  f"(points, with {level}% CI; below 0 = less distress than at {reference} centres)")
    ax.set_title(f"Mothers' psychological distress compared with mothers at {reference} centres")
    _save(fig, path, synthetic)


def dose_response_figure(curve: pd.DataFrame, exposure: pd.DataFrame, level: float, cut_pct: float,
                         growth_pct: float, outcome: str, path, synthetic: bool) -> None:
    """Fitted difference in the outcome by real-terms budget change, against no change, with a band."""
    fig, ax = plt.subplots(figsize=(8, 4.4))
    ax.fill_between(curve["exposure"], curve["ci_lower"], curve["ci_upper"], color="#9ecae1", alpha=0.6,
                    label=f"{int(round(100 * level))}% confidence band")
    ax.plot(curve["exposure"], curve["estimate"], color="#08519c", linewidth=2, label="fitted difference")
    ax.axhline(0, color="grey", linewidth=1)
    for threshold in (cut_pct, growth_pct):
        ax.axvline(threshold, color="black", linestyle="--", linewidth=0.8)
    changes = exposure["budget_change_pct"].dropna()
    ax.plot(changes, np.full(len(changes), ax.get_ylim()[0]), "|", color="black", alpha=0.5,
            label="centres")
    ax.set_xlabel("Change in real-terms budget (%)")
    ax.set_ylabel(f"Difference in {outcome_label(outcome).split(' (')[0]}\n(points, vs no change)")
    ax.set_title("Distress by real-terms budget change (natural spline)")
    ax.legend(frameon=False, loc="upper right")
    _save(fig, path, synthetic)


def specification_curve_figure(curve: pd.DataFrame, path, synthetic: bool,
                               contrast: str = "growing vs cut") -> None:
    """Estimates of one contrast across every specification, sorted, with the choices marked below."""
    chosen = curve[curve["contrast"] == contrast]
    rows = chosen.dropna(subset=["estimate"]).sort_values("estimate").reset_index(drop=True)
    choices = ["score", "estimator", "covariate_set", "threshold_pct", "base_year", "end_year"]
    labels = [(c, v) for c in choices for v in sorted(rows[c].astype(str).unique())]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1.6]})
    x = np.arange(len(rows))
    top.errorbar(x, rows["estimate"], yerr=[rows["estimate"] - rows["ci_lower"],
                                            rows["ci_upper"] - rows["estimate"]],
                 fmt="o", color="black", ecolor="#999999", markersize=4, capsize=0)
    top.axhline(0, color="grey", linewidth=1)
    top.set_ylabel("Difference vs cut centres\n(points; below 0 = less distress)")
    top.set_title(f"Specification curve: {contrast}, {len(rows)} of {len(chosen)} specifications estimable")
    for i, (column, value) in enumerate(labels):
        on = rows[column].astype(str) == value
        bottom.plot(x[on], np.full(on.sum(), i), "s", color="#333333", markersize=4)
    bottom.set_yticks(range(len(labels)), [f"{c.replace('_', ' ')}: {v}" for c, v in labels], fontsize=8)
    bottom.set_xlabel("Specification (sorted by estimate)")
    bottom.invert_yaxis()
    _save(fig, path, synthetic)


def forest_figure(rows: pd.DataFrame, path, synthetic: bool) -> None:
    """Every analysis's estimate of the same contrast (difference scale), one line each."""
    rows = rows.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 1.0 + 0.45 * len(rows)))
    y = np.arange(len(rows))[::-1]
    ax.errorbar(rows["estimate"], y, xerr=[rows["estimate"] - rows["ci_lower"],
                                           rows["ci_upper"] - rows["estimate"]],
                fmt="o", color="black", capsize=3)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(y, rows["label"])
    ax.set_xlabel("Difference in wave-3 K6, growing vs cut centres (points, 95% CI; below 0 = less distress)")
    ax.set_title("The same comparison, estimated every pre-specified way")
    _save(fig, path, synthetic)
