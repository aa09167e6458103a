"""Fit any pre-specified model of the plan and report its exposure contrasts in one tidy shape.

Estimators (config `estimator`):
  lmm_reml      linear mixed model, REML, nested random intercepts (analysis.mixed); lme4-convention SEs,
                t intervals with Satterthwaite (default) or Kenward-Roger degrees of freedom
                (analysis.smallsample), or Wald normal ones, as the plan's `df_method` says.
  ols_cr2       OLS with CR2 cluster-robust SEs and Satterthwaite df (analysis.cluster_robust), plus a wild
                cluster restricted bootstrap of each exposure term when the plan asks for it.
  gee_logistic  logistic GEE (analysis.binary): odds ratios and marginally standardised risk differences.
Rows with a missing model variable are excluded before fitting, counted and logged. What the data cannot
support is adapted to and said (analysis.design): a redundant covariate is dropped and named, an exposure
group without mothers gets a "not estimable" row, a single local authority gives a model without the LA
level with robust SEs clustered by centre; a boundary (singular) mixed-model fit is flagged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import binary
from analysis.cluster_robust import ols_cr2, wild_cluster_bootstrap
from analysis.design import ClusterDesign, ModelSpec, build_design, cluster_design, spline_basis
from analysis.errors import DesignError
from analysis.inference import wald_columns
from analysis.labels import cluster_words, mothers_in, outcome_label
from analysis.mixed import FitDisagreement, FitSettings, NestedFit, fit_nested_lmm
from analysis.smallsample import DF_WORDS, fit_inference

log = logging.getLogger(__name__)

LMM_SE = ("lme4 convention: sqrt(diag((X'V^-1 X)^-1)) with V at the REML estimates "
          "(variance components treated as known)")
LMM_SE_KR = ("Kenward-Roger adjusted covariance (pbkrtest's vcovAdj), which inflates the lme4-convention "
             "covariance for the uncertainty of the variance components")
NORMAL_CI = "Wald, normal approximation: estimate +- z x SE; two-sided p from the normal distribution"
CR2_CI = "t with Satterthwaite degrees of freedom per coefficient (clubSandwich coef_test/conf_int)"


def cr2_se(cluster: str) -> str:
    return f"CR2 (Bell-McCaffrey) cluster-robust by {cluster}, working model identity (clubSandwich)"


def lmm_ci(df_method: str) -> str:
    if df_method == "normal":
        return NORMAL_CI
    return f"estimate +- t x SE, two-sided p from t: {DF_WORDS[df_method]}"


@dataclass
class FitSummary:
    """What every estimator hands on: coefficients with their inference, covariance and counts."""

    coefficients: pd.DataFrame  # term, estimate, std_error, df (inf = normal), p_value, ci_lower, ci_upper
    covariance: np.ndarray
    n: int
    n_clusters: int  # clusters that inference respects: local authorities (centres with a single LA)
    n_centres: int
    se_method: str
    ci_method: str
    n_las: int = 0
    scale: str = "difference"  # of the coefficients: difference | log odds
    diagnostics: dict = field(default_factory=dict)
    design: pd.DataFrame | None = field(default=None, repr=False)
    # The complete rows the model was fitted to, its outcome there and its clusters (fit_model): what a refit
    # (the specification curve's joint test) starts from without building the design again.
    rows: pd.DataFrame | None = field(default=None, repr=False)
    outcome: pd.Series | None = field(default=None, repr=False)
    cluster_design: object = field(default=None, repr=False)  # analysis.design.ClusterDesign
    exposure_values: np.ndarray | None = field(default=None, repr=False)  # knots of a spline come from these
    absent_levels: list[str] = field(default_factory=list)  # exposure groups without mothers
    notes: list[str] = field(default_factory=list)  # what the data could not support, in words
    contrast: object = field(default=None, repr=False)  # L -> ContrastInference (mixed models)


def diagnostics_record(spec: ModelSpec, summary: FitSummary) -> dict:
    """What a fit's diagnostics file holds: the model, its estimator, counts, and the fit's diagnostics."""
    return {"model": spec.name, "estimator": spec.estimator, "n": summary.n, "n_clusters": summary.n_clusters,
            "n_centres": summary.n_centres, **summary.diagnostics}


def complete_cases(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, int]:
    """Rows with every model variable present, and how many were excluded."""
    complete = frame.dropna(subset=spec.variables)
    excluded = len(frame) - len(complete)
    if excluded:
        log.warning("model %s: %d of %d rows excluded for a missing model variable", spec.name, excluded,
                    len(frame))
    if complete.empty:
        raise DesignError(f"model '{spec.name}': no mother in the analysis data has every variable it uses "
                          f"({', '.join(spec.variables)}), so it cannot be fitted")
    return complete.reset_index(drop=True), excluded


def _coefficients(terms, estimate, std_error, level, df=None) -> pd.DataFrame:
    df_values = np.full(len(terms), np.inf) if df is None else np.asarray(df, float)
    table = pd.DataFrame({"term": list(terms), "estimate": estimate, "std_error": std_error,
                          "df": df_values})
    return table.assign(**wald_columns(table["estimate"], table["std_error"], level, df_values))


def fit_settings_used(estimator: str, fit_settings: dict) -> dict:
    """The mixed-model fit settings (mixed_model_fit) where `estimator` uses them, else none: only lmm_reml
    searches the REML optimum, so a job fitting another estimator is given (and reruns on) nothing of them."""
    return dict(fit_settings) if estimator == "lmm_reml" else {}


def fit_model(frame: pd.DataFrame, spec: ModelSpec, fit_settings: dict) -> FitSummary:
    data, excluded = complete_cases(frame, spec)
    design = build_design(data, spec)
    clusters = cluster_design(data, spec.clusters)
    notes = [*design.notes, *([clusters.note()] if clusters.note() else [])]
    for note in notes:
        log.warning("model %s: %s", spec.name, note)
    y, X = design.y, design.X
    robust = data[clusters.robust]
    counts = {"n": len(data), "n_clusters": int(robust.nunique()), "n_centres": clusters.n_inner,
              "n_las": clusters.n_outer}
    try:
        summary = _fit(y, X, data, clusters, robust, spec, counts, fit_settings)
    except (ValueError, FitDisagreement) as err:  # the engines' refusals, in the data manager's words
        raise DesignError(f"model '{spec.name}' cannot be fitted to these data: {err}") from None
    summary.diagnostics["excluded_missing"] = excluded
    summary.diagnostics["design"] = _design_record(design, clusters, summary)
    summary.design, summary.rows, summary.outcome, summary.cluster_design = X, data, y, clusters
    summary.exposure_values = data[spec.exposure].to_numpy()
    summary.absent_levels = design.absent_levels
    if summary.diagnostics.get("singular"):
        notes.append(singular_note(summary.diagnostics["boundary_levels"]))
    summary.notes = notes
    if spec.exposure_kind == "spline":
        summary.diagnostics["curve"] = spline_curve(summary, spec)
    return summary


def _fit(y, X, data, clusters: ClusterDesign, robust, spec: ModelSpec, counts: dict,
         fit_settings: dict) -> FitSummary:
    if spec.estimator == "lmm_reml":
        fit = fit_nested_lmm(y, X, data[clusters.outer] if clusters.outer else None, data[clusters.inner],
                             FitSettings.from_config(fit_settings))
        summary = lmm_summary(fit, spec, n_las=clusters.n_outer)
    elif spec.estimator == "ols_cr2":
        summary = _fit_ols_cr2(y, X, robust, spec, counts, cluster_words(clusters.robust))
    elif spec.estimator == "gee_logistic":
        result = binary.gee_logistic(y, X, robust)
        covariance = np.asarray(result.cov_params())
        summary = FitSummary(
            _coefficients(X.columns, np.asarray(result.params), np.sqrt(np.diag(covariance)), spec.ci_level),
            covariance, se_method=binary.se_method(cluster_words(clusters.robust)), ci_method=NORMAL_CI,
            scale="log odds", diagnostics={"working_correlation": float(result.cov_struct.dep_params),
                                           "converged": bool(result.converged)}, **counts)
    else:
        raise ValueError(f"unknown estimator {spec.estimator!r}")
    return summary


LEVEL_WORDS = {"outer": "between local authorities", "inner": "between centres within a local authority"}


def singular_note(boundary_levels) -> str:
    words = " and the variance ".join(LEVEL_WORDS[level] for level in boundary_levels)
    return (f"Boundary (singular) fit: the variance {words} is estimated at zero, as lme4 would report; the "
            "estimates are valid, but the data show no variation at that level beyond what the rest of the "
            "model explains.")


def _design_record(design, clusters: ClusterDesign, summary: FitSummary) -> dict:
    """What the fit JSON says about the design the data supported."""
    return {
        "local_authorities": clusters.n_outer,
        "centres": clusters.n_inner,
        "robust_se_cluster": clusters.robust,
        "dropped_terms": [{"term": r.column, "reason": r.describe()} for r in design.dropped],
        "groups_without_mothers": design.absent_levels,
        "notes": [*design.notes, *([clusters.note()] if clusters.note() else [])],
        "singular": bool(summary.diagnostics.get("singular", False)),
    }


def lmm_summary(fit: NestedFit, spec: ModelSpec, n_las: int | None = None) -> FitSummary:
    """The coefficients of a mixed-model fit with the plan's small-sample inference (`spec.df_method`)."""
    inference = fit_inference(fit, spec.df_method)
    rows = [inference.contrast(np.eye(len(fit.terms))[j]) for j in range(len(fit.terms))]
    coefficients = _coefficients(fit.terms, fit.estimates, [r.std_error for r in rows], spec.ci_level,
                                 [r.df for r in rows])
    diagnostics = {**fit.diagnostics(), "df_method": spec.df_method}
    return FitSummary(coefficients, inference.covariance, n=fit.n_obs,
                      n_clusters=fit.n_outer or fit.n_inner, n_centres=fit.n_inner,
                      n_las=fit.n_outer or 1 if n_las is None else n_las,
                      se_method=LMM_SE_KR if spec.df_method == "kenward_roger" else LMM_SE,
                      ci_method=lmm_ci(spec.df_method), diagnostics=diagnostics,
                      contrast=inference.contrast)


def spline_curve(summary: FitSummary, spec: ModelSpec, points: int = 61) -> list[dict]:
    """The fitted exposure-response curve against the origin, on a grid over the central 98% of exposure."""
    low, high = np.nanquantile(summary.exposure_values.astype(float), [0.01, 0.99])
    level = spec.ci_level
    curve = []
    for x, estimate, se, df in exposure_contrasts(summary, spec, np.linspace(low, high, points)):
        inference = wald_columns([estimate], [se], level, [df])
        curve.append({"exposure": x, "estimate": estimate, "std_error": se, "df": df,
                      "ci_lower": float(inference["ci_lower"][0]),
                      "ci_upper": float(inference["ci_upper"][0])})
    return curve


def _fit_ols_cr2(y, X, clusters, spec: ModelSpec, counts: dict, cluster: str) -> FitSummary:
    table = ols_cr2(y, X, clusters, level=spec.ci_level)
    summary = FitSummary(table[["term", "estimate", "std_error", "df", "p_value", "ci_lower", "ci_upper"]],
                         np.asarray(table.attrs["covariance"]), se_method=cr2_se(cluster), ci_method=CR2_CI,
                         **counts)
    if spec.bootstrap:
        boot = {}
        for term in spec.exposure_terms():
            if term not in X.columns:  # an exposure group without mothers
                continue
            result = wild_cluster_bootstrap(y, X, clusters, term, B=int(spec.bootstrap["replications"]),
                                            seed=int(spec.bootstrap["seed"]), level=spec.ci_level)
            boot[term] = result
        summary.diagnostics["wild_cluster_bootstrap"] = boot
    return summary


def _row(spec: ModelSpec, summary: FitSummary, contrast: str, estimand: str, scale: str, estimate: float,
         std_error: float, df: float = np.inf, note: str = "", **extra) -> dict:
    inference = wald_columns([estimate], [std_error], spec.ci_level, [df])
    return {
        "outcome": spec.outcome, "contrast": contrast, "estimate": estimate, "std_error": std_error,
        "ci_lower": float(inference["ci_lower"][0]), "ci_upper": float(inference["ci_upper"][0]),
        "p_value": float(inference["p_value"][0]), "df": df, "n": summary.n,
        "n_clusters": summary.n_clusters, "n_mothers": summary.n, "n_centres": summary.n_centres,
        "n_las": summary.n_las, "model": spec.name, "estimator": spec.estimator, "scale": scale,
        "reference": spec.reference if spec.exposure_kind == "groups" else "",
        "estimand": estimand, "direction": spec.direction.strip(), "ci_level": spec.ci_level,
        "se_method": summary.se_method, "ci_method": summary.ci_method, "note": note, **extra,
    }


def not_estimable_note(level: str, exposure_level: str = "centre") -> str:
    return f"not estimable: no mothers in the analysis are {mothers_in(level, exposure_level)}"


def contrast_rows(summary: FitSummary, spec: ModelSpec) -> list[dict]:
    """The rows a reader wants: each exposure contrast on the scale(s) the estimator reports; a contrast of a
    group without mothers is a row with no estimate and a note saying why."""
    coefficients = summary.coefficients.set_index("term")
    label = outcome_label(spec.outcome)
    rows = []
    if spec.exposure_kind == "groups":
        boot = summary.diagnostics.get("wild_cluster_bootstrap", {})
        present = [spec.exposure_term(level) for level in spec.contrast_levels()
                   if level not in summary.absent_levels]
        for level in spec.contrast_levels():
            term = spec.exposure_term(level)
            contrast = f"{level} vs {spec.reference}"
            at = mothers_in(level, spec.exposure_level)
            at_reference = mothers_in(spec.reference, spec.exposure_level)
            difference = (f"Adjusted difference in mean {label} between mothers {at} and "
                          f"mothers {at_reference}")
            if level in summary.absent_levels:
                scales = ["odds ratio", "risk difference"] if summary.scale == "log odds" else ["difference"]
                rows.extend(_row(spec, summary, contrast, difference, scale, np.nan, np.nan, np.nan,
                                 note=not_estimable_note(level, spec.exposure_level)) for scale in scales)
                continue
            c = coefficients.loc[term]
            extra = {}
            if term in boot:
                extra = {"wcr_p_value": boot[term]["p_value"], "wcr_ci_lower": boot[term]["ci_lower"],
                         "wcr_ci_upper": boot[term]["ci_upper"], "wcr_replications": boot[term]["B"],
                         "wcr_seed": boot[term]["seed"],
                         "wcr_enumerated": bool(boot[term].get("enumerated", False)),
                         "wcr_note": boot[term].get("note", "")}
            if summary.scale == "log odds":
                rows.append(_odds_ratio_row(spec, summary, contrast, label, c))
                rd, rd_se = binary.standardised_risk_difference(
                    summary.coefficients["estimate"].to_numpy(), summary.covariance, summary.design,
                    term, present)
                rows.append(_row(spec, summary, contrast,
                                 f"Standardised difference in the probability of {label} between mothers "
                                 f"{at} and mothers {at_reference}",
                                 "risk difference", rd, rd_se))
            else:
                rows.append(_row(spec, summary, contrast, difference, "difference", c["estimate"],
                                 c["std_error"], c["df"], **extra))
    elif spec.exposure_kind == "linear":
        c = coefficients.loc[spec.linear_term]
        contrast = f"per {spec.exposure_per:g} points of {spec.exposure}"
        more = f"per {spec.exposure_per:g} percentage points more real-terms budget change"
        if summary.scale == "log odds":
            row = _row(spec, summary, contrast, f"Adjusted odds ratio of {label} {more} (std_error is of "
                       "the log odds ratio)", "odds ratio", c["estimate"], c["std_error"])
            rows.append({**row, **{key: float(np.exp(row[key])) for key in ("estimate", "ci_lower",
                                                                            "ci_upper")}})
        else:
            rows.append(_row(spec, summary, contrast, f"Adjusted difference in mean {label} {more}",
                             "difference", c["estimate"], c["std_error"], c["df"]))
    else:
        for point, estimate, se, df in exposure_contrasts(summary, spec, spec.spline_points):
            rows.append(_row(spec, summary, f"{spec.exposure} {point:+g} vs {spec.spline_origin:+g}",
                             f"Adjusted difference in mean {label} between a real-terms budget change of "
                             f"{point:+g}% and one of {spec.spline_origin:+g}% (natural spline, "
                             f"{spec.spline_df} df)", "difference", estimate, se, df))
    return rows


def _odds_ratio_row(spec, summary, contrast, label, c) -> dict:
    row = _row(spec, summary, contrast,
               f"Adjusted odds ratio of {label} for mothers "
               f"{mothers_in(contrast.split(' vs ')[0], spec.exposure_level)} versus mothers "
               f"{mothers_in(spec.reference, spec.exposure_level)} (std_error is of the log odds ratio)",
               "odds ratio", c["estimate"], c["std_error"])
    for key in ("estimate", "ci_lower", "ci_upper"):
        row[key] = float(np.exp(row[key]))
    return row


def exposure_design(summary: FitSummary, spec: ModelSpec, points) -> np.ndarray:
    """The exposure's design columns (spec.exposure_terms(), in order) at budget changes `points`: the
    linear term, or the spline basis rebuilt on the analysed exposure values (its knots come from them) and
    evaluated there; a natural spline continues as a straight line beyond its boundary knots."""
    points = np.asarray(points, float)
    if spec.exposure_kind == "linear":
        return (points / spec.exposure_per)[:, None]
    if spec.exposure_kind != "spline":
        raise ValueError(f"model '{spec.name}': its exposure is {spec.exposure_kind}, not a budget change")
    _, info = spline_basis(summary.exposure_values.astype(float), spec.spline_df)
    at, _ = spline_basis(points, spec.spline_df, info)
    return at


def exposure_contrasts(summary: FitSummary, spec: ModelSpec, points,
                       origin: float | None = None) -> list[tuple[float, float, float, float]]:
    """(point, estimate, SE, df) of f(point) - f(origin) for the fitted exposure-response f (linear or
    spline; origin defaults to the spline's): the mixed model's small-sample inference for each contrast,
    or a normal reference for other estimators."""
    origin = spec.spline_origin if origin is None else origin
    terms = spec.exposure_terms()
    columns = list(summary.design.columns)
    index = [columns.index(t) for t in terms]
    rows = exposure_design(summary, spec, points) - exposure_design(summary, spec, [origin])
    beta = summary.coefficients.set_index("term").loc[terms, "estimate"].to_numpy()
    cov = summary.covariance[np.ix_(index, index)]
    out = []
    for point, row in zip(points, rows, strict=True):
        if summary.contrast is not None:
            L = np.zeros(len(columns))
            L[index] = row
            inference = summary.contrast(L)
            out.append((float(point), inference.estimate, inference.std_error, inference.df))
        else:
            out.append((float(point), float(row @ beta), float(np.sqrt(row @ cov @ row)), np.inf))
    return out


def coefficient_table(summary: FitSummary, spec: ModelSpec, synthetic: bool) -> pd.DataFrame:
    """Every coefficient of a fitted model, on the estimator's own scale."""
    table = summary.coefficients.copy()
    table.insert(0, "model", spec.name)
    table.insert(1, "outcome", spec.outcome)
    table["scale"] = summary.scale
    table["se_method"] = summary.se_method
    table["synthetic_data"] = synthetic
    return table


def contrast_table(summary: FitSummary, spec: ModelSpec, synthetic: bool) -> pd.DataFrame:
    """One row per reported exposure contrast, with its estimand, direction and methods spelled out, and
    what the data could not support (design_note: a dropped covariate, a single local authority, a boundary
    fit; note: why a contrast has no estimate)."""
    table = pd.DataFrame(contrast_rows(summary, spec))
    table["design_note"] = " ".join(summary.notes)
    table["synthetic_data"] = synthetic
    return table
