"""Adapter: rule primary_estimates_figure -> analysis.stages.contrasts_figure."""
from analysis.io import run_logged
from analysis.stages import contrasts_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], contrasts_figure, contrasts=smk.input.contrasts, source=smk.input.source,
           output=smk.output.figure)
