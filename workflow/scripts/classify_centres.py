"""Adapter: rule classify_centres -> analysis.stages.exposure."""
from analysis.io import run_logged
from analysis.stages import exposure

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], exposure, centres=smk.input.centres, funding=smk.input.funding,
           deflators=smk.input.deflators, plan=smk.params.plan, output=smk.output.centre_exposure)
