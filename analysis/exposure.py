"""Exposure: each centre's real-terms budget change over the exposure window, and its funding group.

Real budget = nominal budget / GDP deflator x 100 (pounds at the deflator's reference-year prices).
Change (%) = 100 x (real budget in end year / real budget in base year - 1).
Groups: cut if change <= cut threshold; growing if change >= growth threshold; otherwise stable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import Problem, RawDataError, first_few

log = logging.getLogger(__name__)

GROUPS = ("cut", "stable", "growing")


@dataclass(frozen=True)
class ExposurePlan:
    base_year: str
    end_year: str
    cut_threshold_pct: float
    growth_threshold_pct: float

    @classmethod
    def from_config(cls, exposure: dict) -> ExposurePlan:
        return cls(
            base_year=exposure["base_year"],
            end_year=exposure["end_year"],
            cut_threshold_pct=float(exposure["cut_threshold_pct"]),
            growth_threshold_pct=float(exposure["growth_threshold_pct"]),
        )


def real_budgets(funding: pd.DataFrame, deflators: pd.DataFrame) -> pd.DataFrame:
    """Add real_budget_gbp (nominal / deflator x 100) to each funding row."""
    index = deflators.set_index("financial_year")["gdp_deflator"].astype(float)
    funding = funding.copy()
    funding["real_budget_gbp"] = funding["budget_gbp"].astype(float) / funding["financial_year"].map(
        index
    ) * 100
    return funding


def classify(change_pct: pd.Series, plan: ExposurePlan) -> pd.Series:
    """Funding group of each change; missing change gives a missing group."""
    group = np.select(
        [change_pct <= plan.cut_threshold_pct, change_pct >= plan.growth_threshold_pct],
        ["cut", "growing"],
        default="stable",
    )
    return pd.Series(group, index=change_pct.index, dtype="string").where(change_pct.notna())


def exposure_by_centre(
    centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame, plan: ExposurePlan
) -> pd.DataFrame:
    """One row per centre: real budgets in the window's two years, change, group, and why none."""
    known_years = set(deflators["financial_year"])
    missing = [y for y in (plan.base_year, plan.end_year) if y not in known_years]
    if missing:
        raise RawDataError([Problem("deflators.csv", "financial_year",
                                    f"no deflator for the exposure window year(s) {', '.join(missing)}")])
    real = real_budgets(funding, deflators)
    wide = real.pivot(index="centre_id", columns="financial_year", values="real_budget_gbp")
    base = wide.get(plan.base_year, pd.Series(dtype=float)).reindex(centres["centre_id"]).to_numpy()
    end = wide.get(plan.end_year, pd.Series(dtype=float)).reindex(centres["centre_id"]).to_numpy()

    out = centres[["centre_id", "la_code", "la_name", "idaci_decile", "urban_rural"]].copy()
    out["base_year"] = plan.base_year
    out["end_year"] = plan.end_year
    out["real_budget_base_gbp"] = base
    out["real_budget_end_gbp"] = end
    with np.errstate(divide="ignore", invalid="ignore"):
        change = 100 * (end / base - 1)
    change = np.where(np.isfinite(change), change, np.nan)
    out["budget_change_pct"] = change
    out["funding_group"] = classify(out["budget_change_pct"], plan)
    reason = np.select(
        [np.isnan(base), np.isnan(end), base == 0],
        [f"no budget reported for {plan.base_year}", f"no budget reported for {plan.end_year}",
         f"zero budget in {plan.base_year}, so the change is undefined"],
        default="",
    )
    out["no_group_reason"] = reason
    _warn_ungrouped(out)
    return out.reset_index(drop=True)


def _warn_ungrouped(exposure: pd.DataFrame) -> None:
    """Log, for the data manager, which centres get no funding group and why (their mothers are then
    excluded at the sample step, and counted in the sample flow)."""
    ungrouped = exposure[exposure["no_group_reason"] != ""]
    for reason, centres in ungrouped.groupby("no_group_reason")["centre_id"]:
        log.warning("centre_funding.csv, column 'budget_gbp': %d centre(s) have %s (%s): they have no "
                    "funding group, and their mothers are excluded from the models (counted in "
                    "sample_flow.csv)", len(centres), reason, first_few(sorted(centres)))
