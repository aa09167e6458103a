"""The plan's models (workflow/rules/models.smk), one job per model.

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import pandas as pd

from analysis import io, models
from analysis.data_source import is_synthetic
from analysis.design import ModelSpec
from analysis.models import coefficient_table, contrast_table, diagnostics_record


def fit_model(analysis: str, source: str, name: str, entry: dict, fit_settings: dict, contrasts: str,
              coefficients: str, diagnostics: str) -> None:
    spec = ModelSpec.from_config(name, entry)
    summary = models.fit_model(pd.read_parquet(analysis), spec, fit_settings)
    synthetic = is_synthetic(source)
    io.write_csv(contrast_table(summary, spec, synthetic), contrasts)
    io.write_csv(coefficient_table(summary, spec, synthetic), coefficients)
    io.write_json(diagnostics_record(spec, summary), diagnostics)
