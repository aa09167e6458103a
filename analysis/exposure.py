"""Exposure: each unit's real-terms budget change over the exposure window, and its funding group.

The unit is the centre (exposure.level: centre, from centre budgets) or the local authority (exposure.level:
la, from its spend on children's centres, e.g. section 251 line 3.0.1); a mother's exposure is that of her
baseline-wave centre, or of her baseline-wave local authority.
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


# Each exposure level: the key of its unit, the funding file and its amount column.
UNIT_KEY = {"centre": "centre_id", "la": "la_code"}
UNIT_WORD = {"centre": "centre", "la": "local authority"}
FUNDING_FILE = {"centre": ("centre_funding.csv", "budget_gbp"), "la": ("la_funding.csv", "spend_gbp")}


@dataclass(frozen=True)
class ExposurePlan:
    base_year: str
    end_year: str
    cut_threshold_pct: float
    growth_threshold_pct: float
    level: str = "centre"  # centre | la: whose budget change is a mother's exposure

    @classmethod
    def from_config(cls, exposure: dict) -> ExposurePlan:
        return cls(
            base_year=exposure["base_year"],
            end_year=exposure["end_year"],
            cut_threshold_pct=float(exposure["cut_threshold_pct"]),
            growth_threshold_pct=float(exposure["growth_threshold_pct"]),
            level=exposure.get("level", "centre"),
        )


def window_words(exposure: dict) -> str:
    """The plan's exposure window as a reader sees it, e.g. '2010-11 to 2013-14'."""
    return f"{exposure['base_year']} to {exposure['end_year']}"


def read_exposure(path) -> pd.DataFrame:
    """The exposure table as written: identifiers stay text (a GIAS URN such as 20001 is an identifier, and
    must still match the survey's centre), and the group is a string."""
    return pd.read_csv(path, dtype={"centre_id": str, "la_code": str, "funding_group": "string"})


def exposure_level(exposure: pd.DataFrame) -> str:
    """The level of an exposure table: la when it is keyed by local authority (it has no centre_id)."""
    return "centre" if "centre_id" in exposure.columns else "la"


def real_budgets(funding: pd.DataFrame, deflators: pd.DataFrame, amount: str = "budget_gbp") -> pd.DataFrame:
    """Add real_budget_gbp (nominal `amount` / deflator x 100) to each funding row."""
    index = deflators.set_index("financial_year")["gdp_deflator"].astype(float)
    funding = funding.copy()
    funding["real_budget_gbp"] = funding[amount].astype(float) / funding["financial_year"].map(index) * 100
    return funding


def classify(change_pct: pd.Series, plan: ExposurePlan) -> pd.Series:
    """Funding group of each change; missing change gives a missing group."""
    group = np.select(
        [change_pct <= plan.cut_threshold_pct, change_pct >= plan.growth_threshold_pct],
        ["cut", "growing"],
        default="stable",
    )
    return pd.Series(group, index=change_pct.index, dtype="string").where(change_pct.notna())


def exposure_table(
    centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame, plan: ExposurePlan
) -> pd.DataFrame:
    """The exposure of every unit at the plan's level: exposure_by_centre or exposure_by_la."""
    if plan.level == "la":
        return exposure_by_la(centres, funding, deflators, plan)
    return exposure_by_centre(centres, funding, deflators, plan)


def exposure_by_la(
    centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame, plan: ExposurePlan
) -> pd.DataFrame:
    """One row per local authority in la_funding.csv or centres.csv: real children's-centre spend in the
    window's two years, change, group, and why none. Names come from centres.csv where it has them."""
    codes = pd.Index(sorted(set(funding["la_code"]) | set(centres["la_code"].dropna())), name="la_code")
    names = centres.drop_duplicates("la_code").set_index("la_code")["la_name"]
    out = pd.DataFrame({"la_code": codes, "la_name": names.reindex(codes).fillna("").to_numpy()})
    return _add_change(out, "la", funding, deflators, plan)


def exposure_by_centre(
    centres: pd.DataFrame, funding: pd.DataFrame, deflators: pd.DataFrame, plan: ExposurePlan
) -> pd.DataFrame:
    """One row per centre: real budgets in the window's two years, change, group, and why none."""
    out = centres[["centre_id", "la_code", "la_name", "idaci_decile", "urban_rural"]].copy()
    return _add_change(out, "centre", funding, deflators, plan)


def _add_change(out: pd.DataFrame, level: str, funding: pd.DataFrame, deflators: pd.DataFrame,
                plan: ExposurePlan) -> pd.DataFrame:
    """`out` (one row per unit of `level`) with the real budgets of the window's two years, the change, the
    group and why there is none."""
    key = UNIT_KEY[level]
    known_years = set(deflators["financial_year"])
    missing = [y for y in (plan.base_year, plan.end_year) if y not in known_years]
    if missing:
        raise RawDataError([Problem("deflators.csv", "financial_year",
                                    f"no deflator for the exposure window year(s) {', '.join(missing)}")])
    file, amount = FUNDING_FILE[level]
    real = real_budgets(funding, deflators, amount)
    wide = real.pivot(index=key, columns="financial_year", values="real_budget_gbp")
    base = wide.get(plan.base_year, pd.Series(dtype=float)).reindex(out[key]).to_numpy()
    end = wide.get(plan.end_year, pd.Series(dtype=float)).reindex(out[key]).to_numpy()
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
    _warn_ungrouped(out, level)
    return out.reset_index(drop=True)


def _warn_ungrouped(exposure: pd.DataFrame, level: str) -> None:
    """Log, for the data manager, which units get no funding group and why (their mothers are then
    excluded at the sample step, and counted in the sample flow)."""
    file, amount = FUNDING_FILE[level]
    units = "centre(s)" if level == "centre" else "local authorities"
    ungrouped = exposure[exposure["no_group_reason"] != ""]
    for reason, members in ungrouped.groupby("no_group_reason")[UNIT_KEY[level]]:
        log.warning("%s, column '%s': %d %s have %s (%s): they have no funding group, and their mothers "
                    "are excluded from the models (counted in sample_flow.csv)", file, amount, len(members),
                    units, reason, first_few(sorted(members)))
