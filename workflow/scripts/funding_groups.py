"""Adapter: rule funding_groups -> analysis.stages.report_figures.funding_groups."""
from analysis.io import run_logged
from analysis.stages.report_figures import funding_groups

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], funding_groups, centre_exposure=smk.input.centre_exposure,
           plan=dict(smk.params.plan), suppress_below=smk.params.suppress_below, output=smk.output.table)
