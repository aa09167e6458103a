"""The STROBE checklist in the appendix (analysis.strobe): the checklist's items, each answered by an output
that exists, or not applicable with a reason."""

from __future__ import annotations

import re

import pytest

from analysis import strobe
from analysis.strobe import APPENDIX, CHECKLIST, REPORT

# The STROBE cohort-study checklist (version 4): 22 items, with these lettered parts.
OFFICIAL_ITEMS = ["1a", "1b", "2", "3", "4", "5", "6a", "6b", "7", "8", "9", "10", "11",
                  "12a", "12b", "12c", "12d", "12e", "13a", "13b", "13c", "14a", "14b", "14c", "15",
                  "16a", "16b", "16c", "17", "18", "19", "20", "21", "22"]
# Items a referee checks first: their answers must be outputs, never "not applicable".
MUST_BE_ANSWERED = {"10": "sample_flow", "12c": "missing_patterns", "12d": "inverse_probability_weighting",
                    "12e": "specification_joint_test", "13a": "sample_flow", "13c": "sample_flow",
                    "14a": "baseline_characteristics", "14b": "missing_patterns", "17": "forest"}


def test_the_checklist_is_the_official_cohort_list_in_order():
    assert [item.item for item in CHECKLIST] == OFFICIAL_ITEMS
    sections = [item.section for item in CHECKLIST]
    assert sections.index("Methods") < sections.index("Results") < sections.index("Discussion")
    assert {item.topic for item in CHECKLIST if item.item.startswith("12")} == {"Statistical methods"}
    assert {item.topic for item in CHECKLIST if item.item in ("10", "9", "15", "17")} == \
        {"Study size", "Bias", "Outcome data", "Other analyses"}


@pytest.mark.parametrize("item", CHECKLIST, ids=lambda item: item.item)
def test_each_item_is_answered_or_not_applicable_with_a_reason(item):
    assert bool(item.answered_by) != bool(item.not_applicable)
    if item.not_applicable:
        assert len(item.not_applicable) > 20 and item.where().startswith("Not applicable: ")
    for output in item.answered_by:
        assert output.path.startswith("results/") and not output.path.startswith("results/data/")


def test_the_items_referees_check_first_point_to_their_outputs():
    for number, name in MUST_BE_ANSWERED.items():
        item = next(i for i in CHECKLIST if i.item == number)
        assert any(name in output.path for output in item.answered_by), number


def test_the_appendix_renderings_list_every_item():
    markdown, latex = strobe.strobe_markdown(), strobe.strobe_latex()
    for item in CHECKLIST:
        assert re.search(rf"^\| {re.escape(item.item)} +\|", markdown, re.MULTILINE), item.item
        assert f"\n{item.item} & " in latex
    assert "&" not in strobe.INTRODUCTION and "12e" in latex


def headings(path) -> list[str]:
    text = path.read_text()
    if path.suffix == ".md":
        return [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    found = re.findall(r"<h[1-4][^>]*>(.*?)</h[1-4]>", text, re.S)
    return [re.sub(r"<[^>]+>|¶", "", h).strip() for h in found]


@pytest.mark.slow
def test_every_output_the_checklist_names_exists_in_a_run(synthetic_run):
    for output in strobe.outputs():
        path = synthetic_run / output.path
        assert path.is_file() and path.stat().st_size > 0, output.path
        if output.heading:
            found = headings(path)
            assert any(h == output.heading or re.fullmatch(rf"\d+\. {re.escape(output.heading)}", h)
                       for h in found), f"{output.heading!r} not a heading of {output.path}: {found}"
    appendix = (synthetic_run / APPENDIX).read_text()
    assert "STROBE checklist (cohort studies)" in appendix
    assert all(f"| {item.item} " in appendix for item in CHECKLIST)
    assert "STROBE checklist (cohort studies)" in (synthetic_run / "results/report/appendix.tex").read_text()
    assert REPORT in {o.path for o in strobe.outputs()}
