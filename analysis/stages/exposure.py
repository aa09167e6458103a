"""Exposure (workflow/rules/exposure.smk): each centre's (or local authority's) funding group.

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import pandas as pd

from analysis import io
from analysis.exposure import ExposurePlan, exposure_table


def classify_centres(centres: str, funding: str, deflators: str, plan: dict, output: str) -> None:
    table = exposure_table(pd.read_parquet(centres), pd.read_parquet(funding),
                            pd.read_parquet(deflators), ExposurePlan.from_config(plan))
    io.write_csv(table, output)
