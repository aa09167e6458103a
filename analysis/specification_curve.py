"""Specification curve: the growing-vs-cut contrast under every combination of defensible choices.

Each specification re-derives the exposure (thresholds, window), the sample (outcome score) and the model
(covariate set, estimator) from the cleaned data, so the whole chain is varied, not just the last step. The
specifications that share a sample (the same score, threshold and window) are fitted from one build of it
(`sample_groups`, `group_samples`): the same samples as building each on its own, at an eighth of the work.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from copy import deepcopy

import numpy as np
import pandas as pd

from analysis.design import ModelSpec
from analysis.exposure import ExposurePlan, exposure_table
from analysis.models import FitSummary, contrast_rows, fit_model, fit_settings_used
from analysis.plan import model_roles
from analysis.sample import samples_by_covariate_set, wave_suffix

log = logging.getLogger(__name__)


def specification_id(score: str, estimator: str, covariates: str, threshold: float, window) -> str:
    return f"{score}-{estimator}-{covariates}-t{threshold:g}-{window[0]}-{window[1]}"


def specifications(plan: dict) -> dict[str, dict]:
    """Every specification of the curve, keyed by a readable id (a Snakemake wildcard value)."""
    curve = plan["specification_curve"]
    grid = itertools.product(curve["scores"], curve["estimators"], sorted(curve["covariate_sets"]),
                             curve["thresholds_pct"], curve["windows"])
    return {
        specification_id(score, estimator, covariates, threshold, window): {
            "score": score, "estimator": estimator, "covariate_set": covariates,
            "threshold_pct": float(threshold), "base_year": window[0], "end_year": window[1],
        }
        for score, estimator, covariates, threshold, window in grid
    }


def specification_model(plan: dict, choice: dict) -> ModelSpec:
    """The primary model's (model_roles.primary) entry with this specification's outcome, covariates and
    estimator."""
    sample = plan["primary_sample"]
    entry = deepcopy(plan["models"][model_roles(plan)["primary"]])
    entry.update(
        estimator=choice["estimator"],
        outcome=wave_suffix(choice["score"], sample["followup_wave"]),
        baseline=wave_suffix(choice["score"], sample["baseline_wave"]),
        covariates=list(plan["specification_curve"]["covariate_sets"][choice["covariate_set"]]),
        bootstrap={},
    )
    entry["categorical"] = {k: v for k, v in entry.get("categorical", {}).items() if k in entry["covariates"]}
    return ModelSpec.from_config("specification", entry)


def _base_slices(plan: dict) -> dict:
    """What every specification reads of the plan besides the curve: the primary model (its role and entry),
    the primary sample's waves and the exposure level."""
    primary = model_roles(plan)["primary"]
    sample = plan["primary_sample"]
    return {"model_roles": {"primary": primary}, "models": {primary: plan["models"][primary]},
            "primary_sample": {key: sample[key] for key in ("baseline_wave", "followup_wave")},
            "exposure": {"level": plan["exposure"].get("level", "centre")}}


def specification_job_plan(plan: dict, choices: dict[str, dict]) -> dict:
    """The part of the plan that fitting the specifications `choices` (those of one specification job, which
    share a sample) reads: their covariate sets, the primary model, the sample's waves, the exposure level,
    and the mixed-model fit settings where an estimator uses them. A Snakemake job given only this reruns only
    when something it uses changes (not, e.g., for the disclosure rule or the joint test's resamples)."""
    covariate_sets = plan["specification_curve"]["covariate_sets"]
    fit_settings = {}
    for choice in choices.values():
        fit_settings.update(fit_settings_used(choice["estimator"], plan["mixed_model_fit"]))
    chosen_sets = {choice["covariate_set"]: covariate_sets[choice["covariate_set"]]
                   for choice in choices.values()}
    return {**_base_slices(plan), "specification_curve": {"covariate_sets": chosen_sets},
            "mixed_model_fit": fit_settings}


def sample_groups(choices: dict[str, dict]) -> list[dict[str, dict]]:
    """The specifications grouped by the analysis sample they share: the outcome score, threshold and window
    fix the exposure and the mothers; the estimator and covariate set only change the model (a covariate
    set's completeness step is applied to the shared mothers' frame)."""
    groups: dict[tuple, dict[str, dict]] = {}
    for spec_id, choice in choices.items():
        key = (choice["score"], choice["threshold_pct"], choice["base_year"], choice["end_year"])
        groups.setdefault(key, {})[spec_id] = choice
    return list(groups.values())


def group_samples(centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame, survey: pd.DataFrame,
                  plan: dict, group: dict[str, dict]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame,
                                                                         ModelSpec]]:
    """Each specification's analysis sample, its flow and its model, for specifications sharing one sample
    (one group of `sample_groups`): the exposure and the mothers' frame are built once for all of them."""
    first = next(iter(group.values()))
    exposure_plan = ExposurePlan(first["base_year"], first["end_year"], -first["threshold_pct"],
                                 first["threshold_pct"], level=plan["exposure"].get("level", "centre"))
    exposure = exposure_table(centres, funding, deflators, exposure_plan)
    models = {spec_id: specification_model(plan, choice) for spec_id, choice in group.items()}
    sample_plan = {**plan["primary_sample"], "score": first["score"], "secondary_scores": [],
                   "binary_scores": {}}
    by_set = samples_by_covariate_set(
        survey, exposure, sample_plan, {choice["covariate_set"]: list(models[spec_id].covariates)
                                        for spec_id, choice in group.items()})
    return {spec_id: (*by_set[choice["covariate_set"]], models[spec_id]) for spec_id, choice in group.items()}


def fitted_specifications(centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame,
                          survey: pd.DataFrame, plan: dict, choices: dict[str, dict]
                          ) -> Iterator[tuple[str, pd.DataFrame, ModelSpec, FitSummary | str]]:
    """(id, rows of the curve, model, fit or why not estimable) of each specification, one distinct
    sample at a time: each sample is built once, and each specification fitted once (the joint test refits
    from the same fit, analysis.joint_test.specification_refitter)."""
    for group in sample_groups(choices):
        for spec_id, (frame, flow, spec) in group_samples(centres, funding, deflators, survey, plan,
                                                           group).items():
            fit = specification_fit(frame, spec, plan, spec_id)
            yield spec_id, specification_rows(fit, flow, spec, spec_id, choices[spec_id]), spec, fit


def fit_specifications(centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame,
                       survey: pd.DataFrame, plan: dict, choices: dict[str, dict]) -> dict[str, pd.DataFrame]:
    """Each specification's rows of the curve, keyed by its id."""
    return {spec_id: rows for spec_id, rows, *_ in fitted_specifications(centres, funding, deflators, survey,
                                                                          plan, choices)}


def specification_fit(frame: pd.DataFrame, spec: ModelSpec, plan: dict, spec_id: str) -> FitSummary | str:
    """A specification's fit to its sample, or why it is not estimable."""
    try:
        return fit_model(frame, spec, plan["mixed_model_fit"])
    except ValueError as err:  # e.g. no growing centre under this window and threshold
        log.warning("specification %s not estimable: %s", spec_id, err)
        return f"not estimable: {err}"


def specification_rows(fit: FitSummary | str, flow: pd.DataFrame, spec: ModelSpec, spec_id: str,
                       choice: dict) -> pd.DataFrame:
    """One specification's rows of the curve, from its fit (`specification_fit`) and its sample's flow."""
    if isinstance(fit, FitSummary):
        rows = pd.DataFrame(contrast_rows(fit, spec))
        rows["note"] = ""
    else:
        rows = pd.DataFrame({"outcome": spec.outcome, "contrast": [f"{g} vs {spec.reference}" for g in
                                                                    spec.contrast_levels()],
                             "estimator": spec.estimator, "model": spec.name, "estimand": "",
                             "direction": "", "note": fit,
                             # the columns of an estimable specification, so that every one has them
                             **dict.fromkeys(("estimate", "std_error", "ci_lower", "ci_upper", "p_value"),
                                             np.nan)})
    rows.insert(0, "specification", spec_id)
    for key, value in choice.items():
        rows[key] = value
    rows["n_excluded_by_sample_steps"] = int(flow["n_excluded"].sum())
    return rows.drop(columns=["model", "estimand", "direction"])
