"""The pipeline's stages as plain functions of paths and plan entries; workflow/scripts/ call these.

One module per stage of the workflow, so that a job imports only what its stage needs (this package imports
none of them): records (the code's fingerprint and the plan, which read no data), clean, exposure, sample,
models, tables (publishing, provenance) and balance (its covariate balance rules), report_figures (the
report's descriptive tables and figures) and report (the report notebook, its HTML and PDF, and the
appendix), sensitivity, specification_curve and decision. Each stage is named as the
rule and the script that run it; each reads only the files it is given, calls the science in analysis/, and
writes each output atomically, so a failed stage leaves no output behind.
"""
