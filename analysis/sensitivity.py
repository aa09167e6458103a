"""Effect sizes, E-values, multiplicity and leave-one-local-authority-out refits of a fitted model.

Hedges' g: the model's adjusted difference divided by the pooled SD of a standardiser (baseline K6) in the
two groups compared, times the small-sample factor J = 1 - 3 / (4 (n1 + n0) - 9); its interval is the
model's interval rescaled the same way (the SD treated as known).
E-value (VanderWeele & Ding 2017): the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need with both exposure and outcome to explain the estimate away. For a
difference in means, d = estimate / SD is mapped to RR ~ exp(0.91 d) (their approximation for continuous
outcomes); E = RR + sqrt(RR (RR - 1)) after inverting RR < 1; for the interval, the limit nearer the null
(E = 1 when the interval includes it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd

from analysis.design import ModelSpec, build_design, cluster_design
from analysis.fastreml import SufficientStatistics
from analysis.linalg import redundant_columns
from analysis.mixed import FitSettings, fit_statistics
from analysis.models import FitSummary, complete_cases, contrast_rows, fit_model, lmm_summary

log = logging.getLogger(__name__)

CONTINUOUS_TO_LOG_RR = 0.91  # VanderWeele & Ding (2017), d -> log risk ratio for continuous outcomes


def pooled_sd(a: pd.Series, b: pd.Series) -> float:
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    return float(np.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2)))


def hedges_g(contrasts: pd.DataFrame, frame: pd.DataFrame, spec: ModelSpec,
             standardiser: str) -> pd.DataFrame:
    """Standardised version of each group contrast of a difference-scale model."""
    rows = []
    for _, row in contrasts[contrasts["scale"] == "difference"].iterrows():
        group, reference = row["contrast"].split(" vs ")
        in_group = frame.loc[frame[spec.exposure] == group, standardiser]
        in_reference = frame.loc[frame[spec.exposure] == reference, standardiser]
        n1, n0 = int(in_group.notna().sum()), int(in_reference.notna().sum())
        # A group without mothers (its contrast not estimable) has no spread to standardise by.
        sd = pooled_sd(in_group, in_reference) if min(n1, n0) > 0 else np.nan
        correction = 1 - 3 / (4 * (n1 + n0) - 9)
        rows.append({
            "model": row["model"], "outcome": row["outcome"], "contrast": row["contrast"],
            "hedges_g": correction * row["estimate"] / sd,
            "ci_lower": correction * row["ci_lower"] / sd, "ci_upper": correction * row["ci_upper"] / sd,
            "standardiser": standardiser, "pooled_sd": sd, "n_group": n1, "n_reference": n0,
            "n": row["n"], "n_clusters": row["n_clusters"],
            "small_sample_factor": correction,
            "method": ("Hedges' g: adjusted difference / pooled SD of the standardiser in the two groups, "
                       "times J; interval rescaled from the model's (SD treated as known)"),
        })
    return pd.DataFrame(rows)


def e_value_from_rr(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return float(rr + np.sqrt(rr * (rr - 1)))


def e_values(contrasts: pd.DataFrame, sd: pd.Series) -> pd.DataFrame:
    """E-value of each difference-scale contrast and of its interval limit nearer the null."""
    rows = []
    for (_, row), scale in zip(contrasts.iterrows(), sd, strict=True):
        if pd.isna(row["estimate"]):  # not estimable: no E-value either
            rows.append({"model": row["model"], "contrast": row["contrast"], "approx_risk_ratio": np.nan,
                         "e_value_estimate": np.nan, "e_value_ci": np.nan, "standardiser_sd": scale,
                         "method": "VanderWeele & Ding (2017): RR ~ exp(0.91 x difference / SD)"})
            continue
        rr = np.exp(CONTINUOUS_TO_LOG_RR * np.array([row["estimate"], row["ci_lower"], row["ci_upper"]])
                    / scale)
        includes_null = rr[1] <= 1 <= rr[2]
        nearer = rr[1] if abs(np.log(rr[1])) < abs(np.log(rr[2])) else rr[2]
        rows.append({
            "model": row["model"], "contrast": row["contrast"], "approx_risk_ratio": rr[0],
            "e_value_estimate": e_value_from_rr(rr[0]),
            "e_value_ci": 1.0 if includes_null else e_value_from_rr(nearer),
            "standardiser_sd": scale,
            "method": "VanderWeele & Ding (2017): RR ~ exp(0.91 x difference / SD)",
        })
    return pd.DataFrame(rows)


def holm_adjust(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One family of tests: every contrast of the given tables (odds ratio rows for binary outcomes)."""
    family = pd.concat(tables, ignore_index=True)
    family = family[family["scale"] != "risk difference"].reset_index(drop=True)
    from statsmodels.stats.multitest import multipletests

    # A contrast that could not be estimated (a group without mothers) is listed, but is not a test.
    tested = family["p_value"].notna()
    family["p_holm"] = np.nan
    if tested.any():
        family.loc[tested, "p_holm"] = multipletests(family.loc[tested, "p_value"], method="holm")[1]
    family["adjustment"] = f"Holm across the {int(tested.sum())} secondary-outcome contrasts estimated"
    return family


def effect_size_table(contrasts: pd.DataFrame, frame: pd.DataFrame, spec: ModelSpec,
                      standardiser: str) -> pd.DataFrame:
    """Hedges' g of each contrast of model `spec` (`contrasts`: its contrast table) with its E-values, one
    row per contrast; the E-value columns shared with g's are suffixed _e_value."""
    g = hedges_g(contrasts, frame, spec, standardiser)
    e = e_values(contrasts[contrasts["scale"] == "difference"], g["pooled_sd"])
    return g.merge(e.drop(columns=["model"]), on="contrast", suffixes=("", "_e_value"))


def refits(frame: pd.DataFrame, spec: ModelSpec, fit_settings: dict) -> Iterator[tuple[str, FitSummary]]:
    """(left-out local authority, the model fitted without it), refitted from the rows."""
    cluster = spec.clusters[0]
    for left_out in sorted(frame[cluster].dropna().unique()):
        try:
            yield left_out, fit_model(frame[frame[cluster] != left_out], spec, fit_settings)
        except (ValueError, RuntimeError) as err:  # e.g. a group no longer present
            log.warning("leaving out %s: model not estimable (%s)", left_out, err)


def mixed_model_refits(frame: pd.DataFrame, spec: ModelSpec,
                       fit_settings: dict) -> Iterator[tuple[str, FitSummary]]:
    """As `refits` for the mixed model, from its sufficient statistics: dropping a local authority
    subtracts its clusters (no pass over the rows), and each refit's searches start from the full sample's
    optimum, which is near. The fit is checked as every other: two optimisers must reach the optimum. A
    column the remaining data cannot estimate (a covariate constant without that LA) is dropped, by the same
    rule as the full model; a refit that loses an exposure contrast reports the contrasts it keeps."""
    data, _ = complete_cases(frame, spec)
    clusters = cluster_design(data, spec.clusters)
    if clusters.outer is None:
        if not clusters.single_authority:  # one level, the local authority: refit from the rows
            yield from refits(frame, spec, fit_settings)
            return
        log.warning("leave-one-out: the data hold a single %s, so there is none to leave out",
                    spec.clusters[0])
        return
    design = build_design(data, spec)
    y, X = design.y, design.X
    full = SufficientStatistics.from_data(y.to_numpy(float), X.to_numpy(float), data[clusters.outer],
                                          data[clusters.inner], centre=True, column_factors=True)
    settings = FitSettings.from_config(fit_settings)
    start = fit_statistics(full, list(X.columns), settings).theta
    for left_out in full.outer_labels:
        rest = full.without_outer(left_out)
        if rest.n_outer < 2:
            log.warning("leaving out %s: a single local authority would remain; not refitted", left_out)
            continue
        redundant = {r.column for r in redundant_columns(None, list(X.columns), factor=rest.column_factor())}
        kept = [j for j, term in enumerate(X.columns) if term not in redundant]
        if redundant:
            log.warning("leaving out %s: dropped %s (not estimable from the remaining data)", left_out,
                        ", ".join(sorted(redundant)))
        try:
            fit = fit_statistics(rest.select(kept), [X.columns[j] for j in kept], settings, start=start)
        except RuntimeError as err:  # no optimiser finds a finite optimum
            log.warning("leaving out %s: model not estimable (%s)", left_out, err)
            continue
        summary = lmm_summary(fit, spec)
        summary.absent_levels = [level for level in spec.contrast_levels()
                                 if spec.exposure_term(level) not in fit.terms]
        yield left_out, summary


LEAVE_ONE_OUT_COLUMNS = ["left_out", "n_left_out", "contrast", "scale", "estimate", "std_error", "ci_lower",
                         "ci_upper", "p_value", "n", "n_clusters", "note"]


def leave_one_out(frame: pd.DataFrame, spec: ModelSpec, fit_settings: dict) -> pd.DataFrame:
    """Refit the model without each local authority in turn; one row per left-out LA and contrast (none when
    the data hold a single local authority)."""
    cluster = spec.clusters[0]
    fits = mixed_model_refits if spec.estimator == "lmm_reml" else refits
    sizes = frame[cluster].value_counts()  # counted once: not a pass over the rows per LA and contrast
    rows = []
    for left_out, summary in fits(frame, spec, fit_settings):
        for row in contrast_rows(summary, spec):
            rows.append({"left_out": left_out, "n_left_out": int(sizes.get(left_out, 0)),
                         **{k: row[k] for k in LEAVE_ONE_OUT_COLUMNS[2:]}})
    return pd.DataFrame(rows, columns=LEAVE_ONE_OUT_COLUMNS)
