"""Adapter: rule budget_change_figure -> analysis.stages.report_figures.budget_change_figure."""
from analysis.io import run_logged
from analysis.stages.report_figures import budget_change_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], budget_change_figure, centre_exposure=smk.input.centre_exposure,
           source=smk.input.source, plan=smk.params.plan, suppress_below=smk.params.suppress_below,
           output=smk.output.figure)
