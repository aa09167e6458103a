"""The academic appendix: every model written out, every variable defined, tables and config included."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis.appendix import (
    appendix_html,
    appendix_latex,
    appendix_markdown,
    deviations_section,
    plan_variables,
    variable_definition,
)
from analysis.plan_lock import DEVIATION_COLUMNS
from analysis.results import SYNTHETIC_BANNER


def test_every_variable_the_plan_uses_is_defined(plan):
    names = plan_variables(plan["models"])
    assert {"k6_w3", "funding_group", "budget_change_pct", "mother_age", "la_code"} <= set(names)
    for name in names:
        assert len(variable_definition(name)) > 10
    assert "wave 3" in variable_definition("ghq_likert_w3")
    with pytest.raises(KeyError, match="add it to the registry, analysis/variables.py"):
        variable_definition("shoe_size")


def documents(plan, synthetic):
    tables = {"primary": "## Primary analysis\n\n| a |\n|---|\n| 1 |\n"}
    contrasts = {"primary": pd.DataFrame({"se_method": ["lme4 convention"], "ci_method": ["Wald, normal"],
                                          "estimand": ["difference in mean K6"]})}
    args = (plan, tables, contrasts, "## Cleaning log\n\n| rule |\n|---|\n| x |\n", "abc123def456",
            "Counts of 1-9 are suppressed.", synthetic)
    latex_tables = {"primary": "\\begin{table}\n\\caption{Primary}\n\\begin{tabular}{l}\n\\toprule\n"
                               "a \\\\\n\\midrule\n1 \\\\\n\\bottomrule\n\\end{tabular}\n\\end{table}\n"}
    latex = appendix_latex(plan, latex_tables, contrasts, "cleaning", *args[4:])
    return appendix_markdown(*args), latex


def test_markdown_appendix_writes_out_models_tables_and_config(plan):
    markdown, _ = documents(plan, synthetic=False)
    for name in plan["models"]:
        assert f"### `{name}`" in markdown
    assert "- **Standard errors:** lme4 convention" in markdown
    assert "- **Covariates:**" in markdown and "`mother_education` (categorical, reference 1)" in markdown
    assert "### Primary analysis" in markdown and "### Cleaning log" in markdown  # demoted one level
    assert "```yaml" in markdown and "cut_threshold_pct: -5" in markdown
    assert "abc123def456" in markdown and "Counts of 1-9 are suppressed." in markdown
    assert SYNTHETIC_BANNER not in markdown


def test_synthetic_appendix_is_marked_in_every_format(plan):
    markdown, latex = documents(plan, synthetic=True)
    page = appendix_html(markdown, synthetic=True)
    assert markdown.count(SYNTHETIC_BANNER) == 2
    assert page.count('class="banner"') == 2 and "<table>" in page
    assert latex.count("SYNTHETIC DEMONSTRATION DATA") == 2
    assert "SYNTHETIC" not in appendix_html(documents(plan, synthetic=False)[0], synthetic=False)


def test_latex_appendix_is_a_balanced_booktabs_document(plan):
    _, latex = documents(plan, synthetic=False)
    assert latex.startswith("\\documentclass") and latex.rstrip().endswith("\\end{document}")
    assert "\\usepackage{booktabs}" in latex and "\\toprule" in latex
    begins = re.findall(r"\\begin\{(\w+)\}", latex)
    ends = re.findall(r"\\end\{(\w+)\}", latex)
    assert sorted(begins) == sorted(ends)
    body = latex.split("\\begin{verbatim}")[0]
    assert "_" not in body.replace("\\_", "")  # underscores escaped outside verbatim


def test_only_the_ols_model_mentions_a_bootstrap(plan):
    markdown, _ = documents(plan, synthetic=False)
    sections = markdown.split("### `")
    with_bootstrap = [s.split("`")[0] for s in sections if "**Bootstrap:**" in s]
    assert with_bootstrap == [n for n, e in plan["models"].items() if e.get("estimator") == "ols_cr2"]


FROZEN = {"status": "frozen", "frozen_at": "2026-01-05T10:00:00Z", "frozen_version": 1, "commit": "abc1234",
          "lock_sha256": "0" * 64}


def test_deviations_section_points_to_the_table_only_when_the_run_deviates():
    changed = pd.DataFrame([["exposure.cut_threshold_pct", "-5", "-10", "changed", 1, "2026-01-05"]],
                           columns=DEVIATION_COLUMNS)
    section = deviations_section(changed, FROZEN)
    assert section.title == "Deviations from the frozen analysis plan"
    assert "deviates from it in 1 setting" in section.markdown
    assert section.markdown.endswith("in the result table 'Deviations from the frozen analysis plan'.")
    assert "**" not in section.latex and "`" not in section.latex  # Markdown marks are not LaTeX
    assert r"cut\_threshold\_pct" in section.latex
    same = deviations_section(pd.DataFrame(columns=DEVIATION_COLUMNS), FROZEN)
    assert same.markdown.endswith("no setting differs.")
    unfrozen = deviations_section(pd.DataFrame(columns=DEVIATION_COLUMNS), {})
    assert "not frozen" in unfrozen.markdown and "result table" not in unfrozen.markdown
