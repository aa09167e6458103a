"""Checks of the analysis plan that a JSON schema cannot express (cross-references between entries).

Runs when the workflow starts, before any job, so a wrong plan fails with a message instead of a result.
The plan is untrusted input: it may only name variables and levels the analysis data can hold (the schema
allows plain identifiers; these checks allow only known ones), and design matrices are built from those
names, never from formula text.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from analysis.contract import CENTRES, SURVEY
from analysis.design import model_covariates
from analysis.errors import PlanError
from analysis.sample import CENTRE_VARIABLES, DERIVED, IDENTIFIERS, wave_suffix

__all__ = ["PlanError", "baseline_variables", "check_plan", "coded_levels", "refuse_templated_configs"]


def refuse_templated_configs(paths) -> None:
    """Refuse config files that Snakemake would evaluate as code.

    Snakemake reads config files through YTE, which evaluates Python expressions in any file that sets
    `__use_yte__: true`. An analysis plan is data, so such a file (or one using Python YAML tags) is refused.
    Call this before the `configfile:` directive: files passed with --configfile have already been read by
    Snakemake's command line by then, so for those the run stops but cannot undo what the file did.
    """
    problems = []
    for path in paths:
        try:
            plan = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            problems.append(f"{path}: is not plain YAML ({str(err).splitlines()[0]})")
            continue
        if isinstance(plan, dict) and "__use_yte__" in plan:
            problems.append(f"{path}: sets __use_yte__, which makes Snakemake evaluate Python expressions "
                            "in it; the analysis plan must be plain YAML")
    if problems:
        raise PlanError("Refusing to run an analysis plan that could execute code:\n  - "
                        + "\n  - ".join(problems))


def coded_levels(name: str) -> set[int] | None:
    """The levels a coded covariate can take (from the raw-data contract), or None if it is not coded."""
    if name in DERIVED:
        return {0, 1}
    if name in CENTRE_VARIABLES:
        source, _ = CENTRE_VARIABLES[name]
        if source != name:  # an indicator made from a centre column
            return {0, 1}
    for column in (*SURVEY.columns, *CENTRES.columns):
        if column.name == name and column.kind == "code":
            return set(range(int(column.low), int(column.high) + 1))
    return None


def baseline_variables() -> set[str]:
    """Names a covariate may take: survey measures, derived indicators and centre characteristics."""
    keys = {"mother_id", "wave", "interview_date", "centre_id"}
    return (set(SURVEY.column_names) - keys) | set(DERIVED) | set(CENTRE_VARIABLES)


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
    for name in sorted(sample_covariates - known):
        problems.append(f"models.{source}.covariates: '{name}' is not a survey, derived or centre "
                        "variable")
    carried = set(IDENTIFIERS) | scores | sample_covariates
    for model, entry in models.items():
        used = [entry["outcome"], entry["exposure"], *model_covariates(entry), *entry["clusters"]]
        for name in used:
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
    for key in ("multiple_imputation", "inverse_probability_weighting", "effect_size", "leave_one_la_out"):
        if key in config and config[key]["model"] not in models:
            problems.append(f"{key}.model names '{config[key]['model']}', which is not a model")
    for name in config.get("secondary_family", {}).get("models", []):
        if name not in models:
            problems.append(f"secondary_family.models names '{name}', which is not a model")
    if problems:
        raise PlanError("The analysis plan (config/config.yaml) is inconsistent:\n  - "
                        + "\n  - ".join(problems))
