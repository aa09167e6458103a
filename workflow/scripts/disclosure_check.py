"""Adapter: rule disclosure_check -> analysis.stages.tables.disclosure_check."""
from analysis.io import run_logged
from analysis.stages.tables import disclosure_check

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], disclosure_check, tables=list(smk.input.tables),
           disclosure=dict(smk.params.disclosure), output=smk.output.check)
