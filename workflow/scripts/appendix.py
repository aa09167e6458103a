"""Adapter: rule appendix -> analysis.stages.report.appendix."""
from analysis.io import run_logged
from analysis.stages.report import appendix

smk = snakemake  # noqa: F821 (provided by Snakemake)
run_logged(smk.log[0], appendix, config=dict(smk.params.config),
           markdown_tables=list(smk.input.markdown_tables), latex_tables=list(smk.input.latex_tables),
           contrast_tables=list(smk.input.contrast_tables), provenance=smk.input.provenance,
           deviations=smk.input.deviations,
           disclosure=dict(smk.params.disclosure), source=smk.input.source, markdown=smk.output.markdown,
           html=smk.output.html, latex=smk.output.latex,
           figures=dict(zip(smk.params.figure_captions, smk.input.figures, strict=True)))
