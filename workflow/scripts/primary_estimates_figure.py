"""Adapter: rule primary_estimates_figure -> analysis.stages.report_figures.primary_estimates_figure."""
from analysis.io import run_logged
from analysis.stages.report_figures import primary_estimates_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], primary_estimates_figure, contrasts=smk.input.contrasts, source=smk.input.source,
           output=smk.output.figure)
