"""Adapter: rule specification_curve -> analysis.stages.specification_curve.specification_curve."""
from analysis.io import run_logged
from analysis.stages.specification_curve import specification_curve

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], specification_curve, specs=list(smk.input.specs), source=smk.input.source,
           table=smk.output.table, figure=smk.output.figure)
