# Helpers shared by the stage files: plan checks, input lists and output lists.
from pathlib import Path

import analysis
from analysis.contract import RAW_FILES
from analysis.plan import check_plan
from analysis.primary import sample_covariates
from analysis.simulate import MARKER_FILE

check_plan(config)

RAW_DIR = Path(config["raw_dir"])

# Titles of the rendered tables (results/tables/<name>.md and .tex).
TABLE_TITLES = {
    "primary": "Primary analysis: wave-3 K6 by centre funding group",
    "sample_flow": "Sample flow: mothers remaining at each inclusion step",
    "cleaning_log": "Cleaning log: rules applied to the raw data",
}


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
        "results/data/centre_exposure.csv",
        *model_outputs(),
        *rendered_tables(),
        "results/figures/budget_change.png",
        "results/figures/primary_estimates.png",
        "results/report/report.html",
    ]
