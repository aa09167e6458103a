"""The stages: one name per step (rule, script and stage function), and a job imports only its stage's
libraries."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "workflow" / "scripts"
# Rules whose script is named for another rule: the brief is printed to PDF as the report is.
SHARED_SCRIPTS = {"brief_pdf": "report_pdf"}


def rule_scripts() -> dict[str, str]:
    """Each rule in workflow/rules/*.smk, and the script it runs."""
    found = {}
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        for name, body in re.findall(r"^[ \t]*rule (\w+):\n((?:[ \t]+.*\n|\n)*)", path.read_text(), re.M):
            script = re.search(r"script:\s*\n\s*\"\.\./scripts/(\w+)\.py\"", body)
            if script:
                found[name] = script.group(1)
    return found


def stage_import(script: Path) -> tuple[str, str]:
    """The stage module and function an adapter script imports from analysis.stages."""
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis.stages"):
            return node.module, node.names[0].name
    raise AssertionError(f"{script.name} imports no stage")


def test_each_rule_runs_the_script_and_stage_of_its_own_name():
    rules = rule_scripts()
    assert len(rules) > 30  # the parsing found the workflow's rules
    for rule, script in rules.items():
        assert script == SHARED_SCRIPTS.get(rule, rule), f"rule {rule} runs scripts/{script}.py"
    for script in SCRIPTS.glob("*.py"):
        module, function = stage_import(script)
        assert function == script.stem, f"{script.name} calls {module}.{function}"
        assert script.stem in rules.values(), f"no rule runs {script.name}"
        source = script.read_text()
        assert f"run_logged(smk.log[0], {function}," in source, script.name


def test_the_stage_package_imports_no_stage_module():
    tree = ast.parse((ROOT / "analysis" / "stages" / "__init__.py").read_text())
    assert not [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]


def imported_packages(module: str) -> set[str]:
    """The top-level packages a fresh Python has imported after importing `module`."""
    code = f"import json, sys, {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    return set(json.loads(result.stdout))


HEAVY = {"scipy", "statsmodels", "matplotlib", "patsy", "pyfixest", "papermill", "nbconvert", "openpyxl"}


@pytest.mark.parametrize(("module", "allowed"), [
    ("analysis.stages.tables", set()),  # publishing, the disclosure check, provenance and the manifest
    ("analysis.stages.exposure", set()),
    ("analysis.stages.sample", set()),
    ("analysis.stages.report_figures", {"patsy", "pyfixest"}),  # the descriptive tables' cluster design
])
def test_a_light_stage_imports_no_heavy_library(module, allowed):
    assert imported_packages(module) & HEAVY <= allowed


def test_the_records_read_before_any_data_import_not_even_pandas():
    # analysis_code and analysis_plan run at the head of every run, failed runs included.
    assert not imported_packages("analysis.stages.records") & (HEAVY | {"pandas", "numpy", "pyarrow"})


def test_the_mixed_and_cr2_model_fits_need_no_scipy_stats():
    """t and normal quantiles come from scipy.special (analysis.inference.t_quantile), so a job fitting a
    mixed model or OLS with CR2 and writing its intervals does not import scipy.stats (about half a second of
    every such job's start); the quantiles are scipy.stats' own numbers."""
    code = """
import sys, json
import pandas as pd
from analysis.design import ModelSpec
from analysis.models import fit_model, contrast_rows
from analysis.primary import load_plan
plan = load_plan()
frame = pd.read_csv("tests/fixtures/r/secondary_input.csv", dtype={"funding_group": "string"})
for name in ["ghq_likert", "dose_linear", "primary_ols_cr2"]:
    spec = ModelSpec.from_config(name, plan["models"][name])
    contrast_rows(fit_model(frame, spec, plan["mixed_model_fit"]), spec)
print(json.dumps("scipy.stats" in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) is False

    import numpy as np
    from scipy import stats

    from analysis.inference import t_quantile

    probabilities = np.array([0.5, 0.9, 0.975, 0.995])
    for df in [1.0, 2.5, 24.0, 96.93, 1e9, np.inf]:
        expected = stats.norm.ppf(probabilities) if np.isinf(df) else stats.t.ppf(probabilities, df)
        np.testing.assert_allclose(t_quantile(probabilities, df), expected, rtol=1e-14)
