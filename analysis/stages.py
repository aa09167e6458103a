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
from analysis.appendix import Section, appendix_html, appendix_latex, appendix_markdown
from analysis.cleaning import clean_all
from analysis.descriptives import funding_groups, score_by_wave
from analysis.design import CLUSTERS, ModelSpec, cluster_design
from analysis.disclosure import (
    DisclosureError,
    DisclosureRule,
    check_tables,
    protect_table,
    text_violations,
    violations,
    visible_text,
)
from analysis.errors import RawDataError
from analysis.exposure import ExposurePlan, exposure_table, read_exposure
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
from analysis.labels import SCORE_LABELS
from analysis.missing import attrition_frame, ipw_estimate, multiple_imputation, response_weights
from analysis.panel import build_panel, did_mother_fe
from analysis.pdf import html_to_pdf
from analysis.plan import model_roles
from analysis.plan_lock import deviations, deviations_words, lock_record, read_deviations, read_lock
from analysis.primary import sample_from_plan
from analysis.provenance import manifest as run_manifest
from analysis.provenance import provenance_record, short_hash, utc_now
from analysis.results import (
    coefficient_table,
    contrast_table,
    headline_contrast,
    latex_escape,
    to_latex,
    to_markdown,
)
from analysis.sample import survey_columns
from analysis.sensitivity import e_values, forest_rows, hedges_g, holm_adjust, leave_one_out
from analysis.simulate import MARKER_FILE
from analysis.specification_curve import fit_specification, specification_model, specifications
from analysis.strobe import strobe_latex, strobe_markdown

log = logging.getLogger(__name__)


def data_source(raw_dir: Path) -> dict:
    """Whether the raw data are the simulator's synthetic data (its marker file sits beside them)."""
    marker = Path(raw_dir) / MARKER_FILE
    synthetic = marker.is_file()
    return {
        "synthetic": synthetic,
        "note": ("SYNTHETIC DEMONSTRATION DATA: these numbers are not evidence about any real centre, "
                 "local authority or family." if synthetic else ""),
    }


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
    synthetic = _synthetic(source)
    io.write_csv(contrast_table(summary, spec, synthetic), contrasts)
    io.write_csv(coefficient_table(summary, spec, synthetic), coefficients)
    io.write_json({"model": name, "estimator": spec.estimator, "n": summary.n,
                   "n_clusters": summary.n_clusters, "n_centres": summary.n_centres,
                   **summary.diagnostics}, diagnostics)


def _synthetic(source: str) -> bool:
    return bool(json.loads(Path(source).read_text())["synthetic"])


def publish_table(table: str, source: str, provenance: str, title: str, disclosure: dict, csv: str,
                  markdown: str, latex: str) -> None:
    """Disclosure-control an exact table and publish it as CSV, Markdown and LaTeX, citing its provenance."""
    rule = DisclosureRule.from_config(disclosure)
    frame = protect_table(pd.read_csv(table), rule)
    problems = violations(frame, rule, Path(csv).name)
    if problems:  # protect_table should have made every count safe; refuse rather than publish
        raise DisclosureError(problems)
    synthetic = _synthetic(source)
    footer = [rule.describe(), f"Provenance {short_hash(_json(provenance))}: hash of the raw inputs, "
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
            for stale in _published_renderings(name, tables):
                stale.unlink(missing_ok=True)
                log.error("withdrew %s: it breaks the disclosure rule", stale)
        raise
    io.write_json({"rule": rule.describe(), "suppress_below": rule.suppress_below,
                   "round_to": rule.round_to, "tables_checked": sorted(Path(t).name for t in tables),
                   "passed": True}, output)


def _published_renderings(name: str, tables: list[str]) -> list[Path]:
    """The CSV a problem names, with its Markdown and LaTeX renderings."""
    matches = [Path(t) for t in tables if Path(t).name == Path(name).name]
    return [m.with_suffix(ext) for m in matches for ext in (".csv", ".md", ".tex")]


def _json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def _lock(lock: str | None) -> dict | None:
    return read_lock(lock) if lock else None


def provenance(raw: dict, config: dict, plan: str, lock: str | None, output: str) -> None:
    """The provenance record; an imported source's record (format, files, release and vintage) goes in it
    under `imports`, and the frozen plan's lock (its hash, the version in force) under `plan_lock`, so both
    enter its hash."""
    imports = {label.removeprefix("import_"): _json(path) for label, path in raw.items()
               if label.startswith("import_")}
    files = {label: path for label, path in raw.items() if not label.startswith("import_")}
    plan_lock = lock_record(lock, _lock(lock), _json(plan))
    io.write_json(provenance_record(files, config, Path.cwd(), imports, plan_lock), output)


def analysis_plan(plan: dict, output: str) -> None:
    """The run's analysis plan (what `make freeze` freezes and every run is compared with)."""
    io.write_json(plan, output)


def plan_deviations(plan: str, lock: str | None, output: str) -> None:
    """Each setting of this run's plan that differs from the frozen plan (none without a lock)."""
    io.write_csv(deviations(_json(plan), _lock(lock)), output)


def manifest(provenance_file: str, outputs: list[str], config: dict, started_file: str, output: str) -> None:
    """The run's manifest: provenance plus git state, seeds, output hashes and start and end times."""
    started = Path(started_file).read_text().strip() if Path(started_file).is_file() else "unknown"
    io.write_json(run_manifest(_json(provenance_file), config, Path.cwd(), started, utc_now(), outputs),
                  output)


def funding_group_table(centre_exposure: str, plan: dict, suppress_below: int, output: str) -> None:
    table = funding_groups(read_exposure(centre_exposure),
                           plan["cut_threshold_pct"], plan["growth_threshold_pct"],
                           f"{plan['base_year']} to {plan['end_year']}", int(suppress_below))
    io.write_csv(table, output)


def distress_by_wave(survey: str, centre_exposure: str, source: str, plan: dict, suppress_below: int,
                     output: str) -> None:
    cut_offs = [float(entry["at_least"]) for entry in plan.get("binary_scores", {}).values()
                if entry["score"] == plan["score"]]
    table = score_by_wave(pd.read_parquet(survey),
                          read_exposure(centre_exposure),
                          plan["score"], int(plan["baseline_wave"]), 0.95, int(suppress_below),
                          cut_off=cut_offs[0] if cut_offs else None)
    table["synthetic_data"] = _synthetic(source)
    io.write_csv(table, output)


def distress_figure(table: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        score_by_wave_figure(pd.read_csv(table), tmp, _synthetic(source))


def flow_figure(flow: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        sample_flow_figure(pd.read_csv(flow, dtype=str), tmp, _synthetic(source))


def appendix(config: dict, markdown_tables: list[str], latex_tables: list[str], contrast_tables: list[str],
             provenance: str, deviations: str, disclosure: dict, source: str, markdown: str, html: str,
             latex: str, figures: dict[str, str] | None = None) -> None:
    """The academic appendix from the published tables and figures (caption -> path), in Markdown, HTML and
    LaTeX; figures are linked relative to the appendix, and embedded in the HTML."""
    synthetic = _synthetic(source)
    note = DisclosureRule.from_config(disclosure).describe()
    stamp = short_hash(_json(provenance))
    contrasts = {Path(t).stem: pd.read_csv(t) for t in contrast_tables}
    md = {Path(t).stem: Path(t).read_text() for t in markdown_tables}
    tex = {Path(t).stem: Path(t).read_text() for t in latex_tables}
    figures = figures or {}
    links = {caption: os.path.relpath(path, Path(markdown).parent) for caption, path in figures.items()}
    # The STROBE items point to the tables of the models playing each role in this plan.
    roles = {**model_roles(config), "few_clusters": config.get("few_clusters", {}).get("model")}
    sections = [_deviations_section(deviations, _json(provenance)),
                Section("STROBE checklist (cohort studies)", strobe_markdown(roles), strobe_latex(roles))]
    text = appendix_markdown(config, {k: v for k, v in md.items() if k != "cleaning_log"}, contrasts,
                             md["cleaning_log"], stamp, note, synthetic, links, sections)
    io.write_text(text, markdown)
    io.write_text(appendix_html(text, synthetic, {links[c]: path for c, path in figures.items()}), html)
    io.write_text(appendix_latex(config, {k: v for k, v in tex.items() if k != "cleaning_log"}, contrasts,
                                 tex["cleaning_log"], stamp, note, synthetic, links, sections), latex)


def _deviations_section(deviations: str, provenance: dict) -> Section:
    words = deviations_words(read_deviations(deviations), provenance.get("plan_lock", {}))
    if words.endswith("pre-specified."):
        words += (" Each one's frozen and run values are in the result table 'Deviations from the frozen "
                  "analysis plan'.")
    return Section("Deviations from the frozen analysis plan", words,
                   latex_escape(words.replace("**", "").replace("`", "")))


def execute_report(notebook: str, output: str, parameters: dict) -> None:
    """Run the report notebook with papermill; the executed notebook appears only once complete."""
    import nbformat
    import papermill  # only this stage needs them

    with io.atomic_path(output) as partial:
        executed = papermill.execute_notebook(notebook, str(partial), parameters=parameters, cwd=".",
                                              progress_bar=False)
        _make_reproducible(executed, output)
        nbformat.write(executed, partial)


TIMINGS = ("start_time", "end_time", "duration")


def _make_reproducible(notebook, output: str) -> None:
    """Remove execution times and random cell ids from an executed notebook, so that the same inputs give
    the same notebook (and the same HTML)."""
    run = notebook.metadata.get("papermill", {})
    for key in TIMINGS:
        run.pop(key, None)
    run["output_path"] = output  # not the partial file it was written to
    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # papermill gives the cell it adds a random id
        cell.metadata.pop("execution", None)
        for key in TIMINGS:
            cell.metadata.get("papermill", {}).pop(key, None)


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


def budget_figure(centre_exposure: str, source: str, plan: dict, suppress_below: int, output: str) -> None:
    exposure_table = read_exposure(centre_exposure)
    window = f"{plan['base_year']} to {plan['end_year']}"
    with io.atomic_path(output) as tmp:
        budget_change_figure(exposure_table, plan["cut_threshold_pct"], plan["growth_threshold_pct"],
                             window, int(suppress_below), tmp,
                             _synthetic(source))


def contrasts_figure(contrasts: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        estimates_figure(pd.read_csv(contrasts), tmp, _synthetic(source))


def secondary_family(tables: list[str], source: str, output: str) -> None:
    family = holm_adjust([pd.read_csv(t) for t in tables])
    family["synthetic_data"] = _synthetic(source)
    io.write_csv(family, output)


def effect_size(contrasts: str, analysis: str, source: str, entry: dict, name: str, standardiser: str,
                output: str) -> None:
    spec = ModelSpec.from_config(name, entry)
    table = pd.read_csv(contrasts)
    frame = pd.read_parquet(analysis)
    g = hedges_g(table, frame, spec, standardiser)
    e = e_values(table[table["scale"] == "difference"], g["pooled_sd"])
    merged = g.merge(e.drop(columns=["model"]), on="contrast", suffixes=("", "_e_value"))
    merged["synthetic_data"] = _synthetic(source)
    io.write_csv(merged, output)


def leave_one_la_out(analysis: str, source: str, name: str, entry: dict, fit_settings: dict,
                     output: str) -> None:
    table = leave_one_out(pd.read_parquet(analysis), ModelSpec.from_config(name, entry), fit_settings)
    table.insert(0, "model", name)
    table["synthetic_data"] = _synthetic(source)
    io.write_csv(table, output)


def specification(centres: str, funding: str, deflators: str, survey: str, plan: dict, spec_id: str,
                  choice: dict, output: str) -> None:
    """One specification of the curve (`choice`, from analysis.specification_curve.specifications), fitted
    with the part of the plan it reads (specification_job_plan)."""
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
    table["synthetic_data"] = _synthetic(source)
    io.write_csv(table, output)


def specification_curve(specs: list[str], source: str, table: str, figure: str) -> None:
    curve = pd.concat([pd.read_csv(s) for s in specs], ignore_index=True)
    curve = curve.sort_values(["contrast", "estimate"]).reset_index(drop=True)
    synthetic = _synthetic(source)
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
                             _synthetic(source))


def forest(primary: str, models: dict[str, str], did: str, imputation: str, weighting: str, source: str,
           table: str, figure: str) -> None:
    """Every pre-specified estimate of the primary model's headline contrast: the forest models' (name ->
    contrast table, model_roles.forest), then the attrition analyses' and the difference-in-differences."""
    contrast = headline_contrast(pd.read_csv(primary))
    rows = forest_rows({name: pd.read_csv(path) for name, path in models.items()}, did=pd.read_csv(did),
                       imputation=pd.read_csv(imputation), weighting=pd.read_csv(weighting),
                       group=contrast.split(" vs ")[0])
    synthetic = _synthetic(source)
    io.write_csv(rows.assign(contrast=contrast, synthetic_data=synthetic), table)
    with io.atomic_path(figure) as tmp:
        forest_figure(rows, contrast, tmp, synthetic)


def difference_in_differences(survey: str, centre_exposure: str, source: str, plan: dict, baseline_wave: int,
                              table: str, flow: str) -> None:
    score = plan["score"]
    panel, steps = build_panel(pd.read_parquet(survey),
                               read_exposure(centre_exposure),
                               score=score, baseline_wave=baseline_wave)
    # Clustered by local authority, which decides funding; by centre when the data hold a single one.
    result = did_mother_fe(panel, score=score, reference_wave=int(plan["reference_wave"]),
                           cluster=cluster_design(panel, CLUSTERS).robust)
    result.insert(0, "outcome", score)
    result.insert(1, "contrast", [f"{g} vs cut, wave {w} vs {plan['reference_wave']}"
                                  for g, w in zip(result["group"], result["wave"], strict=True)])
    result["estimand"] = (f"Difference-in-differences: change in mean {SCORE_LABELS[score]} "
                          "from the reference wave among mothers at the group's centres minus the same "
                          "change among mothers at cut centres (mother fixed effects)")
    result["direction"] = "Negative: distress fell more (or rose less) than at cut centres, i.e. better."
    result["synthetic_data"] = _synthetic(source)
    io.write_csv(result, table)
    io.write_csv(steps, flow)


def plan_attrition_frame(survey: pd.DataFrame, exposure: pd.DataFrame, plan: dict, spec: ModelSpec
                         ) -> pd.DataFrame:
    """`analysis.missing.attrition_frame` for model `spec`, waves and score as the plan's primary sample."""
    sample_plan = plan["primary_sample"]
    return attrition_frame(survey, exposure, score=sample_plan["score"],
                           baseline_wave=int(sample_plan["baseline_wave"]),
                           followup_wave=int(sample_plan["followup_wave"]), covariates=list(spec.covariates))


def attrition_analyses(survey: str, centre_exposure: str, source: str, plan: dict, imputation: str,
                       weighting: str) -> None:
    """Multiple imputation and inverse-probability weighting of the plan's named models."""
    synthetic = _synthetic(source)
    exposure = read_exposure(centre_exposure)
    clean_survey = pd.read_parquet(survey)

    settings = plan["multiple_imputation"]
    spec = ModelSpec.from_config(settings["model"], plan["models"][settings["model"]])
    frame = plan_attrition_frame(clean_survey, exposure, plan, spec)
    pooled = multiple_imputation(frame, spec, plan["mixed_model_fit"], m=int(settings["imputations"]),
                                 seed=int(settings["seed"]), burn_in=int(settings["burn_in"]))
    io.write_csv(_label_terms(pooled, spec, synthetic, n_clusters=frame[spec.clusters[0]].nunique(),
                              se_method="Rubin's rules over m imputations; t with Barnard-Rubin df",
                              seed=int(settings["seed"])), imputation)

    spec = ModelSpec.from_config(plan["inverse_probability_weighting"]["model"],
                                 plan["models"][plan["inverse_probability_weighting"]["model"]])
    frame = plan_attrition_frame(clean_survey, exposure, plan, spec)
    weights = response_weights(frame, [*spec.covariates, spec.exposure],
                               categorical=[*spec.categorical, spec.exposure])
    weighted = ipw_estimate(frame, spec, weights, level=spec.ci_level)
    summary = weights.attrs["summary"]
    weighted["weights_kish_effective_n"] = summary["kish_effective_n"]
    weighted["weights_max"] = summary["max"]
    io.write_csv(_label_terms(weighted, spec, synthetic, n_clusters=weighted.attrs["n_clusters"]), weighting)


def _label_terms(table: pd.DataFrame, spec: ModelSpec, synthetic: bool, **extra) -> pd.DataFrame:
    """Tidy a per-term table: model, outcome and, for exposure terms, the contrast in words."""
    table = pd.DataFrame(table).copy()
    table.attrs = {}
    contrasts = {spec.exposure_term(level): f"{level} vs {spec.reference}"
                 for level in spec.contrast_levels()}
    table.insert(0, "model", spec.name)
    table.insert(1, "outcome", spec.outcome)
    table.insert(2, "contrast", table["term"].map(contrasts).fillna(""))
    for key, value in extra.items():
        table[key] = value
    table["synthetic_data"] = synthetic
    return table


def scenarios(analysis: str, deflators: str, source: str, plan: dict, table: str, curve: str) -> None:
    """What each planned budget change would mean (analysis.scenarios): the table and the mean curves."""
    from analysis.scenarios import project

    projections, curves = project(pd.read_parquet(analysis), pd.read_parquet(deflators), plan)
    synthetic = _synthetic(source)
    io.write_csv(projections.assign(synthetic_data=synthetic), table)
    io.write_csv(curves.assign(synthetic_data=synthetic), curve)


def scenario_figure(table: str, curve: str, source: str, output: str) -> None:
    with io.atomic_path(output) as tmp:
        scenarios_figure(pd.read_csv(curve), pd.read_csv(table), tmp, _synthetic(source))


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
    synthetic = _synthetic(source)
    io.write_csv(rows.assign(synthetic_data=synthetic), table)
    io.write_csv(curves.assign(synthetic_data=synthetic), curve)
    with io.atomic_path(figure) as tmp:
        power_figure(curves, designs[0], target, alpha, tmp, synthetic)


def brief(tables: list[str], figure: str, source: str, provenance: str, disclosure: dict,
          output: str) -> None:
    """The one-page brief for councillors (analysis.brief), refused if its text breaks the disclosure rule."""
    from analysis.brief import brief_html

    rule = DisclosureRule.from_config(disclosure)
    page = brief_html({Path(t).stem: pd.read_csv(t) for t in tables}, figure, _synthetic(source),
                      short_hash(_json(provenance)), rule.describe())
    problems = text_violations(visible_text(page), rule, Path(output).name)
    if problems:
        raise DisclosureError(problems, rule)
    io.write_text(page, output)


def covariate_balance(survey: str, centre_exposure: str, source: str, sample_plan: dict, name: str,
                      entry: dict, weighting_name: str | None, weighting_entry: dict | None, smd_guide: float,
                      suppress_below: int, characteristics: str, balance: str, patterns: str) -> None:
    """Table 1 (baseline characteristics by funding group), standardised mean differences in the baseline
    cohort and the analysed sample (unweighted and response-weighted), and missing-data patterns of model
    `name` (analysis.balance); the weights are those of model `weighting_name` (None: the plan has none)."""
    from analysis.balance import balance_tables

    weighting = (ModelSpec.from_config(weighting_name, weighting_entry) if weighting_name is not None
                 else None)
    tables = balance_tables(pd.read_parquet(survey), read_exposure(centre_exposure), sample_plan,
                            ModelSpec.from_config(name, entry), weighting,
                            min_cell=int(suppress_below),
                            smd_guide=float(smd_guide))
    synthetic = _synthetic(source)
    io.write_csv(tables.characteristics.assign(synthetic_data=synthetic), characteristics)
    io.write_csv(tables.balance.assign(synthetic_data=synthetic), balance)
    io.write_csv(tables.patterns.assign(synthetic_data=synthetic), patterns)


def covariate_balance_figure(table: str, source: str, output: str) -> None:
    """The love plot, from the published (disclosure-controlled) balance table."""
    with io.atomic_path(output) as tmp:
        balance_figure(pd.read_csv(table), tmp, _synthetic(source))
