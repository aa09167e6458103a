"""Adapter: rule leave_one_la_out -> analysis.stages.sensitivity.leave_one_la_out."""
from analysis.io import run_logged
from analysis.stages.sensitivity import leave_one_la_out

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], leave_one_la_out, analysis=smk.input.analysis, source=smk.input.source,
           name=smk.params.name, entry=dict(smk.params.entry), fit_settings=dict(smk.params.fit_settings),
           output=smk.output.table)
