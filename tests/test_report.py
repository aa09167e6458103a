"""The report's summary and figure descriptions: numbers come from the tables, sentences fit the interval."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.report import alt_budget, alt_flow, alt_forest, figure_html, summary_html
from tests.summary_check import check_summary


def contrasts(growing=(-0.9123, -1.4, -0.43), stable=(-0.31, -0.7, 0.06), n=1885):
    rows = []
    for contrast, (estimate, low, high) in (("growing vs cut", growing), ("stable vs cut", stable)):
        rows.append({"outcome": "k6_w3", "contrast": contrast, "estimate": estimate, "ci_lower": low,
                     "ci_upper": high, "ci_level": 0.95, "n_mothers": n, "n_centres": 120, "n_las": 25})
    return pd.DataFrame(rows)


def published(**primary):
    groups = pd.DataFrame({"funding_group": ["cut", "stable", "growing", "no funding group"],
                           "cut_threshold_pct": -5.0, "growth_threshold_pct": 5.0,
                           "n_centres": [55, 40, 25, "<10"]})
    return {"primary": contrasts(**primary), "primary_ols_cr2": contrasts((-0.88, -1.42, -0.34)),
            "funding_groups": groups}


def test_every_summary_number_is_a_table_cell():
    tables = published()
    page = summary_html(tables)
    assert check_summary(page, tables) >= 20
    assert 'data-kind="size">0.91</span> points\nlower than similar mothers at cut centres' in page


def test_summary_check_catches_a_number_that_differs_from_the_table():
    tables = published()
    page = summary_html(tables)
    changed = {**tables, "primary": tables["primary"].assign(estimate=[-0.95, -0.31])}
    with pytest.raises(AssertionError, match="primary.estimate"):
        check_summary(page, changed)
    with pytest.raises(AssertionError, match="does not come from a table"):
        check_summary(page.replace("<p><b>Who.</b>", "<p><b>Who.</b> 2,600 surveyed;"), tables)


@pytest.mark.parametrize(("interval", "phrase"), [((-0.9, -1.4, -0.4), "excludes no difference"),
                                                  ((-0.3, -0.8, 0.2), "includes no difference")])
def test_summary_says_how_sure_from_the_interval(interval, phrase):
    page = summary_html(published(growing=interval))
    assert phrase in page
    assert "observational comparison" in page and "not proof" in page


def test_summary_shows_suppressed_counts_as_published():
    tables = published(n="<10")
    page = summary_html(tables)
    assert "&lt;10</span> mothers" in page
    check_summary(page, tables)


def test_figure_descriptions_carry_the_numbers(tmp_path):
    groups = published()["funding_groups"]
    assert "cut: 55 centres" in alt_budget(groups) and "-5%" in alt_budget(groups)
    forest = pd.DataFrame({"estimate": [-0.91, -0.77, -0.99]})
    assert "3 estimates" in alt_forest(forest) and "\u22120.99 to \u22120.77" in alt_forest(forest)
    flow = pd.DataFrame({"n_mothers": ["2,600", "1,885"], "n_excluded": [0, 715]})
    assert "2,600 mothers" in alt_flow(flow) and "1,885 in the analysis" in alt_flow(flow)
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    html = figure_html(image, 'A "quoted" description', "<b>Figure 1.</b> Caption")
    assert 'alt="A &quot;quoted&quot; description"' in html and html.count("data:image/png;base64,") == 1
