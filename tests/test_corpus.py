"""The broken-input corpus (tests/corpus/cases.yaml), case by case: every case in the cleaning code (and, for
designs, the sample and models), and through Snakemake every warning and design case and at least one case
of each kind of raw-data fault (`workflow: true` in the corpus).

Every case must stop the run with a message naming the file, the column and the first rows (error), or
log its documented warning and go on (warning), or be accepted with the same cleaned data as the unchanged
dataset (accepted). An error in the raw data leaves nothing in results/ but logs; a design the models cannot
fit (stage models) leaves nothing published. No run writes the raw folder's path under
results/, and no run lets a raw control character (an escape sequence in an id) reach the terminal or a log.
"""

from __future__ import annotations

import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from analysis.cleaning import clean_all
from analysis.design import ModelSpec
from analysis.errors import DesignError, RawDataError
from analysis.exposure import ExposurePlan, exposure_by_centre
from analysis.models import fit_model
from analysis.primary import sample_covariates
from analysis.sample import build_primary_sample
from tests.corpus_cases import apply, build, expected_messages, load_cases
from tests.workflow import copy_project, files_under, snakemake

CASES = load_cases()
WORKFLOW_CASES = [case for case in CASES if case.through_snakemake]
CLEAN_FILES = ("centres", "funding", "deflators", "survey")  # results/data/clean/<name>.parquet
# What the rules reading only the configuration, the plan lock and the code (analysis_plan, plan_deviations,
# analysis_code) write.
CONFIGURATION_ONLY = ("data/analysis_plan.json", "data/tables/plan_deviations.csv",
                      "benchmarks/plan_deviations.tsv", "data/analysis_code.json")


def test_the_corpus_covers_every_kind_of_fault_the_contract_names():
    ids = {case.id for case in CASES}
    assert len(CASES) >= 25 and len(ids) == len(CASES)
    # One case per fault listed in the reliability issue, each from one change.
    for required in ["missing_column", "extra_unknown_column", "wrong_type", "negative_budget",
                     "non_numeric_budget", "malformed_financial_year", "out_of_range_item",
                     "unknown_centre_in_survey", "conflicting_duplicate", "duplicate_centre_in_register",
                     "empty_file", "header_only", "missing_file", "non_utf8_bytes", "byte_order_mark",
                     "windows_line_endings", "centre_without_budget_in_end_year", "deflator_year_missing",
                     "wave_outside_1_to_3", "mother_at_two_centres_at_wave_1", "unparseable_date",
                     "column_in_wrong_case", "quoted_fields", "extra_whitespace"]:
        assert required in ids, required
    assert all(case.messages for case in CASES if case.expect != "accepted" or case.id == "blank_lines")
    # Through Snakemake: every outcome and stage, and the faults whose handling differs in the workflow (a
    # missing file never reaches the cleaning code's reader; an escape sequence must not reach the terminal).
    through = {case.id for case in WORKFLOW_CASES}
    assert {(c.expect, c.stage) for c in CASES} == {(c.expect, c.stage) for c in WORKFLOW_CASES}
    assert {"missing_file", "non_utf8_bytes", "ansi_escape_in_a_mother_id", "nul_in_a_mother_id"} <= through
    # One case per class of value the cleaning rules read or refuse (data/raw/README.md, "Cleaning rules").
    for required in ["budget_with_a_decimal_comma", "budget_with_a_dot_between_thousands",
                     "budget_with_two_dots", "budget_in_arabic_indic_digits", "k6_item_in_full_width_digits",
                     "deflator_infinity", "deflator_nan", "deflator_1e308", "deflator_out_of_step",
                     "fractional_k6_item", "fractional_wave", "infinite_wave", "fractional_mother_education",
                     "infinite_idaci_decile", "fractional_services_offered", "age_in_scientific_notation",
                     "age_with_a_decimal_comma", "zero_width_space_in_mother_ids",
                     "no_break_space_around_a_centre_id", "nul_in_a_mother_id", "ansi_escape_in_a_mother_id",
                     "bom_inside_a_header_name", "mac_line_endings"]:
        assert required in ids, required


def test_the_corpus_can_be_written_out_for_inspection(tmp_path):
    build(tmp_path)
    for case in CASES:
        expected = (tmp_path / case.id / "EXPECTED.txt").read_text()
        assert f"expect: {case.expect}" in expected and case.description in expected
    assert not (tmp_path / "missing_file" / "centre_funding.csv").exists()
    assert (tmp_path / "empty_file" / "deflators.csv").stat().st_size == 0


def run_stages(case, raw_dir: Path, plan: dict):
    data = clean_all(raw_dir)
    if case.stage in ("exposure", "models"):
        exposure = exposure_by_centre(data.centres, data.funding, data.deflators,
                                      ExposurePlan.from_config(plan["exposure"]))
    if case.stage == "models":  # the primary sample and the models fitted on it
        frame, _ = build_primary_sample(data.survey, exposure, plan["primary_sample"],
                                        sample_covariates(plan))
        for name in ("primary", "primary_ols_cr2"):
            spec = ModelSpec.from_config(name, {**plan["models"][name], "bootstrap": {}})
            fit_model(frame, spec, plan["mixed_model_fit"])
    return data


def clean_frames(data) -> dict[str, pd.DataFrame]:
    return dict(zip(CLEAN_FILES, (data.centres, data.funding, data.deflators, data.survey), strict=True))


@pytest.fixture(scope="module")
def valid_clean(tiny_raw_master):
    return clean_frames(clean_all(tiny_raw_master))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_the_cleaning_code_reacts_as_the_corpus_says(case, tiny_raw, plan, valid_clean, caplog):
    context = apply(case, tiny_raw)
    caplog.set_level(logging.INFO)
    if case.expect == "error":
        # Bad raw data break the contract; a design the data cannot support is a DesignError.
        with pytest.raises(DesignError if case.stage == "models" else RawDataError) as err:
            run_stages(case, tiny_raw, plan)
        text = str(err.value)
        assert case.stage == "models" or text.startswith("The raw data break the contract")
    else:
        data = run_stages(case, tiny_raw, plan)
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        text = "\n".join(warned) if case.expect == "warning" else caplog.text
        if case.expect == "accepted":
            assert warned == []
            for name, frame in clean_frames(data).items():
                pd.testing.assert_frame_equal(frame.drop(columns="source_row"),
                                              valid_clean[name].drop(columns="source_row"), obj=name)
    for message in expected_messages(case, context):
        assert message in text, f"{message!r} not in:\n{text}"


# ---- through Snakemake ----------------------------------------------------------------------------------

@dataclass
class CorpusRun:
    returncode: int
    output: str  # Snakemake's stdout and stderr
    logs: str  # every log file the run wrote
    results: list[str]  # every file under results/
    workdir: Path
    naming_raw_dir: list[str]  # files under results/ whose bytes hold the raw folder's path


def run_case(case, raw_master: Path, base: Path) -> tuple[CorpusRun, dict]:
    raw = base / "raw"
    shutil.copytree(raw_master, raw)
    context = apply(case, raw) if case is not None else {}
    work = copy_project(base / "work")
    # An error in the raw data must stop the whole workflow; other cases need only the stages that must react.
    # A design the models cannot fit is asked of the model tables, whose message the corpus gives: in a whole
    # run another job (the difference-in-differences) may refuse the same design first, in its own words,
    # as the scheduler's order varies between runs.
    if case is not None and case.expect == "error" and case.stage != "models":
        target = ()
    elif case is not None and case.stage == "models":
        target = ("results/data/tables/primary.csv", "results/data/tables/primary_ols_cr2.csv")
    else:
        target = ("results/data/centre_exposure.csv",)
    result = snakemake(work, raw, *target, cores=1)
    logs = "\n".join(p.read_text() for p in sorted((work / "results/logs").rglob("*.log")))
    results = files_under(work / "results") if (work / "results").exists() else []
    naming = [f for f in results if str(raw).encode() in (work / "results" / f).read_bytes()]
    return CorpusRun(result.returncode, result.stdout + result.stderr, logs, results, work, naming), context


@pytest.fixture(scope="module")
def corpus_runs(tiny_raw_master, tmp_path_factory):
    """Every workflow case (and the unchanged dataset, key None) through Snakemake, two at a time."""
    base = tmp_path_factory.mktemp("corpus")
    cases = [None, *WORKFLOW_CASES]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = pool.map(lambda c: run_case(c, tiny_raw_master, base / (c.id if c else "_valid")), cases)
        return {case.id if case else None: run for case, run in zip(cases, runs, strict=True)}


@pytest.mark.slow
@pytest.mark.parametrize("case", WORKFLOW_CASES, ids=lambda case: case.id)
def test_the_pipeline_reacts_as_the_corpus_says(case, corpus_runs):
    run, context = corpus_runs[case.id]
    for message in expected_messages(case, context):
        assert message in run.output and message in run.logs, f"{message!r} not in the output and log"
    # No control character from the raw data (an escape sequence in an id) reaches the terminal or a log.
    assert "\x1b" not in run.output and "\x1b" not in run.logs
    assert "\x00" not in run.output and "\x00" not in run.logs
    if case.expect == "error":
        assert run.returncode != 0
        assert "Traceback" not in run.output  # the data manager reads the message, not a stack
        if case.stage == "models":
            # The raw data were read; a later stage found the design unsupportable. Restricted
            # intermediate files may stay, but nothing published does (anything published is withdrawn).
            assert [f for f in run.results if f.split("/")[0] in ("tables", "figures", "report")] == []
            return
        # Nothing that looks like a result: only the logs of the failed run, and perhaps what the rules that
        # read the configuration or the code, never data, wrote before the scheduler reached the failing job
        # (their order varies between runs): the analysis plan (make freeze needs it without data), its
        # comparison with the frozen plan, and the code's fingerprint.
        assert [f for f in run.results if not f.startswith("logs/") and f not in CONFIGURATION_ONLY] == []
        return
    assert run.returncode == 0, run.output[-3000:]
    if case.expect == "warning":
        assert any(message in line for line in run.logs.splitlines() if " WARNING " in line
                   for message in expected_messages(case, context))
    if case.expect == "accepted":
        valid, _ = corpus_runs[None]
        for name in CLEAN_FILES:
            changed, unchanged = (pd.read_parquet(r.workdir / f"results/data/clean/{name}.parquet")
                                  for r in (run, valid))
            pd.testing.assert_frame_equal(changed.drop(columns="source_row"),
                                          unchanged.drop(columns="source_row"), obj=name)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in WORKFLOW_CASES if c.expect == "error"], ids=lambda case: case.id)
def test_a_failed_run_never_names_the_raw_folder(case, corpus_runs):
    """README: nothing under results/ names the raw folder (raw_dir may be a secure path). A failed run
    leaves only its logs: none of them holds the folder's path, whatever the fault (a missing file too)."""
    run, _ = corpus_runs[case.id]
    assert run.returncode != 0
    assert [f for f in run.results if f.startswith("logs/")], "a failed run leaves its logs"
    assert run.naming_raw_dir == [], run.naming_raw_dir


@pytest.mark.slow
def test_no_run_names_the_raw_folder(corpus_runs):
    """The same for the runs that go on (cleaning and exposure outputs, their logs) and the unchanged data."""
    named = {case: run.naming_raw_dir for case, (run, _) in corpus_runs.items() if run.naming_raw_dir}
    assert named == {}
