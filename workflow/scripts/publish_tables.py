"""Adapter: rule publish_tables -> analysis.stages.tables.publish_tables."""
from analysis.io import run_logged
from analysis.stages.tables import publish_tables

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], publish_tables, tables=list(smk.input.tables), source=smk.input.source,
           provenance=smk.input.provenance, titles=dict(smk.params.titles),
           disclosure=dict(smk.params.disclosure), csv=list(smk.output.csv),
           markdown=list(smk.output.markdown), latex=list(smk.output.latex))
