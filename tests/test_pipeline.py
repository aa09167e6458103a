"""The whole workflow, run by Snakemake on tiny data kept outside the working copy (restricted-data style)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import models
from analysis.disclosure import (
    DisclosureRule,
    check_tables,
    count_columns,
    protect_table,
    text_violations,
    visible_text,
)
from analysis.simulate import MARKER_FILE, PRESETS, simulate, write
from tests import corpus_cases
from tests.browser import load_page
from tests.summary_check import check_summary
from tests.workflow import PRINT_PDF, chromium_env, run_workflow, snakemake

pytestmark = pytest.mark.slow


def published_tables(workdir: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p) for p in sorted((workdir / "results/tables").glob("*.csv"))}


def test_all_documented_outputs_exist(synthetic_run):
    for path in ["results/data/analysis.parquet", "results/data/centre_exposure.csv",
                 "results/tables/primary.csv", "results/tables/primary.md", "results/tables/primary.tex",
                 "results/tables/sample_flow.csv", "results/tables/cleaning_log.csv",
                 "results/report/report.html", "results/figures/budget_change.png",
                 "results/tables/primary_ols_cr2.csv", "results/tables/ghq_caseness.csv",
                 "results/tables/secondary_family.csv", "results/tables/difference_in_differences.csv",
                 "results/tables/multiple_imputation.csv", "results/tables/inverse_probability_weighting.csv",
                 "results/tables/effect_size.csv", "results/tables/leave_one_la_out.csv",
                 "results/tables/specification_curve.csv", "results/figures/forest.png",
                 "results/figures/dose_response.png", "results/figures/specification_curve.png",
                 "results/figures/distress_by_wave.png", "results/figures/sample_flow.png",
                 "results/tables/funding_groups.csv", "results/tables/distress_by_wave.csv",
                 "results/report/appendix.md", "results/report/appendix.html", "results/report/appendix.tex",
                 "results/report/report.pdf", "results/manifest.json", "results/provenance.json",
                 "results/disclosure_check.json", "results/tables/scenarios.csv",
                 "results/figures/scenarios.png",
                 "results/report/brief.html", "results/report/brief.pdf", "results/tables/power_planner.csv",
                 "results/figures/power_planner.png", "results/tables/serious_distress.csv",
                 "results/tables/specification_joint_test.csv",
                 "results/tables/baseline_characteristics.csv", "results/tables/covariate_balance.csv",
                 "results/tables/missing_patterns.csv", "results/figures/covariate_balance.png"]:
        assert (synthetic_run / path).stat().st_size > 0, path


def test_the_scenario_shapes_the_specification_curve(synthetic_run):
    curve = pd.read_csv(synthetic_run / "results/tables/specification_curve.csv")
    # tiny_fast: 1 threshold x 1 window x 1 estimator x 2 covariate sets x 2 scores, 2 contrasts each
    assert curve["specification"].nunique() == 4 and len(curve) == 8


def test_the_joint_test_of_the_curve_is_published_and_reported(synthetic_run):
    joint = pd.read_csv(synthetic_run / "results/tables/specification_joint_test.csv")
    curve = pd.read_csv(synthetic_run / "results/data/tables/specification_curve.csv")
    headline = curve[(curve["contrast"] == joint["contrast"].iloc[0]) & curve["estimate"].notna()]
    assert len(joint) == 3 and (joint["resamples"] == 99).all()  # the scenario's resamples
    assert joint["p_value"].between(1 / 100, 1).all()
    assert (joint["specifications_estimable"] == len(headline)).all()
    median = joint.set_index("statistic").loc["median estimate", "observed"]
    assert median == pytest.approx(headline["estimate"].median(), abs=1e-3)  # the published fits' median
    check_tables([synthetic_run / "results/tables/specification_joint_test.csv"], DisclosureRule(10, 5))
    html = (synthetic_run / "results/report/report.html").read_text()
    assert "99 resamples of whole local authorities" in html and f"seed {joint['seed'].iloc[0]}" in html


def test_primary_table_is_consistent_with_the_analysis_data(synthetic_run):
    table = pd.read_csv(synthetic_run / "results/data/tables/primary.csv")  # exact counts (restricted)
    analysis = pd.read_parquet(synthetic_run / "results/data/analysis.parquet")
    flow = pd.read_csv(synthetic_run / "results/data/tables/sample_flow.csv")
    assert list(table["contrast"]) == ["growing vs cut", "stable vs cut"]
    assert (table["n_mothers"] == len(analysis)).all()
    assert (table["n_centres"] == analysis["centre_id"].nunique()).all()
    assert (table["n_las"] == analysis["la_code"].nunique()).all()
    assert flow["n_mothers"].iloc[-1] == len(analysis)
    assert ((table["ci_lower"] < table["estimate"]) & (table["estimate"] < table["ci_upper"])).all()
    assert table["synthetic_data"].all()
    assert set(analysis["funding_group"]) == {"cut", "stable", "growing"}


def test_report_states_headline_direction_and_synthetic_banner(synthetic_run):
    html = (synthetic_run / "results/report/report.html").read_text()
    table = pd.read_csv(synthetic_run / "results/tables/primary.csv")
    assert html.count("SYNTHETIC DEMONSTRATION DATA") >= 2  # top and bottom of the page
    assert "Lower scores mean less distress, that is, better mental health" in html
    assert table["synthetic_data"].all()
    assert "data:image/png;base64" in html  # figures are embedded, the page stands alone
    notebook = json.loads((synthetic_run / "results/report/report.ipynb").read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    assert outputs and not [o for o in outputs if o["output_type"] == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"]  # no warnings printed in the report


def test_a_council_evaluating_its_own_centres_gets_what_its_data_support(tmp_path):
    """Real data (no synthetic marker) from one council: every centre in one local authority, none rural,
    and no centre's budget grew. The whole workflow runs and every output says what it could not do: no LA
    level, the rural covariate dropped, growing vs cut not estimable, the headline on stable vs cut, nothing
    left out one LA at a time, and no synthetic banner anywhere."""
    raw = tmp_path / "raw"
    write(simulate(PRESETS["tiny"]), raw)
    (raw / MARKER_FILE).unlink()
    corpus_cases.set_column(raw / "centres.csv", ["la_code"], "E10000020")
    corpus_cases.set_column(raw / "centres.csv", ["urban_rural"], "urban")
    corpus_cases.set_budget_change(raw / "centre_funding.csv", "2013-14", "2011-12", [0.8, 1.0])
    work = tmp_path / "work"
    result = run_workflow(work, raw)
    assert result.returncode == 0, result.stderr[-4000:]
    results = work / "results"
    html = (results / "report/report.html").read_text()
    assert "SYNTHETIC" not in html and "SYNTHETIC" not in (results / "tables/primary.md").read_text()
    assert not json.loads((results / "data/data_source.json").read_text())["synthetic"]

    primary = pd.read_csv(results / "tables/primary.csv").set_index("contrast")
    assert pd.isna(primary.loc["growing vs cut", "estimate"])
    assert primary.loc["growing vs cut", "note"] == models.not_estimable_note("growing")
    assert np.isfinite(primary.loc["stable vs cut", ["estimate", "ci_lower", "ci_upper", "df"]]).all()
    design_note = primary.loc["stable vs cut", "design_note"]
    assert "single local authority" in design_note and "'rural' is zero for every row" in design_note
    fit = json.loads((results / "models/primary_fit.json").read_text())
    assert fit["random_intercepts"] == ["inner"] and fit["design"]["local_authorities"] == 1
    assert fit["design"]["robust_se_cluster"] == "centre_id"
    assert "cluster-robust by centre" in pd.read_csv(results / "tables/primary_ols_cr2.csv")["se_method"][0]
    assert pd.read_csv(results / "data/tables/leave_one_la_out.csv").empty

    assert check_summary(html, published_tables(work)) >= 10
    for words in ("Mothers at stable centres scored", "in a single local authority",
                  "Mothers at growing centres could not be compared",
                  "compares centres of one council with each other", "What these data could support",
                  "is not possible: the data hold a single local authority",
                  "could not be tested as a whole: the data hold a single local authority"):
        assert words in html, words
    assert "single local authority" in (results / "report/appendix.md").read_text()
    forest = pd.read_csv(results / "tables/forest.csv")
    assert (forest["contrast"] == "stable vs cut").all() and forest["estimate"].notna().all()


def test_published_tables_obey_the_disclosure_rule_and_exact_ones_stay_restricted(synthetic_run):
    rule = DisclosureRule(suppress_below=10, round_to=5)
    published = sorted((synthetic_run / "results/tables").glob("*.csv"))
    check_tables(published, rule)  # raises, naming file, column and row, if any count is unsafe
    exact_dir = synthetic_run / "results/data/tables"
    changed = 0
    for path in published:
        exact = pd.read_csv(exact_dir / path.name)
        expected = protect_table(exact, rule)
        shown = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in count_columns(exact):
            assert list(shown[column]) == [("" if pd.isna(v) else str(v)) for v in expected[column]], column
            changed += int((shown[column] != exact[column].astype(str)).any())
    assert changed > 0  # the tiny data have counts that needed rounding or suppression
    flow = pd.read_csv(synthetic_run / "results/tables/sample_flow.csv", dtype=str)
    assert "<10" in set(flow["n_excluded"]) | set(flow["n_mothers"])


def test_baseline_tables_describe_the_cohort_and_the_report_quotes_them(synthetic_run):
    exact = synthetic_run / "results/data/tables"
    table_one = pd.read_csv(exact / "baseline_characteristics.csv").set_index("row_id")
    patterns = pd.read_csv(exact / "missing_patterns.csv").set_index("pattern")
    balance = pd.read_csv(exact / "covariate_balance.csv")
    analysis = pd.read_parquet(synthetic_run / "results/data/analysis.parquet")
    # The complete-case pattern is the primary sample; the cohort is the same in both tables.
    assert patterns.loc["complete", "n_mothers"] == len(analysis)
    assert patterns.loc["total", "n_mothers"] == table_one.loc["mothers", "n_all"]
    for group in ("growing", "stable", "cut"):
        assert table_one.loc["k6_w1", f"mean_{group}"] > 0
    weighted = balance[balance["weighting"] == "response weights"]
    assert weighted["smd"].notna().sum() > 10 and balance["synthetic_data"].all()
    analysed = balance[(balance["sample"] == "analysed sample") & (balance["weighting"] == "none")
                       & (balance["row_id"] == "child_female")]
    assert analysed["n_group"].sum() + analysed["n_reference"].iloc[0] == len(analysis)
    page = (synthetic_run / "results/report/report.html").read_text()
    assert "Who the mothers were at the start" in page
    assert check_summary(page, published_tables(synthetic_run), section="baseline") >= 15


def test_summary_numbers_equal_the_published_tables(synthetic_run):
    page = (synthetic_run / "results/report/report.html").read_text()
    assert check_summary(page, published_tables(synthetic_run)) >= 20


def test_scenario_section_and_brief_numbers_equal_the_published_scenario_table(synthetic_run):
    tables = published_tables(synthetic_run)
    report = (synthetic_run / "results/report/report.html").read_text()
    assert check_summary(report, tables, section="scenarios") >= 60
    brief = (synthetic_run / "results/report/brief.html").read_text()
    assert check_summary(brief, tables, section="brief") >= 40
    # The plan's halving is far outside the tiny data's range: marked in the section, the brief and the table.
    scenarios = tables["scenarios"]
    assert scenarios.loc[scenarios["scenario"] == "halve_budget", "extrapolation"].all()
    for page in (report, brief):
        assert "EXTRAPOLATION" in visible_text(page) and "Budgets in the data changed by between" in page


def test_brief_is_one_page_that_passes_the_disclosure_rule_and_renders_in_chromium(synthetic_run, tmp_path):
    html = synthetic_run / "results/report/brief.html"
    assert text_violations(visible_text(html.read_text()), DisclosureRule(10, 5), "brief.html") == []
    page = load_page(html, tmp_path / "brief.png")
    assert page.problems() == []
    assert len(page.images) == 1 and page.images[0].loaded and len(page.images[0].alt) > 40
    assert page.body_text.count("SYNTHETIC DEMONSTRATION DATA") == 2
    for heading in ("The question", "The answer, with its uncertainty", "What it cannot say",
                    "Where the numbers come from"):
        assert heading in page.body_text
    pdf = (synthetic_run / "results/report/brief.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # one page


def test_serious_distress_joins_the_holm_family_and_the_descriptives(synthetic_run):
    family = pd.read_csv(synthetic_run / "results/data/tables/secondary_family.csv")
    assert set(family["model"]) == {"ghq_likert", "ghq_caseness", "serious_distress"}
    tested = family[family["p_value"].notna()]
    assert len(tested) == len(family["p_holm"].dropna())  # every test of the family is Holm-adjusted
    by_wave = pd.read_csv(synthetic_run / "results/data/tables/distress_by_wave.csv")
    assert (by_wave["cut_off"] == 13).all() and by_wave["n_at_or_above_cut_off"].notna().all()


def test_report_renders_in_chromium_with_every_figure_and_no_console_errors(synthetic_run, tmp_path):
    page = load_page(synthetic_run / "results/report/report.html", tmp_path / "report.png")
    assert page.problems() == []
    assert len(page.images) == 9 and all(image.loaded for image in page.images)
    assert all(len(image.alt) > 40 for image in page.images)  # alt text describes each figure
    assert page.body_text.index("Summary") < page.body_text.index("Figures")  # summary comes first
    assert page.body_text.count("SYNTHETIC DEMONSTRATION DATA") == 2
    assert page.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.screenshot.stat().st_size > 50_000
    appendix = load_page(synthetic_run / "results/report/appendix.html", tmp_path / "appendix.png",
                         full_page=False)  # a long page: its first screen is enough
    assert appendix.problems() == [] and "Model specifications" in appendix.body_text
    # power planner, scenarios and the love plot
    assert len(appendix.images) == 3 and all(image.loaded for image in appendix.images)
    pdf = (synthetic_run / "results/report/report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")


def test_every_output_cites_the_provenance_and_the_manifest_records_the_run(synthetic_run, synthetic_raw):
    record = json.loads((synthetic_run / "results/provenance.json").read_text())
    stamp = record["provenance_hash"][:12]
    tables = synthetic_run / "results/tables"
    for path in [*tables.glob("*.md"), *tables.glob("*.tex"), synthetic_run / "results/report/report.html",
                 synthetic_run / "results/report/appendix.md"]:
        assert stamp in path.read_text(), path
    manifest = json.loads((synthetic_run / "results/manifest.json").read_text())
    for item in manifest["raw_inputs"].values():
        assert item["sha256"] == hashlib.sha256((synthetic_raw / item["file"]).read_bytes()).hexdigest()
    assert manifest["provenance_hash"] == record["provenance_hash"]
    assert manifest["seeds"]["multiple_imputation.seed"] == 20120401
    assert manifest["started"] <= manifest["finished"] and manifest["started"].endswith("Z")
    assert manifest["git"] == {"commit": None, "dirty": None}  # the test's copy is not a repository
    assert "raw_dir" not in manifest["config"] and str(synthetic_raw) not in json.dumps(manifest)
    report = synthetic_run / "results/report/report.html"
    digest = hashlib.sha256(report.read_bytes()).hexdigest()
    assert manifest["outputs"]["results/report/report.html"] == digest
    assert manifest["packages"]["pandas"] == pd.__version__


def test_republishing_reproduces_every_table_byte_for_byte(synthetic_run, synthetic_raw, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(synthetic_run, work, symlinks=True)
    tables = sorted((work / "results/tables").iterdir())
    before = {p.name: p.read_bytes() for p in tables}
    targets = [str(p.relative_to(work)) for p in tables]
    result = snakemake(work, synthetic_raw, *targets, "--forcerun", "provenance")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rule publish_tables" in result.stderr  # the tables really were written again
    assert {p.name: p.read_bytes() for p in sorted((work / "results/tables").iterdir())} == before


def test_report_archive_captions_every_deliverable_and_leaves_out_row_level_data(synthetic_run,
                                                                                synthetic_raw, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(synthetic_run, work, symlinks=True)
    result = snakemake(work, synthetic_raw, "--report", "results/report.zip", config=PRINT_PDF)  # as the run
    assert result.returncode == 0, result.stderr[-3000:]
    results = work / "results"
    published = [p for folder in ("tables", "figures", "report") for p in (results / folder).iterdir()]
    deliverables = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in published}
    deliverables.update({hashlib.sha256((work / "results" / name).read_bytes()).hexdigest(): name
                         for name in ("manifest.json", "provenance.json", "disclosure_check.json")})
    with zipfile.ZipFile(work / "results/report.zip") as archive:
        names = archive.namelist()
        files = [n for n in names if "/data/raw/" in n]  # the archived outputs themselves
        text = " ".join(archive.read(n).decode("utf-8", "replace") for n in names if n.endswith(".html"))
        digests = {n: hashlib.sha256(archive.read(n)).hexdigest() for n in files}
    # Every archived file is a published deliverable, byte for byte; nothing from results/data/.
    assert files and all(digest in deliverables for digest in digests.values())
    for deliverable in ["report.html", "report.pdf", "brief.pdf", "appendix.tex", "primary.csv",
                        "primary.tex", "forest.png", "distress_by_wave.png", "manifest.json",
                        "disclosure_check.json"]:
        assert any(n.endswith("/" + deliverable) for n in files), deliverable
    assert "Provenance and disclosure" in text and "Academic appendix" in text


def test_the_report_archive_is_the_same_whether_chromium_is_installed_or_not(synthetic_run, synthetic_raw,
                                                                          tmp_path):
    """The results of a run without the PDF (the default), as a machine without Chromium leaves them, archived
    with snakemake --report before and after Chromium is installed: both archives are made, with the same
    files and no PDF (the archive once failed with "report.pdf marked for report but does not exist" as soon
    as a browser appeared)."""
    work = tmp_path / "copy"
    shutil.copytree(synthetic_run, work, symlinks=True)
    for pdf in (work / "results/report").glob("*.pdf"):
        pdf.unlink()
    archived = {}
    for installed in (False, True):
        env = chromium_env(tmp_path / "path", installed=installed)
        archive = work / f"results/report_{'with' if installed else 'without'}_chromium.zip"
        result = snakemake(work, synthetic_raw, "--report", str(archive.relative_to(work)), env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        with zipfile.ZipFile(archive) as opened:
            archived[installed] = sorted(Path(n).name for n in opened.namelist() if "/data/raw/" in n)
    assert archived[False] == archived[True]
    assert "report.html" in archived[True] and not [n for n in archived[True] if n.endswith(".pdf")]
