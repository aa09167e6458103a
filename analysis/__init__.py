"""Children's-centre funding and maternal mental health: the science of the pipeline.

Modules, in pipeline order: importers (files as published, read into the contract files), contract and
cleaning (raw data), variables (the variable registry: each analysis variable's source, derivation, range
and words), data_source (whether the data are synthetic), scoring (K6, GHQ-12), exposure (funding groups, of
centres or of local authorities), sample (primary sample), balance (Table 1, covariate balance, missing-data
patterns), design and linalg (design matrices and what the data can support), inputs (the engines' input
checks), fastreml, mixed and smallsample (the primary model and its small-sample inference), cluster_robust,
binary, panel, missing and chained (the other estimators), models (every model of the plan), sensitivity,
specification_curve and joint_test (the specification curve and its joint test), scenarios and power
(decision support: planned budget changes, a council's own evaluation), results, figures, report, notebook,
brief, appendix and strobe (outputs, the executed report notebook made reproducible, and the STROBE
checklist), disclosure, provenance and publication (what may leave, and withdrawing it after a failed run),
plan and plan_lock (checks of the analysis plan, and the frozen plan), stages (a package, one module per
stage of the workflow: what its scripts call), simulate (synthetic demonstration data); rulegraph (the
README's picture of the workflow, checked by make lint).
"""
