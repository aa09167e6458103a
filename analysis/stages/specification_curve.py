"""The specification curve and its joint test (workflow/rules/specification_curve.smk).

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from analysis import io
from analysis.data_source import is_synthetic
from analysis.figures import specification_curve_figure
from analysis.joint_test import JointTestPlan, joint_test_table, run_joint_test, specification_refitter
from analysis.results import headline_contrast
from analysis.sample import survey_columns
from analysis.specification_curve import fitted_specifications, specification_model, specifications


def specification(centres: str, funding: str, deflators: str, survey: str, plan: dict,
                  choices: dict[str, dict], outputs: list[str], refitters: str) -> None:
    """The specifications sharing one analysis sample (`choices`, id -> choice), each written to its output
    (named <specification id>.csv): the sample built once, then each specification fitted once, for its rows
    of the curve and for its refitter in the joint test (`refitters`, a pickle read only by
    specification_joint_test). `plan`: the slice they read (specification_job_plan)."""
    chosen = {Path(output).stem: choices[Path(output).stem] for output in outputs}
    cleaned = pd.read_parquet(centres), pd.read_parquet(funding), pd.read_parquet(deflators)
    ready = {}
    for spec_id, rows, spec, fit in fitted_specifications(
            *cleaned, specification_survey(survey, plan, chosen), plan, chosen):
        io.write_csv(rows, next(output for output in outputs if Path(output).stem == spec_id))
        ready[spec_id] = specification_refitter(spec, fit, spec_id)
    with io.atomic_path(refitters) as partial:
        partial.write_bytes(pickle.dumps(ready))


def specification_joint_test(refitters: list[str], source: str, plan: dict, output: str) -> None:
    """The curve's joint test: each specification's refitter, made by its specification job from its fit,
    refitted to every null resample from its per-LA statistics (the rows are not kept)."""
    joint = JointTestPlan.from_config(plan["specification_curve"]["joint_test"])
    ready = {}
    for path in refitters:
        ready.update(pickle.loads(Path(path).read_bytes()))  # written by the specification jobs of this run
    grid = specifications(plan)
    missing = [spec_id for spec_id in grid if spec_id not in ready]
    if missing:
        raise ValueError(f"The joint test needs every specification's refitter; {len(missing)} are not in "
                         f"{', '.join(refitters)} (e.g. {missing[0]}): rerun the specification jobs.")
    table = joint_test_table(run_joint_test({spec_id: ready[spec_id] for spec_id in grid}, joint))
    table["synthetic_data"] = is_synthetic(source)
    io.write_csv(table, output)


def specification_survey(survey: str, plan: dict, choices: dict[str, dict]) -> pd.DataFrame:
    """Only the cleaned-survey columns these specifications' samples use (a fraction of the survey at
    national scale)."""
    level = plan["exposure"].get("level", "centre")
    wanted = set()
    for choice in choices.values():
        wanted.update(survey_columns(choice["score"], list(specification_model(plan, choice).covariates),
                                     level=level))
    return pd.read_parquet(survey, columns=[c for c in pq.read_schema(survey).names if c in wanted])


def specification_curve(specs: list[str], source: str, table: str, figure: str) -> None:
    curve = pd.concat([pd.read_csv(s) for s in specs], ignore_index=True)
    curve = curve.sort_values(["contrast", "estimate"]).reset_index(drop=True)
    synthetic = is_synthetic(source)
    curve["synthetic_data"] = synthetic
    io.write_csv(curve, table)
    with io.atomic_path(figure) as tmp:
        specification_curve_figure(curve, tmp, synthetic, contrast=headline_contrast(curve))
