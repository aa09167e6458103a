"""The academic appendix: model specifications written out, variable definitions, the cleaning log, every
published result table, and the configuration that produced them, in Markdown, HTML and LaTeX."""

from __future__ import annotations

import base64
import html
import itertools
from dataclasses import dataclass
from pathlib import Path

import mistune
import pandas as pd
import yaml

from analysis.design import ModelSpec
from analysis.labels import outcome_label, split_outcome
from analysis.plan_lock import deviations_words
from analysis.results import SYNTHETIC_BANNER, latex_escape
from analysis.variables import VARIABLES

ESTIMATOR_WORDS = {
    "lmm_reml": "Linear mixed model, restricted maximum likelihood (REML); random intercepts for each "
                "cluster level, nested",
    "ols_cr2": "Ordinary least squares; CR2 cluster-robust standard errors by the outermost cluster, "
               "Satterthwaite degrees of freedom; wild cluster restricted bootstrap (Webb weights)",
    "gee_logistic": "Logistic regression by generalised estimating equations, exchangeable working "
                    "correlation within the outermost cluster; robust sandwich standard errors",
}


def plan_definitions(config: dict) -> list[tuple[str, str]]:
    """(variable, definition) of every variable the plan's models use, in the words of its exposure level."""
    level = config["exposure"].get("level", "centre")
    return [(name, variable_definition(name, level)) for name in plan_variables(config["models"])]


def variable_definition(name: str, exposure_level: str = "centre") -> str:
    """Definition of a variable (analysis.variables), including wave-suffixed scores (k6_w3 = K6 at wave 3),
    in the words of the exposure level."""
    if name in VARIABLES:
        return VARIABLES[name].words(exposure_level)
    stem, wave = split_outcome(name)
    if stem in VARIABLES and wave:
        return f"{VARIABLES[stem].words(exposure_level)} Measured at wave {wave}."
    raise KeyError(f"no definition for variable '{name}': add it to the registry, analysis/variables.py")


def plan_variables(models: dict) -> list[str]:
    """Every variable the plan's models use, in first-use order."""
    names: list[str] = []
    for entry in models.values():
        spec = ModelSpec.from_config("", entry)
        for name in [spec.outcome, spec.exposure, *spec.covariates, *spec.clusters]:
            if name not in names:
                names.append(name)
    return names


def model_markdown(name: str, entry: dict, table: pd.DataFrame | None) -> str:
    """One model's specification in words: estimator, outcome, exposure, covariates, clusters, SEs."""
    spec = ModelSpec.from_config(name, entry)
    if spec.exposure_kind == "groups":
        exposure = f"`{spec.exposure}`, each group against `{spec.reference}`"
    elif spec.exposure_kind == "linear":
        exposure = f"`{spec.exposure}`, linear, per {spec.exposure_per:g} units"
    else:
        exposure = (f"`{spec.exposure}`, natural cubic spline with {spec.spline_df} df, reported at "
                    f"{', '.join(f'{p:+g}' for p in spec.spline_points)} against {spec.spline_origin:+g}")
    covariates = ", ".join(
        f"`{c}`" + (f" (categorical, reference {spec.categorical[c]})" if c in spec.categorical else "")
        for c in spec.covariates)
    lines = [f"### `{name}`", "", spec.description.strip(), "",
             f"- **Estimator:** {ESTIMATOR_WORDS[spec.estimator]}.",
             f"- **Outcome:** `{spec.outcome}`: {outcome_label(spec.outcome)}.",
             f"- **Exposure:** {exposure}.",
             f"- **Covariates:** {covariates}.",
             f"- **Clusters (outer to inner):** {' > '.join(f'`{c}`' for c in spec.clusters)}.",
             f"- **Confidence level:** {spec.ci_level:.0%}."]
    if spec.estimator == "ols_cr2" and spec.bootstrap:  # the schema gives every model a bootstrap block
        lines.append(f"- **Bootstrap:** {spec.bootstrap.get('replications')} replications, "
                     f"seed {spec.bootstrap.get('seed')}.")
    if table is not None and len(table):
        for column, label in (("se_method", "Standard errors"), ("ci_method", "Intervals and p-values"),
                              ("estimand", "Estimand"), ("design_note", "What these data could support"),
                              ("note", "Not estimable")):
            if column in table:
                lines.extend(f"- **{label}:** {v}" for v in table[column].dropna().unique() if str(v).strip())
    if spec.direction:
        lines.append(f"- **Direction:** {spec.direction.strip()}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Section:
    """A section of the appendix written elsewhere (e.g. the deviations from the frozen plan), in both the
    Markdown and the LaTeX appendix; it sits after the figures, before the configuration."""

    title: str
    markdown: str
    latex: str


def deviations_section(deviations: pd.DataFrame, plan_lock: dict) -> Section:
    """'Deviations from the frozen analysis plan': whether the plan was frozen and which settings this run
    changed (`deviations`: plan_lock.deviations' table; `plan_lock`: the provenance record's plan_lock)."""
    words = deviations_words(deviations, plan_lock)
    if words.endswith("pre-specified."):
        words += (" Each one's frozen and run values are in the result table 'Deviations from the frozen "
                  "analysis plan'.")
    return Section("Deviations from the frozen analysis plan", words,
                   latex_escape(words.replace("**", "").replace("`", "")))


def appendix_markdown(config: dict, tables: dict[str, str], contrasts: dict[str, pd.DataFrame],
                      cleaning_log: str, provenance: str, disclosure: str, synthetic: bool,
                      figures: dict[str, str] | None = None, sections: list[Section] = ()) -> str:
    """The appendix as one Markdown document. `tables` maps titles to published Markdown renderings;
    `figures` maps captions to figure paths relative to the appendix (e.g. ../figures/power_planner.png)."""
    banner = [f"> **{SYNTHETIC_BANNER}**", ""] if synthetic else []
    variables = pd.DataFrame([(f"`{n}`", words) for n, words in plan_definitions(config)],
                             columns=["Variable", "Definition"])
    numbers = itertools.count(1)
    parts = [*banner, "# Academic appendix", "",
             f"Provenance `{provenance}` (hash of the raw inputs, configuration, code and package versions; "
             "see results/manifest.json). " + disclosure, "",
             f"## {next(numbers)}. Model specifications", ""]
    parts.extend(model_markdown(n, e, contrasts.get(n)) + "\n" for n, e in config["models"].items())
    parts += [f"## {next(numbers)}. Variable definitions", "", variables.to_markdown(index=False), "",
              f"## {next(numbers)}. Cleaning log", "", _demote(cleaning_log), "",
              f"## {next(numbers)}. Result tables", ""]
    parts.extend(_demote(text) + "\n" for text in tables.values())
    if figures:
        parts += [f"## {next(numbers)}. Figures", ""]
        parts.extend(f"![{caption}]({path})\n\n*{caption}*\n" for caption, path in figures.items())
    for section in sections:
        parts += [f"## {next(numbers)}. {section.title}", "", section.markdown, ""]
    parts += [f"## {next(numbers)}. Configuration that produced these results", "", "```yaml",
              yaml.safe_dump(config, sort_keys=False, allow_unicode=True).rstrip(), "```", "", *banner]
    return "\n".join(parts)


def _demote(markdown: str) -> str:
    """Table renderings start at '##'; inside the appendix they sit one level lower."""
    return "\n".join("#" + line if line.startswith("## ") else line for line in markdown.splitlines())


def appendix_html(markdown: str, synthetic: bool, images: dict[str, str] | None = None) -> str:
    """A standalone HTML page of the Markdown appendix, with the synthetic-data banner at top and bottom;
    each figure the Markdown links (`images`: link -> file) is embedded, so the page stands alone."""
    body = mistune.create_markdown(plugins=["table"])(markdown)
    for link, path in (images or {}).items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        body = body.replace(f'src="{link}"', f'src="data:image/png;base64,{data}" style="max-width:100%"')
    banner = (f'<div class="banner">{html.escape(SYNTHETIC_BANNER)}</div>' if synthetic else "")
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
             "th,td{border-bottom:1px solid #ccc;padding:3px 8px;text-align:left}"
             "pre{background:#f6f6f6;padding:1em;overflow-x:auto}"
             ".banner{background:#b2182b;color:white;padding:12px 16px;font-weight:bold;border-radius:4px}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Academic appendix</title>'
            f"<style>{style}</style></head><body>{banner}{body}{banner}</body></html>\n")


def appendix_latex(config: dict, tables: dict[str, str], contrasts: dict[str, pd.DataFrame],
                   cleaning_log: str, provenance: str, disclosure: str, synthetic: bool,
                   figures: dict[str, str] | None = None, sections: list[Section] = ()) -> str:
    """A standalone LaTeX document (booktabs) with the same content as the Markdown appendix."""
    esc = latex_escape
    banner = [r"\noindent\fbox{\parbox{\linewidth}{\bfseries " + esc(SYNTHETIC_BANNER) + "}}", ""] \
        if synthetic else []
    lines = [r"\documentclass[10pt]{article}", r"\usepackage[margin=2cm,landscape]{geometry}",
             r"\usepackage{booktabs}", r"\usepackage{graphicx}", r"\usepackage[T1]{fontenc}",
             r"\usepackage[utf8]{inputenc}",
             r"\title{Academic appendix}", r"\date{}", r"\begin{document}", r"\maketitle", *banner,
             esc(f"Provenance {provenance} (hash of the raw inputs, configuration, code and package "
                 "versions; see results/manifest.json). " + disclosure), "",
             r"\section{Model specifications}"]
    for name, entry in config["models"].items():
        spec_md = model_markdown(name, entry, contrasts.get(name)).splitlines()
        lines.append(r"\subsection*{" + esc(name) + "}")
        lines.append(esc(spec_md[2]))
        lines.append(r"\begin{itemize}")
        lines.extend(r"\item " + esc(line[2:].replace("**", "").replace("`", ""))
                     for line in spec_md if line.startswith("- "))
        lines.append(r"\end{itemize}")
    lines += [r"\section{Variable definitions}", r"\begin{description}"]
    lines.extend(r"\item[" + esc(n) + "] " + esc(words) for n, words in plan_definitions(config))
    lines += [r"\end{description}", r"\section{Cleaning log}", cleaning_log, r"\section{Result tables}"]
    for text in tables.values():
        lines += [r"\begingroup", text, r"\endgroup", r"\clearpage"]
    if figures:
        lines.append(r"\section{Figures}")
        for caption, path in figures.items():
            lines += [r"\begin{figure}[h]\centering", r"\includegraphics[width=0.8\linewidth]{" + path + "}",
                      r"\caption{" + esc(caption) + "}", r"\end{figure}"]
    for section in sections:
        lines += [r"\section{" + esc(section.title) + "}", section.latex]
    lines += [r"\section{Configuration that produced these results}", r"\begin{verbatim}",
              yaml.safe_dump(config, sort_keys=False, allow_unicode=True).rstrip(), r"\end{verbatim}",
              *banner, r"\end{document}", ""]
    return "\n".join(lines)
