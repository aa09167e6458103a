"""The report's descriptive tables and figures (workflow/rules/report.smk): funding groups, distress by wave,
the figures drawn from published tables (the sample flow, distress by wave, the primary estimates, the
balance love plot, the scenarios), budget changes, the dose-response curve and the forest plot.

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis import descriptives, figures, io
from analysis.data_source import is_synthetic
from analysis.descriptives import caseness_cut_off, score_by_wave
from analysis.exposure import read_exposure, window_words
from analysis.figures import (
    balance_figure,
    estimates_figure,
    forest_rows,
    scenarios_figure,
    score_by_wave_figure,
)
from analysis.results import headline_contrast


def funding_groups(centre_exposure: str, plan: dict, suppress_below: int, output: str) -> None:
    table = descriptives.funding_groups(read_exposure(centre_exposure),
                                        plan["cut_threshold_pct"], plan["growth_threshold_pct"],
                                        window_words(plan),
                                        int(suppress_below))
    io.write_csv(table, output)


def distress_by_wave(survey: str, centre_exposure: str, source: str, plan: dict, suppress_below: int,
                     output: str) -> None:
    table = score_by_wave(pd.read_parquet(survey),
                          read_exposure(centre_exposure),
                          plan["score"], int(plan["baseline_wave"]), 0.95,
                          int(suppress_below),
                          cut_off=caseness_cut_off(plan.get("binary_scores", {}), plan["score"]))
    table["synthetic_data"] = is_synthetic(source)
    io.write_csv(table, output)


def distress_by_wave_figure(table: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        score_by_wave_figure(pd.read_csv(table), tmp, is_synthetic(source))


def sample_flow_figure(flow: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        figures.sample_flow_figure(pd.read_csv(flow, dtype=str), tmp, is_synthetic(source))


def published_figures(sample_flow: str, distress_by_wave: str, primary: str, covariate_balance: str,
                      scenarios: str | None, scenario_curve: str | None, source: str,
                      outputs: dict[str, str]) -> None:
    """Every figure drawn from published (disclosure-controlled) tables, one process for all; `outputs`
    maps each figure's name (sample_flow, distress_by_wave, primary_estimates, covariate_balance and,
    where the plan has planned budget changes, scenarios) to its file. Without planned changes there is no
    scenario table (scenarios and scenario_curve are None) and no scenario figure."""
    sample_flow_figure(sample_flow, source, outputs["sample_flow"])
    distress_by_wave_figure(distress_by_wave, source, outputs["distress_by_wave"])
    primary_estimates_figure(primary, source, outputs["primary_estimates"])
    covariate_balance_figure(covariate_balance, source, outputs["covariate_balance"])
    if scenarios is not None:
        scenario_figure(scenarios, scenario_curve, source, outputs["scenarios"])


def budget_change_figure(centre_exposure: str, source: str, plan: dict, suppress_below: int,
                         output: str) -> None:
    exposure_table = read_exposure(centre_exposure)
    with io.atomic_path(output) as tmp:
        figures.budget_change_figure(exposure_table, plan["cut_threshold_pct"], plan["growth_threshold_pct"],
                                     window_words(plan),
                                     int(suppress_below), tmp,
                                     is_synthetic(source))


def covariate_balance_figure(table: str, source: str, output: str) -> None:
    """The love plot, from the published balance table."""
    with io.atomic_path(output) as tmp:
        balance_figure(pd.read_csv(table), tmp, is_synthetic(source))


def scenario_figure(table: str, curve: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        scenarios_figure(pd.read_csv(curve), pd.read_csv(table), tmp, is_synthetic(source))


def primary_estimates_figure(contrasts: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        estimates_figure(pd.read_csv(contrasts), tmp, is_synthetic(source))


def dose_response_figure(diagnostics: str, centre_exposure: str, source: str, plan: dict, entry: dict,
                         output: str) -> None:
    curve = pd.DataFrame(json.loads(Path(diagnostics).read_text())["curve"])
    with io.atomic_path(output) as tmp:
        figures.dose_response_figure(curve, read_exposure(centre_exposure),
                                     float(entry.get("ci_level", 0.95)), plan["cut_threshold_pct"],
                                     plan["growth_threshold_pct"], entry["outcome"], tmp,
                                     is_synthetic(source))


def forest_figure(primary: str, models: dict[str, str], did: str, imputation: str, weighting: str,
                  source: str, table: str, figure: str) -> None:
    """Every pre-specified estimate of the primary model's headline contrast: the forest models' (name ->
    contrast table, model_roles.forest), then the attrition analyses' and the difference-in-differences."""
    contrast = headline_contrast(pd.read_csv(primary))
    rows = forest_rows({name: pd.read_csv(path) for name, path in models.items()}, did=pd.read_csv(did),
                       imputation=pd.read_csv(imputation), weighting=pd.read_csv(weighting),
                       group=contrast.split(" vs ")[0])
    synthetic = is_synthetic(source)
    io.write_csv(rows.assign(contrast=contrast, synthetic_data=synthetic), table)
    with io.atomic_path(figure) as tmp:
        figures.forest_figure(rows, contrast, tmp, synthetic)
