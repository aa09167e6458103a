"""Adapter: rule specification_joint_test -> analysis.stages.specification_curve.specification_joint_test."""
from analysis.io import run_logged
from analysis.stages.specification_curve import specification_joint_test

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], specification_joint_test, refitters=list(smk.input.refitters), source=smk.input.source,
           plan=dict(smk.params.plan), output=smk.output.table)
