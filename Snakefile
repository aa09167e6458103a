# Children's-centre funding and maternal mental health: the whole pipeline.
# Entry point only: config, its validation, the final targets and the stage files.
from snakemake.utils import min_version, validate

from analysis.plan import (
    layer_plan_file,
    plan_refusals,
    refuse_code_in_plan,
    refuse_tagged_config_args,
    refuse_templated_configs,
)

min_version("9.0")

# The plan is data, never code. Snakemake reads config files through YTE, which evaluates Python in a file
# that sets __use_yte__, so config/config.yaml is checked as plain YAML before the configfile directive reads
# it, and --config values carrying YAML tags are refused. Files given with --configfile are NOT a supported
# way to pass a plan: Snakemake's command line has evaluated them before this line runs, so refusing them
# here is only a backstop. A user's plan file is given as --config plan_file=PATH (make run PLAN=PATH), below.
with plan_refusals():
    refuse_templated_configs(["config/config.yaml", *workflow.overwrite_configfiles])
    refuse_tagged_config_args(workflow.config_settings.config_args)


configfile: "config/config.yaml"


# The plan file is read here with yaml.safe_load only (no tags, no templating) and layered over
# config/config.yaml; Snakemake's own --config key=value entries (workflow.config_settings.config) are applied
# again on top, so they still win. plan_file leaves `config` before validation and before provenance hashes
# the plan (it may name a secure folder).
with plan_refusals():
    layer_plan_file(config, workflow.config_settings.config)
    refuse_code_in_plan(config)


validate(config, "config/schema/config.schema.yaml")


# The browsable archive: snakemake --report results/report.zip
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# The first rule is the default target. (A default_target directive would let it come last, but snakefmt
# 2.1.0 sorts that directive above the docstring and then cannot read its own output.)
rule all:
    """Every deliverable: data products, result tables and their renderings, figures, the report."""
    input:
        final_outputs(),


include: "workflow/rules/clean.smk"
include: "workflow/rules/exposure.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/sensitivity.smk"
include: "workflow/rules/specification_curve.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/decision.smk"
include: "workflow/rules/report.smk"
