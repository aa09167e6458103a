"""Adapter: rule funding_groups -> analysis.stages.funding_group_table."""
from analysis.io import run_logged
from analysis.stages import funding_group_table

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], funding_group_table, centre_exposure=smk.input.centre_exposure,
           plan=dict(smk.params.plan), suppress_below=smk.params.suppress_below, output=smk.output.table)
