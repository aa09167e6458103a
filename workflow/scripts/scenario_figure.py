"""Adapter: rule scenario_figure -> analysis.stages.decision.scenario_figure."""
from analysis.io import run_logged
from analysis.stages.decision import scenario_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], scenario_figure, table=smk.input.table, curve=smk.input.curve, source=smk.input.source,
           output=smk.output.figure)
