"""The tiny synthetic dataset written as its publishers would give it, for the end-to-end import tests.

Centres as a GIAS extract (with an Indices of Deprivation file for the IDACI deciles), local-authority spend
as DfE's section 251 EES CSV (each LA's spend is the sum of its centres' budgets, tests/la_data.py),
deflators as HM Treasury's release workbook, and the survey as an ECCE-style study's Stata files read
through tests/fixtures/import/e2e/study_survey_mapping.yaml. Imported, they must give the same cleaned data
as the contract files they were made from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

from analysis.cleaning import clean_all
from analysis.contract import K6_ITEMS
from tests.formats.gias import write_gias_csv
from tests.formats.hmt import write_hmt_deflators
from tests.formats.s251 import write_s251_ees_csv
from tests.la_data import la_spend

MAPPING = Path(__file__).resolve().parent / "fixtures" / "import" / "e2e" / "study_survey_mapping.yaml"
GIAS_FILE = "edubaseallchildrencentre20250422.csv"
IOD_FILE = "File_3_IoD2019_Supplementary_Indices_IDACI_and_IDAOPI.csv"
IDACI = "Income Deprivation Affecting Children Index (IDACI) Decile (where 1 is most deprived 10% of LSOAs)"
S251_FILE = "s251_childrens_young_peoples_services_la_regional_national.csv"
HMT_FILE = "GDP_Deflators_Qtrly_National_Accounts_March_2024_update.xlsx"
VINTAGE = "March 2024"
STUDY_NAMES = {"interview_date": "INTDATE", "centre_id": "CENTRE", "la_code": "LACODE",
               **dict(zip(K6_ITEMS, ["NERVOUS", "HOPELESS", "RESTLESS", "DEPRESSED", "EFFORT", "WORTHLESS"],
                          strict=True)),
               **{f"ghq_{c}": name for c, name in zip("abcdefghijkl", [
                   "GHQCONC", "GHQSLEEP", "GHQUSEFUL", "GHQDECIDE", "GHQSTRAIN", "GHQOVERCOME", "GHQENJOY",
                   "GHQFACE", "GHQUNHAPPY", "GHQCONFID", "GHQWORTH", "GHQHAPPY"], strict=True)},
               "mother_age": "MUMAGE", "mother_education": "MUMEDUC", "ethnicity": "ETHNIC",
               "lone_parent": "LONEPAR", "income_band": "INCOME", "workless": "WORKLESS",
               "child_sex": "KIDSEX", "child_age_months": "KIDAGE", "centre_visits_month": "VISITS"}
# The study's own K6 codes: 0 = none of the time .. 4 = all of the time (the contract's 5 .. 1), and its
# codes for don't know, refused and not asked.
STUDY_K6 = {5: 0, 4: 1, 3: 2, 2: 3, 1: 4, -8: 96, -9: 97, -1: 98}


def write_published(raw_dir: Path, out: Path, level: str) -> dict:
    """Write the dataset in raw_dir in its publishers' layouts into `out`; return the plan's sources block.
    level "la": spend from s251 and a survey naming local authorities; "centre": the contract's centre
    budgets and a survey naming centres."""
    out.mkdir(parents=True, exist_ok=True)
    data = clean_all(raw_dir)
    centres = data.centres.drop(columns="source_row").copy()
    urn = urns(centres["centre_id"])
    centres["centre_id"] = centres["centre_id"].map(urn)
    centres["lsoa"] = [f"E0100{i:04d}" for i in range(len(centres))]
    write_gias_csv(centres, out / GIAS_FILE)
    pd.DataFrame({"LSOA code (2011)": centres["lsoa"], "LSOA name (2011)": centres["centre_name"],
                  IDACI: centres["idaci_decile"]}).to_csv(out / IOD_FILE, index=False)
    write_hmt_deflators(data.deflators.drop(columns="source_row"), out / HMT_FILE, VINTAGE)
    # A distributed file has one record per mother and wave: the contract file's exact duplicates (which the
    # cleaning drops and counts) are not written.
    survey = pd.read_csv(raw_dir / "survey.csv", dtype=str, keep_default_na=False).drop_duplicates()
    survey["centre_id"] = survey["centre_id"].str.upper().map(urn)
    sources = {
        "centres": {"format": "gias", "path": GIAS_FILE, "idaci_path": IOD_FILE},
        "deflators": {"format": "hmt_gdp_deflators", "path": HMT_FILE},
        "survey": {"format": "mapped", "mapping": MAPPING.name,
                   "paths": [f"study_wave{wave}.dta" for wave in (1, 2, 3)]},
    }
    shutil.copy(MAPPING, out / MAPPING.name)
    if level == "la":
        write_s251_ees_csv(la_spend(raw_dir), out / S251_FILE)
        sources["funding"] = {"format": "dfe_s251", "path": S251_FILE}
        survey["la_code"] = survey["centre_id"].map(centres.set_index("centre_id")["la_code"])
        survey["centre_id"] = ""
    else:
        funding = pd.read_csv(raw_dir / "centre_funding.csv", dtype=str, keep_default_na=False)
        funding["centre_id"] = funding["centre_id"].str.upper().map(urn)
        funding.to_csv(out / "centre_funding.csv", index=False)
        survey["la_code"] = ""
    write_study_survey(survey, out)
    if (raw_dir / "SYNTHETIC_DATA.json").exists():
        shutil.copy(raw_dir / "SYNTHETIC_DATA.json", out / "SYNTHETIC_DATA.json")
    return sources


def urns(centre_ids: pd.Series) -> dict[str, str]:
    """GIAS identifies a centre by its URN, a whole number: the synthetic centre CC0007 becomes 20007."""
    return {centre: str(20000 + int(centre[2:])) for centre in centre_ids}


def write_study_survey(survey: pd.DataFrame, out: Path) -> None:
    """One Stata file per wave, the study's names and K6 codes; blank cells are Stata's system missing."""
    for wave, rows in survey.groupby("wave"):
        study = pd.DataFrame({"FAMID": rows["mother_id"], "PNUM": 1})
        for column, name in STUDY_NAMES.items():
            values = rows[column]
            if column in ("interview_date", "centre_id", "la_code"):
                study[name] = values.fillna("")
                continue
            numbers = pd.to_numeric(values.replace("", np.nan))
            study[name] = numbers.map(STUDY_K6) if column in K6_ITEMS else numbers
        pyreadstat.write_dta(study.reset_index(drop=True), str(out / f"study_wave{wave}.dta"))
