"""Adapter: rule import_source -> analysis.stages.clean.import_source."""
from analysis.io import run_logged
from analysis.stages.clean import import_source

smk = snakemake  # noqa: F821 (provided by Snakemake)
out = smk.output
run_logged(smk.log[0], import_source, source=smk.wildcards.source, entry=dict(smk.params.entry),
           contract_name=smk.params.contract_name, raw_dir=smk.params.raw_dir, contract=out.contract,
           import_log=out.import_log, provenance=out.provenance)
