"""Adapter: rule difference_in_differences -> analysis.stages.sensitivity.difference_in_differences."""
from analysis.io import run_logged
from analysis.stages.sensitivity import difference_in_differences

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], difference_in_differences, survey=smk.input.survey,
           centre_exposure=smk.input.centre_exposure, source=smk.input.source, plan=dict(smk.params.plan),
           baseline_wave=int(smk.params.baseline_wave), table=smk.output.table, flow=smk.output.flow)
