"""The primary sample (workflow/rules/sample.smk).

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import pandas as pd

from analysis import io
from analysis.exposure import read_exposure
from analysis.primary import sample_from_plan


def build_primary_sample(survey: str, centre_exposure: str, plan: dict, covariates: list[str], analysis: str,
                         flow: str) -> None:
    frame, steps = sample_from_plan(
        pd.read_parquet(survey), read_exposure(centre_exposure),
        plan, covariates)
    io.write_parquet(frame, analysis)
    io.write_csv(steps, flow)
