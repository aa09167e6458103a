"""Fit any pre-specified model of the plan and report its exposure contrasts in one tidy shape.

Estimators (config `estimator`):
  lmm_reml      linear mixed model, REML, nested random intercepts (analysis.mixed); lme4-convention SEs,
                Wald normal intervals.
  ols_cr2       OLS with CR2 cluster-robust SEs by local authority and Satterthwaite df (analysis.robust),
                plus a wild cluster restricted bootstrap of each exposure term when the plan asks for it.
  gee_logistic  logistic GEE clustered by local authority (analysis.binary): odds ratios and marginally
                standardised risk differences.
Rows with a missing model variable are excluded before fitting, counted and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis import binary
from analysis.design import ModelSpec, design_matrix, spline_basis
from analysis.inference import wald_columns
from analysis.labels import outcome_label
from analysis.mixed import FitSettings, NestedFit, fit_nested_lmm
from analysis.robust import ols_cr2, wild_cluster_bootstrap

log = logging.getLogger(__name__)

LMM_SE = ("lme4 convention: sqrt(diag((X'V^-1 X)^-1)) with V at the REML estimates "
          "(variance components treated as known)")
NORMAL_CI = "Wald, normal approximation: estimate +- z x SE; two-sided p from the normal distribution"
CR2_SE = "CR2 (Bell-McCaffrey) cluster-robust by local authority, working model identity (clubSandwich)"
CR2_CI = "t with Satterthwaite degrees of freedom per coefficient (clubSandwich coef_test/conf_int)"


@dataclass
class FitSummary:
    """What every estimator hands on: coefficients with their inference, covariance and counts."""

    coefficients: pd.DataFrame  # term, estimate, std_error, df (inf = normal), p_value, ci_lower, ci_upper
    covariance: np.ndarray
    n: int
    n_clusters: int
    n_centres: int
    se_method: str
    ci_method: str
    scale: str = "difference"  # of the coefficients: difference | log odds
    diagnostics: dict = field(default_factory=dict)
    design: pd.DataFrame | None = field(default=None, repr=False)
    exposure_values: np.ndarray | None = field(default=None, repr=False)  # knots of a spline come from these


def complete_cases(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, int]:
    """Rows with every model variable present, and how many were excluded."""
    complete = frame.dropna(subset=spec.variables)
    excluded = len(frame) - len(complete)
    if excluded:
        log.warning("model %s: %d of %d rows excluded for a missing model variable", spec.name, excluded,
                    len(frame))
    return complete.reset_index(drop=True), excluded


def _coefficients(terms, estimate, std_error, level, df=None) -> pd.DataFrame:
    df_values = np.full(len(terms), np.inf) if df is None else np.asarray(df, float)
    table = pd.DataFrame({"term": list(terms), "estimate": estimate, "std_error": std_error,
                          "df": df_values})
    return table.assign(**wald_columns(table["estimate"], table["std_error"], level, df_values))


def fit_model(frame: pd.DataFrame, spec: ModelSpec, fit_settings: dict) -> FitSummary:
    data, excluded = complete_cases(frame, spec)
    y, X = design_matrix(data, spec)
    outer, inner = spec.clusters
    counts = {"n": len(data), "n_clusters": data[outer].nunique(), "n_centres": data[inner].nunique()}
    if spec.estimator == "lmm_reml":
        summary = lmm_summary(fit_nested_lmm(y, X, data[outer], data[inner],
                                             FitSettings.from_config(fit_settings)), spec)
    elif spec.estimator == "ols_cr2":
        summary = _fit_ols_cr2(y, X, data[outer], spec, counts)
    elif spec.estimator == "gee_logistic":
        result = binary.gee_logistic(y, X, data[outer])
        covariance = np.asarray(result.cov_params())
        summary = FitSummary(
            _coefficients(X.columns, np.asarray(result.params), np.sqrt(np.diag(covariance)), spec.ci_level),
            covariance, se_method=binary.SE_METHOD, ci_method=NORMAL_CI, scale="log odds",
            diagnostics={"working_correlation": float(result.cov_struct.dep_params),
                         "converged": bool(result.converged)}, **counts)
    else:
        raise ValueError(f"unknown estimator {spec.estimator!r}")
    summary.diagnostics["excluded_missing"] = excluded
    summary.design = X
    summary.exposure_values = data[spec.exposure].to_numpy()
    if spec.exposure_kind == "spline":
        summary.diagnostics["curve"] = spline_curve(summary, spec)
    return summary


def lmm_summary(fit: NestedFit, spec: ModelSpec) -> FitSummary:
    return FitSummary(_coefficients(fit.terms, fit.estimates, fit.std_errors, spec.ci_level), fit.covariance,
                      n=fit.n_obs, n_clusters=fit.n_outer, n_centres=fit.n_inner, se_method=LMM_SE,
                      ci_method=NORMAL_CI, diagnostics=fit.diagnostics())


def spline_curve(summary: FitSummary, spec: ModelSpec, points: int = 61) -> list[dict]:
    """The fitted exposure-response curve against the origin, on a grid over the central 98% of exposure."""
    low, high = np.nanquantile(summary.exposure_values.astype(float), [0.01, 0.99])
    level = spec.ci_level
    curve = []
    for x, estimate, se in spline_contrasts(summary, spec, np.linspace(low, high, points)):
        inference = wald_columns([estimate], [se], level)
        curve.append({"exposure": x, "estimate": estimate, "std_error": se,
                      "ci_lower": float(inference["ci_lower"][0]),
                      "ci_upper": float(inference["ci_upper"][0])})
    return curve


def _fit_ols_cr2(y, X, clusters, spec: ModelSpec, counts: dict) -> FitSummary:
    table = ols_cr2(y, X, clusters, level=spec.ci_level)
    summary = FitSummary(table[["term", "estimate", "std_error", "df", "p_value", "ci_lower", "ci_upper"]],
                         np.asarray(table.attrs["covariance"]), se_method=CR2_SE, ci_method=CR2_CI, **counts)
    if spec.bootstrap:
        boot = {}
        for term in spec.exposure_terms():
            result = wild_cluster_bootstrap(y, X, clusters, term, B=int(spec.bootstrap["replications"]),
                                            seed=int(spec.bootstrap["seed"]), level=spec.ci_level)
            boot[term] = result
        summary.diagnostics["wild_cluster_bootstrap"] = boot
    return summary


def _row(spec: ModelSpec, summary: FitSummary, contrast: str, estimand: str, scale: str, estimate: float,
         std_error: float, df: float = np.inf, **extra) -> dict:
    inference = wald_columns([estimate], [std_error], spec.ci_level, [df])
    return {
        "outcome": spec.outcome, "contrast": contrast, "estimate": estimate, "std_error": std_error,
        "ci_lower": float(inference["ci_lower"][0]), "ci_upper": float(inference["ci_upper"][0]),
        "p_value": float(inference["p_value"][0]), "df": df, "n": summary.n,
        "n_clusters": summary.n_clusters, "n_mothers": summary.n, "n_centres": summary.n_centres,
        "n_las": summary.n_clusters, "model": spec.name, "estimator": spec.estimator, "scale": scale,
        "reference": spec.reference if spec.exposure_kind == "groups" else "",
        "estimand": estimand, "direction": spec.direction.strip(), "ci_level": spec.ci_level,
        "se_method": summary.se_method, "ci_method": summary.ci_method, **extra,
    }


def contrast_rows(summary: FitSummary, spec: ModelSpec) -> list[dict]:
    """The rows a reader wants: each exposure contrast on the scale(s) the estimator reports."""
    coefficients = summary.coefficients.set_index("term")
    label = outcome_label(spec.outcome)
    rows = []
    if spec.exposure_kind == "groups":
        boot = summary.diagnostics.get("wild_cluster_bootstrap", {})
        for level in spec.contrast_levels():
            term = spec.exposure_term(level)
            c = coefficients.loc[term]
            contrast = f"{level} vs {spec.reference}"
            extra = {}
            if term in boot:
                extra = {"wcr_p_value": boot[term]["p_value"], "wcr_ci_lower": boot[term]["ci_lower"],
                         "wcr_ci_upper": boot[term]["ci_upper"], "wcr_replications": boot[term]["B"],
                         "wcr_seed": boot[term]["seed"]}
            if summary.scale == "log odds":
                rows.append(_odds_ratio_row(spec, summary, contrast, label, c))
                rd, rd_se = binary.standardised_risk_difference(
                    summary.coefficients["estimate"].to_numpy(), summary.covariance, summary.design,
                    term, spec.exposure_terms())
                rows.append(_row(spec, summary, contrast,
                                 f"Standardised difference in the probability of {label} between mothers at "
                                 f"{level} centres and mothers at {spec.reference} centres",
                                 "risk difference", rd, rd_se))
            else:
                rows.append(_row(spec, summary, contrast,
                                 f"Adjusted difference in mean {label} between mothers at {level} centres "
                                 f"and mothers at {spec.reference} centres",
                                 "difference", c["estimate"], c["std_error"], c["df"], **extra))
    elif spec.exposure_kind == "linear":
        c = coefficients.loc[spec.linear_term]
        rows.append(_row(spec, summary, f"per {spec.exposure_per:g} points of {spec.exposure}",
                         f"Adjusted difference in mean {label} per {spec.exposure_per:g} percentage points "
                         "more real-terms budget change", "difference", c["estimate"], c["std_error"],
                         c["df"]))
    else:
        for point, estimate, se in spline_contrasts(summary, spec, spec.spline_points):
            rows.append(_row(spec, summary, f"{spec.exposure} {point:+g} vs {spec.spline_origin:+g}",
                             f"Adjusted difference in mean {label} between a real-terms budget change of "
                             f"{point:+g}% and one of {spec.spline_origin:+g}% (natural spline, "
                             f"{spec.spline_df} df)", "difference", estimate, se))
    return rows


def _odds_ratio_row(spec, summary, contrast, label, c) -> dict:
    row = _row(spec, summary, contrast,
               f"Adjusted odds ratio of {label} for mothers at {contrast.split(' vs ')[0]} centres versus "
               f"mothers at {spec.reference} centres (std_error is of the log odds ratio)",
               "odds ratio", c["estimate"], c["std_error"])
    for key in ("estimate", "ci_lower", "ci_upper"):
        row[key] = float(np.exp(row[key]))
    return row


def spline_contrasts(summary: FitSummary, spec: ModelSpec, points) -> list[tuple[float, float, float]]:
    """(point, estimate, SE) of f(point) - f(origin) for the fitted spline f of the exposure."""
    terms = spec.exposure_terms()
    design = summary.design
    index = [list(design.columns).index(t) for t in terms]
    # Rebuild the basis on the analysed exposure values to recover its knots, then evaluate it at points.
    _, info = spline_basis(summary.exposure_values.astype(float), spec.spline_df)
    at, _ = spline_basis(np.asarray(points, float), spec.spline_df, info)
    origin, _ = spline_basis(np.array([spec.spline_origin]), spec.spline_df, info)
    beta = summary.coefficients.set_index("term").loc[terms, "estimate"].to_numpy()
    cov = summary.covariance[np.ix_(index, index)]
    out = []
    for point, row in zip(points, at - origin, strict=True):
        out.append((float(point), float(row @ beta), float(np.sqrt(row @ cov @ row))))
    return out

