"""Adapter: rule execute_report -> analysis.stages.report.execute_report."""
from analysis.io import run_logged
from analysis.stages.report import execute_report

smk = snakemake  # noqa: F821 (provided by Snakemake)
inp = smk.input
parameters = {"tables": "results/tables", "figures": "results/figures", "diagnostics": inp.diagnostics,
              "source": inp.source, "provenance": inp.provenance, "disclosure_check": inp.disclosure_check,
              "few_clusters_threshold": int(smk.params.few_clusters["threshold"]),
              "few_clusters_model": smk.params.few_clusters["model"],
              "exposure_level": smk.params.exposure_level, "primary_model": smk.params.primary_model,
              "dose_curve_model": smk.params.dose_curve_model}
run_logged(smk.log[0], execute_report, notebook=inp.notebook, output=smk.output.notebook,
           parameters=parameters)
