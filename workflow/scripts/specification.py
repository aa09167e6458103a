"""Adapter: rule specification -> analysis.stages.specification_curve.specification."""
from analysis.io import run_logged
from analysis.stages.specification_curve import specification

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], specification, centres=smk.input.centres, funding=smk.input.funding,
           deflators=smk.input.deflators, survey=smk.input.survey, plan=dict(smk.params.plan),
           choices=dict(smk.params.choices), outputs=list(smk.output.tables), refitters=smk.output.refitters)
