"""The import stage end to end: the tiny synthetic dataset written as its publishers give it (GIAS, DfE s251,
HM Treasury, a study's Stata files through a mapping) must clean to the same data as the contract files it
was made from, and run through the whole pipeline at LA level and at centre level."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis import contract
from analysis.cleaning import CleaningLog, clean_all, parse_file, read_raw
from analysis.design import ModelSpec
from analysis.errors import RawDataError
from analysis.importers.sources import contract_file, read_source, write_imported
from analysis.models import fit_model
from analysis.plan import merge_plan
from analysis.primary import primary_frame
from tests.conftest import ROOT
from tests.la_data import to_la_level
from tests.published_data import VINTAGE, urns, write_published
from tests.workflow import SCENARIO, run_workflow

LEVELS = ("centre", "la")
CENTRE_COVARIATES = ("idaci_decile", "rural")


def published_plan(plan: dict, sources: dict, level: str) -> dict:
    """The test scenario's plan reading the published files. At LA level the survey names local authorities,
    not centres, so the models have no centre covariates (the run would stop, saying so)."""
    run_plan = merge_plan(copy.deepcopy(plan), yaml.safe_load(SCENARIO.read_text()))
    run_plan.update(sources=sources)
    run_plan["exposure"]["level"] = level
    if level == "la":
        for entry in run_plan["models"].values():
            entry["covariates"] = [c for c in entry["covariates"] if c not in CENTRE_COVARIATES]
        sets = run_plan["specification_curve"]["covariate_sets"]
        sets["full"] = [c for c in sets["full"] if c not in CENTRE_COVARIATES]
    return run_plan


def import_all(raw_dir, out, level):
    """Write the published files, run every importer, and return the contract paths the cleaning reads."""
    sources = write_published(raw_dir, out, level)
    paths = {}
    for source, entry in sources.items():
        name = contract_file(source, level)
        target = out / "imported" / name
        write_imported(read_source(source, entry, out), name, target, out / "imported" / f"{source}_log.csv",
                       out / "imported" / f"{source}.json", source, entry)
        paths[name] = target
    return sources, paths


def comparable(data, urn=None):
    """The cleaned frames without row numbers, centres named as in the contract data."""
    survey = data.survey.drop(columns="source_row")
    centres = data.centres.drop(columns="source_row", errors="ignore")
    if urn is not None:
        back = {v: k for k, v in urn.items()}
        survey["centre_id"] = survey["centre_id"].map(back).fillna(survey["centre_id"])
        centres["centre_id"] = centres["centre_id"].map(back)
    survey["mother_id"] = survey["mother_id"].str.removesuffix("-1")
    return survey.sort_values(["mother_id", "wave"]).reset_index(drop=True), centres


@pytest.mark.parametrize("level", LEVELS)
def test_published_files_clean_to_the_contract_data(tiny_raw_master, tmp_path, level):
    contract = tiny_raw_master if level == "centre" else to_la_level(tiny_raw_master, tmp_path / "contract",
                                                                        survey_names="la")
    expected = clean_all(contract, level)
    _, paths = import_all(tiny_raw_master, tmp_path / "published", level)
    imported = clean_all(tmp_path / "published", level, paths)
    urn = urns(clean_all(tiny_raw_master).centres["centre_id"])
    survey, centres = comparable(imported, urn)
    want_survey, want_centres = comparable(expected)
    columns = [c for c in want_survey.columns if c != "centre_id" or level == "centre"]
    pd.testing.assert_frame_equal(survey[columns], want_survey[columns], check_dtype=False)
    if level == "centre":
        pd.testing.assert_frame_equal(centres.drop(columns="phase").sort_values("centre_id").reset_index(drop=True),
                                      want_centres.drop(columns="phase").sort_values("centre_id")
                                      .reset_index(drop=True), check_dtype=False)
        assert imported.centres["phase"].isna().all()  # GIAS does not publish it
    funding_key = ["la_code" if level == "la" else "centre_id", "financial_year"]
    amount = "spend_gbp" if level == "la" else "budget_gbp"
    got = imported.funding.drop(columns="source_row").sort_values(funding_key).reset_index(drop=True)
    want = expected.funding.drop(columns="source_row")
    if level == "centre":
        want["centre_id"] = want["centre_id"].map(urn)
    want = want.sort_values(funding_key).reset_index(drop=True)
    np.testing.assert_allclose(got[amount].astype(float), want[amount].astype(float), rtol=1e-12)
    np.testing.assert_allclose(imported.deflators["gdp_deflator"], expected.deflators["gdp_deflator"],
                               rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS)
def test_the_whole_pipeline_runs_from_published_files(tiny_raw_master, tmp_path, level, plan):
    raw = tmp_path / "published"
    sources = write_published(tiny_raw_master, raw, level)
    work = tmp_path / "work"
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(json.dumps(published_plan(plan, sources, level)))  # JSON is YAML
    result = run_workflow(work, raw, scenario=False, config=(f"plan_file={plan_file}",))
    assert result.returncode == 0, result.stderr[-4000:]
    results = work / "results"
    for path in ("report/report.html", "report/appendix.html", "tables/primary.csv", "manifest.json"):
        assert (results / path).is_file(), path

    # The imports are recorded: file names and vintage in provenance, their rules in the cleaning log.
    record = json.loads((results / "provenance.json").read_text())
    assert record["imports"]["deflators"]["vintage"] == VINTAGE
    assert set(record["imports"]) == set(sources)
    assert all(str(raw) not in json.dumps(record) for raw in (raw, tmp_path))
    log = pd.read_csv(results / "data/tables/cleaning_log.csv")
    assert log["file"].str.startswith("study_wave").any() and log["file"].str.startswith("edubase").any()

    # The primary estimate is the one the contract data give at the same level.
    contract = tiny_raw_master if level == "centre" else to_la_level(tiny_raw_master, tmp_path / "contract",
                                                                        survey_names="la")
    run_plan = published_plan(plan, sources, level)
    entry = {**run_plan["models"]["primary"], "exposure_level": level}
    frame, _ = primary_frame(contract, run_plan)
    expected = fit_model(frame, ModelSpec.from_config("primary", entry), plan["mixed_model_fit"])
    table = pd.read_csv(results / "data/tables/primary.csv").set_index("contrast")
    coefficients = expected.coefficients.set_index("term")
    for group in ("growing", "stable"):
        np.testing.assert_allclose(table.loc[f"{group} vs cut", "estimate"],
                                   coefficients.loc[f"funding_group[T.{group}]", "estimate"], rtol=1e-6)

    html = (results / "report/report.html").read_text()
    if level == "la":
        assert "effective sample size" in html
        assert "local authorities whose children's-centre spending" in table.iloc[0]["estimand"]
    else:
        assert "effective sample size" not in html and "at growing centres" in table.iloc[0]["estimand"]


def test_a_contract_problem_in_an_imported_file_names_the_published_file(tiny_raw_master, tmp_path):
    """The deflators workbook holds an index the contract refuses (a 60% jump): the message names the
    workbook the data manager downloaded, beside the contract file the import stage wrote."""
    from analysis.stages.clean import clean_raw_data
    sources, paths = import_all(tiny_raw_master, tmp_path / "published", "centre")
    imported = paths["deflators.csv"]
    frame = pd.read_csv(imported, dtype=str)
    frame.loc[frame.index[-1], "gdp_deflator"] = "170"
    frame.to_csv(imported, index=False)
    out = tmp_path / "out"
    with pytest.raises(RawDataError) as err:
        clean_raw_data(str(tmp_path / "published"), "centre", {k: str(v) for k, v in paths.items()}, [],
                       *(str(out / name) for name in ("c.parquet", "f.parquet", "d.parquet", "s.parquet",
                                                      "log.csv", "source.json")),
                       imported_from={"deflators.csv": [sources["deflators"]["path"]]})
    workbook = sources["deflators"]["path"]
    assert f"deflators.csv (imported from {workbook}), column 'gdp_deflator'" in str(err.value)


FIXTURES = ROOT / "tests" / "fixtures" / "import"
SURVEY = FIXTURES / "survey"
HMT = "GDP_Deflators_Qtrly_National_Accounts_March_2024_update"
FIXTURE_SOURCES = {  # every committed fixture, read as a plan's sources entry would name it
    "s251 EES CSV": ("funding", FIXTURES / "s251", {
        "format": "dfe_s251", "path": "s251_childrens_young_peoples_services_la_regional_national.csv"}),
    "s251 workbooks": ("funding", FIXTURES / "s251", {
        "format": "dfe_s251", "paths": ["s251_2012-13.xlsx", "s251_2013-14.xlsx"]}),
    "GIAS with IoD": ("centres", FIXTURES / "gias", {
        "format": "gias", "path": "edubasealldata20250422.csv",
        "idaci_path": "File_3_IoD2019_Supplementary_Indices_IDACI_and_IDAOPI.csv"}),
    "HMT workbook": ("deflators", FIXTURES / "hmt", {"format": "hmt_gdp_deflators", "path": f"{HMT}.xlsx"}),
    "HMT CSV": ("deflators", FIXTURES / "hmt", {"format": "hmt_gdp_deflators", "path": f"{HMT}.csv",
                                                "vintage": "March 2024"}),
    "MCS Stata": ("survey", SURVEY / "mcs", {
        "format": "mapped", "mapping": "mcs_parent_interview",
        "paths": sorted(p.name for p in (SURVEY / "mcs").glob("*.dta"))}),
    "USoc SPSS": ("survey", SURVEY / "ukhls_sav", {
        "format": "mapped", "mapping": "understanding_society_ghq",
        "paths": sorted(p.name for p in (SURVEY / "ukhls_sav").iterdir())}),
    "USoc tab": ("survey", SURVEY / "ukhls_tab", {
        "format": "mapped", "mapping": "understanding_society_ghq",
        "paths": sorted(p.name for p in (SURVEY / "ukhls_tab").iterdir())}),
}


@pytest.mark.parametrize("fixture", sorted(FIXTURE_SOURCES))
def test_every_fixture_imports_to_a_file_the_contract_reads(fixture, tmp_path):
    """Each published-layout fixture, through its importer, gives a contract file the cleaning's own
    reader accepts without a single problem (the LA-level survey contract for surveys naming LAs)."""
    source, folder, entry = FIXTURE_SOURCES[fixture]
    level = "la" if source == "funding" or fixture.startswith(("MCS", "USoc")) else "centre"
    name = contract_file(source, level)
    write_imported(read_source(source, entry, folder), name, tmp_path / name, tmp_path / "log.csv",
                   tmp_path / "provenance.json", source, entry)
    spec = next(spec for spec in contract.raw_files(level) if spec.name == name)
    log = CleaningLog()
    parsed = parse_file(read_raw(tmp_path / name, spec, log), spec, log)
    assert len(parsed) > 0
    assert json.loads((tmp_path / "provenance.json").read_text())["format"] == entry["format"]
