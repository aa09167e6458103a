"""Attrition analyses of the primary model: multiple imputation and inverse-probability-of-response weights.

About a fifth of mothers miss the follow-up wave, and dropout depends on baseline distress (missing at
random given a model covariate), so the complete-case primary analysis is checked two ways:

* multiple imputation by chained equations (predictive mean matching: statsmodels' MICEData algorithm, run
  by `analysis.chained` so that local-authority effects cost no dense columns), the primary
  mixed model fitted on each completed dataset, pooled by Rubin's rules with Barnard-Rubin (1999) df;
* inverse-probability-of-response weighting of the primary model's fixed effects among responders.

Both start from `attrition_frame`: every mother with a baseline record whose baseline centre has a
funding group, incomplete or not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from analysis.binary import logistic_start
from analysis.chained import ChainedImputer
from analysis.design import ModelSpec, cluster_design, design_matrix, indicator_columns, labels_present
from analysis.exposure import UNIT_WORD, exposure_level
from analysis.inference import t_quantile, two_sided_p
from analysis.mixed import FitSettings, fit_nested_lmm
from analysis.sample import GROUP_STEP, INTERVIEW_STEP, mother_frame, ordered_columns, wave_suffix

log = logging.getLogger(__name__)

RESPONDED = "responded"
# Donors per missing value in predictive mean matching: mice's default (statsmodels' own is 20).
PMM_DONORS = 5
# Variance parameters of the nested random-intercept model besides the fixed effects (LA, centre,
# residual); lme4's df.residual subtracts them too, and mice::pool takes its complete-data df from it.
N_VARIANCE_PARAMETERS = 3


# ---------------------------------------------------------------------------------------------------------
# The attrition frame


def attrition_frame(survey: pd.DataFrame, exposure: pd.DataFrame, **plan) -> pd.DataFrame:
    """One row per mother with a baseline record whose baseline centre has a funding group.

    Arguments as `analysis.sample.mother_frame`. Columns are those of `build_primary_sample` (follow-up
    score, baseline score and baseline covariates may be missing) plus `responded` (1 if the follow-up
    score is observed). Its rows
    complete on every column are build_primary_sample's sample for the same arguments.
    """
    frame, steps = mother_frame(survey, exposure, **plan)
    score, baseline_wave, followup_wave = plan["score"], plan["baseline_wave"], plan["followup_wave"]
    masks = dict(steps)
    at_base = masks[INTERVIEW_STEP.format(wave=baseline_wave)]
    grouped = masks[GROUP_STEP.format(wave=baseline_wave, unit=UNIT_WORD[exposure_level(exposure)])]
    log.info("attrition frame: %d mothers at wave %d, %d excluded because their centre has no funding "
             "group", int(at_base.sum()), baseline_wave, int((at_base & ~grouped).sum()))
    frame = frame.loc[at_base & grouped].copy()
    frame[RESPONDED] = frame[wave_suffix(score, followup_wave)].notna().astype(int)
    log.info("attrition frame: %d of %d mothers have the wave-%d %s score", int(frame[RESPONDED].sum()),
             len(frame), followup_wave, score.upper())
    return ordered_columns(frame)


def plan_attrition_frame(survey: pd.DataFrame, exposure: pd.DataFrame, sample_plan: dict, spec: ModelSpec
                         ) -> pd.DataFrame:
    """`attrition_frame` for model `spec`, with the score and waves of the plan's primary sample
    (`sample_plan`: the plan's primary_sample)."""
    return attrition_frame(survey, exposure, score=sample_plan["score"],
                           baseline_wave=int(sample_plan["baseline_wave"]),
                           followup_wave=int(sample_plan["followup_wave"]), covariates=list(spec.covariates))


def label_terms(table: pd.DataFrame, spec: ModelSpec, synthetic: bool, **extra) -> pd.DataFrame:
    """A per-term table (of `multiple_imputation` or `ipw_estimate`) tidied for publication: model, outcome
    and, for exposure terms, the contrast in words ("growing vs cut"); `extra` adds constant columns."""
    table = pd.DataFrame(table).copy()
    table.attrs = {}
    contrasts = {spec.exposure_term(level): f"{level} vs {spec.reference}"
                 for level in spec.contrast_levels()}
    table.insert(0, "model", spec.name)
    table.insert(1, "outcome", spec.outcome)
    table.insert(2, "contrast", table["term"].map(contrasts).fillna(""))
    for key, value in extra.items():
        table[key] = value
    table["synthetic_data"] = synthetic
    return table


# ---------------------------------------------------------------------------------------------------------
# Rubin's rules


def rubin_pool(estimates, variances, df_complete: float) -> pd.DataFrame:
    """Pool m completed-data estimates and their variances by Rubin's rules, one row per term.

    `estimates` and `variances` are (m,) or (m, terms) arrays, or DataFrames with one column per term.
    Degrees of freedom are Barnard & Rubin's (1999) small-sample ones for complete-data df `df_complete`
    (np.inf gives Rubin's 1987 df); fmi = (r + 2 / (df + 3)) / (r + 1), as in mice::pool.
    """
    terms = estimates.columns if isinstance(estimates, pd.DataFrame) else None
    if terms is not None and isinstance(variances, pd.DataFrame):
        variances = variances[terms]  # pool each term's estimates with its own variances
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim == 1:
        q, u = q[:, None], u[:, None]
    if q.shape != u.shape:
        raise ValueError(f"estimates {q.shape} and variances {u.shape} differ in shape")
    m = q.shape[0]
    if m < 2:
        raise ValueError("Rubin's rules need at least two imputations")

    qbar = q.mean(axis=0)
    within = u.mean(axis=0)
    between = q.var(axis=0, ddof=1)
    total = within + (1 + 1 / m) * between
    riv = (1 + 1 / m) * between / within  # relative increase in variance
    lam = (1 + 1 / m) * between / total  # proportion of total variance due to missingness
    with np.errstate(divide="ignore"):
        df_old = np.where(lam > 0, (m - 1) / lam**2, np.inf)
    if np.isinf(df_complete):
        df = df_old
    else:
        df_obs = (df_complete + 1) / (df_complete + 3) * df_complete * (1 - lam)
        # 1/df = 1/df_old + 1/df_obs; with no between-imputation variance df_old is infinite and df = df_obs.
        df = 1 / (1 / df_old + 1 / df_obs)
    fmi = (riv + 2 / (df + 3)) / (riv + 1)
    return pd.DataFrame(
        {"estimate": qbar, "within": within, "between": between, "total": total,
         "std_error": np.sqrt(total), "df": df, "riv": riv, "lambda": lam, "fmi": fmi, "m": m},
        index=pd.Index(terms if terms is not None else range(q.shape[1]), name="term"),
    )


def _t_inference(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """Add statistic, two-sided p value and `level` interval from t with each row's df."""
    table = table.copy()
    table["statistic"] = table["estimate"] / table["std_error"]
    table["p_value"] = two_sided_p(table["statistic"], table["df"])
    half = t_quantile(0.5 + level / 2, table["df"]) * table["std_error"]
    table["ci_lower"] = table["estimate"] - half
    table["ci_upper"] = table["estimate"] + half
    return table


# ---------------------------------------------------------------------------------------------------------
# Multiple imputation

GROUP_PREFIX = "aux_group_"
LA_INDEX = "aux_la"
CENTRE_MEAN_PREFIX = "aux_centre_mean_"


def _others_mean(values: pd.Series, groups: pd.Series) -> pd.Series:
    """Mean of the other group members' observed values (the mother's own value left out)."""
    observed = values.notna()
    filled = values.astype(float).fillna(0.0)
    total = filled.groupby(groups).transform("sum") - filled
    count = observed.groupby(groups).transform("sum") - observed.astype(int)
    return (total / count).where(count > 0)


def imputation_data(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, list[str]]:
    """The numeric table the chained-equations sampler imputes, and the names of the variables to impute.

    Imputed (predictive mean matching, each from all the others): the outcome and every covariate with a
    missing value; categorical covariates such as mother_education are imputed as their codes (PMM draws
    observed codes, so values stay valid) and enter the other variables' models as a number.
    Always-observed predictors in every conditional model:
      * funding group, as indicators of each level against the reference;
      * local authority, as fixed effects (C(aux_la)): a random LA intercept is a special case, so the
        imputations keep between-LA differences that the analysis model's LA intercept describes;
      * centre, as the mean of the *other* mothers' observed values at the mother's centre, for the
        outcome and for the same score at other waves (falling back to the other mothers in her LA, then
        to everyone, where a centre has no one else). Centre indicators would add ~120 parameters for
        ~15 mothers per centre and over-state between-centre variation.
    """
    variables = [spec.outcome, *spec.covariates]
    data = pd.DataFrame({v: frame[v].astype("Float64").astype(float) for v in variables})
    targets = [v for v in variables if data[v].isna().any()]
    exposure = frame[spec.exposure]
    if pd.api.types.is_numeric_dtype(exposure.dtype):  # a continuous exposure enters as it is
        data[f"{GROUP_PREFIX}{spec.exposure}"] = exposure.astype(float).to_numpy()
    else:
        for level in sorted(set(exposure.dropna()) - {spec.reference}):
            data[f"{GROUP_PREFIX}{level}"] = (exposure == level).astype(float).to_numpy()
    outer, inner = spec.clusters
    data[LA_INDEX] = pd.factorize(frame[outer], sort=True)[0].astype(float)
    stem = spec.outcome.rsplit("_w", 1)[0] + "_w"
    scores = [v for v in variables if v.startswith(stem) and v not in spec.categorical]
    centre = frame[outer].astype(str) + ":" + frame[inner].astype(str)
    for name in scores:
        values = data[name]
        mean = _others_mean(values, centre).fillna(_others_mean(values, frame[outer].astype(str)))
        data[f"{CENTRE_MEAN_PREFIX}{name}"] = mean.fillna(values.mean()).to_numpy()
    return data.reset_index(drop=True), targets


def _completed(frame: pd.DataFrame, spec: ModelSpec, imputer: ChainedImputer,
               targets: list[str]) -> pd.DataFrame:
    """The model variables with the imputer's current values filled in, integer-coded columns kept
    integer."""
    completed = frame[spec.variables].copy()
    for name in targets:
        values = imputer.column(name)
        if pd.api.types.is_integer_dtype(frame[name].dtype):
            # PMM only copies observed values, so rounding is exact; term names need integer levels.
            values = np.round(values).astype(np.int64)
        completed[name] = values
    return completed


def imputations(frame: pd.DataFrame, spec: ModelSpec, *, seed: int, burn_in: int = 10
                ) -> Iterator[pd.DataFrame]:
    """Completed copies of the model variables `spec.variables`, endlessly: one per sampler cycle.

    One chained-equations sampler (`analysis.chained.ChainedImputer`, statsmodels MICEData's algorithm: each
    variable's least-squares parameters drawn from their normal approximation, then predictive mean
    matching with 5 donors; see `imputation_data` for the predictors, local authority as fixed effects)
    runs `burn_in` cycles before the first dataset and one cycle between datasets, as statsmodels' MICE
    does. Successive datasets are then practically independent here: the conditional
    model of the outcome, which carries most of the missing information, is refitted each cycle on the
    observed outcomes, so it depends on the previous draw only through the ~1% imputed covariates (on the
    demo data the lag-1 autocorrelation of the growing-vs-cut estimate over 100-200 cycles is 0.03-0.04,
    against a standard error of 0.07-0.1 under independence).

    Seeding: every random draw (parameter perturbation, donor choice) comes from one numpy Generator made
    from `seed`; nothing else is random, so the same seed gives identical datasets.
    """
    frame = frame.reset_index(drop=True)
    data, targets = imputation_data(frame, spec)
    log.info("imputing %s for %d mothers (missing: %s)", ", ".join(targets), len(frame),
             ", ".join(f"{t} {int(data[t].isna().sum())}" for t in targets))
    imputer = ChainedImputer(data, LA_INDEX, donors=PMM_DONORS, rng=np.random.default_rng(seed))
    imputer.update_all(burn_in)
    while True:
        yield _completed(frame, spec, imputer, targets)
        imputer.update_all(1)


def multiple_imputation(frame: pd.DataFrame, spec: ModelSpec, fit_settings: FitSettings | dict, *,
                        m: int = 20, seed: int = 20120401, burn_in: int = 10) -> pd.DataFrame:
    """The primary model pooled over m imputations of the attrition frame, one row per fixed effect.

    Datasets come from `imputations`; each is fitted by `analysis.mixed.fit_nested_lmm` (after the first,
    searching from the first dataset's optimum) and the fixed effects are pooled by `rubin_pool` with
    complete-data df n - (fixed effects) - 3 variance parameters, the residual df of lme4 that mice::pool
    uses. Intervals and p values use t with the Barnard-Rubin df. `attrs` hold the per-imputation estimates
    ("imputations") and the full pooling table ("pooling").
    """
    if m < 2:
        raise ValueError("multiple imputation needs m >= 2")
    settings = fit_settings if isinstance(fit_settings, FitSettings) else FitSettings.from_config(
        fit_settings)
    estimates, variances = [], []
    clusters = cluster_design(frame, spec.clusters)  # a single LA: no LA level, as the primary model
    start = None
    for completed in imputations(frame, spec, seed=seed, burn_in=burn_in):
        # A fit the fitter refuses stops the run: dropping a dataset would select imputations.
        y, X = design_matrix(completed, spec)
        fit = fit_nested_lmm(y, X, completed[clusters.outer] if clusters.outer else None,
                             completed[clusters.inner], settings, start=start)
        # Completed datasets differ only in the imputed values: later searches start at the first optimum
        # (every optimiser, and a second one must still confirm the best point).
        start = fit.theta if start is None else start
        estimates.append(pd.Series(fit.estimates, index=fit.terms))
        variances.append(pd.Series(fit.std_errors**2, index=fit.terms))
        log.info("imputation %d of %d fitted (REML loglik %.3f)", len(estimates), m, fit.reml_loglik)
        if len(estimates) == m:
            break

    estimates_df, variances_df = pd.DataFrame(estimates), pd.DataFrame(variances)
    n = len(frame)
    df_complete = n - estimates_df.shape[1] - N_VARIANCE_PARAMETERS
    pooled = _t_inference(rubin_pool(estimates_df, variances_df, df_complete), spec.ci_level)
    pooled["n"] = n
    out = pooled.reset_index()[["term", "estimate", "std_error", "df", "statistic", "p_value", "ci_lower",
                                "ci_upper", "fmi", "m", "n"]]
    out.attrs["imputations"] = estimates_df.reset_index(drop=True)
    out.attrs["pooling"] = pooled.reset_index()
    return out


# ---------------------------------------------------------------------------------------------------------
# Inverse-probability-of-response weighting


def _response_design(frame: pd.DataFrame, predictors: Sequence[str],
                     categorical: Iterable[str]) -> pd.DataFrame:
    """Intercept, numeric predictors as numbers, text or categorical ones as indicators."""
    categorical = set(categorical)
    parts = [pd.DataFrame({"Intercept": np.ones(len(frame))}, index=frame.index)]
    for name in predictors:
        values = frame[name]
        if name in categorical or not pd.api.types.is_numeric_dtype(values.dtype):
            levels = labels_present(values)[1]
            parts.append(indicator_columns(values, name, levels[0], levels=levels))
        else:
            parts.append(pd.DataFrame({name: values.astype("Float64").astype(float)}, index=frame.index))
    return pd.concat(parts, axis=1)


def response_weights(frame: pd.DataFrame, predictors: Sequence[str], *,
                     categorical: Iterable[str] = ()) -> pd.Series:
    """Stabilised inverse-probability-of-response weights, one per mother of `frame`.

    A logistic model of `responded` on `predictors` (e.g. baseline score, covariates, funding group) is
    fitted on mothers with complete predictors. Responders get marginal response rate / fitted probability,
    non-responders 0, mothers with incomplete predictors NaN. The response model and a weight summary are
    in `attrs`.
    """
    complete = frame[list(predictors)].notna().all(axis=1)
    n_incomplete = int((~complete).sum())
    log.info("response model: %d mothers with complete predictors, %d with incomplete predictors left out",
             int(complete.sum()), n_incomplete)
    rows = frame.loc[complete]
    X = _response_design(rows, predictors, categorical)
    responded = rows[RESPONDED].astype(float)
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_linear_model import GLM

    outcome, design = responded.to_numpy(), X.to_numpy()
    # IRLS started at the maximum (found by Newton's method on the p x p normal equations) stops at once.
    fit = GLM(outcome, design, family=Binomial()).fit(start_params=logistic_start(outcome, design))
    probability = pd.Series(fit.predict(design), index=rows.index)
    rate = float(responded.mean())

    weights = pd.Series(np.nan, index=frame.index, name="ipw")
    weights.loc[rows.index] = np.where(responded == 1, rate / probability, 0.0)
    positive = weights[weights > 0]
    summary = {
        "n_responders": int(len(positive)), "min": float(positive.min()),
        "p01": float(positive.quantile(0.01)), "median": float(positive.median()),
        "p99": float(positive.quantile(0.99)), "max": float(positive.max()), "mean": float(positive.mean()),
        "sd": float(positive.std()), "kish_effective_n": float(positive.sum()**2 / (positive**2).sum()),
    }
    log.info("response weights: mean %.3f, range %.3f-%.3f, Kish effective n %.0f of %d responders",
             summary["mean"], summary["min"], summary["max"], summary["kish_effective_n"], len(positive))
    weights.attrs = {
        "n_modelled": int(complete.sum()), "n_incomplete_predictors": n_incomplete, "response_rate": rate,
        "coefficients": pd.Series(fit.params, index=X.columns),
        "std_errors": pd.Series(fit.bse, index=X.columns),
        "summary": summary,
    }
    return weights


def ipw_estimate(frame: pd.DataFrame, spec: ModelSpec, weights: pd.Series, level: float = 0.95
                 ) -> pd.DataFrame:
    """Weighted least squares of the primary model's fixed effects among responders, CR1 SEs by LA.

    Why a weighted marginal model rather than a weighted mixed model: response weights are probability
    weights, and a mixed model fitted by (RE)ML treats weights as precision weights (lme4) or not at all
    (statsmodels MixedLM), so they would change the assumed variances rather than re-weight the sample.
    Weighted pseudo-likelihood for multilevel models needs weights split and scaled by level (Pfeffermann
    et al. 1998; Rabe-Hesketh & Skrondal 2006) and is biased for variance components in small clusters.
    With an identity link the fixed effects of the random-intercept model are also the population-averaged
    ones, so weighted least squares targets the same coefficients, and SEs robust to clustering by local
    authority (centres are nested in LAs) cover the within-LA correlation the random intercepts describe.
    The price is efficiency: GLS weighting by the random-effects covariance is lost.

    SEs: statsmodels' cluster-robust sandwich with factor G/(G-1) x (n-1)/(n-k) (CR1), t with G-1 df.
    """
    outer = cluster_design(frame, spec.clusters).robust  # LAs, or centres when there is a single LA
    w = weights.reindex(frame.index)
    usable = (frame[RESPONDED] == 1) & w.gt(0) & frame[spec.variables].notna().all(axis=1)
    log.info("IPW analysis: %d responders with a weight and complete model variables; %d responders "
             "left out", int(usable.sum()), int(((frame[RESPONDED] == 1) & ~usable).sum()))
    rows = frame.loc[usable]
    y, X = design_matrix(rows, spec)
    groups = pd.factorize(rows[outer])[0]
    from statsmodels.regression.linear_model import WLS

    fit = WLS(y.to_numpy(), X.to_numpy(), weights=w[usable].to_numpy()).fit(
        cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    n_groups = len(np.unique(groups))
    table = pd.DataFrame({"estimate": fit.params, "std_error": fit.bse, "df": float(n_groups - 1)},
                         index=pd.Index(X.columns, name="term"))
    table = _t_inference(table, level)
    table["n"] = len(rows)
    table["se_method"] = (f"cluster-robust by {outer} ({n_groups} clusters), CR1 factor "
                          "G/(G-1)*(n-1)/(n-k); t with G-1 df")
    out = table.reset_index()[["term", "estimate", "std_error", "df", "statistic", "p_value", "ci_lower",
                               "ci_upper", "n", "se_method"]]
    out.attrs["n_clusters"] = n_groups
    return out


ATTRITION_BLOCKS = ("multiple_imputation", "inverse_probability_weighting")


def attrition_plan(plan: dict) -> dict:
    """The part of the plan the attrition analyses read: their two blocks, the models they name, the primary
    sample's score and waves, and the mixed-model fit settings (the imputation refits a mixed model)."""
    sample = plan["primary_sample"]
    names = sorted({plan[block]["model"] for block in ATTRITION_BLOCKS})
    return {**{block: plan[block] for block in ATTRITION_BLOCKS},
            "models": {name: plan["models"][name] for name in names},
            "primary_sample": {key: sample[key] for key in ("score", "baseline_wave", "followup_wave")},
            "mixed_model_fit": plan["mixed_model_fit"]}
