"""The pipeline's stages as plain functions of paths and plan entries; workflow/scripts/ call these.

Each stage reads only the files it is given and writes each output atomically, so a failed stage leaves no
output behind.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from analysis import io
from analysis.cleaning import clean_all
from analysis.exposure import ExposurePlan, exposure_by_centre
from analysis.figures import budget_change_figure, estimates_figure
from analysis.primary import fit_from_plan, sample_from_plan
from analysis.results import coefficient_table, contrast_table, to_latex, to_markdown
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
    fit, spec = fit_from_plan(pd.read_parquet(analysis), name, entry, fit_settings)
    synthetic = _synthetic(source)
    io.write_csv(contrast_table(fit, spec, synthetic), contrasts)
    io.write_csv(coefficient_table(fit, spec, synthetic), coefficients)
    io.write_json({"model": name, **fit.diagnostics(), "n_obs": fit.n_obs, "n_las": fit.n_outer,
                   "n_centres": fit.n_inner}, diagnostics)


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
