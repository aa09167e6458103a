"""Sensitivity analyses (workflow/rules/sensitivity.smk).

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import pandas as pd

from analysis import io
from analysis.data_source import is_synthetic
from analysis.design import ModelSpec
from analysis.exposure import read_exposure
from analysis.missing import (
    ipw_estimate,
    label_terms,
    multiple_imputation,
    plan_attrition_frame,
    response_weights,
)
from analysis.panel import build_panel, did_table
from analysis.sensitivity import effect_size_table, holm_adjust, leave_one_out


def secondary_family(tables: list[str], source: str, output: str) -> None:
    family = holm_adjust([pd.read_csv(t) for t in tables])
    family["synthetic_data"] = is_synthetic(source)
    io.write_csv(family, output)


def effect_size(contrasts: str, analysis: str, source: str, entry: dict, name: str, standardiser: str,
                output: str) -> None:
    spec = ModelSpec.from_config(name, entry)
    table = pd.read_csv(contrasts)
    frame = pd.read_parquet(analysis)
    merged = effect_size_table(table, frame, spec, standardiser)
    merged["synthetic_data"] = is_synthetic(source)
    io.write_csv(merged, output)


def leave_one_la_out(analysis: str, source: str, name: str, entry: dict, fit_settings: dict,
                     output: str) -> None:
    table = leave_one_out(pd.read_parquet(analysis), ModelSpec.from_config(name, entry), fit_settings)
    table.insert(0, "model", name)
    table["synthetic_data"] = is_synthetic(source)
    io.write_csv(table, output)


def difference_in_differences(survey: str, centre_exposure: str, source: str, plan: dict, baseline_wave: int,
                              table: str, flow: str) -> None:
    score = plan["score"]
    panel, steps = build_panel(pd.read_parquet(survey),
                               read_exposure(centre_exposure),
                               score=score, baseline_wave=baseline_wave)
    result = did_table(panel, score, int(plan["reference_wave"]))
    result["synthetic_data"] = is_synthetic(source)
    io.write_csv(result, table)
    io.write_csv(steps, flow)


def attrition_analyses(survey: str, centre_exposure: str, source: str, plan: dict, imputation: str,
                       weighting: str) -> None:
    """Multiple imputation and inverse-probability weighting of the plan's named models."""
    synthetic = is_synthetic(source)
    exposure = read_exposure(centre_exposure)
    clean_survey = pd.read_parquet(survey)

    settings = plan["multiple_imputation"]
    spec = ModelSpec.from_config(settings["model"], plan["models"][settings["model"]])
    frame = plan_attrition_frame(clean_survey, exposure, plan["primary_sample"], spec)
    pooled = multiple_imputation(frame, spec, plan["mixed_model_fit"], m=int(settings["imputations"]),
                                 seed=int(settings["seed"]), burn_in=int(settings["burn_in"]))
    io.write_csv(label_terms(pooled, spec, synthetic, n_clusters=frame[spec.clusters[0]].nunique(),
                              se_method="Rubin's rules over m imputations; t with Barnard-Rubin df",
                              seed=int(settings["seed"])), imputation)

    spec = ModelSpec.from_config(plan["inverse_probability_weighting"]["model"],
                                 plan["models"][plan["inverse_probability_weighting"]["model"]])
    frame = plan_attrition_frame(clean_survey, exposure, plan["primary_sample"], spec)
    weights = response_weights(frame, [*spec.covariates, spec.exposure],
                               categorical=[*spec.categorical, spec.exposure])
    weighted = ipw_estimate(frame, spec, weights, level=spec.ci_level)
    summary = weights.attrs["summary"]
    weighted["weights_kish_effective_n"] = summary["kish_effective_n"]
    weighted["weights_max"] = summary["max"]
    io.write_csv(label_terms(weighted, spec, synthetic, n_clusters=weighted.attrs["n_clusters"]), weighting)
