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


def test_without_growing_centres_the_summary_leads_with_the_contrast_that_exists():
    tables = published(growing=(float("nan"), float("nan"), float("nan")))
    page = summary_html(tables)
    assert check_summary(page, tables) >= 15
    assert "Mothers at stable centres scored" in page  # the headline is stable vs cut
    assert "Mothers at growing centres could not be compared" in page
    assert "grew by <span" in page and 'data-column="growth_threshold_pct"' in page


def test_with_few_local_authorities_the_few_cluster_interval_carries_the_weight():
    tables = published()
    tables["primary_ols_cr2"] = tables["primary_ols_cr2"].assign(
        n_las="<10", wcr_ci_lower=[-2.9, -1.9], wcr_ci_upper=[0.4, float("inf")])
    page = summary_html(tables, design={"local_authorities": 6}, few_clusters_threshold=10)
    check_summary(page, tables)
    assert "too few for the mixed model's interval to be trusted on its own" in page
    assert "interval that carries the weight includes no difference" in page  # the bootstrap's, not the LMM's
    assert 'data-column="wcr_ci_lower"' in page and 'data-column="wcr_ci_upper"' in page
    many = summary_html(tables, design={"local_authorities": 25}, few_clusters_threshold=10)
    assert "carries the weight" not in many and "excludes no difference" in many


def test_an_unbounded_bootstrap_interval_is_written_as_unbounded():
    tables = published()
    tables["primary_ols_cr2"] = tables["primary_ols_cr2"].assign(
        wcr_ci_lower=[float("-inf"), -1.0], wcr_ci_upper=[float("inf"), 1.0])
    page = summary_html(tables, design={"local_authorities": 2})
    check_summary(page, tables)
    assert ">unbounded</span> to <span" in page


def test_a_single_local_authority_is_said_in_words():
    tables = published()
    page = summary_html(tables, design={"local_authorities": 1})
    check_summary(page, tables)
    assert "centres\nin a single local authority." in page
    assert "compares centres of one council with each other" in page
    assert "CR2" not in page


def test_the_model_sentence_names_the_structure_and_a_boundary_fit():
    from analysis.report import model_sentence

    fit = {"random_intercepts": ["outer", "inner"], "singular": True, "boundary_levels": ["outer"],
           "reml_loglik": -570.4, "confirming_methods": ["bfgs", "lbfgs"]}
    sentence = model_sentence(fit)
    assert "local authority and for centre" in sentence and "boundary (singular) fit" in sentence
    assert "between local authorities is estimated at zero" in sentence
    one = model_sentence({**fit, "random_intercepts": ["inner"], "singular": False})
    assert "no local-authority level" in one and "singular" not in one


def test_the_summary_reads_the_model_playing_the_primary_role():
    tables = published()
    tables["headline"] = tables.pop("primary")
    page = summary_html(tables, primary="headline")
    assert check_summary(page, tables) >= 20
    assert 'data-table="headline"' in page and 'data-table="primary"' not in page


def test_the_forest_is_described_from_its_rows():
    from analysis.report import forest_words

    rows = pd.DataFrame({"analysis": ["primary", "primary_ols_cr2", "primary_ols_cr2", "multiple_imputation"],
                         "method": ["mixed_model", "ols_cr2", "wild_bootstrap", "multiple_imputation"],
                         "estimate": [-0.91, -0.88, -0.88, -0.87]})
    words = forest_words(rows, "growing")
    assert "growing-vs-cut difference estimated 4 ways: from the mixed model primary, from ordinary least " \
           "squares" in words
    assert "and after multiple imputation of missing follow-up answers (CR2 and the wild" in words
    assert "range from \u22120.91 to \u22120.87 points" in words
    mixed_only = forest_words(rows.iloc[[0]], "stable")
    assert "estimated one way: from the mixed model primary." in mixed_only and "CR2" not in mixed_only
