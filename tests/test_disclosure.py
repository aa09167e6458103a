"""Disclosure control: small counts suppressed, other counts rounded, in cells and in free text."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.disclosure import (
    DisclosureError,
    DisclosureRule,
    check_tables,
    count_columns,
    protect_table,
    published_renderings,
    violations,
)

RULE = DisclosureRule()


@pytest.mark.parametrize(("value", "expected"), [
    (0, 0), (1, "<10"), (9, "<10"), (10, 10), (12, 10), (13, 15), (1883, 1885), (2033.0, 2035),
    (np.int64(17), 15), ("1,883", 1885), ("2033.0", 2035), ("<10", "<10"), ("<3", "<10"),
])
def test_protect_count_suppresses_small_and_rounds_the_rest(value, expected):
    protected = RULE.protect_count(value)
    assert protected == expected
    assert type(protected) is type(expected)  # ints, not floats like 2035.0


@pytest.mark.parametrize("missing", [np.nan, None, pd.NA, ""])
def test_protect_count_keeps_missing_as_nan(missing):
    assert math.isnan(RULE.protect_count(missing))


@pytest.mark.parametrize("bad", ["abc", -3, "<50", True, float("inf")])
def test_protect_count_refuses_what_is_not_a_count(bad):
    with pytest.raises(ValueError):
        RULE.protect_count(bad)


def test_rule_variant_suppresses_below_5_and_rounds_to_10():
    rule = DisclosureRule(suppress_below=5, round_to=10)
    assert [rule.protect_count(v) for v in (0, 1, 4, 5, 14, 15, 24, 25)] == [
        0, "<5", "<5", 10, 10, 20, 20, 30]
    assert rule.suppressed_label == "<5"
    assert rule.describe() == ("Counts of 1-4 are suppressed (shown as <5); other counts are rounded to the "
                               "nearest 10.")


@pytest.mark.parametrize(("suppress_below", "round_to"), [(10, 5), (5, 10), (3, 10), (2, 5), (1, 5), (7, 5)])
def test_a_count_at_the_threshold_is_never_rounded_to_zero_or_below_the_threshold(suppress_below, round_to):
    rule = DisclosureRule(suppress_below, round_to)
    shown = rule.protect_count(suppress_below)
    assert shown >= max(round_to, suppress_below)
    assert rule.is_safe(shown)


def test_rounding_below_the_threshold_would_reveal_the_count_so_it_is_shown_higher():
    # With 1-6 suppressed, a published 5 could only be a true 7.
    rule = DisclosureRule(suppress_below=7, round_to=5)
    assert rule.protect_count(7) == 10
    assert not rule.is_safe(5)
    assert "shown as at least 10" in rule.describe()


def test_default_rule_describes_itself_for_footnotes():
    assert RULE.suppressed_label == "<10"
    assert RULE.describe() == ("Counts of 1-9 are suppressed (shown as <10); other counts are rounded to the "
                               "nearest 5.")


def test_rule_from_config_block_and_its_validation():
    assert DisclosureRule.from_config({"suppress_below": 5, "round_to": 10}) == DisclosureRule(5, 10)
    with pytest.raises(ValueError, match="round_to"):
        DisclosureRule.from_config({"suppress_below": 5})
    with pytest.raises(ValueError, match="round_to"):
        DisclosureRule.from_config({"suppress_below": 5, "round_to": 0})
    with pytest.raises(ValueError, match="suppress_below"):
        DisclosureRule.from_config({"suppress_below": 2.5, "round_to": 5})


@pytest.mark.parametrize(("value", "safe"), [
    (0, True), (10, True), (1885, True), (2035.0, True), (np.nan, True), (None, True), ("", True),
    ("<10", True), ("10", True), ("2035.0", True), ("0", True),
    (3, False), (5, False), (1883, False), (2033.0, False), (12.5, False), ("3", False), ("1883", False),
    ("<5", False), ("abc", False), (-5, False),
])
def test_is_safe_accepts_only_published_forms(value, safe):
    assert RULE.is_safe(value) is safe


def test_count_columns_follow_the_naming_convention():
    frame = pd.DataFrame(columns=["n", "n_mothers", "n_excluded_by_sample_steps", "estimate", "df", "m",
                                  "weights_kish_effective_n", "wcr_replications", "notn_x", "nx"])
    assert count_columns(frame) == ["n", "n_mothers", "n_excluded_by_sample_steps"]


def results_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "contrast": ["growing vs cut", "stable vs cut", "all"],
        "estimate": [-0.91, 3.0, 7.0],
        "df": [24, 7, 3],
        "m": [20, 20, 3],
        "weights_kish_effective_n": [1875.6, 7.0, 12.0],
        "wcr_replications": [9999, 3, 7],
        "n": [1883, 3, 0],
        "n_mothers": [2033.0, np.nan, 12.0],
        "note": ["193 mothers left out", "3 rows excluded", "1,883 mothers in 118 centres; wave-1 centre"],
    }, index=[10, 20, 30])


def test_protect_table_protects_counts_and_text_and_returns_a_copy():
    frame = results_frame()
    before = frame.copy()
    protected = protect_table(frame, RULE)
    pd.testing.assert_frame_equal(frame, before)  # the input is not modified
    assert list(protected["n"]) == [1885, "<10", 0]
    assert protected["n"].dtype == object
    assert protected["n_mothers"].dtype == "Int64"
    assert list(protected["n_mothers"][:1]) == [2035] and pd.isna(protected["n_mothers"].iloc[1])
    assert list(protected["note"]) == ["195 mothers left out", "<10 rows excluded",
                                       "1,885 mothers in 120 centres; wave-1 centre"]
    assert list(protected.index) == [10, 20, 30]
    assert violations(protected, RULE, "t.csv") == []


def test_protect_table_leaves_non_count_columns_alone():
    frame = results_frame()
    protected = protect_table(frame, RULE)
    for column in ("contrast", "estimate", "df", "m", "weights_kish_effective_n", "wcr_replications"):
        pd.testing.assert_series_equal(protected[column], frame[column])


def test_whole_count_columns_stay_int():
    protected = protect_table(pd.DataFrame({"n_las": [25, 24], "n_centres": [118.0, 12.0]}), RULE)
    assert protected["n_las"].dtype == "int64" and list(protected["n_las"]) == [25, 25]
    assert protected["n_centres"].dtype == "int64" and list(protected["n_centres"]) == [120, 10]


def test_protecting_twice_is_protecting_once():
    once = protect_table(results_frame(), RULE)
    pd.testing.assert_frame_equal(protect_table(once, RULE), once)


def test_protect_table_names_the_cell_it_cannot_protect():
    with pytest.raises(ValueError, match=r"column 'n_rows', row 3: 'lots' is not a count"):
        protect_table(pd.DataFrame({"n_rows": [10, "lots"]}), RULE)


def test_protected_table_survives_a_csv_round_trip(tmp_path):
    path = tmp_path / "primary.csv"
    protect_table(results_frame(), RULE).to_csv(path, index=False)
    check_tables([path], RULE)
    text = path.read_text()
    assert "2035," in text and "2035.0" not in text and "<10" in text


def write(tmp_path, name: str, frame: pd.DataFrame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_check_tables_names_file_column_and_spreadsheet_row_of_a_small_cell(tmp_path):
    flow = pd.DataFrame({"step": [0, 1, 2], "n_mothers": [2600, 2590, 4], "n_excluded": [0, 10, "<10"]})
    path = write(tmp_path, "sample_flow.csv", flow)
    with pytest.raises(DisclosureError) as caught:
        check_tables([path], RULE)
    [problem] = caught.value.problems
    assert (problem.file, problem.column, problem.rows) == (str(path), "n_mothers", (4,))
    message = str(caught.value)
    assert "1 way(s)" in message and RULE.describe().rstrip(".") in message
    assert f"{path}, column 'n_mothers', row 4: count 4 is below 10 and not suppressed" in message


def test_check_tables_fails_an_unrounded_count_and_reports_every_file(tmp_path):
    unrounded = write(tmp_path, "primary.csv", pd.DataFrame({"n": [1885, 1883], "estimate": [0.1, 0.2]}))
    fine = write(tmp_path, "fine.csv", pd.DataFrame({"n": [1885], "n_las": [25]}))
    blank = write(tmp_path, "blank.csv", pd.DataFrame({"n": [np.nan, 2033.0]}))
    with pytest.raises(DisclosureError) as caught:
        check_tables([unrounded, fine, blank], RULE)
    found = {(p.file, p.column, p.rows) for p in caught.value.problems}
    assert found == {(str(unrounded), "n", (3,)), (str(blank), "n", (3,))}
    assert "count 1883 is not rounded" in str(caught.value)


def test_check_tables_fails_a_small_count_written_in_text(tmp_path):
    path = write(tmp_path, "notes.csv", pd.DataFrame({
        "note": ["<10 mothers left out", "wave-1 centre, 25 clusters", "7 mothers had no centre"],
        "n": [10, 10, 10]}))
    with pytest.raises(DisclosureError) as caught:
        check_tables([path], RULE)
    [problem] = caught.value.problems
    assert (problem.column, problem.rows) == ("note", (4,))
    assert "'7 mothers'" in problem.message and "below 10" in problem.message


def test_violations_count_rows_by_position_not_by_index():
    frame = pd.DataFrame({"n_clusters": [25, 3, 30]}, index=[7, 8, 9])
    [problem] = violations(frame, RULE, "t.csv")
    assert problem.rows == (3,)


@pytest.mark.parametrize("rule", [RULE, DisclosureRule(suppress_below=5, round_to=10)])
def test_every_protected_count_is_safe_and_close(rule):
    counts = np.random.default_rng(20240601).integers(0, 5001, size=3000)
    counts[:20] = np.arange(20)  # make sure every small count is exercised
    for count in counts:
        shown = rule.protect_count(count)
        assert rule.is_safe(shown), (count, shown)
        if shown == rule.suppressed_label:
            assert 1 <= count < rule.suppress_below
        else:
            assert abs(shown - count) <= rule.round_to / 2, (count, shown)
            assert (shown == 0) == (count == 0)


def test_published_renderings_are_the_named_tables_three_formats_only():
    tables = ["results/tables/sample_flow.csv", "results/tables/funding_groups.csv"]
    found = published_renderings("/elsewhere/funding_groups.csv", tables)
    expected = [f"results/tables/funding_groups{ext}" for ext in (".csv", ".md", ".tex")]
    assert [str(p) for p in found] == expected
    assert published_renderings("not_published.csv", tables) == []
