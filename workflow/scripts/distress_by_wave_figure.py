"""Adapter: rule distress_by_wave_figure -> analysis.stages.report_figures.distress_by_wave_figure."""
from analysis.io import run_logged
from analysis.stages.report_figures import distress_by_wave_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], distress_by_wave_figure, table=smk.input.table, source=smk.input.source,
           output=smk.output.figure)
