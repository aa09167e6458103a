"""Figures for the report. Each is titled, has labelled axes with units, and carries a visible
synthetic-data marking when made from demonstration data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.disclosure import count_text
from analysis.exposure import GROUPS, exposure_level
from analysis.io import atomic_path
from analysis.labels import outcome_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GROUP_COLOURS = {"cut": "#b2182b", "stable": "#8c8c8c", "growing": "#2166ac"}
SYNTHETIC_MARK = "SYNTHETIC DATA - NOT EVIDENCE"


def _pyplot():
    """matplotlib's pyplot, imported on first use: most pipeline jobs import this module but draw
    nothing, and pyplot costs each of them a third of a second."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a server or in CI
    import matplotlib.pyplot as plt

    return plt


def _mark_synthetic(fig: Figure) -> None:
    fig.text(0.5, 0.5, SYNTHETIC_MARK, fontsize=26, color="#d62728", alpha=0.22, rotation=20,
             ha="center", va="center", weight="bold")
    fig.text(0.5, 1.0, "Synthetic demonstration data: not evidence", fontsize=10, color="#d62728",
             weight="bold", ha="center", va="bottom")


def _save(fig: Figure, path, synthetic: bool) -> None:
    if synthetic:
        _mark_synthetic(fig)
    # Fixed metadata so that the same inputs give the same file.
    with atomic_path(path) as partial:
        fig.savefig(partial, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)


def pooled_bins(values: np.ndarray, min_count: int, lower: float,
                upper: float) -> tuple[np.ndarray, np.ndarray]:
    """Histogram edges between `lower` and `upper` such that every bar holds at least `min_count` values.

    Consecutive sorted values are pooled into bars of `min_count` (the remainder joins the last bar);
    inner edges fall midway between neighbouring values, so no bar shows fewer units than the disclosure
    threshold. Returns (edges, counts); no bars when there are fewer than `min_count` values.
    """
    values = np.sort(np.asarray(values, dtype=float))
    n_bars = len(values) // min_count
    if n_bars == 0:
        return np.array([lower, upper]), np.array([], dtype=int)
    counts = np.full(n_bars, min_count)
    counts[-1] += len(values) - n_bars * min_count
    ends = np.cumsum(counts)[:-1]
    inner = (values[ends - 1] + values[ends]) / 2
    return np.concatenate([[lower], inner, [upper]]), counts


def budget_change_figure(exposure: pd.DataFrame, cut_pct: float, growth_pct: float, window: str,
                         min_count: int, path, synthetic: bool) -> None:
    """Centres' real-terms budget change by funding group, thresholds marked, disclosure-safe (at LA level,
    local authorities' children's-centre spend).

    Bars are pooled so each holds at least `min_count` units and heights are units per percentage point
    (area = units), so no bar reveals a small count; a group with fewer units is not drawn.
    """
    units = "local authorities" if exposure_level(exposure) == "la" else "centres"
    fig, ax = _pyplot().subplots(figsize=(8, 4.2))
    grouped = exposure.dropna(subset=["budget_change_pct"])
    step = 5.0  # outer edges on 5-point multiples, so the extremes do not reveal one centre's change
    low = min(np.floor(grouped["budget_change_pct"].min() / step) * step, cut_pct - step)
    high = max(np.ceil(grouped["budget_change_pct"].max() / step) * step, growth_pct + step)
    ranges = {"cut": (low, cut_pct), "stable": (cut_pct, growth_pct), "growing": (growth_pct, high)}
    for group in GROUPS:
        values = grouped.loc[grouped["funding_group"] == group, "budget_change_pct"].to_numpy()
        edges, counts = pooled_bins(values, min_count, *ranges[group])
        if len(counts) == 0:
            ax.bar([], [], color=GROUP_COLOURS[group],
                   label=f"{group} (under {min_count} {units}: not shown)")
            continue
        widths = np.diff(edges)
        ax.bar(edges[:-1], counts / widths, width=widths, align="edge", color=GROUP_COLOURS[group],
               alpha=0.85, edgecolor="white", label=group)
    for threshold in (cut_pct, growth_pct):
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
        ax.annotate(f"{threshold:+g}%", (threshold, ax.get_ylim()[1] * 0.95), ha="center",
                    fontsize=9, backgroundcolor="white")
    ax.set_title(f"Real-terms change in local authorities' children's-centre spend, {window}" if units ==
                 "local authorities" else f"Real-terms budget change of children's centres, {window}")
    ax.set_xlabel("Change in real-terms budget (%)")
    ax.set_ylabel(f"{units.capitalize()} per percentage point\n(each bar pools at least {min_count} {units})")
    ax.legend(title="Funding group", frameon=False)
    _save(fig, path, synthetic)


def score_by_wave_figure(table: pd.DataFrame, path, synthetic: bool) -> None:
    """Mean score by wave for each funding group, with confidence intervals (suppressed cells omitted)."""
    fig, ax = _pyplot().subplots(figsize=(8, 4.4))
    offsets = dict(zip(GROUPS, (-0.08, 0.0, 0.08), strict=True))
    for group in GROUPS:
        rows = table[(table["funding_group"] == group) & table["mean"].notna()]
        if rows.empty:
            continue
        x = rows["wave"].to_numpy(float) + offsets[group]
        ax.errorbar(x, rows["mean"], yerr=[rows["mean"] - rows["ci_lower"], rows["ci_upper"] - rows["mean"]],
                    fmt="o-", color=GROUP_COLOURS[group], capsize=4, label=group)
    waves = sorted(table["wave"].unique())
    ax.set_xticks(waves, [f"wave {w}" for w in waves])
    level = int(round(100 * table["ci_level"].iloc[0]))
    label = table["score_label"].iloc[0]
    ax.set_xlabel("Survey wave")
    ax.set_ylabel(f"Mean {label.split(' (')[0]} (points)\nhigher = more distress; {level}% CI")
    ax.set_title("Mothers' psychological distress by survey wave and centre funding group")
    ax.legend(title="Funding group", frameon=False)
    _save(fig, path, synthetic)


def sample_flow_figure(flow: pd.DataFrame, path, synthetic: bool) -> None:
    """CONSORT-style diagram: mothers remaining after each inclusion step, exclusions to the side."""
    steps = flow.reset_index(drop=True)
    fig, ax = _pyplot().subplots(figsize=(8, 1.0 + 0.9 * len(steps)))
    ax.set_xlim(0, 10)
    ax.set_ylim(-len(steps) + 0.4, 0.8)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.4", "facecolor": "#f0f0f0", "edgecolor": "#555555"}
    side = {"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#b2182b"}
    for i, step in steps.iterrows():
        y = -i
        ax.text(3.5, y, f"{step['description']}\nmothers: {count_text(step['n_mothers'])}", ha="center",
                va="center", fontsize=9, bbox=box)
        if i > 0:
            ax.annotate("", xy=(3.5, y + 0.32), xytext=(3.5, y + 0.68),
                        arrowprops={"arrowstyle": "->", "color": "#555555"})
            excluded = step["n_excluded"]
            if str(excluded) not in ("0", "0.0"):
                ax.text(8.2, y + 0.5, f"excluded: {count_text(excluded)}", ha="center", va="center",
                        fontsize=8, bbox=side)
                ax.annotate("", xy=(7.3, y + 0.5), xytext=(3.5, y + 0.5),
                            arrowprops={"arrowstyle": "->", "color": "#b2182b"})
    ax.set_title("Who is in the analysis: mothers remaining after each inclusion step")
    _save(fig, path, synthetic)



def estimates_figure(contrasts: pd.DataFrame, path, synthetic: bool) -> None:
    """Each contrast's estimate with its confidence interval, against a line at no difference."""
    fig, ax = _pyplot().subplots(figsize=(8, 1.2 + 0.8 * len(contrasts)))
    y = np.arange(len(contrasts))[::-1]
    ax.errorbar(contrasts["estimate"], y,
                xerr=[contrasts["estimate"] - contrasts["ci_lower"],
                      contrasts["ci_upper"] - contrasts["estimate"]],
                fmt="o", color="black", capsize=4)
    ax.axvline(0, color="grey", linewidth=1)
    for row_y, (_, row) in zip(y, contrasts.iterrows(), strict=True):
        if pd.isna(row["estimate"]):  # a group without mothers: say so where its estimate would be
            ax.text(0, row_y, "  not estimable: no mothers in this group", va="center", fontsize=9,
                    color="#555555")
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
    fig, ax = _pyplot().subplots(figsize=(8, 4.4))
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
    fig, (top, bottom) = _pyplot().subplots(2, 1, figsize=(9, 7), sharex=True,
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


# What each kind of forest row is, in the report's words (analysis.report.forest_words).
FOREST_METHODS = ("mixed_model", "ols_cr2", "wild_bootstrap", "multiple_imputation", "response_weighting",
                  "difference_in_differences")


def forest_rows(models: dict[str, pd.DataFrame], did: pd.DataFrame, imputation: pd.DataFrame,
                weighting: pd.DataFrame, group: str = "growing") -> pd.DataFrame:
    """The `group vs cut` estimate of each analysis on the difference scale, one labelled row each: the
    models of model_roles.forest (name -> contrast table, in the plan's order; an ols_cr2 model with a
    bootstrap adds its wild cluster bootstrap interval), then multiple imputation, response weighting and the
    difference-in-differences. `analysis` names where a row comes from and `method` its kind
    (FOREST_METHODS)."""
    contrast = f"{group} vs cut"
    term = f"funding_group[T.{group}]"
    columns = ["estimate", "ci_lower", "ci_upper"]

    def pick(table: pd.DataFrame, mask: pd.Series, label: str, analysis: str, method: str,
             lower: str = "ci_lower", upper: str = "ci_upper") -> dict:
        row = table.loc[mask].iloc[0]
        return {"label": label, "analysis": analysis, "method": method,
                **{c: float(row[s]) for c, s in zip(columns, ("estimate", lower, upper), strict=True)}}

    rows = []
    for name, table in models.items():
        mask = table["contrast"] == contrast
        head = table.loc[mask].iloc[0]
        if head["estimator"] == "ols_cr2":
            rows.append(pick(table, mask, f"OLS, CR2 SE, Satterthwaite t ({name})", name, "ols_cr2"))
            if pd.notna(head.get("wcr_ci_lower", np.nan)):
                rows.append(pick(table, mask, f"OLS, wild cluster bootstrap CI ({name})", name,
                                 "wild_bootstrap", "wcr_ci_lower", "wcr_ci_upper"))
        else:
            kind = "Wald" if np.isinf(head["df"]) else "t"
            rows.append(pick(table, mask, f"Mixed model, {kind} CI ({name})", name, "mixed_model"))
    rows += [
        pick(imputation, imputation["term"] == term, "Multiple imputation, Rubin's rules",
             "multiple_imputation", "multiple_imputation"),
        pick(weighting, weighting["term"] == term, "Inverse-probability weighting, CR1",
             "inverse_probability_weighting", "response_weighting"),
        pick(did, (did["group"] == group) & (did["wave"] == did["wave"].max()),
             "Mother fixed effects DiD (last wave vs first)", "difference_in_differences",
             "difference_in_differences"),
    ]
    return pd.DataFrame(rows)


def forest_figure(rows: pd.DataFrame, contrast: str, path, synthetic: bool) -> None:
    """Every analysis's estimate of the same contrast (difference scale), one line each."""
    rows = rows.reset_index(drop=True)
    fig, ax = _pyplot().subplots(figsize=(8, 1.0 + 0.45 * len(rows)))
    y = np.arange(len(rows))[::-1]
    # An unbounded interval (a bootstrap with very few clusters) is drawn to the edge and labelled.
    finite = rows[["ci_lower", "ci_upper"]].replace([np.inf, -np.inf], np.nan)
    ax.errorbar(rows["estimate"], y, xerr=[rows["estimate"] - finite["ci_lower"],
                                           finite["ci_upper"] - rows["estimate"]],
                fmt="o", color="black", capsize=3)
    for row_y, (_, row) in zip(y, rows.iterrows(), strict=True):
        if np.isinf(row["ci_lower"]) or np.isinf(row["ci_upper"]):
            ax.text(row["estimate"], row_y + 0.2, "interval unbounded", ha="center", fontsize=8)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(y, rows["label"])
    ax.set_xlabel(f"Difference in wave-3 K6, {contrast} centres (points, 95% CI; below 0 = less distress)")
    ax.set_title("The same comparison, estimated every pre-specified way")
    _save(fig, path, synthetic)


def scenarios_figure(curve: pd.DataFrame, table: pd.DataFrame, path, synthetic: bool) -> None:
    """Projected difference in mean K6 against real-terms budget change (each mean model), the range of
    change observed in the data shaded, and each planned change marked with its interval; projections
    outside the observed range are drawn dashed and labelled as extrapolation."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.6))
    low, high = float(curve["observed_min_pct"].iloc[0]), float(curve["observed_max_pct"].iloc[0])
    ax.axvspan(low, high, color="#e5f5e0", label=f"observed in the data ({low:+.0f}% to {high:+.0f}%)")
    styles = {0: ("#08519c", "#9ecae1"), 1: ("#54278f", "#bcbddc")}
    for k, (model, rows) in enumerate(curve.groupby("model", sort=False)):
        line, band = styles[k % 2]
        label = "natural spline" if "spline" in model else "linear"
        ax.fill_between(rows["real_change_pct"], rows["ci_lower"], rows["ci_upper"], color=band, alpha=0.35)
        inside = rows[~rows["extrapolation"].astype(bool)]
        ax.plot(rows["real_change_pct"], rows["estimate"], color=line, linewidth=1.5, linestyle=":")
        ax.plot(inside["real_change_pct"], inside["estimate"], color=line, linewidth=2.2,
                label=f"{label} model (dotted: extrapolation)")
    means = table[table["quantity"] == "mean_k6_difference"]
    bottom = float(min(curve["ci_lower"].min(), means["ci_lower"].min()))
    top = float(max(curve["ci_upper"].max(), means["ci_upper"].max()))
    ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.3 * (top - bottom))
    for name, rows in means.groupby("scenario", sort=False):
        x = float(rows["real_change_pct"].iloc[0])
        y = rows["estimate"].to_numpy(float)
        ax.errorbar(np.full(len(y), x) + np.linspace(-0.6, 0.6, len(y)), y,
                    yerr=[y - rows["ci_lower"].to_numpy(float), rows["ci_upper"].to_numpy(float) - y],
                    fmt="o", color="black", capsize=3, zorder=5)
        outside = bool(rows["extrapolation"].iloc[0])
        ax.annotate(f"{name}\n{rows['nominal_change_pct'].iloc[0]:+g}% cash = {x:+.0f}% real"
                    + ("\nEXTRAPOLATION" if outside else ""), (x, top), textcoords="offset points",
                    xytext=(0, 6), ha="center", va="bottom", fontsize=8,
                    color="#b2182b" if outside else "black", weight="bold" if outside else "normal")
    ax.axhline(0, color="grey", linewidth=1)
    ax.set_xlabel("Change in real-terms budget (%)")
    ax.set_ylabel("Projected difference in K6\n(points, vs no real-terms change)")
    ax.set_title("What a planned budget change would mean for mothers' distress", pad=10)
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8)
    _save(fig, path, synthetic)


def power_figure(curve: pd.DataFrame, design, target: float, alpha: float, path, synthetic: bool) -> None:
    """Minimum detectable effect (K6 points) against the number of centres, for one evaluation design."""
    fig, ax = _pyplot().subplots(figsize=(7, 4))
    ax.plot(curve["centres"], curve["mde_k6"], "o-", color="#08519c")
    ax.set_xlabel("Centres in the evaluation")
    ax.set_ylabel("Minimum detectable difference\n(K6 points)")
    where = "centres" if design.assigned_at == "centre" else "local authorities"
    ax.set_title(f"Design '{design.name}': {design.mothers_per_centre} mothers per centre, "
                 f"{100 * design.attrition:g}% lost; change differs between {where}\n"
                 f"{100 * target:g}% power, two-sided alpha {alpha:g}", fontsize=10)
    ax.set_ylim(bottom=0)
    _save(fig, path, synthetic)


# Marker, colour, legend words and vertical offset (so that no marker hides another) of each sample.
BALANCE_MARKERS = (("o", "#8c8c8c", "baseline cohort", 0.18),
                   ("s", "black", "analysed sample, unweighted", 0.0),
                   ("^", "#2166ac", "analysed sample, response-weighted", -0.18))


def balance_figure(balance: pd.DataFrame, path, synthetic: bool) -> None:
    """Love plot: each characteristic's standardised mean difference against the reference group, one panel
    per contrast, in the baseline cohort and in the analysed sample before and after response weighting,
    with guide lines at +-smd_guide. A blank SMD (not defined, or not shown for a small cell) is marked."""
    from analysis.balance import ANALYSED, COHORT, UNWEIGHTED, WEIGHTED  # its names of the samples

    samples = ((COHORT, UNWEIGHTED), (ANALYSED, UNWEIGHTED), (ANALYSED, WEIGHTED))
    contrasts = list(balance["contrast"].drop_duplicates())
    rows = list(balance["row_id"].drop_duplicates())
    y = {row: i for i, row in enumerate(rows[::-1])}
    guide = float(balance["smd_guide"].iloc[0])
    fig, axes = _pyplot().subplots(1, len(contrasts), figsize=(4.6 * len(contrasts) + 1.5,
                                                               1.2 + 0.32 * len(rows)), sharey=True,
                                   squeeze=False)
    finite = balance["smd"].dropna()
    reach = max(guide * 2, float(finite.abs().max()) * 1.1 if len(finite) else 0.0)
    for ax, contrast in zip(axes[0], contrasts, strict=True):
        chosen = balance[balance["contrast"] == contrast]
        for (sample, weighting), style in zip(samples, BALANCE_MARKERS, strict=True):
            marker, colour, words, offset = style
            points = chosen[(chosen["sample"] == sample) & (chosen["weighting"] == weighting)]
            shown = points.dropna(subset=["smd"])
            if points.empty:
                continue
            label = words if len(shown) else f"{words}: not available"
            rows_y = np.array([y[row] for row in shown["row_id"]], dtype=float)
            ax.plot(shown["smd"], rows_y + offset, marker, color=colour, markersize=5,
                    markerfacecolor="white" if marker == "o" else colour, label=label, linestyle="none")
        blank = chosen.groupby("row_id")["smd"].apply(lambda s: s.isna().all())
        for row in blank[blank].index:
            ax.text(0, y[row], "not defined or not shown", fontsize=7, color="#555555", ha="center",
                    va="center")
        ax.axvline(0, color="grey", linewidth=1)
        for side in (-guide, guide):
            ax.axvline(side, color="#b2182b", linestyle="--", linewidth=0.8)
        ax.set_xlim(-reach, reach)
        ax.set_title(contrast)
        ax.set_xlabel(f"Standardised mean difference\n(dashed: \u00b1{guide:g}, the usual guide)")
        ax.grid(axis="y", color="#eeeeee")
    axes[0][0].set_yticks(range(len(rows)), rows[::-1], fontsize=8)
    axes[0][0].set_ylim(-0.7, len(rows) - 0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, fontsize=8, loc="upper center", ncol=3,
               bbox_to_anchor=(0.5, 0.0))
    reference = contrasts[0].split(" vs ")[-1] if contrasts else "reference"
    fig.suptitle(f"Mothers' characteristics at the start: each group against mothers at {reference} centres",
                 y=1.07)
    fig.subplots_adjust(top=0.93)  # leave the top edge to the synthetic-data line, if any
    _save(fig, path, synthetic)
