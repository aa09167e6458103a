"""Adapter: rule covariate_balance_figure -> analysis.stages.balance.covariate_balance_figure."""
from analysis.io import run_logged
from analysis.stages.balance import covariate_balance_figure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], covariate_balance_figure, table=smk.input.table, source=smk.input.source,
           output=smk.output.figure)
