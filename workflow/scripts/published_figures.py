"""Adapter: rule published_figures -> analysis.stages.report_figures.published_figures."""
from analysis.io import run_logged
from analysis.stages.report_figures import published_figures

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], published_figures, sample_flow=smk.input.sample_flow,
           distress_by_wave=smk.input.distress_by_wave, primary=smk.input.primary,
           covariate_balance=smk.input.covariate_balance, scenarios=smk.input.get("scenarios"),
           scenario_curve=smk.input.get("scenario_curve"), source=smk.input.source,
           outputs=dict(smk.output.items()))
