"""Adapter: rule sample_flow_figure -> analysis.stages.report_figures.sample_flow_figure."""
from analysis.io import run_logged
from analysis.stages.report_figures import sample_flow_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], sample_flow_figure, flow=smk.input.flow, source=smk.input.source,
           output=smk.output.figure)
