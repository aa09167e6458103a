"""Specification curve: the growing-vs-cut contrast under every combination of defensible choices.

Each specification re-derives the exposure (thresholds, window), the sample (outcome score) and the model
(covariate set, estimator) from the cleaned data, so the whole chain is varied, not just the last step.
"""

from __future__ import annotations

import itertools
import logging
from copy import deepcopy

import numpy as np
import pandas as pd

from analysis.design import ModelSpec
from analysis.exposure import ExposurePlan, exposure_table
from analysis.models import contrast_rows, fit_model, fit_settings_used
from analysis.plan import model_roles
from analysis.primary import sample_from_plan
from analysis.sample import wave_suffix

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


def specification_job_plan(plan: dict, choice: dict) -> dict:
    """The part of the plan that fitting the one specification `choice` reads: its covariate set, the
    primary model, the sample's waves, the exposure level, and the mixed-model fit settings when its
    estimator uses them. A Snakemake job given only this reruns only when something it uses changes."""
    covariate_sets = plan["specification_curve"]["covariate_sets"]
    return {**_base_slices(plan),
            "specification_curve": {"covariate_sets": {choice["covariate_set"]:
                                                       covariate_sets[choice["covariate_set"]]}},
            "mixed_model_fit": fit_settings_used(choice["estimator"], plan["mixed_model_fit"])}


def joint_test_plan(plan: dict) -> dict:
    """The part of the plan the curve's joint test reads: the whole curve (every specification is refitted),
    what each specification reads, and the mixed-model fit settings."""
    return {**_base_slices(plan), "specification_curve": plan["specification_curve"],
            "mixed_model_fit": plan["mixed_model_fit"]}


def specification_sample(centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame,
                         survey: pd.DataFrame, plan: dict, choice: dict) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                   ModelSpec]:
    """A specification's analysis sample (its own exposure and sample steps), its flow and its model."""
    exposure_plan = ExposurePlan(choice["base_year"], choice["end_year"], -choice["threshold_pct"],
                                 choice["threshold_pct"], level=plan["exposure"].get("level", "centre"))
    exposure = exposure_table(centres, funding, deflators, exposure_plan)
    spec = specification_model(plan, choice)
    sample_plan = {**plan["primary_sample"], "score": choice["score"], "secondary_scores": [],
                   "binary_scores": {}}
    frame, flow = sample_from_plan(survey, exposure, sample_plan, list(spec.covariates))
    return frame, flow, spec


def fit_specification(centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame,
                      survey: pd.DataFrame, plan: dict, spec_id: str, choice: dict) -> pd.DataFrame:
    frame, flow, spec = specification_sample(centres, funding, deflators, survey, plan, choice)
    try:
        rows = pd.DataFrame(contrast_rows(fit_model(frame, spec, plan["mixed_model_fit"]), spec))
        rows["note"] = ""
    except ValueError as err:  # e.g. no growing centre under this window and threshold
        log.warning("specification %s not estimable: %s", spec_id, err)
        rows = pd.DataFrame({"outcome": spec.outcome, "contrast": [f"{g} vs {spec.reference}" for g in
                                                                    spec.contrast_levels()],
                             "estimator": spec.estimator, "model": spec.name, "estimand": "",
                             "direction": "", "note": f"not estimable: {err}",
                             # the columns of an estimable specification, so that every one has them
                             **dict.fromkeys(("estimate", "std_error", "ci_lower", "ci_upper", "p_value"),
                                             np.nan)})
    rows.insert(0, "specification", spec_id)
    for key, value in choice.items():
        rows[key] = value
    rows["n_excluded_by_sample_steps"] = int(flow["n_excluded"].sum())
    return rows.drop(columns=["model", "estimand", "direction"])
