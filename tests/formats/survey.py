"""Writers of survey files in the layouts their distributors publish, made from a contract-shaped survey frame
(the columns of survey.csv), for the importer's tests and the end-to-end tests.

- write_mcs: Millennium Cohort Study sweeps as Stata files, one set per sweep (mcsN_parent_interview.dta,
  mcsN_hhgrid.dta), with the variable names, codes and value labels of the distributed files (sources in
  data/import/README.md); the centre or local authority goes in a geography file mcsN_geography.dta,
  which is not distributed (see the mapping's documentation).
- write_ukhls: Understanding Society waves as w_indresp in SPSS (.sav) and/or tab-delimited (.tab) form, with
  the per-wave sample file w_sample.csv that the shipped mapping joins (pidp and centre or local authority).
- write_wide_csv: a local survey in one wide CSV (one row per mother, variables per wave), read by the
  test mapping tests/fixtures/import/survey/csv/local_survey_mapping.yaml.

The values are the frame's; only what the layout needs is added: a partner for every mother (father, partner
interview), cohort members in the household grid, non-mother respondents in Understanding Society. Contract
missing codes are written as the distributor's: blank as system-missing (MCS) or -9 "missing" (UKHLS).

python -m tests.formats.survey regenerates the committed fixtures in tests/fixtures/import/survey/.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "survey"

K6_ITEMS = [f"k6_{i}" for i in range(1, 7)]
GHQ_ITEMS = [f"ghq_{c}" for c in "abcdefghijkl"]
# MCS stores the K6 items in this order; each name's contract item (Kessler's order).
MCS_K6 = {"PPHDE00": "k6_4", "PPHHO00": "k6_2", "PPHRF00": "k6_3", "PPHEE00": "k6_5", "PPHWO00": "k6_6",
          "PPHNE00": "k6_1"}
MCS_K6_LABELS = {-9: "Refusal", -8: "Don't know", -1: "Not applicable", 1: "All of the time",
                 2: "Most of the time", 3: "Some of the time", 4: "A little of the time",
                 5: "None of the time", 6: "Can't say"}
MCS_ELIG_LABELS = {-1: "Not applicable", 1: "Main Interview", 2: "Partner Interview",
                   3: "Proxy partner interview"}
MCS_CREL_LABELS = {-9: "Refusal", -8: "Dont Know", -1: "Not applicable", 7: "Natural parent",
                   10: "Step-parent/partner of parent", 96: "Self"}
MCS_SEX_LABELS = {-1: "Not applicable", 1: "Male", 2: "Female"}
UKHLS_GHQ_LABELS = {-9: "missing", -8: "inapplicable", -7: "proxy", -2: "refusal", -1: "don't know",
                    1: "Better than usual", 2: "Same as usual", 3: "Less than usual",
                    4: "Much less than usual"}
# Contract missing code -> Understanding Society's code of the same meaning; a blank cell is -9 "missing".
UKHLS_MISSING = {-9: -2, -8: -1, -1: -8}
# Contract missing code -> the local survey's code (7 not asked, 8 don't know, 9 refused).
LOCAL_MISSING = {-1: 7, -8: 8, -9: 9}
PIDP_BASE = 68_000_001  # pidps are large whole numbers (the public-release cross-wave person identifier)


@dataclass
class Written:
    """The files a writer made, and the mother_id the importer will give each contract mother_id."""

    files: list[Path] = field(default_factory=list)
    mother_ids: dict[str, str] = field(default_factory=dict)


def _code(value) -> float:
    """A contract cell as a number (blank: NaN)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    text = str(value).strip()
    return float(text) if text else np.nan


def _geography_columns(frame: pd.DataFrame, geography_column) -> list[str]:
    if geography_column is None:
        has_la = "la_code" in frame.columns and frame["la_code"].astype(str).str.strip().ne("").all()
        return ["la_code"] if has_la else ["centre_id"]
    return [geography_column] if isinstance(geography_column, str) else list(geography_column)


def write_mcs(survey_frame: pd.DataFrame, folder, sweeps: dict[int, str] | None = None,
              geography_column: str | list[str] | None = None) -> Written:
    """Per-sweep MCS Stata files from a contract survey frame: MCSID is the contract mother_id, the mother is
    person 1 (main interview, natural parent, female) and her partner person 2 (partner interview, natural
    parent, male, K6 all "Some of the time"); the cohort member is person 100 in the household grid.
    geography_column: the contract column(s) carried in mcsN_geography.dta (default la_code when every row
    has one, else centre_id). The importer's mother_id is MCSID_1."""
    sweeps = sweeps or {1: "B", 2: "C", 3: "D"}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = survey_frame.reset_index(drop=True)
    geography = _geography_columns(frame, geography_column)
    written = Written(mother_ids={str(m): f"{m}_1" for m in frame["mother_id"]})
    for wave, letter in sorted(sweeps.items()):
        rows = frame[frame["wave"].astype(str).str.strip().astype(float) == wave]
        number = ord(letter) - ord("A") + 1
        ids = rows["mother_id"].astype(str).tolist()
        interview = pd.DataFrame({"MCSID": [i for i in ids for _ in (1, 2)],
                                  f"{letter}PNUM00": [1.0, 2.0] * len(ids),
                                  f"{letter}ELIG00": [1.0, 2.0] * len(ids)})
        for suffix, item in MCS_K6.items():
            mother = [_code(v) for v in rows[item]]
            interview[f"{letter}{suffix}"] = [v for m in mother for v in (m, 3.0)]
        grid = pd.DataFrame({"MCSID": [i for i in ids for _ in range(3)],
                             f"{letter}PNUM00": [1.0, 2.0, 100.0] * len(ids),
                             f"{letter}ELIG00": [1.0, 2.0, -1.0] * len(ids),
                             f"{letter}HCREL00": [7.0, 7.0, 96.0] * len(ids),
                             f"{letter}HPSEX00": [2.0, 1.0, -1.0] * len(ids)})
        place = pd.DataFrame({"MCSID": ids, **{c: rows[c].astype(str).tolist() for c in geography}})
        k6_labels = {f"{letter}{suffix}": MCS_K6_LABELS for suffix in MCS_K6}
        files = {
            f"mcs{number}_parent_interview.dta": (interview,
                                                  {**k6_labels, f"{letter}ELIG00": MCS_ELIG_LABELS}),
            f"mcs{number}_hhgrid.dta": (grid, {f"{letter}ELIG00": MCS_ELIG_LABELS,
                                               f"{letter}HCREL00": MCS_CREL_LABELS,
                                               f"{letter}HPSEX00": MCS_SEX_LABELS}),
            f"mcs{number}_geography.dta": (place, {}),
        }
        for name, (table, labels) in files.items():
            path = folder / name
            pyreadstat.write_dta(table, str(path), variable_value_labels=labels or None)
            written.files.append(path)
    return written


def _ukhls_ghq(value) -> float:
    code = _code(value)
    if np.isnan(code):
        return -9.0
    return float(UKHLS_MISSING.get(int(code), int(code)))


def write_ukhls(survey_frame: pd.DataFrame, folder, waves: dict[int, str] | None = None,
                geography_column: str | list[str] | None = None, formats=("sav",)) -> Written:
    """Understanding Society w_indresp files (one per wave and format: "sav" and/or "tab") and the per-wave
    sample file w_sample.csv. Each mother gets a pidp (in the sorted order of her mother_id); each household
    also holds a respondent who is not a mother (GHQ all 2), whom the sample file does not list. The
    importer's mother_id is the pidp."""
    waves = waves or {1: "a", 2: "b", 3: "c"}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame = survey_frame.reset_index(drop=True)
    geography = _geography_columns(frame, geography_column)
    mothers = sorted(frame["mother_id"].astype(str).unique())
    pidp = {mother: PIDP_BASE + 4 * index for index, mother in enumerate(mothers)}
    written = Written(mother_ids={m: str(p) for m, p in pidp.items()})
    for wave, letter in sorted(waves.items()):
        rows = frame[frame["wave"].astype(str).str.strip().astype(float) == wave]
        prefix = f"{letter}_"
        people = [pidp[str(m)] for m in rows["mother_id"]]
        table = pd.DataFrame({"pidp": [float(p + k) for p in people for k in (0, 2)],
                              f"{prefix}hidp": [float(1_000_000 + p // 4) for p in people for _ in (0, 2)]})
        for item in GHQ_ITEMS:
            mother = [_ukhls_ghq(v) for v in rows[item]]
            table[f"{prefix}scghq{item[-1]}"] = [v for m in mother for v in (m, 2.0)]
        for kind in formats:
            path = folder / f"{prefix}indresp.{kind}"
            if kind == "sav":
                labels = {f"{prefix}scghq{item[-1]}": UKHLS_GHQ_LABELS for item in GHQ_ITEMS}
                pyreadstat.write_sav(table, str(path), variable_value_labels=labels)
            elif kind == "tab":
                table.astype("int64").to_csv(path, sep="\t", index=False)
            else:
                raise ValueError(f"unknown format {kind!r}: sav or tab")
            written.files.append(path)
        sample = pd.DataFrame({"pidp": [str(p) for p in people], **{c: rows[c].astype(str).tolist()
                                                                       for c in geography}})
        path = folder / f"{prefix}sample.csv"
        sample.to_csv(path, index=False)
        written.files.append(path)
    return written


def write_wide_csv(survey_frame: pd.DataFrame, path) -> Written:
    """One CSV row per mother with the K6 of each wave as W{wave}_NERVOUS .. W{wave}_WORTHLESS, coded the
    other way round (0 = none of the time .. 4 = all of the time; 7 not asked, 8 don't know, 9 refused),
    a family and person column
    for the id, and the centre; a wave the mother missed is blank."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = ["NERVOUS", "HOPELESS", "RESTLESS", "DEPRESSED", "EFFORT", "WORTHLESS"]
    frame = survey_frame.reset_index(drop=True)
    records = []
    for mother, rows in frame.groupby(frame["mother_id"].astype(str), sort=True):
        record = {"FAMILY": mother, "PERSON": "1", "CENTRE": str(rows["centre_id"].iloc[0])}
        for _, row in rows.iterrows():
            wave = int(float(row["wave"]))
            record[f"W{wave}_SEEN"] = "1"
            for name, item in zip(names, K6_ITEMS, strict=True):
                code = _code(row[item])
                local = "" if np.isnan(code) else str(int(LOCAL_MISSING.get(code, 5 - code)))
                record[f"W{wave}_{name}"] = local
        records.append(record)
    columns = ["FAMILY", "PERSON", "CENTRE"] + [f"W{w}_{n}" for w in (1, 2, 3) for n in ["SEEN", *names]]
    pd.DataFrame(records).reindex(columns=columns).fillna("").to_csv(path, index=False)
    return Written(files=[path], mother_ids={m: f"{m}-1" for m in frame["mother_id"].astype(str)})


def fixture_frame() -> pd.DataFrame:
    """The synthetic contract frame behind the committed fixtures: four mothers, three waves, every K6 and
    GHQ-12 answer and missing code represented; mother M0004 misses wave 3."""
    rng = np.random.default_rng(20240611)
    rows = []
    centres = {"M0001": ("CC0001", "E09000001"), "M0002": ("CC0002", "E08000003"),
               "M0003": ("CC0001", "E09000001"), "M0004": ("CC0003", "E06000004")}
    for mother, (centre, la_code) in centres.items():
        for wave in (1, 2, 3):
            if mother == "M0004" and wave == 3:
                continue
            row = {"mother_id": mother, "wave": str(wave), "centre_id": centre, "la_code": la_code}
            row.update({item: str(rng.integers(1, 6)) for item in K6_ITEMS})
            row.update({item: str(rng.integers(1, 5)) for item in GHQ_ITEMS})
            rows.append(row)
    frame = pd.DataFrame(rows)
    # Missing codes and blanks, where a test can find them.
    for row, code in enumerate(("-9", "-8", "-1", "")):
        frame.loc[row, K6_ITEMS[row]] = code
        frame.loc[row, GHQ_ITEMS[row]] = code
    return frame


def write_fixtures(folder=FIXTURES) -> dict[str, Written]:
    """Every committed survey fixture (except SOURCE.md and the CSV case's mapping), written afresh."""
    folder = Path(folder)
    frame = fixture_frame()
    made = {
        "mcs": write_mcs(frame, folder / "mcs"),
        "ukhls_sav": write_ukhls(frame, folder / "ukhls_sav", formats=("sav",), geography_column="centre_id"),
        "ukhls_tab": write_ukhls(frame, folder / "ukhls_tab", formats=("tab",),
                                 geography_column=["centre_id", "la_code"]),
        "csv": write_wide_csv(frame, folder / "csv" / "local_survey.csv"),
    }
    frame.to_csv(folder / "contract_frame.csv", index=False)
    return made


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else FIXTURES
    for sub in ("mcs", "ukhls_sav", "ukhls_tab"):
        shutil.rmtree(target / sub, ignore_errors=True)
    write_fixtures(target)
