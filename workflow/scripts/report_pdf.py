"""Adapter: rule report_pdf -> analysis.stages.report.report_pdf."""
from analysis.io import run_logged
from analysis.stages.report import report_pdf

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], report_pdf, html=smk.input.html, pdf=smk.output.pdf)
