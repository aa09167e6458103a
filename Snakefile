# Children's-centre funding and maternal mental health: the whole pipeline.
# Entry point only: config, its validation, the stage files and the final targets.
from snakemake.utils import min_version, validate

from analysis.plan import refuse_templated_configs

min_version("9.0")

# The plan is data: refuse, before reading it, a config file Snakemake would evaluate as code (YTE).
refuse_templated_configs(["config/config.yaml", *workflow.overwrite_configfiles])


configfile: "config/config.yaml"


validate(config, "config/schema/config.schema.yaml")


# The browsable archive: snakemake --report results/report.zip
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/clean.smk"
include: "workflow/rules/exposure.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/report.smk"


rule all:
    """Every deliverable: data products, result tables and their renderings, figures, the report."""
    input:
        final_outputs(),
    default_target: True
