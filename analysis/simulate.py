"""Seeded simulator of synthetic raw data in the exact raw-data contract, with known true effects.

The data are SYNTHETIC. No row describes a real centre, local authority or family; the local-authority codes
have the right format but are drawn at random, and the names are invented.

Data-generating process (all on the K6 distress scale, 0-24, higher = more distress):
  latent distress eta[i, w] = mu(covariates of mother i at wave 1) + a[LA] + c[centre] + u[i] + e[i, w]
                              + effect[group of i's wave-1 centre] x (0, 1/2, 1)[w]
  each K6 item's distress (0-4) ~ Binomial(4, eta / 24), so E[K6 score] = eta.
Funding groups come from local-authority budget policy, which depends on deprivation (a measured
confounder, IDACI decile); random effects and mother-level noise are independent of funding, so the
covariate-adjusted contrast at wave 3 equals `effect`. Wave-3 non-response depends on wave-1 distress
(missing at random given a covariate in the model).

Command line: python -m analysis.simulate OUT_DIR [--preset demo|tiny|large|national] [--seed N]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.contract import GHQ_ITEMS, K6_ITEMS, SURVEY

MARKER_FILE = "SYNTHETIC_DATA.json"

YEARS = ("2010-11", "2011-12", "2012-13", "2013-14", "2014-15")
# Invented GDP-deflator path (index 2011-12 = 100); close in shape to the real one, but not the real one.
DEFLATORS = (98.4, 100.0, 101.6, 103.5, 105.2)
LA_PREFIXES = (
    "Amber", "Brack", "Corr", "Dunn", "Elder", "Fallow", "Gorse", "Heron", "Ingle", "Juniper", "Kestrel",
    "Lark", "Mallow", "Nettle", "Osier", "Plover", "Quill", "Rowan", "Sedge", "Teasel", "Umber", "Vetch",
    "Willow", "Yarrow", "Zephyr",
)
LA_SUFFIXES = ("mere", "holt", "combe", "wold", "shaw", "garth", "lade", "rigg")
STREETS = ("Meadow", "Orchard", "Riverside", "Station", "Church", "Mill", "Park", "Bridge", "Hill", "Green")


@dataclass(frozen=True)
class Settings:
    seed: int = 20120401
    n_las: int = 25
    n_centres: int = 120
    n_mothers: int = 2600
    # True effects on wave-3 K6 (points), relative to mothers at cut centres.
    effect_growing: float = -1.0
    effect_stable: float = -0.4
    # Standard deviations of the latent-distress components (K6 points).
    sd_la: float = 0.5
    sd_centre: float = 0.4
    sd_mother: float = 1.6
    sd_occasion: float = 1.0
    # Local-authority real-terms budget policy, percent change 2011-12 -> 2013-14.
    la_change_mean: float = 0.0
    la_change_sd: float = 9.0
    centre_change_sd: float = 5.0
    # Messiness of the delivered files.
    wave2_nonresponse: float = 0.12
    wave3_nonresponse: float = 0.20
    item_nonresponse: float = 0.015
    covariate_nonresponse: float = 0.01
    budget_not_reported: float = 0.02
    centre_movers: float = 0.03
    exact_duplicates: int = 6
    messy_formats: bool = True


PRESETS = {
    "demo": Settings(),
    "tiny": Settings(seed=7, n_las=8, n_centres=24, n_mothers=320, exact_duplicates=2),
    "large": Settings(seed=11, n_las=60, n_centres=360, n_mothers=12000),
    # England at its peak had about 3,600 centres in about 150 local authorities (benchmarks/national.py).
    "national": Settings(seed=2010, n_las=150, n_centres=3500, n_mothers=1_000_000),
}

COEFFICIENTS = {  # effects of wave-1 characteristics on latent distress (K6 points)
    "intercept": 7.5,
    "mother_age_per_year_over_30": -0.03,
    "mother_education": {1: 0.0, 2: -0.4, 3: -0.8, 4: -1.2},
    "white_british": -0.3,
    "lone_parent": 1.2,
    "income_band_per_band_over_3": -0.35,
    "workless": 0.8,
    "idaci_decile_per_decile_over_5.5": -0.12,
    "rural": -0.2,
}


def _la_names(rng: np.random.Generator, n: int) -> list[str]:
    pairs = [p + s for p in LA_PREFIXES for s in LA_SUFFIXES]
    return [str(x) for x in rng.choice(pairs, size=n, replace=False)]


def _la_codes(rng: np.random.Generator, n: int) -> list[str]:
    prefixes = rng.choice(["E06", "E08", "E09", "E10"], size=n)
    numbers = rng.choice(np.arange(1, 1000), size=n, replace=False)
    return [f"{p}000{k:03d}" for p, k in zip(prefixes, numbers, strict=True)]


def simulate_centres(rng: np.random.Generator, s: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Local authorities (with policy and random effect) and centres (with random effect)."""
    las = pd.DataFrame({"la_code": _la_codes(rng, s.n_las), "la_name": _la_names(rng, s.n_las)})
    las["deprivation"] = rng.uniform(1.5, 9.5, s.n_las)  # mean IDACI decile of the LA's centres
    # More deprived LAs (low decile) cut harder: confounding through a measured covariate.
    las["policy_change_pct"] = (s.la_change_mean + 1.2 * (las["deprivation"] - 5.5)
                                + rng.normal(0, s.la_change_sd, s.n_las))
    las["effect_la"] = rng.normal(0, s.sd_la, s.n_las)

    # Every LA gets at least two centres; the rest are spread at random.
    extra = rng.choice(s.n_las, size=s.n_centres - 2 * s.n_las)
    la_index = np.sort(np.concatenate([np.repeat(np.arange(s.n_las), 2), extra]))
    la = las.iloc[la_index].reset_index(drop=True)
    n = s.n_centres
    centres = pd.DataFrame({
        "centre_id": [f"CC{i + 1:04d}" for i in range(n)],
        "centre_name": [f"{name} {rng.choice(STREETS)} Children's Centre" for name in la["la_name"]],
        "la_code": la["la_code"],
        "la_name": la["la_name"],
        "phase": rng.choice([1, 2, 3], size=n, p=[0.4, 0.35, 0.25]),
        "idaci_decile": np.clip(np.round(la["deprivation"] + rng.normal(0, 1.5, n)), 1, 10).astype(int),
        "urban_rural": np.where(rng.random(n) < 0.22, "rural", "urban"),
    })
    centres["change_pct"] = la["policy_change_pct"].to_numpy() + rng.normal(0, s.centre_change_sd, n)
    centres["effect_centre"] = rng.normal(0, s.sd_centre, n)
    centres["effect_la"] = la["effect_la"].to_numpy()
    centres["size"] = rng.gamma(4.0, 1.0, n)
    return las, centres


def simulate_funding(rng: np.random.Generator, centres: pd.DataFrame, s: Settings) -> pd.DataFrame:
    """Nominal budgets per centre and year, following each centre's real-terms change."""
    base_real = rng.lognormal(np.log(350_000), 0.35, len(centres))
    rows = []
    for t, (year, deflator) in enumerate(zip(YEARS, DEFLATORS, strict=True)):
        # Linear real-terms path through the 2011-12 base; the 2011-12 -> 2013-14 change is change_pct.
        step = (t - 1) / 2
        real = base_real * (1 + centres["change_pct"].to_numpy() / 100 * step)
        nominal = np.round(np.maximum(real, 0) * deflator / 100)
        for centre, amount, services in zip(centres["centre_id"], nominal,
                                            rng.integers(5, 31, len(centres)), strict=True):
            rows.append({"centre_id": centre, "financial_year": year, "budget_gbp": float(amount),
                         "services_offered": int(services)})
    return pd.DataFrame(rows)


def _distress_mean(mothers: pd.DataFrame) -> np.ndarray:
    c = COEFFICIENTS
    return (
        c["intercept"]
        + c["mother_age_per_year_over_30"] * (mothers["mother_age"] - 30)
        + mothers["mother_education"].map(c["mother_education"])
        + c["white_british"] * (mothers["ethnicity"] == 1)
        + c["lone_parent"] * mothers["lone_parent"]
        + c["income_band_per_band_over_3"] * (mothers["income_band"] - 3)
        + c["workless"] * mothers["workless"]
        + c["idaci_decile_per_decile_over_5.5"] * (mothers["idaci_decile"] - 5.5)
        + c["rural"] * (mothers["urban_rural"] == "rural")
    ).to_numpy(float)


def funding_groups(change_pct: pd.Series) -> pd.Series:
    """The default plan's groups (+-5%), used to give each centre its true effect."""
    return pd.Series(np.select([change_pct <= -5, change_pct >= 5], ["cut", "growing"], "stable"),
                     index=change_pct.index)


def simulate_mothers(rng: np.random.Generator, centres: pd.DataFrame, s: Settings) -> pd.DataFrame:
    """Wave-1 characteristics and latent distress components of each mother."""
    n = s.n_mothers
    centre = rng.choice(len(centres), size=n, p=centres["size"] / centres["size"].sum())
    at = centres.iloc[centre].reset_index(drop=True)
    deprived = (10 - at["idaci_decile"].to_numpy()) / 9  # 1 = most deprived
    mothers = pd.DataFrame({
        "mother_id": [f"M{i + 1:05d}" for i in range(n)],
        "centre_id": at["centre_id"],
        "la_code": at["la_code"],
        "idaci_decile": at["idaci_decile"],
        "urban_rural": at["urban_rural"],
        "mother_age": np.clip(np.round(rng.normal(30, 5.5, n)), 16, 48).astype(int),
        "mother_education": 1 + np.minimum(3, rng.binomial(3, 0.75 - 0.35 * deprived)),
        "ethnicity": rng.choice(np.arange(1, 7), size=n, p=[0.72, 0.06, 0.1, 0.05, 0.04, 0.03]),
        "lone_parent": (rng.random(n) < 0.12 + 0.2 * deprived).astype(int),
        "income_band": 1 + rng.binomial(4, 0.65 - 0.4 * deprived),
        "workless": (rng.random(n) < 0.08 + 0.25 * deprived).astype(int),
        "child_sex": rng.choice([1, 2], size=n),
        "child_age_months": np.clip(np.round(rng.normal(12, 1.5, n)), 8, 18).astype(int),
    })
    group = funding_groups(at["change_pct"])
    effect = {"cut": 0.0, "stable": s.effect_stable, "growing": s.effect_growing}
    mothers["true_effect"] = group.map(effect).to_numpy()
    mothers["mu"] = _distress_mean(mothers) + at["effect_la"].to_numpy() + at["effect_centre"].to_numpy()
    mothers["u"] = rng.normal(0, s.sd_mother, n)
    return mothers


def _items(rng: np.random.Generator, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K6 responses (1-5, 5 = none of the time) and GHQ-12 responses (1-4) for latent distress eta."""
    p_k6 = np.clip(eta / 24, 0.001, 0.999)
    k6 = 5 - rng.binomial(4, p_k6[:, None], size=(len(eta), len(K6_ITEMS)))
    p_ghq = np.clip(0.05 + 0.8 * eta / 24, 0.001, 0.999)
    ghq = 1 + rng.binomial(3, p_ghq[:, None], size=(len(eta), len(GHQ_ITEMS)))
    return k6, ghq


def simulate_survey(rng: np.random.Generator, mothers: pd.DataFrame, centres: pd.DataFrame,
                    s: Settings) -> pd.DataFrame:
    """Three waves of interviews with non-response, item missingness and movers."""
    n = len(mothers)
    start = np.datetime64("2012-03-01") + rng.integers(0, 300, n).astype("timedelta64[D]")
    waves = []
    k6_w1 = None
    for wave, weight in ((1, 0.0), (2, 0.5), (3, 1.0)):
        eta = (mothers["mu"] + mothers["u"] + rng.normal(0, s.sd_occasion, n)
               + weight * mothers["true_effect"]).to_numpy()
        k6, ghq = _items(rng, eta)
        frame = mothers[["mother_id", "centre_id", "mother_age", "mother_education", "ethnicity",
                         "lone_parent", "income_band", "workless", "child_sex",
                         "child_age_months"]].copy()
        frame.insert(1, "wave", wave)
        days = start + np.round((wave - 1) * 365 + rng.normal(0, 20, n)).astype("timedelta64[D]")
        frame.insert(2, "interview_date", pd.to_datetime(days).strftime("%Y-%m-%d"))
        frame["mother_age"] = frame["mother_age"] + (wave - 1)
        frame["child_age_months"] = frame["child_age_months"] + 12 * (wave - 1)
        frame["centre_visits_month"] = rng.poisson(2.0, n)
        for j, item in enumerate(K6_ITEMS):
            frame[item] = k6[:, j]
        for j, item in enumerate(GHQ_ITEMS):
            frame[item] = ghq[:, j]
        if wave == 1:
            k6_w1 = (5 - k6).sum(axis=1)
            responds = np.ones(n, bool)
        elif wave == 2:
            responds = rng.random(n) >= s.wave2_nonresponse
        else:
            # More distressed mothers drop out more often (missing at random given wave-1 K6).
            logit = np.log(s.wave3_nonresponse / (1 - s.wave3_nonresponse)) + 0.08 * (k6_w1 - 7)
            responds = rng.random(n) >= 1 / (1 + np.exp(-logit))
        if wave > 1:
            movers = rng.random(n) < s.centre_movers
            same_la = centres.groupby("la_code")["centre_id"].apply(list)
            frame.loc[movers, "centre_id"] = [
                str(rng.choice(same_la[la])) for la in mothers.loc[movers, "la_code"]
            ]
        waves.append(frame.loc[responds])
    survey = pd.concat(waves).sort_values(["mother_id", "wave"]).reset_index(drop=True)
    return survey


def _make_messy(rng: np.random.Generator, survey: pd.DataFrame, funding: pd.DataFrame,
                s: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn clean values into delivered text: missing codes, money strings, mixed formats."""
    survey = survey.astype({c: object for c in survey.columns})
    n = len(survey)
    items = list(K6_ITEMS) + list(GHQ_ITEMS)
    for item in items:
        hit = rng.random(n) < s.item_nonresponse
        survey.loc[hit, item] = rng.choice([-9, -8], size=hit.sum())
    for column in ["mother_age", "mother_education", "ethnicity", "lone_parent", "income_band",
                   "workless", "child_age_months"]:
        hit = rng.random(n) < s.covariate_nonresponse
        survey.loc[hit, column] = rng.choice([-9, -8], size=hit.sum())
    not_asked = rng.random(n) < 0.03
    survey.loc[not_asked, "centre_visits_month"] = -1

    funding = funding.astype({"budget_gbp": object, "financial_year": object})
    amounts = funding["budget_gbp"].astype(float)
    missing = rng.random(len(funding)) < s.budget_not_reported
    if s.messy_formats:
        style = rng.choice(3, size=len(funding))
        text = np.where(style == 0, [f"£{a:,.0f}" for a in amounts],
                        np.where(style == 1, [f"{a:.2f}" for a in amounts], [f"{a:.0f}" for a in amounts]))
        funding["budget_gbp"] = np.where(missing, "", text)
        slash = rng.random(len(funding)) < 0.25
        funding.loc[slash, "financial_year"] = funding.loc[slash, "financial_year"].str.replace("-", "/")
        untidy = rng.random(n) < 0.02
        survey.loc[untidy, "mother_id"] = "  " + survey.loc[untidy, "mother_id"].str.lower()
    else:
        funding["budget_gbp"] = np.where(missing, "", [f"{a:.0f}" for a in amounts])

    if s.exact_duplicates:
        copies = survey.iloc[rng.choice(n, size=s.exact_duplicates, replace=False)]
        survey = pd.concat([survey, copies])
        survey = survey.iloc[rng.permutation(len(survey))].sort_values(["wave"], kind="stable")
    return survey, funding


def simulate(settings: Settings) -> dict[str, pd.DataFrame | dict]:
    """All four raw tables (as delivered) and the truth behind them."""
    rng = np.random.default_rng(settings.seed)
    _, centres = simulate_centres(rng, settings)
    funding = simulate_funding(rng, centres, settings)
    mothers = simulate_mothers(rng, centres, settings)
    survey = simulate_survey(rng, mothers, centres, settings)
    survey, funding = _make_messy(rng, survey, funding, settings)
    truth = {
        "note": "SYNTHETIC demonstration data made by analysis.simulate: not evidence about any real "
                "centre, local authority or family.",
        "estimand": "difference in mean wave-3 K6 (0-24, higher = more distress) between mothers at "
                    "growing (or stable) centres and mothers at cut centres, adjusted for wave-1 K6 "
                    "and covariates",
        "true_effects": {"growing vs cut": settings.effect_growing, "stable vs cut": settings.effect_stable},
        "coefficients": COEFFICIENTS,
        "settings": asdict(settings),
    }
    return {
        "centres.csv": centres[["centre_id", "centre_name", "la_code", "la_name", "phase",
                                "idaci_decile", "urban_rural"]],
        "centre_funding.csv": funding,
        "deflators.csv": pd.DataFrame({"financial_year": YEARS,
                                       "gdp_deflator": [f"{d:.1f}" for d in DEFLATORS]}),
        "survey.csv": survey[SURVEY.column_names],
        MARKER_FILE: truth,
    }


def write(tables: dict, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if isinstance(table, dict):
            (out_dir / name).write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
        else:
            table.to_csv(out_dir / name, index=False, lineterminator="\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    parser.add_argument("--seed", type=int, default=None, help="override the preset's seed")
    args = parser.parse_args(argv)
    settings = PRESETS[args.preset]
    if args.seed is not None:
        settings = replace(settings, seed=args.seed)
    write(simulate(settings), args.out_dir)


if __name__ == "__main__":
    main()
