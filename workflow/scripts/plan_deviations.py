"""Adapter: rule plan_deviations -> analysis.stages.tables.plan_deviations."""
from analysis.io import run_logged
from analysis.stages.tables import plan_deviations

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], plan_deviations, plan=smk.input.plan, lock=smk.input.get("lock"),
           output=smk.output.table)
