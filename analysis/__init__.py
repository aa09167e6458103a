"""Children's-centre funding and maternal mental health: the science of the pipeline.

Modules, in pipeline order: contract and cleaning (raw data), scoring (K6, GHQ-12), exposure (funding
groups), sample (primary sample), design, fastreml and mixed (the primary model), results, figures and report
(outputs), stages (what the workflow's scripts call), simulate (synthetic demonstration data).
"""
