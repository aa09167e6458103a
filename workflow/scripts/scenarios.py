"""Adapter: rule scenarios -> analysis.stages.decision.scenarios."""
from analysis.io import run_logged
from analysis.stages.decision import scenarios

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], scenarios, analysis=smk.input.analysis, deflators=smk.input.deflators,
           source=smk.input.source, plan=dict(smk.params.plan), table=smk.output.table,
           curve=smk.output.curve)
