# Helpers shared by the stage files: plan checks, input lists and output lists.
import sys
from pathlib import Path

import analysis
from analysis.contract import RAW_FILES
from analysis.plan import check_plan
from analysis.primary import sample_covariates
from analysis.robustness import specifications
from analysis.simulate import MARKER_FILE

check_plan(config)

RAW_DIR = Path(config["raw_dir"])
# The environment Snakemake runs in: shell rules and the notebook kernel ("python" on PATH) use it too.
ENV_BIN = str(Path(sys.executable).parent)

# Titles of the rendered tables (results/tables/<name>.md and .tex).
TABLE_TITLES = {
    "primary": "Primary analysis: wave-3 K6 by centre funding group",
    "sample_flow": "Sample flow: mothers remaining at each inclusion step",
    "cleaning_log": "Cleaning log: rules applied to the raw data",
    "primary_ols_cr2": "Few clusters: OLS with CR2 standard errors and wild cluster bootstrap",
    "ghq_likert": "Secondary outcome: GHQ-12 Likert score",
    "ghq_caseness": "Secondary outcome: GHQ-12 caseness (odds ratio and risk difference)",
    "secondary_family": "Secondary outcomes with Holm-adjusted p-values",
    "dose_linear": "Dose-response: per 10 points of real-terms budget change",
    "dose_spline": "Dose-response: natural spline of real-terms budget change",
    "difference_in_differences": "Change over time: mother fixed-effects difference-in-differences",
    "multiple_imputation": "Attrition: multiple imputation (Rubin's rules)",
    "inverse_probability_weighting": "Attrition: inverse-probability-of-response weighting",
    "effect_size": "Effect size: Hedges' g and E-value",
    "leave_one_la_out": "Leave one local authority out",
    "specification_curve": "Specification curve",
}
SPECIFICATIONS = specifications(config)


def analysis_code():
    """The analysis package's source files: an input of every rule, so that a change to the science
    reruns what it affects (Snakemake tracks a rule's own script, not the modules it imports)."""
    return sorted(str(p) for p in Path(analysis.__file__).parent.glob("*.py"))


def raw_inputs(wildcards):
    """The four raw CSVs, plus the simulator's marker file when the data are synthetic."""
    inputs = {Path(spec.name).stem: str(RAW_DIR / spec.name) for spec in RAW_FILES}
    if (RAW_DIR / MARKER_FILE).exists():
        inputs["synthetic_marker"] = str(RAW_DIR / MARKER_FILE)
    return inputs


def model_names():
    return sorted(config["models"])


def model_entry(wildcards):
    """The plan's entry for the model being fitted."""
    return config["models"][wildcards.model]


def specification_choice(wildcards):
    return SPECIFICATIONS[wildcards.spec]


def specification_outputs():
    return expand("results/robustness/specifications/{spec}.csv", spec=sorted(SPECIFICATIONS))


def model_entry_named(key):
    """The plan's entry for the model a sensitivity block names (e.g. effect_size.model)."""
    return config["models"][config[key]["model"]]


def secondary_tables():
    return expand("results/tables/{model}.csv", model=config["secondary_family"]["models"])


def table_title(wildcards):
    return TABLE_TITLES[wildcards.table]




def model_outputs():
    return expand(
        [
            "results/tables/{model}.csv",
            "results/tables/{model}_coefficients.csv",
            "results/models/{model}_fit.json",
        ],
        model=model_names(),
    )


def rendered_tables():
    return expand("results/tables/{table}.{ext}", table=sorted(TABLE_TITLES), ext=["md", "tex"])


def final_outputs():
    return [
        "results/data/analysis.parquet",
        "results/tables/secondary_family.csv",
        "results/tables/effect_size.csv",
        "results/tables/leave_one_la_out.csv",
        "results/tables/difference_in_differences.csv",
        "results/tables/multiple_imputation.csv",
        "results/tables/inverse_probability_weighting.csv",
        "results/tables/specification_curve.csv",
        "results/tables/forest.csv",
        "results/data/centre_exposure.csv",
        *model_outputs(),
        *rendered_tables(),
        "results/figures/budget_change.png",
        "results/figures/primary_estimates.png",
        "results/figures/dose_response.png",
        "results/figures/specification_curve.png",
        "results/figures/forest.png",
        "results/report/report.html",
    ]
