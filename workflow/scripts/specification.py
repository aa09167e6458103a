"""Adapter: rule specification -> analysis.stages.specification."""
from analysis.io import run_logged
from analysis.stages import specification

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], specification, centres=smk.input.centres, funding=smk.input.funding,
           deflators=smk.input.deflators, survey=smk.input.survey, plan=dict(smk.params.plan),
           spec_id=smk.wildcards.spec, choice=dict(smk.params.choice), output=smk.output.table)
