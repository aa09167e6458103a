"""The pipeline's stages as plain functions of paths and plan entries; workflow/scripts/ call these.

Each stage reads only the files it is given and writes each output atomically, so a failed stage leaves no
output behind.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from analysis import io, models
from analysis.cleaning import clean_all
from analysis.design import ModelSpec
from analysis.exposure import ExposurePlan, exposure_by_centre
from analysis.figures import (
    budget_change_figure,
    dose_response_figure,
    estimates_figure,
    forest_figure,
    specification_curve_figure,
)
from analysis.labels import SCORE_LABELS
from analysis.missing import attrition_frame, ipw_estimate, multiple_imputation, response_weights
from analysis.panel import build_panel, did_mother_fe
from analysis.primary import sample_from_plan
from analysis.results import coefficient_table, contrast_table, to_latex, to_markdown
from analysis.robustness import fit_specification, specifications
from analysis.sensitivity import e_values, forest_rows, hedges_g, holm_adjust, leave_one_out
from analysis.simulate import MARKER_FILE

log = logging.getLogger(__name__)


def data_source(raw_dir: Path) -> dict:
    """Whether the raw data are the simulator's synthetic data (its marker file sits beside them)."""
    marker = Path(raw_dir) / MARKER_FILE
    synthetic = marker.is_file()
    return {
        "synthetic": synthetic,
        "note": ("SYNTHETIC DEMONSTRATION DATA: these numbers are not evidence about any real centre, "
                 "local authority or family." if synthetic else ""),
    }


def clean(raw_dir: str, centres: str, funding: str, deflators: str, survey: str, cleaning_log: str,
          source: str) -> None:
    data = clean_all(Path(raw_dir))
    io.write_parquet(data.centres, centres)
    io.write_parquet(data.funding, funding)
    io.write_parquet(data.deflators, deflators)
    io.write_parquet(data.survey, survey)
    io.write_csv(data.log.to_frame(), cleaning_log)
    io.write_json(data_source(Path(raw_dir)), source)


def exposure(centres: str, funding: str, deflators: str, plan: dict, output: str) -> None:
    table = exposure_by_centre(pd.read_parquet(centres), pd.read_parquet(funding),
                            pd.read_parquet(deflators), ExposurePlan.from_config(plan))
    io.write_csv(table, output)


def sample(survey: str, centre_exposure: str, plan: dict, covariates: list[str], analysis: str,
           flow: str) -> None:
    frame, steps = sample_from_plan(
        pd.read_parquet(survey), pd.read_csv(centre_exposure, dtype={"funding_group": "string"}),
        plan, covariates)
    io.write_parquet(frame, analysis)
    io.write_csv(steps, flow)


def fit_model(analysis: str, source: str, name: str, entry: dict, fit_settings: dict, contrasts: str,
              coefficients: str, diagnostics: str) -> None:
    spec = ModelSpec.from_config(name, entry)
    summary = models.fit_model(pd.read_parquet(analysis), spec, fit_settings)
    synthetic = _synthetic(source)
    io.write_csv(contrast_table(summary, spec, synthetic), contrasts)
    io.write_csv(coefficient_table(summary, spec, synthetic), coefficients)
    io.write_json({"model": name, "estimator": spec.estimator, "n": summary.n,
                   "n_clusters": summary.n_clusters, "n_centres": summary.n_centres,
                   **summary.diagnostics}, diagnostics)


def _synthetic(source: str) -> bool:
    return bool(json.loads(Path(source).read_text())["synthetic"])


def render_table(table: str, source: str, title: str, markdown: str, latex: str) -> None:
    frame = pd.read_csv(table)
    synthetic = _synthetic(source)
    io.write_text(to_markdown(frame, title, synthetic), markdown)
    io.write_text(to_latex(frame, title, synthetic), latex)


def budget_figure(centre_exposure: str, source: str, plan: dict, output: str) -> None:
    exposure_table = pd.read_csv(centre_exposure)
    window = f"{plan['base_year']} to {plan['end_year']}"
    with io.atomic_path(output) as tmp:
        budget_change_figure(exposure_table, plan["cut_threshold_pct"], plan["growth_threshold_pct"],
                             window, tmp, _synthetic(source))


def contrasts_figure(contrasts: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        estimates_figure(pd.read_csv(contrasts), tmp, _synthetic(source))


def secondary_family(tables: list[str], source: str, output: str) -> None:
    family = holm_adjust([pd.read_csv(t) for t in tables])
    family["synthetic_data"] = _synthetic(source)
    io.write_csv(family, output)


def effect_size(contrasts: str, analysis: str, source: str, entry: dict, name: str, standardiser: str,
                output: str) -> None:
    spec = ModelSpec.from_config(name, entry)
    table = pd.read_csv(contrasts)
    frame = pd.read_parquet(analysis)
    g = hedges_g(table, frame, spec, standardiser)
    e = e_values(table[table["scale"] == "difference"], g["pooled_sd"])
    merged = g.merge(e.drop(columns=["model"]), on="contrast", suffixes=("", "_e_value"))
    merged["synthetic_data"] = _synthetic(source)
    io.write_csv(merged, output)


def leave_one_la_out(analysis: str, source: str, name: str, entry: dict, fit_settings: dict,
                     output: str) -> None:
    table = leave_one_out(pd.read_parquet(analysis), ModelSpec.from_config(name, entry), fit_settings)
    table.insert(0, "model", name)
    table["synthetic_data"] = _synthetic(source)
    io.write_csv(table, output)


def specification(centres: str, funding: str, deflators: str, survey: str, plan: dict, spec_id: str,
                  output: str) -> None:
    choice = specifications(plan)[spec_id]
    rows = fit_specification(pd.read_parquet(centres), pd.read_parquet(funding), pd.read_parquet(deflators),
                             pd.read_parquet(survey), plan, spec_id, choice)
    io.write_csv(rows, output)


def specification_curve(specs: list[str], source: str, table: str, figure: str) -> None:
    curve = pd.concat([pd.read_csv(s) for s in specs], ignore_index=True)
    curve = curve.sort_values(["contrast", "estimate"]).reset_index(drop=True)
    synthetic = _synthetic(source)
    curve["synthetic_data"] = synthetic
    io.write_csv(curve, table)
    with io.atomic_path(figure) as tmp:
        specification_curve_figure(curve, tmp, synthetic)


def dose_figure(diagnostics: str, centre_exposure: str, source: str, plan: dict, entry: dict,
                output: str) -> None:
    curve = pd.DataFrame(json.loads(Path(diagnostics).read_text())["curve"])
    with io.atomic_path(output) as tmp:
        dose_response_figure(curve, pd.read_csv(centre_exposure), float(entry.get("ci_level", 0.95)),
                             plan["cut_threshold_pct"], plan["growth_threshold_pct"], entry["outcome"], tmp,
                             _synthetic(source))


def forest(primary: str, ols_cr2: str, did: str, imputation: str, weighting: str, source: str, table: str,
           figure: str) -> None:
    rows = forest_rows(primary=pd.read_csv(primary), ols_cr2=pd.read_csv(ols_cr2), did=pd.read_csv(did),
                       imputation=pd.read_csv(imputation), weighting=pd.read_csv(weighting))
    synthetic = _synthetic(source)
    io.write_csv(rows.assign(synthetic_data=synthetic), table)
    with io.atomic_path(figure) as tmp:
        forest_figure(rows, tmp, synthetic)


def difference_in_differences(survey: str, centre_exposure: str, source: str, plan: dict, baseline_wave: int,
                              table: str, flow: str) -> None:
    score = plan["score"]
    panel, steps = build_panel(pd.read_parquet(survey),
                               pd.read_csv(centre_exposure, dtype={"funding_group": "string"}),
                               score=score, baseline_wave=baseline_wave)
    result = did_mother_fe(panel, score=score, reference_wave=int(plan["reference_wave"]))
    result.insert(0, "outcome", score)
    result.insert(1, "contrast", [f"{g} vs cut, wave {w} vs {plan['reference_wave']}"
                                  for g, w in zip(result["group"], result["wave"], strict=True)])
    result["estimand"] = (f"Difference-in-differences: change in mean {SCORE_LABELS[score]} "
                          "from the reference wave among mothers at the group's centres minus the same "
                          "change among mothers at cut centres (mother fixed effects)")
    result["direction"] = "Negative: distress fell more (or rose less) than at cut centres, i.e. better."
    result["synthetic_data"] = _synthetic(source)
    io.write_csv(result, table)
    io.write_csv(steps, flow)


def attrition_analyses(survey: str, centre_exposure: str, source: str, plan: dict, imputation: str,
                       weighting: str) -> None:
    """Multiple imputation and inverse-probability weighting of the plan's named models."""
    sample_plan = plan["primary_sample"]
    synthetic = _synthetic(source)
    exposure = pd.read_csv(centre_exposure, dtype={"funding_group": "string"})
    clean_survey = pd.read_parquet(survey)

    def frame_for(spec: ModelSpec) -> pd.DataFrame:
        return attrition_frame(clean_survey, exposure, score=sample_plan["score"],
                               baseline_wave=int(sample_plan["baseline_wave"]),
                               followup_wave=int(sample_plan["followup_wave"]),
                               covariates=list(spec.covariates))

    settings = plan["multiple_imputation"]
    spec = ModelSpec.from_config(settings["model"], plan["models"][settings["model"]])
    frame = frame_for(spec)
    pooled = multiple_imputation(frame, spec, plan["mixed_model_fit"], m=int(settings["imputations"]),
                                 seed=int(settings["seed"]), burn_in=int(settings["burn_in"]))
    io.write_csv(_label_terms(pooled, spec, synthetic, n_clusters=frame[spec.clusters[0]].nunique(),
                              se_method="Rubin's rules over m imputations; t with Barnard-Rubin df",
                              seed=int(settings["seed"])), imputation)

    spec = ModelSpec.from_config(plan["inverse_probability_weighting"]["model"],
                                 plan["models"][plan["inverse_probability_weighting"]["model"]])
    frame = frame_for(spec)
    weights = response_weights(frame, [*spec.covariates, spec.exposure],
                               categorical=[*spec.categorical, spec.exposure])
    weighted = ipw_estimate(frame, spec, weights, level=spec.ci_level)
    summary = weights.attrs["summary"]
    weighted["weights_kish_effective_n"] = summary["kish_effective_n"]
    weighted["weights_max"] = summary["max"]
    responders = frame.loc[weights > 0, spec.clusters[0]]
    io.write_csv(_label_terms(weighted, spec, synthetic, n_clusters=responders.nunique()), weighting)


def _label_terms(table: pd.DataFrame, spec: ModelSpec, synthetic: bool, **extra) -> pd.DataFrame:
    """Tidy a per-term table: model, outcome and, for exposure terms, the contrast in words."""
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
