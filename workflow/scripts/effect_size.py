"""Adapter: rule effect_size -> analysis.stages.sensitivity.effect_size."""
from analysis.io import run_logged
from analysis.stages.sensitivity import effect_size

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], effect_size, contrasts=smk.input.contrasts, analysis=smk.input.analysis,
           source=smk.input.source, entry=dict(smk.params.entry), name=smk.params.name,
           standardiser=smk.params.standardiser, output=smk.output.table)
