"""Checks of the analysis plan that a JSON schema cannot express (cross-references between entries).

Runs when the workflow starts, before any job, so a wrong plan fails with a message instead of a result.
The plan is untrusted input: it may only name variables and levels the analysis data can hold (the schema
allows plain identifiers; these checks allow only known ones), and design matrices are built from those
names, never from formula text.
"""

from __future__ import annotations

import copy
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import yaml

from analysis.design import model_covariates
from analysis.disclosure import DisclosureRule, text_violations
from analysis.errors import PlanError, printable
from analysis.sample import IDENTIFIERS, wave_suffix
from analysis.variables import COVARIATES, coded_levels

__all__ = ["PLAN_FILE_KEY", "PlanError", "baseline_variables", "check_plan", "coded_levels",
           "layer_plan_file", "merge_plan", "model_roles", "plan_refusals", "read_plan_file",
           "refuse_code_in_plan", "refuse_tagged_config_args", "refuse_templated_configs"]


def refuse_templated_configs(paths) -> None:
    """Refuse config files that Snakemake would evaluate as code.

    Snakemake reads config files through YTE, which evaluates Python expressions in any file that sets
    `__use_yte__: true`. An analysis plan is data, so such a file (or one using Python YAML tags) is refused.
    Call this before the `configfile:` directive: files passed with --configfile have already been read by
    Snakemake's command line by then, so for those the run stops but cannot undo what the file did (which is
    why --configfile is not a supported way to pass a plan: use --config plan_file=PATH, read_plan_file).
    """
    problems = []
    for path in paths:
        try:
            plan = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            problems.append(_yaml_problem(path, err))
            continue
        problems += _template_problems(plan, "", _shown(path))
    _refuse(problems)


# The key a user's plan file is named by: snakemake --config plan_file=PATH (make run PLAN=PATH).
PLAN_FILE_KEY = "plan_file"
# Keys that switch on or feed Snakemake's YAML templating (YTE); a plan that uses them was written to be run.
TEMPLATE_KEYS = ("__use_yte__", "__definitions__", "__variables__")
CODE_HEADER = "Refusing to run an analysis plan that could execute code:"


def read_plan_file(path) -> dict:
    """A user's plan file, read as plain YAML (yaml.safe_load: no tags, no templating), never evaluated.

    Refused with a PlanError, naming the file, when it does not exist, is not UTF-8 text or YAML, is not a
    mapping of plan keys, or carries anything written to be evaluated: a Python (or any) YAML tag, YTE's
    `__use_yte__` and the other template keys, or a `?expression` value or key."""
    if not isinstance(path, str) or not path.strip():
        shown = "nothing" if path in (None, "") else f"{printable(path)!r} ({type(path).__name__})"
        raise PlanError(f"--config {PLAN_FILE_KEY}= must be the path of a YAML plan file; Snakemake read "
                        f"{shown} (write a path such as ./plan.yaml)")
    where = Path(path)
    name = _shown(path)
    if not where.is_file():
        state = "is a folder, not a file" if where.is_dir() else "does not exist"
        raise PlanError(f"The plan file {name} {state} (--config {PLAN_FILE_KEY}={name}; a relative path is "
                        f"read from the folder Snakemake runs in, {_shown(Path.cwd())})")
    try:
        text = where.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PlanError(f"The plan file {name} is not a text file (UTF-8 YAML expected)") from None
    try:
        plan = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as err:
        raise PlanError(f"{CODE_HEADER}\n  - {name}: {_tag_reason(err)}") from None
    except yaml.YAMLError as err:
        raise PlanError(f"The plan file {name} is not valid YAML: {_yaml_reason(err)}") from None
    if not isinstance(plan, dict):
        found = "nothing" if plan is None else f"a {type(plan).__name__}"
        raise PlanError(f"The plan file {name} must be a mapping of plan keys, as config/config.yaml is "
                        f"(e.g. 'exposure:' then indented settings); it holds {found}")
    _refuse(_template_problems(plan, "", name))
    if PLAN_FILE_KEY in plan:
        raise PlanError(f"The plan file {name} sets {PLAN_FILE_KEY}: a plan file cannot name another one")
    return plan


def layer_plan_file(config: dict, overrides) -> str | None:
    """Layer the plan file named by config['plan_file'] over `config` (in place); return its path, or None.

    Precedence, lowest first: config/config.yaml, then the plan file, then `overrides` (Snakemake's own
    --config key=value entries, workflow.config_settings.config), which are applied again so that they still
    win. The plan_file key is removed from `config`: it is where a plan came from, not part of the plan, and
    may name a secure folder, so it is neither validated against the schema nor hashed into provenance."""
    if PLAN_FILE_KEY not in config:
        return None
    path = config.pop(PLAN_FILE_KEY)
    merge_plan(config, read_plan_file(path))
    merge_plan(config, {key: copy.deepcopy(value) for key, value in dict(overrides or {}).items()
                        if key != PLAN_FILE_KEY})
    return path


def merge_plan(base: dict, layer: dict) -> dict:
    """`layer` merged into `base` in place, as Snakemake merges config files: mappings key by key, any other
    value (a list included) replaced whole."""
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_plan(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def refuse_code_in_plan(config: dict) -> None:
    """Refuse a merged plan (config files, plan file and --config entries) holding anything written to be
    evaluated by Snakemake's templating: a template key, or a key or value starting with '?'."""
    _refuse(_template_problems(config, "", "the analysis plan"))


def refuse_tagged_config_args(entries) -> None:
    """Refuse --config key=value entries whose value carries a YAML tag (e.g. !!python/object/apply).

    Snakemake parses these values with YAML's BaseLoader, which ignores tags (so nothing runs), but a tag in
    a plan can only be an attempt to run code, and ignoring it would silently change the value."""
    problems = []
    for entry in entries or []:
        key, sep, value = str(entry).partition("=")
        if not sep:
            continue
        try:
            yaml.safe_load(value)
        except yaml.constructor.ConstructorError as err:
            problems.append(f"--config {printable(key)}=...: {_tag_reason(err, line=False)}")
        except yaml.YAMLError:
            continue  # not YAML: Snakemake takes the text as it is
    _refuse(problems)


@contextmanager
def plan_refusals():
    """In the Snakefile: a refused plan ends Snakemake with the message alone (exit status 1), no stack."""
    try:
        yield
    except PlanError as err:
        sys.exit(str(err))


def _refuse(problems: list[str]) -> None:
    if problems:
        raise PlanError(CODE_HEADER + "\n  - " + "\n  - ".join(problems))


def _template_problems(value, where: str, source: str) -> list[str]:
    """Template keys and '?'-expressions anywhere in a parsed plan, each named by its key path."""
    problems = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{where}.{key}" if where else str(key)
            if key in TEMPLATE_KEYS:
                problems.append(f"{source}: sets {printable(here)}, which makes Snakemake evaluate Python "
                                "expressions in it; the analysis plan must be plain YAML")
            elif isinstance(key, str) and key.lstrip().startswith("?"):
                problems.append(f"{source}: key {printable(here)!r} is a template expression (a leading "
                                "'?'), which Snakemake's templating evaluates as Python")
            problems += _template_problems(item, here, source)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _template_problems(item, f"{where}[{index}]", source)
    elif isinstance(value, str) and value.lstrip().startswith("?"):
        problems.append(f"{source}: {printable(where)} = {printable(value)!r} is a template expression (a "
                        "leading '?'), which Snakemake's templating evaluates as Python; plan values are "
                        "never evaluated")
    return problems


def _shown(path) -> str:
    """A path for a message, whole (its end names the file), with unprintable characters escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(path))


def _yaml_problem(path, err: yaml.YAMLError) -> str:
    if isinstance(err, yaml.constructor.ConstructorError):
        return f"{_shown(path)}: {_tag_reason(err)}"
    return f"{_shown(path)}: is not plain YAML ({_yaml_reason(err)})"


def _tag_reason(err: yaml.constructor.ConstructorError, line: bool = True) -> str:
    found = re.search(r"tag '([^']*)'", str(err.problem or ""))
    tag = found.group(1).replace("tag:yaml.org,2002:", "!!") if found else "?"
    line = f"line {err.problem_mark.line + 1}: " if line and err.problem_mark is not None else ""
    return (f"{line}uses the YAML tag {printable(tag)}, which an unsafe YAML loader turns into Python "
            "objects or calls; the analysis plan must be plain YAML")


def _yaml_reason(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{problem}" + (f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else "")


def baseline_variables() -> set[str]:
    """Names a covariate may take: the covariates of the variable registry (analysis/variables.py)."""
    return set(COVARIATES)


def unknown_covariate(where: str, name: str) -> str:
    """The refusal of a covariate outside the variable registry, naming those it may be."""
    return (f"{where}: '{name}' is not a survey, derived or centre variable (the covariates a plan may name "
            f"are those of analysis/variables.py: {', '.join(sorted(COVARIATES))}; or a score at a wave)")


def check_plan(config: dict) -> None:
    problems = []
    exposure = config["exposure"]
    if exposure["base_year"] >= exposure["end_year"]:
        problems.append(f"exposure.base_year {exposure['base_year']} is not before end_year "
                        f"{exposure['end_year']}")
    sample = config["primary_sample"]
    if sample["baseline_wave"] >= sample["followup_wave"]:
        problems.append("primary_sample.baseline_wave must be earlier than followup_wave")
    models = config["models"]
    source = sample["covariates_from_model"]
    if source not in models:
        problems.append(f"primary_sample.covariates_from_model names '{source}', which is not a model")
        raise PlanError("; ".join(problems))

    waves = (sample["baseline_wave"], sample["followup_wave"])
    names = [sample["score"], *sample.get("secondary_scores", []), *sample.get("binary_scores", {})]
    scores = {wave_suffix(name, w) for name in names for w in waves}
    for name, entry in sample.get("binary_scores", {}).items():
        if entry["score"] not in [sample["score"], *sample.get("secondary_scores", [])]:
            problems.append(f"primary_sample.binary_scores.{name}: score '{entry['score']}' is not carried "
                            "(add it to secondary_scores)")
    known = baseline_variables() | scores
    sample_covariates = set(model_covariates(models[source]))
    carried = set(IDENTIFIERS) | scores | sample_covariates
    for model, entry in models.items():
        unknown = [name for name in model_covariates(entry) if name not in known]
        for name in unknown:
            key = "baseline" if name == entry.get("baseline") else "covariates"
            problems.append(unknown_covariate(f"models.{model}.{key}", name))
        used = [entry["outcome"], entry["exposure"], *model_covariates(entry), *entry["clusters"]]
        for name in (n for n in used if n not in unknown):
            if name not in carried:
                problems.append(f"models.{model}: variable '{name}' is not in the analysis data "
                                f"(available: {', '.join(sorted(carried))})")
        for name, level in entry.get("categorical", {}).items():
            levels = coded_levels(name)
            if name not in model_covariates(entry):
                problems.append(f"models.{model}.categorical: '{name}' is not one of its covariates")
            elif levels is None:
                problems.append(f"models.{model}.categorical: '{name}' is not a coded variable, so it cannot "
                                "be entered as categorical")
            elif level not in levels:
                problems.append(f"models.{model}.categorical.{name}: reference level {level!r} is not one of "
                                f"its levels ({', '.join(str(v) for v in sorted(levels))})")
        if entry.get("exposure_kind", "groups") != "groups" and entry["exposure"] != "budget_change_pct":
            problems.append(f"models.{model}: a {entry['exposure_kind']} exposure must be budget_change_pct")
        if entry["outcome"] in model_covariates(entry):
            problems.append(f"models.{model}: the outcome '{entry['outcome']}' is also a covariate")
    for set_name, covariates in config.get("specification_curve", {}).get("covariate_sets", {}).items():
        problems += [unknown_covariate(f"specification_curve.covariate_sets.{set_name}", name)
                     for name in covariates if name not in known]
    for key in ("multiple_imputation", "inverse_probability_weighting", "effect_size", "leave_one_la_out",
                "covariate_balance"):
        if key in config and config[key]["model"] not in models:
            problems.append(f"{key}.model names '{config[key]['model']}', which is not a model")
    balance = models.get(config.get("covariate_balance", {}).get("model"))
    if balance is not None and balance.get("exposure_kind", "groups") != "groups":
        problems.append(f"covariate_balance.model '{config['covariate_balance']['model']}' must compare "
                        "funding groups (exposure_kind groups): the balance is between groups")
    for name in config.get("secondary_family", {}).get("models", []):
        if name not in models:
            problems.append(f"secondary_family.models names '{name}', which is not a model")
    few = config.get("few_clusters", {}).get("model")
    if few is not None:
        entry = models.get(few)
        if entry is None:
            problems.append(f"few_clusters.model names '{few}', which is not a model")
        elif entry["estimator"] != "ols_cr2" or not entry.get("bootstrap"):
            problems.append(f"few_clusters.model '{few}' must be an ols_cr2 model with a bootstrap block: "
                            "its wild cluster bootstrap interval is what the report leads with")
    problems += (role_problems(config) + scenario_problems(config) + power_problems(config)
                 + joint_test_problems(config))
    if problems:
        raise PlanError("The analysis plan (config/config.yaml, with any plan file) is inconsistent:\n  - "
                        + "\n  - ".join(problems))


# What each model role means when the plan leaves it out (as config/schema/config.schema.yaml's defaults).
ROLE_DEFAULTS = {"primary": "primary", "dose_curve": None, "forest": ["primary"]}


def model_roles(plan: dict) -> dict:
    """The plan's model roles (model_roles), each left out taking its default: primary, the headline model;
    dose_curve, the spline model drawn as the dose-response curve (None: none pre-specified); forest, the
    models whose headline contrast leads the forest plot."""
    return {**ROLE_DEFAULTS, **(plan.get("model_roles") or {})}


# The estimators whose contrasts are differences in the outcome's own units, as the forest plot draws them.
FOREST_ESTIMATORS = ("lmm_reml", "ols_cr2")


def role_problems(config: dict) -> list[str]:
    """Each model role (model_roles) must name a model of the plan that can play it."""
    roles = model_roles(config)
    models = config["models"]
    problems = []

    def named(role: str, name: str) -> dict | None:
        if name not in models:
            problems.append(f"model_roles.{role} names '{name}', which is not a model of the plan (models: "
                            f"{', '.join(sorted(models))})")
        return models.get(name)

    primary_name = roles["primary"]
    primary = named("primary", primary_name)
    if primary is not None and primary.get("exposure_kind", "groups") != "groups":
        problems.append(f"model_roles.primary '{primary_name}' must compare funding groups (exposure_kind "
                        "groups): the report's headline is a contrast between groups")
    dose_name = roles["dose_curve"]
    if dose_name is not None:
        dose = named("dose_curve", dose_name)
        if dose is not None and dose.get("exposure_kind", "groups") != "spline":
            problems.append(f"model_roles.dose_curve '{dose_name}' must have a spline exposure "
                            f"(exposure_kind spline, it has {dose.get('exposure_kind', 'groups')}): the "
                            "dose-response figure draws the spline's curve")
    for name in roles["forest"]:
        entry = named("forest", name)
        if entry is None:
            continue
        if entry.get("exposure_kind", "groups") != "groups" or entry["estimator"] not in FOREST_ESTIMATORS:
            problems.append(f"model_roles.forest '{name}' must be a funding-group model estimated by "
                            f"{' or '.join(FOREST_ESTIMATORS)} (it is {entry['estimator']}, exposure_kind "
                            f"{entry.get('exposure_kind', 'groups')}): the forest plot draws differences in "
                            "the outcome's units")
        elif primary is not None and (entry["outcome"], entry.get("reference")) != (
                primary["outcome"], primary.get("reference")):
            problems.append(f"model_roles.forest '{name}' compares {entry['outcome']} against "
                            f"{entry.get('reference')}, the primary model {primary['outcome']} against "
                            f"{primary.get('reference')}: the forest plot shows one contrast of one outcome")
    return problems


def scenario_problems(config: dict) -> list[str]:
    """The scenarios block's models must be dose-response models of the right kind, and its plans readable."""
    from analysis.scenarios import Scenario

    block = config.get("scenarios", {})
    models = config["models"]
    problems = []
    named = [("mean_models", name, "lmm_reml") for name in block.get("mean_models", [])]
    named += [(f"share_models.{role}", name, "gee_logistic")
              for role, name in block.get("share_models", {}).items()]
    for where, name, estimator in named:
        entry = models.get(name)
        if entry is None:
            problems.append(f"scenarios.{where} names '{name}', which is not a model")
        elif (entry["estimator"] != estimator
              or entry.get("exposure_kind", "groups") not in ("linear", "spline")
              or (estimator == "gee_logistic" and entry.get("exposure_kind") != "linear")):
            kind = "a linear or spline" if estimator == "lmm_reml" else "a linear"
            problems.append(f"scenarios.{where} '{name}' must be a model of estimator {estimator} with "
                            f"{kind} exposure of budget_change_pct: the projections need a dose-response")
    if block.get("planned") and not named:
        problems.append("scenarios.planned gives plans but mean_models and share_models name no model to "
                        "project them with")
    if block.get("planned") and not block.get("mean_models"):
        problems.append("scenarios.mean_models names no model: the projections' figure and the brief need at "
                        "least one dose-response model of mean K6")
    rule = DisclosureRule.from_config(config["disclosure"]) if "disclosure" in config else None
    for name, entry in block.get("planned", {}).items():
        try:
            Scenario.from_config(name, entry)
        except PlanError as err:
            problems.append(str(err))
        # The description is printed in the published brief and report: it must pass the disclosure rule.
        for problem in text_violations(entry.get("description") or "", rule, "") if rule else []:
            problems.append(f"scenarios.planned.{name}.description would break the disclosure rule when "
                            f"published: {problem.message}")
    return problems


def joint_test_problems(config: dict) -> list[str]:
    """The specification curve's joint test: a usable number of resamples, seed and significance level."""
    from analysis.joint_test import plan_problems

    entry = config.get("specification_curve", {}).get("joint_test")
    return [] if entry is None else plan_problems(entry)


def power_problems(config: dict) -> list[str]:
    """Each evaluation design of the power planner must be one the formula can answer."""
    from analysis.power import designs_from_plan

    try:
        designs_from_plan(config.get("power_planner", {}))
    except PlanError as err:
        return [str(err)]
    return []
