"""Adapter: rule dose_response_figure -> analysis.stages.report_figures.dose_response_figure."""
from analysis.io import run_logged
from analysis.stages.report_figures import dose_response_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], dose_response_figure, diagnostics=smk.input.diagnostics,
           centre_exposure=smk.input.centre_exposure, source=smk.input.source, plan=dict(smk.params.plan),
           entry=dict(smk.params.entry), output=smk.output.figure)
