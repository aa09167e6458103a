"""The primary sample (workflow/rules/sample.smk).

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import pandas as pd

from analysis import io, sample
from analysis.exposure import read_exposure


def build_primary_sample(survey: str, centre_exposure: str, plan: dict, covariates: list[str], analysis: str,
                         flow: str) -> None:
    """The primary sample of the plan's primary_sample (`plan`), and its flow."""
    frame, steps = sample.build_primary_sample(pd.read_parquet(survey), read_exposure(centre_exposure), plan,
                                               covariates)
    io.write_parquet(frame, analysis)
    io.write_csv(steps, flow)
