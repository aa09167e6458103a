"""LA-level exposure (exposure.level: la): a mother's exposure is her local authority's real-terms change in
children's-centre spend, from la_funding.csv; the survey may name local authorities instead of centres."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest

from analysis.cleaning import clean_all
from analysis.design import ModelSpec, cluster_design
from analysis.errors import DesignError, PlanError, RawDataError
from analysis.exposure import ExposurePlan, exposure_by_la, exposure_table
from analysis.importers.sources import check_sources
from analysis.models import fit_model
from analysis.primary import primary_frame
from analysis.report import summary_html
from analysis.sample import NO_CENTRE
from analysis.sensitivity import leave_one_out
from tests.la_data import la_spend, to_la_level
from tests.summary_check import check_summary
from tests.test_report import published


def la_plan(plan: dict, *, centre_covariates: bool = True) -> dict:
    plan = copy.deepcopy(plan)
    plan["exposure"]["level"] = "la"
    if not centre_covariates:
        for entry in plan["models"].values():
            entry["covariates"] = [c for c in entry["covariates"] if c not in ("idaci_decile", "rural")]
    return plan


@pytest.fixture(scope="module")
def la_with_centres(tiny_raw_master, tmp_path_factory):
    return to_la_level(tiny_raw_master, tmp_path_factory.mktemp("la_centres"))


@pytest.fixture(scope="module")
def la_only(tiny_raw_master, tmp_path_factory):
    return to_la_level(tiny_raw_master, tmp_path_factory.mktemp("la_only"), survey_names="la")


def test_la_change_matches_an_independent_computation(tiny_raw_master, la_with_centres, plan):
    data = clean_all(la_with_centres, "la")
    exposure_plan = ExposurePlan.from_config({**plan["exposure"], "level": "la"})
    table = exposure_by_la(data.centres, data.funding, data.deflators, exposure_plan).set_index("la_code")
    # Independently: sum the centres' nominal budgets per LA and year, deflate, compare the two years.
    spend = la_spend(tiny_raw_master).pivot(index="la_code", columns="financial_year", values="spend_gbp")
    index = data.deflators.set_index("financial_year")["gdp_deflator"].astype(float)
    base, end = exposure_plan.base_year, exposure_plan.end_year
    expected = 100 * ((spend[end] / index[end]) / (spend[base] / index[base]) - 1)
    np.testing.assert_allclose(table.loc[expected.index, "budget_change_pct"], expected, rtol=1e-12)
    assert set(table["funding_group"].dropna()) <= {"cut", "stable", "growing"}
    same = exposure_table(data.centres, data.funding, data.deflators, exposure_plan)
    assert same.equals(table.reset_index())


def test_survey_records_take_their_centres_local_authority(la_with_centres):
    data = clean_all(la_with_centres, "la")
    centre_la = data.survey["centre_id"].map(data.centres.set_index("centre_id")["la_code"])
    assert data.survey["la_code"].tolist() == centre_la.tolist()
    assert data.survey["idaci_decile"].notna().all()


def test_a_survey_may_name_local_authorities_without_a_centre_register(la_only):
    data = clean_all(la_only, "la")
    assert data.survey["la_code"].notna().all() and data.survey["centre_id"].isna().all()
    assert data.centres.empty


def test_la_level_refusals(la_with_centres, la_only, tmp_path):
    # A survey naming centres with no register to place them.
    named = tmp_path / "named"
    named.mkdir()
    for name in ("la_funding.csv", "deflators.csv", "survey.csv"):
        (named / name).write_bytes((la_with_centres / name).read_bytes())
    with pytest.raises(RawDataError, match="names centres, but there is no centres.csv"):
        clean_all(named, "la")
    # A record whose la_code is not its centre's local authority, and one with neither.
    survey = pd.read_csv(la_with_centres / "survey.csv", dtype=str, keep_default_na=False)
    survey["la_code"] = ""
    survey.loc[0, "la_code"] = "E06000999"
    survey.loc[1, "centre_id"] = ""
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("la_funding.csv", "deflators.csv", "centres.csv"):
        (broken / name).write_bytes((la_with_centres / name).read_bytes())
    survey.to_csv(broken / "survey.csv", index=False)
    with pytest.raises(RawDataError) as err:
        clean_all(broken, "la")
    message = str(err.value)
    assert "survey.csv, column 'la_code', row 2: is not the local authority of the record's centre" in message
    assert "survey.csv, column 'la_code', row 3: is blank and the record names no centre" in message
    # At centre level the survey's centre_id stays required.
    with pytest.raises(RawDataError, match="centre_funding.csv: not found"):
        clean_all(la_only)


def test_every_mother_gets_her_local_authoritys_group(la_with_centres, plan):
    frame, flow = primary_frame(la_with_centres, la_plan(plan))
    data = clean_all(la_with_centres, "la")
    table = exposure_by_la(data.centres, data.funding, data.deflators,
                           ExposurePlan.from_config({**plan["exposure"], "level": "la"})).set_index("la_code")
    assert frame["funding_group"].astype(str).equals(frame["la_code"].map(table["funding_group"]).astype(str))
    assert "wave-1 local authority has a funding group" in set(flow["description"])


def test_without_centres_the_model_has_one_level_the_local_authority(la_only, plan):
    with pytest.raises(DesignError, match="'idaci_decile' is a characteristic of the mother's centre"):
        primary_frame(la_only, la_plan(plan))
    la = la_plan(plan, centre_covariates=False)
    frame, _ = primary_frame(la_only, la)
    assert frame["centre_id"].str.startswith(NO_CENTRE).all()
    spec = ModelSpec.from_config("primary", la["models"]["primary"])
    clusters = cluster_design(frame, spec.clusters)
    assert clusters.outer is None and clusters.robust == "la_code"
    assert clusters.n_outer == clusters.n_inner == frame["la_code"].nunique() > 1
    fit = fit_model(frame, spec, la["mixed_model_fit"])
    assert any("one level" in note for note in fit.notes)
    assert fit.diagnostics["design"]["local_authorities"] == frame["la_code"].nunique()
    # Leave-one-out still leaves out each local authority (refitted from the rows).
    rows = leave_one_out(frame, spec, la["mixed_model_fit"])
    assert set(rows["left_out"]) == set(frame["la_code"])


def test_formats_that_give_la_spend_need_the_la_level(plan):
    config = copy.deepcopy(plan)
    config["sources"] = {"funding": {"format": "dfe_s251", "path": "s251.csv"}}
    with pytest.raises(PlanError, match="set exposure.level to la"):
        check_sources(config)
    config["exposure"]["level"] = "la"
    check_sources(config)
    config["sources"]["funding"]["path"] = "../elsewhere/s251.csv"
    with pytest.raises(PlanError, match="must be a file name inside raw_dir"):
        check_sources(config)
    config["sources"] = {"survey": {"format": "gias", "path": "x.csv"}}
    with pytest.raises(PlanError, match="is not a format of survey"):
        check_sources(config)


def test_the_summary_says_the_local_authorities_are_the_effective_sample():
    """At LA level the wild cluster bootstrap interval leads however many local authorities there are, and
    the summary says why; every number is still a table cell."""
    tables = published()
    tables["primary_ols_cr2"] = tables["primary_ols_cr2"].assign(wcr_ci_lower=[-1.6, -0.9],
                                                                 wcr_ci_upper=[-0.2, 0.3])
    page = summary_html(tables, design={"local_authorities": 25}, exposure_level="la")
    assert check_summary(page, tables) >= 15
    assert "effective sample size" in page
    assert "local authorities whose children's-centre spending grew" in page
    assert "funding groups are whole local authorities" in page and 'data-column="wcr_ci_upper"' in page
    at_centres = summary_html(tables, design={"local_authorities": 25})
    assert "effective sample" not in at_centres and "carries the weight" not in at_centres


@pytest.mark.parametrize("entry, words", [
    ({"format": "contract", "path": "survey_v2.csv"}, "format contract reads survey.csv in raw_dir"),
    ({"format": "mapped", "mapping": "mcs_parent_interview", "path": "a.dta", "paths": ["b.dta"]},
     "give `path` or `paths`, not both"),
    ({"format": "mapped", "mapping": "/elsewhere/m.yaml", "path": "a.dta"},
     "must be a file name inside raw_dir"),
    ({"format": "mapped", "path": "a.dta"}, "format 'mapped' needs `mapping`"),
])
def test_a_survey_source_the_pipeline_would_not_read_as_written_is_refused(plan, entry, words):
    config = copy.deepcopy(plan)
    config["sources"] = {"survey": entry}
    with pytest.raises(PlanError, match=re.escape(words)):
        check_sources(config)


@pytest.mark.parametrize("source, entry, words", [
    ("centres", {"format": "gias", "paths": ["a.csv", "b.csv"]}, "format gias reads one file, not 2"),
    ("centres", {"format": "gias", "path": "a.csv", "idaci_path": "../iod.csv"},
     "must be a file name inside"),
    ("centres", {"format": "gias", "path": "a.csv", "open_during": ["2014-15", "2011-12"]},
     "open_during: 2014-15 is after 2011-12"),
    ("deflators", {"format": "hmt_gdp_deflators", "path": "d.xlsx", "vintage": "2024-03"},
     "is not a release month written like March 2024"),
    ("deflators", {"format": "hmt_gdp_deflators", "path": "d.xlsx", "line": "3.0.1"},
     "line is not a setting of format 'hmt_gdp_deflators'"),
])
def test_published_sources_with_settings_that_cannot_be_read_are_refused(plan, source, entry, words):
    config = copy.deepcopy(plan)
    config["sources"] = {source: entry}
    with pytest.raises(PlanError, match=re.escape(words)):
        check_sources(config)


def test_survey_authorities_without_spend_are_named(la_with_centres, tmp_path, caplog):
    funding = pd.read_csv(la_with_centres / "la_funding.csv", dtype=str, keep_default_na=False)
    dropped = sorted(funding["la_code"].unique())[0]
    variant = tmp_path / "variant"
    variant.mkdir()
    for name in ("centres.csv", "deflators.csv", "survey.csv"):
        (variant / name).write_bytes((la_with_centres / name).read_bytes())
    funding[funding["la_code"] != dropped].to_csv(variant / "la_funding.csv", index=False)
    with caplog.at_level("WARNING"):
        clean_all(variant, "la")
    assert f"not in la_funding.csv ({dropped})" in caplog.text
