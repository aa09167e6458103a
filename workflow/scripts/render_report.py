"""Adapter: rule render_report -> analysis.stages.report.render_report."""
from pathlib import Path

from analysis.io import run_logged
from analysis.stages.report import render_report

smk = snakemake  # noqa: F821 (provided by Snakemake)
template = Path(smk.input.template)  # <templates>/<name>/index.html.j2
run_logged(smk.log[0], render_report, notebook=smk.input.notebook, template_dir=str(template.parent.parent),
           template_name=template.parent.name, output=smk.output.html)
