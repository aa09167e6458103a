"""The documents (workflow/rules/report.smk): the report notebook executed, rendered to HTML and printed to
PDF (also the brief's, decision.smk), and the academic appendix.

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from analysis import io
from analysis.appendix import Section, appendix_html, appendix_latex, appendix_markdown, deviations_section
from analysis.data_source import is_synthetic
from analysis.disclosure import DisclosureRule
from analysis.notebook import make_reproducible
from analysis.pdf import html_to_pdf
from analysis.plan import model_roles
from analysis.plan_lock import read_deviations
from analysis.provenance import short_hash
from analysis.strobe import strobe_latex, strobe_markdown


def appendix(config: dict, markdown_tables: list[str], latex_tables: list[str], contrast_tables: list[str],
             provenance: str, deviations: str, disclosure: dict, source: str, markdown: str, html: str,
             latex: str, figures: dict[str, str] | None = None) -> None:
    """The academic appendix from the published tables and figures (caption -> path), in Markdown, HTML and
    LaTeX; figures are linked relative to the appendix, and embedded in the HTML."""
    synthetic = is_synthetic(source)
    note = DisclosureRule.from_config(disclosure).describe()
    record = io.read_json(provenance)
    stamp = short_hash(record)
    contrasts = {Path(t).stem: pd.read_csv(t) for t in contrast_tables}
    md = {Path(t).stem: Path(t).read_text() for t in markdown_tables}
    tex = {Path(t).stem: Path(t).read_text() for t in latex_tables}
    figures = figures or {}
    links = {caption: os.path.relpath(path, Path(markdown).parent) for caption, path in figures.items()}
    # The STROBE items point to the tables of the models playing each role in this plan.
    roles = {**model_roles(config), "few_clusters": config.get("few_clusters", {}).get("model")}
    sections = [deviations_section(read_deviations(deviations), record.get("plan_lock", {})),
                Section("STROBE checklist (cohort studies)", strobe_markdown(roles), strobe_latex(roles))]
    text = appendix_markdown(config, {k: v for k, v in md.items() if k != "cleaning_log"}, contrasts,
                             md["cleaning_log"], stamp, note, synthetic, links, sections)
    io.write_text(text, markdown)
    io.write_text(appendix_html(text, synthetic, {links[c]: path for c, path in figures.items()}), html)
    io.write_text(appendix_latex(config, {k: v for k, v in tex.items() if k != "cleaning_log"}, contrasts,
                                 tex["cleaning_log"], stamp, note, synthetic, links, sections), latex)


def execute_report(notebook: str, output: str, parameters: dict) -> None:
    """Run the report notebook with papermill; the executed notebook appears only once complete."""
    # Jupyter's libraries are imported where used: the appendix and PDF jobs import this module too, and
    # papermill with nbconvert costs a job about 0.6 s of CPU.
    import nbformat
    import papermill

    with io.atomic_path(output) as partial:
        executed = papermill.execute_notebook(notebook, str(partial), parameters=parameters, cwd=".",
                                              progress_bar=False)
        make_reproducible(executed, output)
        nbformat.write(executed, partial)


def render_report(notebook: str, template_dir: str, template_name: str, output: str) -> None:
    """The executed notebook as one self-contained HTML page without code (nbconvert --no-input)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name=template_name, extra_template_basedirs=[template_dir],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    html, _ = exporter.from_filename(notebook)
    io.write_text(html, output)


def report_pdf(html: str, pdf: str) -> None:
    html_to_pdf(html, pdf)
