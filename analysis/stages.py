"""The pipeline's stages as plain functions of paths and plan entries; workflow/scripts/ call these.

Each stage reads only the files it is given and writes each output atomically, so a failed stage leaves no
output behind.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from analysis import io, models
from analysis.appendix import Section, appendix_html, appendix_latex, appendix_markdown, deviations_section
from analysis.cleaning import clean_all
from analysis.data_source import data_source, is_synthetic
from analysis.descriptives import caseness_cut_off, funding_groups, score_by_wave
from analysis.design import ModelSpec
from analysis.disclosure import (
    DisclosureError,
    DisclosureRule,
    check_tables,
    protect_table,
    published_renderings,
    text_violations,
    violations,
    visible_text,
)
from analysis.errors import RawDataError
from analysis.exposure import ExposurePlan, exposure_table, read_exposure, window_words
from analysis.figures import (
    balance_figure,
    budget_change_figure,
    dose_response_figure,
    estimates_figure,
    forest_figure,
    power_figure,
    sample_flow_figure,
    scenarios_figure,
    score_by_wave_figure,
    specification_curve_figure,
)
from analysis.importers.sources import read_source, write_imported
from analysis.joint_test import JointTestPlan, joint_test_table, run_joint_test, specification_refitter
from analysis.missing import (
    ipw_estimate,
    label_terms,
    multiple_imputation,
    plan_attrition_frame,
    response_weights,
)
from analysis.models import diagnostics_record
from analysis.notebook import make_reproducible
from analysis.panel import build_panel, did_table
from analysis.pdf import html_to_pdf
from analysis.plan_lock import deviations, lock_record, read_deviations, read_lock
from analysis.primary import sample_from_plan
from analysis.provenance import manifest as run_manifest
from analysis.provenance import provenance_record, short_hash, utc_now
from analysis.results import (
    coefficient_table,
    contrast_table,
    headline_contrast,
    to_latex,
    to_markdown,
)
from analysis.sample import survey_columns
from analysis.sensitivity import effect_size_table, forest_rows, holm_adjust, leave_one_out
from analysis.specification_curve import fit_specification, specification_model, specifications
from analysis.strobe import strobe_latex, strobe_markdown

log = logging.getLogger(__name__)


def import_source(source: str, entry: dict, contract_name: str, raw_dir: str, contract: str, import_log: str,
                  provenance: str) -> None:
    """Read one source as published and write its contract file, counted rules and provenance."""
    imported = read_source(source, entry, Path(raw_dir))
    write_imported(imported, contract_name, contract, import_log, provenance, source, entry)


def clean(raw_dir: str, level: str, contract_files: dict, import_logs: list[str], centres: str, funding: str,
          deflators: str, survey: str, cleaning_log: str, source: str,
          imported_from: dict | None = None) -> None:
    """Clean the contract files of this exposure level: each in raw_dir, or where `contract_files` (contract
    file name -> path) says an importer wrote it. The cleaning log starts with the importers' counted
    rules. A contract problem in an imported file names the files it was imported from (`imported_from`:
    contract file name -> published file names), since those are the files a data manager has."""
    try:
        data = clean_all(Path(raw_dir), level, {name: Path(path) for name, path in contract_files.items()})
    except RawDataError as err:
        sources = imported_from or {}
        raise RawDataError([replace(p, file=f"{p.file} (imported from {', '.join(sources[p.file])})")
                            if p.file in sources else p for p in err.problems]) from None
    io.write_parquet(data.centres, centres)
    io.write_parquet(data.funding, funding)
    io.write_parquet(data.deflators, deflators)
    io.write_parquet(data.survey, survey)
    imports = [pd.read_csv(path, dtype={"column": str}, keep_default_na=False) for path in import_logs]
    io.write_csv(pd.concat([*imports, data.log.to_frame()], ignore_index=True), cleaning_log)
    io.write_json(data_source(Path(raw_dir)), source)


def exposure(centres: str, funding: str, deflators: str, plan: dict, output: str) -> None:
    table = exposure_table(pd.read_parquet(centres), pd.read_parquet(funding),
                            pd.read_parquet(deflators), ExposurePlan.from_config(plan))
    io.write_csv(table, output)


def sample(survey: str, centre_exposure: str, plan: dict, covariates: list[str], analysis: str,
           flow: str) -> None:
    frame, steps = sample_from_plan(
        pd.read_parquet(survey), read_exposure(centre_exposure),
        plan, covariates)
    io.write_parquet(frame, analysis)
    io.write_csv(steps, flow)


def fit_model(analysis: str, source: str, name: str, entry: dict, fit_settings: dict, contrasts: str,
              coefficients: str, diagnostics: str) -> None:
    spec = ModelSpec.from_config(name, entry)
    summary = models.fit_model(pd.read_parquet(analysis), spec, fit_settings)
    synthetic = is_synthetic(source)
    io.write_csv(contrast_table(summary, spec, synthetic), contrasts)
    io.write_csv(coefficient_table(summary, spec, synthetic), coefficients)
    io.write_json(diagnostics_record(spec, summary), diagnostics)


def publish_table(table: str, source: str, provenance: str, title: str, disclosure: dict, csv: str,
                  markdown: str, latex: str) -> None:
    """Disclosure-control an exact table and publish it as CSV, Markdown and LaTeX, citing its provenance."""
    rule = DisclosureRule.from_config(disclosure)
    frame = protect_table(pd.read_csv(table), rule)
    problems = violations(frame, rule, Path(csv).name)
    if problems:  # protect_table should have made every count safe; refuse rather than publish
        raise DisclosureError(problems)
    synthetic = is_synthetic(source)
    footer = [rule.describe(), f"Provenance {short_hash(io.read_json(provenance))}: hash of the raw inputs, "
              "configuration, code and package versions (results/manifest.json)."]
    io.write_csv(frame, csv)
    io.write_text(to_markdown(frame, title, synthetic, footer), markdown)
    io.write_text(to_latex(frame, title, synthetic, footer), latex)


def disclosure_check(tables: list[str], disclosure: dict, output: str) -> None:
    """Fail the run if any published table breaks the disclosure rule; withdraw the tables that do."""
    rule = DisclosureRule.from_config(disclosure)
    try:
        check_tables(tables, rule)
    except DisclosureError as err:
        for name in sorted({p.file for p in err.problems}):
            for stale in published_renderings(name, tables):
                stale.unlink(missing_ok=True)
                log.error("withdrew %s: it breaks the disclosure rule", stale)
        raise
    io.write_json({"rule": rule.describe(), "suppress_below": rule.suppress_below,
                   "round_to": rule.round_to, "tables_checked": sorted(Path(t).name for t in tables),
                   "passed": True}, output)


def _lock(lock: str | None) -> dict | None:
    return read_lock(lock) if lock else None


def provenance(raw: dict, config: dict, plan: str, lock: str | None, output: str) -> None:
    """The provenance record; an imported source's record (format, files, release and vintage) goes in it
    under `imports`, and the frozen plan's lock (its hash, the version in force) under `plan_lock`, so both
    enter its hash."""
    imports = {label.removeprefix("import_"): io.read_json(path) for label, path in raw.items()
               if label.startswith("import_")}
    files = {label: path for label, path in raw.items() if not label.startswith("import_")}
    plan_lock = lock_record(lock, _lock(lock), io.read_json(plan))
    io.write_json(provenance_record(files, config, Path.cwd(), imports, plan_lock), output)


def analysis_plan(plan: dict, output: str) -> None:
    """The run's analysis plan (what `make freeze` freezes and every run is compared with)."""
    io.write_json(plan, output)


def plan_deviations(plan: str, lock: str | None, output: str) -> None:
    """Each setting of this run's plan that differs from the frozen plan (none without a lock)."""
    io.write_csv(deviations(io.read_json(plan), _lock(lock)), output)


def manifest(provenance_file: str, outputs: list[str], config: dict, started_file: str, output: str) -> None:
    """The run's manifest: provenance plus git state, seeds, output hashes and start and end times."""
    started = Path(started_file).read_text().strip() if Path(started_file).is_file() else "unknown"
    record = run_manifest(io.read_json(provenance_file), config, Path.cwd(), started, utc_now(), outputs)
    io.write_json(record, output)


def funding_group_table(centre_exposure: str, plan: dict, disclosure: dict, output: str) -> None:
    table = funding_groups(read_exposure(centre_exposure),
                           plan["cut_threshold_pct"], plan["growth_threshold_pct"],
                           window_words(plan),
                           DisclosureRule.from_config(disclosure).suppress_below)
    io.write_csv(table, output)


def distress_by_wave(survey: str, centre_exposure: str, source: str, plan: dict, disclosure: dict,
                     output: str) -> None:
    table = score_by_wave(pd.read_parquet(survey),
                          read_exposure(centre_exposure),
                          plan["score"], int(plan["baseline_wave"]), 0.95,
                          DisclosureRule.from_config(disclosure).suppress_below,
                          cut_off=caseness_cut_off(plan.get("binary_scores", {}), plan["score"]))
    table["synthetic_data"] = is_synthetic(source)
    io.write_csv(table, output)


def distress_figure(table: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        score_by_wave_figure(pd.read_csv(table), tmp, is_synthetic(source))


def flow_figure(flow: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        sample_flow_figure(pd.read_csv(flow, dtype=str), tmp, is_synthetic(source))


def appendix(config: dict, markdown_tables: list[str], latex_tables: list[str], contrast_tables: list[str],
             provenance: str, deviations: str, disclosure: dict, source: str, markdown: str, html: str,
             latex: str, figures: dict[str, str] | None = None) -> None:
    """The academic appendix from the published tables and figures (caption -> path), in Markdown, HTML and
    LaTeX; figures are linked relative to the appendix, and embedded in the HTML."""
    synthetic = is_synthetic(source)
    note = DisclosureRule.from_config(disclosure).describe()
    record = io.read_json(provenance)
    stamp = short_hash(record)
    contrasts = {Path(t).stem: pd.read_csv(t) for t in contrast_tables}
    md = {Path(t).stem: Path(t).read_text() for t in markdown_tables}
    tex = {Path(t).stem: Path(t).read_text() for t in latex_tables}
    figures = figures or {}
    links = {caption: os.path.relpath(path, Path(markdown).parent) for caption, path in figures.items()}
    sections = [deviations_section(read_deviations(deviations), record.get("plan_lock", {})),
                Section("STROBE checklist (cohort studies)", strobe_markdown(), strobe_latex())]
    text = appendix_markdown(config, {k: v for k, v in md.items() if k != "cleaning_log"}, contrasts,
                             md["cleaning_log"], stamp, note, synthetic, links, sections)
    io.write_text(text, markdown)
    io.write_text(appendix_html(text, synthetic, {links[c]: path for c, path in figures.items()}), html)
    io.write_text(appendix_latex(config, {k: v for k, v in tex.items() if k != "cleaning_log"}, contrasts,
                                 tex["cleaning_log"], stamp, note, synthetic, links, sections), latex)


def execute_report(notebook: str, output: str, parameters: dict) -> None:
    """Run the report notebook with papermill; the executed notebook appears only once complete."""
    import nbformat
    import papermill  # only this stage needs them

    with io.atomic_path(output) as partial:
        executed = papermill.execute_notebook(notebook, str(partial), parameters=parameters, cwd=".",
                                              progress_bar=False)
        make_reproducible(executed, output)
        nbformat.write(executed, partial)


def render_report(notebook: str, template_dir: str, template_name: str, output: str) -> None:
    """The executed notebook as one self-contained HTML page without code (nbconvert --no-input)."""
    from nbconvert import HTMLExporter  # only this stage needs it

    exporter = HTMLExporter(template_name=template_name, extra_template_basedirs=[template_dir],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    html, _ = exporter.from_filename(notebook)
    io.write_text(html, output)


def report_pdf(html: str, pdf: str) -> None:
    html_to_pdf(html, pdf)


def budget_figure(centre_exposure: str, source: str, plan: dict, disclosure: dict, output: str) -> None:
    exposure_table = read_exposure(centre_exposure)
    with io.atomic_path(output) as tmp:
        budget_change_figure(exposure_table, plan["cut_threshold_pct"], plan["growth_threshold_pct"],
                             window_words(plan), DisclosureRule.from_config(disclosure).suppress_below, tmp,
                             is_synthetic(source))


def contrasts_figure(contrasts: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        estimates_figure(pd.read_csv(contrasts), tmp, is_synthetic(source))


def secondary_family(tables: list[str], source: str, output: str) -> None:
    family = holm_adjust([pd.read_csv(t) for t in tables])
    family["synthetic_data"] = is_synthetic(source)
    io.write_csv(family, output)


def effect_size(contrasts: str, analysis: str, source: str, entry: dict, name: str, standardiser: str,
                output: str) -> None:
    spec = ModelSpec.from_config(name, entry)
    table = pd.read_csv(contrasts)
    frame = pd.read_parquet(analysis)
    merged = effect_size_table(table, frame, spec, standardiser)
    merged["synthetic_data"] = is_synthetic(source)
    io.write_csv(merged, output)


def leave_one_la_out(analysis: str, source: str, name: str, entry: dict, fit_settings: dict,
                     output: str) -> None:
    table = leave_one_out(pd.read_parquet(analysis), ModelSpec.from_config(name, entry), fit_settings)
    table.insert(0, "model", name)
    table["synthetic_data"] = is_synthetic(source)
    io.write_csv(table, output)


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


def dose_figure(diagnostics: str, centre_exposure: str, source: str, plan: dict, entry: dict,
                output: str) -> None:
    curve = pd.DataFrame(json.loads(Path(diagnostics).read_text())["curve"])
    with io.atomic_path(output) as tmp:
        dose_response_figure(curve, read_exposure(centre_exposure), float(entry.get("ci_level", 0.95)),
                             plan["cut_threshold_pct"], plan["growth_threshold_pct"], entry["outcome"], tmp,
                             is_synthetic(source))


def forest(primary: str, ols_cr2: str, did: str, imputation: str, weighting: str, source: str, table: str,
           figure: str) -> None:
    primary_table = pd.read_csv(primary)
    contrast = headline_contrast(primary_table)
    rows = forest_rows(primary=primary_table, ols_cr2=pd.read_csv(ols_cr2), did=pd.read_csv(did),
                       imputation=pd.read_csv(imputation), weighting=pd.read_csv(weighting),
                       group=contrast.split(" vs ")[0])
    synthetic = is_synthetic(source)
    io.write_csv(rows.assign(contrast=contrast, synthetic_data=synthetic), table)
    with io.atomic_path(figure) as tmp:
        forest_figure(rows, contrast, tmp, synthetic)


def difference_in_differences(survey: str, centre_exposure: str, source: str, plan: dict, baseline_wave: int,
                              table: str, flow: str) -> None:
    score = plan["score"]
    panel, steps = build_panel(pd.read_parquet(survey),
                               read_exposure(centre_exposure),
                               score=score, baseline_wave=baseline_wave)
    result = did_table(panel, score, int(plan["reference_wave"]))
    result["synthetic_data"] = is_synthetic(source)
    io.write_csv(result, table)
    io.write_csv(steps, flow)


def attrition_analyses(survey: str, centre_exposure: str, source: str, plan: dict, imputation: str,
                       weighting: str) -> None:
    """Multiple imputation and inverse-probability weighting of the plan's named models."""
    synthetic = is_synthetic(source)
    exposure = read_exposure(centre_exposure)
    clean_survey = pd.read_parquet(survey)

    settings = plan["multiple_imputation"]
    spec = ModelSpec.from_config(settings["model"], plan["models"][settings["model"]])
    frame = plan_attrition_frame(clean_survey, exposure, plan["primary_sample"], spec)
    pooled = multiple_imputation(frame, spec, plan["mixed_model_fit"], m=int(settings["imputations"]),
                                 seed=int(settings["seed"]), burn_in=int(settings["burn_in"]))
    io.write_csv(label_terms(pooled, spec, synthetic, n_clusters=frame[spec.clusters[0]].nunique(),
                              se_method="Rubin's rules over m imputations; t with Barnard-Rubin df",
                              seed=int(settings["seed"])), imputation)

    spec = ModelSpec.from_config(plan["inverse_probability_weighting"]["model"],
                                 plan["models"][plan["inverse_probability_weighting"]["model"]])
    frame = plan_attrition_frame(clean_survey, exposure, plan["primary_sample"], spec)
    weights = response_weights(frame, [*spec.covariates, spec.exposure],
                               categorical=[*spec.categorical, spec.exposure])
    weighted = ipw_estimate(frame, spec, weights, level=spec.ci_level)
    summary = weights.attrs["summary"]
    weighted["weights_kish_effective_n"] = summary["kish_effective_n"]
    weighted["weights_max"] = summary["max"]
    io.write_csv(label_terms(weighted, spec, synthetic, n_clusters=weighted.attrs["n_clusters"]), weighting)


def scenarios(analysis: str, deflators: str, source: str, plan: dict, table: str, curve: str) -> None:
    """What each planned budget change would mean (analysis.scenarios): the table and the mean curves."""
    from analysis.scenarios import project

    projections, curves = project(pd.read_parquet(analysis), pd.read_parquet(deflators), plan)
    synthetic = is_synthetic(source)
    io.write_csv(projections.assign(synthetic_data=synthetic), table)
    io.write_csv(curves.assign(synthetic_data=synthetic), curve)


def scenario_figure(table: str, curve: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        scenarios_figure(pd.read_csv(curve), pd.read_csv(table), tmp, is_synthetic(source))


def power_planner(diagnostics: str, analysis: str, source: str, plan: dict, standardiser: str, table: str,
                  curve: str, figure: str) -> None:
    """MDE and power of the plan's evaluation designs (analysis.power), with the MDE-by-centres curve."""
    from analysis import power

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
    from analysis.brief import brief_html

    rule = DisclosureRule.from_config(disclosure)
    page = brief_html({Path(t).stem: pd.read_csv(t) for t in tables}, figure, is_synthetic(source),
                      short_hash(io.read_json(provenance)), rule.describe())
    problems = text_violations(visible_text(page), rule, Path(output).name)
    if problems:
        raise DisclosureError(problems, rule)
    io.write_text(page, output)


def covariate_balance(survey: str, centre_exposure: str, source: str, sample_plan: dict, name: str,
                      entry: dict, weighting_name: str | None, weighting_entry: dict | None, smd_guide: float,
                      disclosure: dict, characteristics: str, balance: str, patterns: str) -> None:
    """Table 1 (baseline characteristics by funding group), standardised mean differences in the baseline
    cohort and the analysed sample (unweighted and response-weighted), and missing-data patterns of model
    `name` (analysis.balance); the weights are those of model `weighting_name` (None: the plan has none)."""
    from analysis.balance import balance_tables

    weighting = (ModelSpec.from_config(weighting_name, weighting_entry) if weighting_name is not None
                 else None)
    tables = balance_tables(pd.read_parquet(survey), read_exposure(centre_exposure), sample_plan,
                            ModelSpec.from_config(name, entry), weighting,
                            min_cell=DisclosureRule.from_config(disclosure).suppress_below,
                            smd_guide=float(smd_guide))
    synthetic = is_synthetic(source)
    io.write_csv(tables.characteristics.assign(synthetic_data=synthetic), characteristics)
    io.write_csv(tables.balance.assign(synthetic_data=synthetic), balance)
    io.write_csv(tables.patterns.assign(synthetic_data=synthetic), patterns)


def covariate_balance_figure(table: str, source: str, output: str) -> None:
    """The love plot, from the published (disclosure-controlled) balance table."""
    with io.atomic_path(output) as tmp:
        balance_figure(pd.read_csv(table), tmp, is_synthetic(source))
