"""Adapter: rule classify_centres -> analysis.stages.exposure.classify_centres."""
from analysis.io import run_logged
from analysis.stages.exposure import classify_centres

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], classify_centres, centres=smk.input.centres, funding=smk.input.funding,
           deflators=smk.input.deflators, plan=smk.params.plan, output=smk.output.centre_exposure)
