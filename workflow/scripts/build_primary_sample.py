"""Adapter: rule build_primary_sample -> analysis.stages.sample.build_primary_sample."""
from analysis.io import run_logged
from analysis.stages.sample import build_primary_sample

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], build_primary_sample, survey=smk.input.survey,
           centre_exposure=smk.input.centre_exposure, plan=smk.params.plan,
           covariates=list(smk.params.covariates), analysis=smk.output.analysis, flow=smk.output.flow)
