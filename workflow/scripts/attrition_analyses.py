"""Adapter: rule attrition_analyses -> analysis.stages.sensitivity.attrition_analyses."""
from analysis.io import run_logged
from analysis.stages.sensitivity import attrition_analyses

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], attrition_analyses, survey=smk.input.survey,
           centre_exposure=smk.input.centre_exposure, source=smk.input.source, plan=dict(smk.params.plan),
           imputation=smk.output.imputation, weighting=smk.output.weighting)
