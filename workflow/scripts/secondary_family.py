"""Adapter: rule secondary_family -> analysis.stages.sensitivity.secondary_family."""
from analysis.io import run_logged
from analysis.stages.sensitivity import secondary_family

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], secondary_family, tables=list(smk.input.tables), source=smk.input.source,
           output=smk.output.table)
