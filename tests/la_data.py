"""LA-level variants of a contract dataset, for tests: la_funding.csv made from the centre budgets.

Each local authority's spend in a year is the sum of its centres' budgets (blank when any centre's is), so
its real-terms change can be checked against an independent computation from the centre data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from analysis.cleaning import clean_all


def la_spend(raw_dir: Path) -> pd.DataFrame:
    """la_code, financial_year, spend_gbp: each LA's centre budgets summed (missing if any is missing)."""
    data = clean_all(raw_dir)
    funding = data.funding.merge(data.centres[["centre_id", "la_code"]], on="centre_id")
    spend = funding.groupby(["la_code", "financial_year"])["budget_gbp"].sum(min_count=1)
    complete = funding.groupby(["la_code", "financial_year"])["budget_gbp"].apply(lambda s: s.notna().all())
    return spend.where(complete).rename("spend_gbp").reset_index()


def to_la_level(raw_dir: Path, out: Path, *, survey_names: str = "centres") -> Path:
    """An LA-level copy of `raw_dir` in `out`. survey_names: "centres" (the survey keeps centre_id and the
    centre register comes along) or "la" (the survey gives la_code instead, and there is no centres.csv)."""
    out.mkdir(parents=True, exist_ok=True)
    spend = la_spend(raw_dir)
    spend["spend_gbp"] = spend["spend_gbp"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    spend.to_csv(out / "la_funding.csv", index=False)
    for name in ("deflators.csv", "SYNTHETIC_DATA.json"):
        if (raw_dir / name).exists():
            shutil.copy(raw_dir / name, out / name)
    survey = pd.read_csv(raw_dir / "survey.csv", dtype=str, keep_default_na=False)
    if survey_names == "la":
        centres = pd.read_csv(raw_dir / "centres.csv", dtype=str, keep_default_na=False)
        survey = survey.merge(centres[["centre_id", "la_code"]], on="centre_id", how="left")
        survey = survey.drop(columns="centre_id")
    else:
        shutil.copy(raw_dir / "centres.csv", out / "centres.csv")
    survey.to_csv(out / "survey.csv", index=False)
    return out
