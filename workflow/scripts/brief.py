"""Adapter: rule brief -> analysis.stages.decision.brief."""
from analysis.io import run_logged
from analysis.stages.decision import brief

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], brief, tables=list(smk.input.tables), figure=smk.input.figure, source=smk.input.source,
           provenance=smk.input.provenance, disclosure=dict(smk.params.disclosure), output=smk.output.html)
