"""Adapter: rule publish_table -> analysis.stages.tables.publish_table."""
from analysis.io import run_logged
from analysis.stages.tables import publish_table

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], publish_table, table=smk.input.table, source=smk.input.source,
           provenance=smk.input.provenance, title=smk.params.title, disclosure=dict(smk.params.disclosure),
           csv=smk.output.csv, markdown=smk.output.markdown, latex=smk.output.latex)
