"""Adapter: rule forest_figure -> analysis.stages.report_figures.forest_figure."""
from analysis.io import run_logged
from analysis.stages.report_figures import forest_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], forest_figure, primary=smk.input.primary,
           models=dict(zip(smk.params.forest_models, smk.input.models, strict=True)), did=smk.input.did,
           imputation=smk.input.imputation, weighting=smk.input.weighting, source=smk.input.source,
           table=smk.output.table, figure=smk.output.figure)
