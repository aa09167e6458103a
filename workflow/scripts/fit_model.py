"""Adapter: rule fit_model -> analysis.stages.models.fit_model."""
from analysis.io import run_logged
from analysis.stages.models import fit_model

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], fit_model, analysis=smk.input.analysis, source=smk.input.source,
           name=smk.wildcards.model, entry=dict(smk.params.entry),
           fit_settings=dict(smk.params.fit_settings), contrasts=smk.output.contrasts,
           coefficients=smk.output.coefficients, diagnostics=smk.output.diagnostics)
