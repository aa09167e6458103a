"""Decision support (workflow/rules/decision.smk): planned budget changes, the brief for councillors, a
council's own evaluation.

Each stage reads the files it is given, calls the science in analysis/, and writes each output atomically.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import io, power
from analysis.brief import brief_html
from analysis.data_source import is_synthetic
from analysis.disclosure import DisclosureError, DisclosureRule, text_violations, visible_text
from analysis.figures import power_figure
from analysis.provenance import short_hash
from analysis.scenarios import project


def scenarios(analysis: str, deflators: str, source: str, plan: dict, table: str, curve: str) -> None:
    """What each planned budget change would mean (analysis.scenarios): the table and the mean curves."""
    projections, curves = project(pd.read_parquet(analysis), pd.read_parquet(deflators), plan)
    synthetic = is_synthetic(source)
    io.write_csv(projections.assign(synthetic_data=synthetic), table)
    io.write_csv(curves.assign(synthetic_data=synthetic), curve)


def power_planner(diagnostics: str, analysis: str, source: str, plan: dict, standardiser: str, table: str,
                  curve: str, figure: str) -> None:
    """MDE and power of the plan's evaluation designs (analysis.power), with the MDE-by-centres curve."""
    block = plan["power_planner"]
    if block.get("variance_from", "fitted") == "given":
        variance, origin = power.Variance(**block["variance"]), "given in the plan"
    else:
        variance, origin = power.fit_variance(diagnostics)
    outcome_sd = block.get("outcome_sd")
    if outcome_sd is None:
        outcome_sd = float(pd.read_parquet(analysis, columns=[standardiser])[standardiser].std())
    designs = power.designs_from_plan(block)
    alpha, target = float(block.get("alpha", 0.05)), float(block.get("power", 0.8))
    rows = power.plan_table(designs, variance, alpha, target, float(block.get("effect_k6", 1.0)), outcome_sd,
                            origin)
    curves = power.mde_curve(designs[0], list(block.get("curve_centres", [])), variance, alpha, target)
    synthetic = is_synthetic(source)
    io.write_csv(rows.assign(synthetic_data=synthetic), table)
    io.write_csv(curves.assign(synthetic_data=synthetic), curve)
    with io.atomic_path(figure) as tmp:
        power_figure(curves, designs[0], target, alpha, tmp, synthetic)


def brief(tables: list[str], figure: str, source: str, provenance: str, disclosure: dict,
          output: str) -> None:
    """The one-page brief for councillors (analysis.brief), refused if its text breaks the disclosure rule."""
    rule = DisclosureRule.from_config(disclosure)
    page = brief_html({Path(t).stem: pd.read_csv(t) for t in tables}, figure, is_synthetic(source),
                      short_hash(io.read_json(provenance)), rule.describe())
    problems = text_violations(visible_text(page), rule, Path(output).name)
    if problems:
        raise DisclosureError(problems, rule)
    io.write_text(page, output)
