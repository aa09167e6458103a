"""Adapter: rule covariate_balance -> analysis.stages.balance.covariate_balance."""
from analysis.io import run_logged
from analysis.stages.balance import covariate_balance

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], covariate_balance, survey=smk.input.survey, centre_exposure=smk.input.centre_exposure,
           source=smk.input.source, sample_plan=dict(smk.params.sample_plan), name=smk.params.name,
           entry=dict(smk.params.entry), weighting_name=smk.params.weighting_name,
           weighting_entry=smk.params.weighting_entry, smd_guide=smk.params.smd_guide,
           suppress_below=smk.params.suppress_below, characteristics=smk.output.characteristics,
           balance=smk.output.balance, patterns=smk.output.patterns)
