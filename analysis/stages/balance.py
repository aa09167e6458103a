"""Covariate balance (the covariate_balance rule of workflow/rules/tables.smk): Table 1, standardised mean
differences and missing-data patterns (the love plot is drawn from the published table by
report_figures.published_figures).

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import pandas as pd

from analysis import io
from analysis.balance import balance_tables
from analysis.data_source import is_synthetic
from analysis.design import ModelSpec
from analysis.exposure import read_exposure


def covariate_balance(survey: str, centre_exposure: str, source: str, sample_plan: dict, name: str,
                      entry: dict, weighting_name: str | None, weighting_entry: dict | None, smd_guide: float,
                      suppress_below: int, characteristics: str, balance: str, patterns: str) -> None:
    """Table 1 (baseline characteristics by funding group), standardised mean differences in the baseline
    cohort and the analysed sample (unweighted and response-weighted), and missing-data patterns of model
    `name` (analysis.balance); the weights are those of model `weighting_name` (None: the plan has none)."""
    weighting = (ModelSpec.from_config(weighting_name, weighting_entry) if weighting_name is not None
                 else None)
    tables = balance_tables(pd.read_parquet(survey), read_exposure(centre_exposure), sample_plan,
                            ModelSpec.from_config(name, entry), weighting,
                            min_cell=int(suppress_below),
                            smd_guide=float(smd_guide))
    synthetic = is_synthetic(source)
    io.write_csv(tables.characteristics.assign(synthetic_data=synthetic), characteristics)
    io.write_csv(tables.balance.assign(synthetic_data=synthetic), balance)
    io.write_csv(tables.patterns.assign(synthetic_data=synthetic), patterns)
