"""Adapter: rule power_planner -> analysis.stages.decision.power_planner."""
from analysis.io import run_logged
from analysis.stages.decision import power_planner

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], power_planner, diagnostics=smk.input.diagnostics, analysis=smk.input.analysis,
           source=smk.input.source, plan=dict(smk.params.plan), standardiser=smk.params.standardiser,
           table=smk.output.table, curve=smk.output.curve, figure=smk.output.figure)
