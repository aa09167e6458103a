# Helpers shared by the stage files: plan checks, input lists and output lists.
import math
import os
import re
import sys
from pathlib import Path

import analysis
from analysis.importers.sources import (
    IMPORTED_DIR,
    SOURCES,
    check_sources,
    contract_file,
    imported_sources,
    named_files,
    source_entry,
    source_paths,
)
from analysis.io import ALLOCATOR_TUNABLES, write_text
from analysis.missing import attrition_plan
from analysis.models import fit_settings_used
from analysis.pdf import CHROMIUM, check_pdf_renderer
from analysis.plan import check_plan, model_roles, plan_refusals
from analysis.plan_lock import analysis_plan
from analysis.primary import sample_covariates
from analysis.provenance import code_files, package_versions, utc_now
from analysis.publication import withdraw
from analysis.specification_curve import specification_job_plan, specifications
from analysis.simulate import MARKER_FILE

# Every job's memory allocator (analysis.io.ALLOCATOR_TUNABLES: freed memory is kept for reuse); a value
# already in the environment wins.
os.environ.setdefault("GLIBC_TUNABLES", ALLOCATOR_TUNABLES)

with plan_refusals():  # a refused plan ends the run with its message alone
    check_plan(config)
check_sources(config)
# Which model plays which part (model_roles): rules, report and appendix name models only through these.
ROLES = model_roles(config)
PRIMARY = ROLES["primary"]  # the headline model
DOSE_CURVE = ROLES["dose_curve"]  # the spline model drawn as the dose-response figure; None: none planned

RAW_DIR = Path(config["raw_dir"])
LEVEL = config["exposure"]["level"]  # centre | la: whose budget change is a mother's exposure
IMPORTED = imported_sources(config)  # sources read as published by an importer (rule import_source)
# Each model states whose budget change its groups are, for its estimand's words ("mothers at growing
# centres", or "in local authorities whose children's-centre spending grew").
for _entry in config["models"].values():
    _entry["exposure_level"] = LEVEL
# The analysis plan without where the data live (provenance hashes the raw inputs by content, and a secure
# path must not appear in published outputs) nor whether the report is printed to PDF (a rendering choice:
# switching it must not rerun the provenance and every job after it).
PLAN = {key: value for key, value in config.items() if key not in ("raw_dir", "report_pdf")}
# What `make freeze` freezes in config/plan.lock and every run is compared with (analysis.plan_lock).
ANALYSIS_PLAN = analysis_plan(config)
PLAN_LOCK = Path("config/plan.lock")
# The fingerprint of the analysis code, made by the analysis_code step (clean.smk), is an input of every step
# that runs the code, so that a change to the science reruns what it affects (Snakemake tracks a rule's own
# script, not the modules it imports). One file, not the ~70 it fingerprints: the scheduler checks one input
# per job, not 70.
ANALYSIS_CODE = "results/data/analysis_code.json"
# Written when a run starts (not on a dry run); the manifest reports it.
RUN_STARTED = "results/logs/run_started.txt"


# Rules that only reformat small tables, draw figures from them, or record the configuration and the code run
# on the machine running Snakemake, never as cluster jobs (queueing would cost more than the work).
localrules:
    analysis_code,
    publish_tables,
    disclosure_check,
    manifest,
    analysis_plan,
    plan_deviations,
    funding_groups,
    secondary_family,
    specification_curve,
    published_figures,
    budget_change_figure,
    forest_figure,
    brief,
    render_report,
    appendix,


def scaled(floor, per_input_mb):
    """A resource (mem_mb, or runtime in minutes) that grows with the size of the job's inputs: `floor` plus
    `per_input_mb` per MB of input, times the attempt, so that a job retried after running out of memory or
    time asks for more. The factors come from peak memory and time measured at national scale
    (benchmarks/national.py) with headroom; a rule without its own asks for the profile's default."""

    def resource(wildcards, input, attempt):
        return math.ceil((floor + per_input_mb * input.size_mb) * attempt)

    return resource


def failure_details(log):
    """Lines for WITHDRAWN.txt: when the failed run started and where Snakemake's log of it is."""
    lines = []
    if Path(RUN_STARTED).is_file():
        lines.append(f"The failed run started at {Path(RUN_STARTED).read_text().strip()}.")
    logs = [log] if isinstance(log, (str, Path)) else list(log or [])
    if logs:
        lines.append(f"Snakemake's log of the failed run: {', '.join(map(str, logs))}")
    return lines


onstart:
    write_text(utc_now() + "\n", RUN_STARTED)


onerror:
    # Nothing in the published folders may be mistaken for a result of the inputs this run failed on: every
    # published output there (this run's or an earlier run's) is moved to results/withdrawn/<UTC time>/ with a
    # WITHDRAWN.txt. Snakemake calls this after the failed jobs ended, so a table the disclosure check deleted
    # is already gone. Not called when the plan is refused (no job ran) nor when the run is killed (SIGKILL).
    try:
        withdrawal = withdraw(
            published_outputs(), reason="the pipeline run failed", details=failure_details(log)
        )
    except Exception as err:  # say so loudly: the published folders may still hold outputs
        print(
            f"This run failed, and its published outputs could not be withdrawn ({err}): nothing under "
            "results/ is cleared for release.",
            file=sys.stderr,
        )
    else:
        if withdrawal is not None:
            print(withdrawal.message(), file=sys.stderr)


# Titles of the published tables (results/tables/<name>.csv, .md and .tex). Each is computed exactly under
# results/data/tables/ (restricted) and published through the disclosure rule (rule publish_tables).
TABLE_TITLES = {
    "sample_flow": "Sample flow: mothers remaining at each inclusion step",
    "cleaning_log": "Cleaning log: rules applied to the raw data",
    "secondary_family": "Secondary outcomes with Holm-adjusted p-values",
    "difference_in_differences": "Change over time: mother fixed-effects difference-in-differences",
    "multiple_imputation": "Attrition: multiple imputation (Rubin's rules)",
    "inverse_probability_weighting": "Attrition: inverse-probability-of-response weighting",
    "effect_size": "Effect size: Hedges' g and E-value",
    "leave_one_la_out": "Leave one local authority out",
    "specification_curve": "Specification curve",
    "specification_joint_test": "Specification curve: joint test (Simonsohn, Simmons & Nelson 2020)",
    "difference_in_differences_flow": "Change over time: mothers and records at each panel step",
    "forest": "Every pre-specified estimate of growing vs cut",
    "funding_groups": "Centres by funding group: definition, counts and real-terms budget change",
    "distress_by_wave": "Mean distress by survey wave and funding group",
    "plan_deviations": "Deviations from the frozen analysis plan (config/plan.lock)",
    "baseline_characteristics": (
        f"Table 1. Baseline characteristics by funding group: every mother interviewed at wave "
        f"{config['primary_sample']['baseline_wave']} whose {'local authority' if LEVEL == 'la' else 'centre'} "
        "has a funding group (the attrition analyses' cohort)"
    ),
    "covariate_balance": (
        "Covariate balance: standardised mean differences against the reference group (Austin 2009: difference in "
        "means, or shares, over the square root of the mean of the two groups' variances, p(1-p) for shares; "
        "weighted means and variances as Austin & Stuart 2015), in the baseline cohort and in the analysed sample "
        "(complete on the model's variables), unweighted and weighted by the inverse-probability-of-response "
        f"weights. Positive: higher than in the reference group. |SMD| under "
        f"{config['covariate_balance']['smd_guide']:g} is the usual guide to a small imbalance, not a test"
    ),
    "missing_patterns": "Missing-data patterns of the model's variables in the baseline cohort",
}
# Decision support, where the plan asks for it: planned budget changes (scenarios.planned) and evaluation
# designs (power_planner.designs).
PLANNED = bool(config["scenarios"].get("planned"))
DESIGNS = bool(config["power_planner"].get("designs"))
if PLANNED:
    TABLE_TITLES["scenarios"] = (
        "What a planned budget change would mean: projections against no real-terms change"
    )
if DESIGNS:
    TABLE_TITLES["power_planner"] = "Planning a council's own evaluation: minimum detectable effect and power"
# Titles of the shipped plan's model tables; a model the plan does not have has no table, and any other model
# is titled by its name.
MODEL_TABLE_TITLES = {
    "primary": "Primary analysis: wave-3 K6 by centre funding group",
    "primary_ols_cr2": "Few clusters: OLS with CR2 standard errors and wild cluster bootstrap",
    "ghq_likert": "Secondary outcome: GHQ-12 Likert score",
    "ghq_caseness": "Secondary outcome: GHQ-12 caseness (odds ratio and risk difference)",
    "dose_linear": "Dose-response: per 10 points of real-terms budget change",
    "dose_spline": "Dose-response: natural spline of real-terms budget change",
    "serious_distress": "Secondary outcome: serious psychological distress, K6 of 13 or more (odds ratio and "
    "risk difference)",
    "serious_distress_dose": "Dose-response: serious psychological distress per 10 points of real-terms "
    "budget change (odds ratio)",
    "ghq_case_dose": "Dose-response: GHQ-12 caseness per 10 points of real-terms budget change (odds ratio)",
}
for _model in config["models"]:
    TABLE_TITLES[_model] = MODEL_TABLE_TITLES.get(_model, f"Model {_model}")
    TABLE_TITLES[f"{_model}_coefficients"] = f"{TABLE_TITLES[_model]}: every coefficient"
SPECIFICATIONS = specifications(config)


def analysis_code_files():
    """The analysis package's source files and the importers' reference files, fingerprinted by the rule
    analysis_code."""
    package = Path(analysis.__file__).parent
    reference = Path("data/import")  # the importers' LA lookup and shipped survey mappings
    return sorted(
        [
            *(str(p) for p in package.rglob("*.py") if "__pycache__" not in p.parts),
            *(str(p) for p in reference.rglob("*") if p.is_file()),
        ]
    )


def plan_lock():
    """The frozen plan's lock as a named input, where the project has one (make freeze writes it)."""
    return {"lock": str(PLAN_LOCK)} if PLAN_LOCK.is_file() else {}


def provenance_code():
    """Every file defining the pipeline (rules, scripts, notebook, analysis package, config schema)."""
    return [str(p) for p in code_files(Path("."))]


def contract_paths():
    """Contract file name -> where the cleaning reads it: raw_dir, or the import stage's output."""
    return {
        contract_file(source, LEVEL): (
            str(IMPORTED_DIR / f"{source}.csv")
            if source in IMPORTED
            else str(RAW_DIR / contract_file(source, LEVEL))
        )
        for source in SOURCES
    }


def raw_contract_files():
    """The contract CSVs read from raw_dir as they are (sources in format contract), those that exist."""
    paths = {source: RAW_DIR / contract_file(source, LEVEL) for source in SOURCES if source not in IMPORTED}
    return {path.stem: str(path) for path in paths.values() if path.exists()}


def synthetic_marker():
    marker = RAW_DIR / MARKER_FILE
    return {"synthetic_marker": str(marker)} if marker.exists() else {}


def clean_inputs(wildcards):
    """The contract files the cleaning reads, the import logs, and the simulator's marker file when the data
    are synthetic. A missing raw file is left to clean_raw_data, which names it in the data manager's words
    (Snakemake's own missing-input error would not)."""
    imported = {
        Path(contract_file(source, LEVEL)).stem: str(IMPORTED_DIR / f"{source}.csv") for source in IMPORTED
    }
    logs = {f"import_log_{source}": str(IMPORTED_DIR / f"{source}_import_log.csv") for source in IMPORTED}
    return {**raw_contract_files(), **imported, **logs, **synthetic_marker()}


def imported_from():
    """Contract file name -> the published files it is imported from, for the cleaning's messages."""
    files = {source: source_paths(source_entry(config, source)) for source in IMPORTED}
    return {
        contract_file(source, LEVEL): [Path(path).name for path in paths] for source, paths in files.items()
    }


def published_files(source):
    """The files as published that a source's importer reads (its data, an IoD file, a mapping file), those
    that exist in raw_dir: the importer names a missing one."""
    paths = [RAW_DIR / name for name in named_files(source_entry(config, source))]
    return [str(path) for path in paths if path.is_file()]


def raw_inputs(wildcards):
    """Every input file as given (contract CSVs and published files), hashed by provenance, and the import
    stage's record of each imported source (release, vintage)."""
    inputs = raw_contract_files()
    for source in IMPORTED:
        inputs.update({f"{source}: {Path(path).name}": path for path in published_files(source)})
        inputs[f"import_{source}"] = str(IMPORTED_DIR / f"{source}_provenance.json")
    return {**inputs, **synthetic_marker()}


def model_names():
    return sorted(config["models"])


def model_entry(wildcards):
    """The plan's entry for the model being fitted."""
    return config["models"][wildcards.model]


def model_fit_settings(wildcards):
    """The mixed-model fit settings, for the models that use them (an OLS or GEE fit does not rerun when
    they change)."""
    return fit_settings_used(config["models"][wildcards.model]["estimator"], config["mixed_model_fit"])


def specification_group(wildcards):
    """The specifications one specification job fits: those sharing its sample (score, threshold, window)."""
    return {
        spec_id: choice
        for spec_id, choice in SPECIFICATIONS.items()
        if choice["score"] == wildcards.score
        and f"{choice['threshold_pct']:g}" == wildcards.threshold
        and f"{choice['base_year']}-{choice['end_year']}" == wildcards.window
    }


def specification_job(wildcards):
    """The part of the plan one specification job reads (its covariate sets, the primary model, the sample's
    waves, the exposure level, fit settings its estimators use), so that a setting it does not read never
    reruns it."""
    return specification_job_plan(config, specification_group(wildcards))


def specification_sample_outputs():
    """The tables of the specifications sharing one analysis sample, named by their ids
    (analysis.specification_curve.specification_id): the sample's score, threshold and window are wildcards,
    every estimator and covariate set is expanded, so that one job fits them all."""
    curve = config["specification_curve"]
    return expand(
        "results/data/specifications/{{score}}-{estimator}-{covariates}-t{{threshold}}-{{window}}.csv",
        estimator=curve["estimators"],
        covariates=sorted(curve["covariate_sets"]),
    )


def specification_refitter_outputs():
    """The joint test's refitters, one file per distinct sample (its specification job writes them)."""
    return expand(
        "results/data/specifications/refitters_{score}-t{threshold}-{window}.pickle",
        **specification_sample_values(),
    )


def specification_sample_values():
    """The values of the wildcards naming a distinct sample: the plan's scores, thresholds and windows, spelled
    as in the specifications' ids (analysis.specification_curve.specification_id)."""
    curve = config["specification_curve"]
    return {
        "score": curve["scores"],
        "threshold": [f"{float(t):g}" for t in curve["thresholds_pct"]],
        "window": [f"{base}-{end}" for base, end in curve["windows"]],
    }


def specification_sample_constraints():
    """Only the plan's values for those wildcards (the windows' years hold hyphens, as the ids do)."""
    return {
        name: "|".join(re.escape(str(v)) for v in values)
        for name, values in specification_sample_values().items()
    }


def scenario_plan():
    """The slice of the plan the scenario projections use: the block and the models it names."""
    block = config["scenarios"]
    names = [*block.get("mean_models", []), *block.get("share_models", {}).values()]
    return {
        "scenarios": block,
        "models": {name: config["models"][name] for name in names},
        "primary_sample": config["primary_sample"],
        "exposure": config["exposure"],
        "mixed_model_fit": config["mixed_model_fit"],
    }


def specification_outputs():
    return expand("results/data/specifications/{spec}.csv", spec=sorted(SPECIFICATIONS))


def model_entry_named(key):
    """The plan's entry for the model a sensitivity block names (e.g. effect_size.model)."""
    return config["models"][config[key]["model"]]


def balance_weighting():
    """The model whose response weights the balance table uses, and its entry (None, None: the plan has no
    inverse_probability_weighting, and the table says so)."""
    name = config.get("inverse_probability_weighting", {}).get("model")
    return {"weighting_name": name, "weighting_entry": config["models"][name] if name else None}


def forest_tables():
    """The contrast tables of the forest plot's models (model_roles.forest), in the plan's order."""
    return expand("results/data/tables/{model}.csv", model=ROLES["forest"])


def secondary_tables():
    return expand("results/data/tables/{model}.csv", model=config["secondary_family"]["models"])


def exact_tables():
    """Every table to publish, as computed exactly (restricted), in the order of published_tables()."""
    return expand("results/data/tables/{table}.csv", table=sorted(TABLE_TITLES))


def published_table_files(ext, form):
    """published_tables(ext), each marked for the report archive with its table's name and title."""
    mark = report  # Snakemake's report(): in a rule file a line may not start with that word
    return [
        mark(
            path,
            caption="../report/table.rst",
            category="Tables",
            labels={"table": name, "title": TABLE_TITLES[name], "format": form},
        )
        for name, path in zip(sorted(TABLE_TITLES), published_tables(ext), strict=True)
    ]


# Published but not read by the report (the appendix carries them).
APPENDIX_ONLY_TABLES = {"power_planner"}


def published_tables(ext="csv", report_only=False):
    """Every published table in one format; `report_only`: those the report reads."""
    names = [t for t in sorted(TABLE_TITLES) if not (report_only and t in APPENDIX_ONLY_TABLES)]
    return expand("results/tables/{table}.{ext}", table=names, ext=ext)


def published_figures(report_only=False):
    """Every published figure; `report_only`: those the report shows (the planner's is the appendix's). The
    dose-response figure only where the plan names a dose_curve model."""
    names = [
        "budget_change",
        "distress_by_wave",
        "sample_flow",
        "primary_estimates",
        *(["dose_response"] if DOSE_CURVE else []),
        "specification_curve",
        "forest",
        "covariate_balance",
        *(["scenarios"] if PLANNED else []),
    ]
    if DESIGNS and not report_only:
        names.append("power_planner")
    return expand("results/figures/{name}.png", name=names)


# The report and the brief are printed to PDF only when the settings ask for it (report_pdf: chromium), never
# because a browser happens to be installed, so the same command plans the same jobs on every machine; asked
# for where Chromium is missing, the run is refused before any job starts.
with plan_refusals():
    check_pdf_renderer(config["report_pdf"])
BRIEF = ["results/report/brief.html"] if PLANNED else []
REPORT_PDF = (
    ["results/report/report.pdf", *(["results/report/brief.pdf"] if PLANNED else [])]
    if config["report_pdf"] == CHROMIUM
    else []
)


def appendix_figures():
    """Figures the academic appendix carries, caption -> path."""
    figures = {
        "Covariate balance (love plot): standardised mean differences of each baseline characteristic "
        "against the reference group, in the baseline cohort and in the analysed sample before and after "
        "response weighting": "results/figures/covariate_balance.png"
    }
    if DESIGNS:
        figures[
            "Planning a council's own evaluation: minimum detectable difference in K6 against the number "
            "of centres (first design of power_planner)"
        ] = "results/figures/power_planner.png"
    if PLANNED:
        figures[
            "What a planned budget change would mean: projected difference in K6 against real-terms "
            "budget change, observed range shaded"
        ] = "results/figures/scenarios.png"
    return figures


def deliverables():
    """What a release from a secure environment may contain: published tables, figures, the report, the
    appendix and the disclosure check. Nothing under results/data/ (row-level or unrounded) is among them."""
    return [
        *published_tables("csv"),
        *published_tables("md"),
        *published_tables("tex"),
        *published_figures(),
        "results/report/report.html",
        *BRIEF,
        *REPORT_PDF,
        "results/report/appendix.md",
        "results/report/appendix.html",
        "results/report/appendix.tex",
        "results/disclosure_check.json",
        "results/provenance.json",
    ]


def published_outputs():
    """Everything in the published folders and files (README "Releasing results"): the deliverables, plus
    the manifest and the snakemake --report archive (results/report.zip), which are not inputs of the
    manifest rule. After a failed run these, and every other file in their folders, are withdrawn."""
    return [*deliverables(), "results/manifest.json", "results/report.zip"]


def final_outputs():
    return [
        "results/data/analysis.parquet",
        "results/data/centre_exposure.csv",
        *deliverables(),
        "results/manifest.json",
    ]
