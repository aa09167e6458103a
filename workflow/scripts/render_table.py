"""Adapter: rule render_table -> analysis.stages.render_table."""
from analysis.io import run_logged
from analysis.stages import render_table

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], render_table, table=smk.input.table, source=smk.input.source,
           title=smk.params.title, markdown=smk.output.markdown, latex=smk.output.latex)
