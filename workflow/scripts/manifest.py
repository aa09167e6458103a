"""Adapter: rule manifest -> analysis.stages.tables.manifest."""
from analysis.io import run_logged
from analysis.stages.tables import manifest

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], manifest, provenance_file=smk.input.provenance, outputs=list(smk.input.deliverables),
           config=dict(smk.params.config), started_file=smk.params.started, output=smk.output.manifest)
