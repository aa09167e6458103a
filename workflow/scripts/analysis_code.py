"""Adapter: rule analysis_code -> analysis.stages.records.analysis_code."""
from analysis.io import run_logged
from analysis.stages.records import analysis_code

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], analysis_code, files=list(smk.input.files), output=smk.output.fingerprint)
