"""Adapter: rule distress_by_wave -> analysis.stages.report_figures.distress_by_wave."""
from analysis.io import run_logged
from analysis.stages.report_figures import distress_by_wave

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], distress_by_wave, survey=smk.input.survey, centre_exposure=smk.input.centre_exposure,
           source=smk.input.source, plan=dict(smk.params.plan), suppress_below=smk.params.suppress_below,
           output=smk.output.table)
