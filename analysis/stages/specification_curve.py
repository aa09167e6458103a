"""The specification curve and its joint test (workflow/rules/specification_curve.smk).

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from analysis import io
from analysis.data_source import is_synthetic
from analysis.figures import specification_curve_figure
from analysis.joint_test import JointTestPlan, joint_test_table, run_joint_test, specification_refitter
from analysis.results import headline_contrast
from analysis.sample import survey_columns
from analysis.specification_curve import fit_specification, specification_model, specifications


def specification(centres: str, funding: str, deflators: str, survey: str, plan: dict, spec_id: str,
                  output: str) -> None:
    choice = specifications(plan)[spec_id]
    # Only the columns this specification's sample uses (a fraction of the survey at national scale).
    wanted = survey_columns(choice["score"], list(specification_model(plan, choice).covariates),
                            level=plan["exposure"].get("level", "centre"))
    present = pq.read_schema(survey).names
    rows = fit_specification(pd.read_parquet(centres), pd.read_parquet(funding), pd.read_parquet(deflators),
                             pd.read_parquet(survey, columns=[c for c in wanted if c in present]), plan,
                             spec_id, choice)
    io.write_csv(rows, output)


def specification_joint_test(centres: str, funding: str, deflators: str, survey: str, source: str, plan: dict,
                             output: str) -> None:
    """The curve's joint test, from the cleaned data: each specification re-derived once, then refitted to
    every null resample from its per-LA statistics (the rows are not kept)."""
    joint = JointTestPlan.from_config(plan["specification_curve"]["joint_test"])
    grid = specifications(plan)
    level = plan["exposure"].get("level", "centre")
    wanted = set()
    for choice in grid.values():
        wanted.update(survey_columns(choice["score"], list(specification_model(plan, choice).covariates),
                                     level=level))
    frame = pd.read_parquet(survey, columns=[c for c in pq.read_schema(survey).names if c in wanted])
    cleaned = pd.read_parquet(centres), pd.read_parquet(funding), pd.read_parquet(deflators)
    refitters = {spec_id: specification_refitter(*cleaned, frame, plan, spec_id, choice)
                 for spec_id, choice in grid.items()}
    table = joint_test_table(run_joint_test(refitters, joint))
    table["synthetic_data"] = is_synthetic(source)
    io.write_csv(table, output)


def specification_curve(specs: list[str], source: str, table: str, figure: str) -> None:
    curve = pd.concat([pd.read_csv(s) for s in specs], ignore_index=True)
    curve = curve.sort_values(["contrast", "estimate"]).reset_index(drop=True)
    synthetic = is_synthetic(source)
    curve["synthetic_data"] = synthetic
    io.write_csv(curve, table)
    with io.atomic_path(figure) as tmp:
        specification_curve_figure(curve, tmp, synthetic, contrast=headline_contrast(curve))
