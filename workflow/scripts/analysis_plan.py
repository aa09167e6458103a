"""Adapter: rule analysis_plan -> analysis.stages.records.analysis_plan."""
from analysis.io import run_logged
from analysis.stages.records import analysis_plan

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], analysis_plan, plan=dict(smk.params.plan), output=smk.output.plan)
