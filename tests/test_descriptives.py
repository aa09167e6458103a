"""Descriptive tables for the report and the disclosure-safe histogram bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.descriptives import NO_GROUP, caseness_cut_off, funding_groups, score_by_wave
from analysis.figures import pooled_bins


def exposure_frame(rng, n_cut=30, n_stable=12, n_growing=4, n_missing=2):
    def draw(n, low, high, group):
        return pd.DataFrame({"budget_change_pct": rng.uniform(low, high, n), "funding_group": group})

    frame = pd.concat([draw(n_cut, -40, -5, "cut"), draw(n_stable, -5, 5, "stable"),
                       draw(n_growing, 5, 30, "growing")], ignore_index=True)
    missing = pd.DataFrame({"budget_change_pct": [np.nan] * n_missing, "funding_group": [None] * n_missing})
    frame = pd.concat([frame, missing], ignore_index=True)
    frame["la_code"] = [f"E{i % 7:02d}" for i in range(len(frame))]
    frame["centre_id"] = [f"C{i}" for i in range(len(frame))]
    frame["no_group_reason"] = np.where(frame["funding_group"].isna(), "no budget for 2013-14", "")
    frame["funding_group"] = frame["funding_group"].astype("string")
    return frame


def test_funding_groups_count_every_centre_and_hide_quartiles_of_small_groups():
    frame = exposure_frame(np.random.default_rng(1))
    table = funding_groups(frame, -5, 5, "2011-12 to 2013-14", min_cell=10).set_index("funding_group")
    assert table["n_centres"].sum() == len(frame)
    assert table.loc[NO_GROUP, "n_centres"] == 2
    assert table.loc[NO_GROUP, "definition"] == "no budget for 2013-14"
    cut = frame.loc[frame["funding_group"] == "cut", "budget_change_pct"]
    assert table.loc["cut", "budget_change_pct_median"] == pytest.approx(cut.median())
    assert table.loc["cut", "budget_change_pct_q1"] == pytest.approx(cut.quantile(0.25))
    assert np.isnan(table.loc["growing", "budget_change_pct_median"])  # 4 centres: below the threshold
    assert "+5% or more" in table.loc["growing", "definition"]


def panel_data(rng, n_las=8, per_la=40):
    rows, centres = [], []
    for la in range(n_las):
        group = ["cut", "stable", "growing"][la % 3]
        centres.append({"centre_id": f"C{la}", "la_code": f"LA{la}", "funding_group": group})
        shift = rng.normal(0, 1.5)
        for m in range(per_la):
            for wave in (1, 2, 3):
                rows.append({"mother_id": f"M{la}-{m}", "wave": wave, "centre_id": f"C{la}",
                             "k6": float(np.clip(round(6 + shift + rng.normal(0, 3)), 0, 24))})
    exposure = pd.DataFrame(centres)
    exposure["funding_group"] = exposure["funding_group"].astype("string")
    return pd.DataFrame(rows), exposure


def test_score_by_wave_interval_matches_a_hand_computed_cluster_robust_one():
    survey, exposure = panel_data(np.random.default_rng(7))
    table = score_by_wave(survey, exposure, "k6", 1, 0.95, min_cell=10)
    row = table[(table["funding_group"] == "cut") & (table["wave"] == 2)].iloc[0]
    cell = survey[survey["wave"] == 2].merge(exposure, on="centre_id")
    cell = cell[cell["funding_group"] == "cut"]
    mean = cell["k6"].mean()
    sums = (cell["k6"] - mean).groupby(cell["la_code"]).sum()
    g, n = len(sums), len(cell)
    se = np.sqrt(g / (g - 1) * (sums**2).sum()) / n  # CR1 for a mean: the n-k factor is 1 with k = 1
    half = stats.t.ppf(0.975, g - 1) * se
    assert row["mean"] == pytest.approx(mean)
    assert row["ci_lower"] == pytest.approx(mean - half, rel=1e-9)
    assert row["ci_upper"] == pytest.approx(mean + half, rel=1e-9)
    assert row["n_mothers"] == n and row["n_las"] == g
    assert list(table["funding_group"].unique()) == ["cut", "stable", "growing"]


def test_score_by_wave_shows_no_mean_for_a_small_cell():
    survey, exposure = panel_data(np.random.default_rng(3), per_la=4)  # growing: 2 LAs x 4 mothers
    table = score_by_wave(survey, exposure, "k6", 1, 0.95, min_cell=10)
    growing = table[table["funding_group"] == "growing"]
    assert (growing["n_mothers"] < 10).all() and growing["mean"].isna().all()
    cut = table[table["funding_group"] == "cut"]
    assert (cut["n_mothers"] >= 10).all() and cut["mean"].notna().all()


@pytest.mark.parametrize("n", [10, 11, 19, 20, 37, 120])
def test_pooled_bins_hold_at_least_the_threshold_and_every_value(n):
    values = np.random.default_rng(n).normal(0, 10, n)
    edges, counts = pooled_bins(values, 10, -60.0, 60.0)
    assert (counts >= 10).all() and counts.sum() == n
    assert np.all(np.diff(edges) > 0) and edges[0] == -60.0 and edges[-1] == 60.0
    assert np.array_equal(np.histogram(values, edges)[0], counts)  # the edges really split as counted


def test_pooled_bins_draw_nothing_for_fewer_values_than_the_threshold():
    edges, counts = pooled_bins(np.arange(9.0), 10, 0.0, 10.0)
    assert len(counts) == 0


def test_prevalence_at_a_cut_off_is_counted_per_cell_and_shown_only_when_both_sides_are_publishable():
    survey, exposure = panel_data(np.random.default_rng(7))
    table = score_by_wave(survey, exposure, "k6", 1, 0.95, min_cell=10, cut_off=10)
    merged = survey.merge(exposure, on="centre_id")
    for _, row in table.iterrows():
        cell = merged[(merged["funding_group"] == row["funding_group"]) & (merged["wave"] == row["wave"])]
        cases = int((cell["k6"] >= 10).sum())
        assert row["n_at_or_above_cut_off"] == cases and row["cut_off"] == 10
        if min(cases, len(cell) - cases) >= 10:
            assert row["pct_at_or_above_cut_off"] == pytest.approx(100 * cases / len(cell), abs=0.05)
        else:
            assert np.isnan(row["pct_at_or_above_cut_off"])
    # A cut-off few reach: the counts are kept (the disclosure rule suppresses them) but no share is shown.
    rare = score_by_wave(survey, exposure, "k6", 1, 0.95, min_cell=10, cut_off=15)
    assert rare["pct_at_or_above_cut_off"].isna().any()
    assert "share at or above 15 shown where at least 10 mothers" in rare["ci_method"].iloc[0]
    assert "cut_off" not in score_by_wave(survey, exposure, "k6", 1, 0.95, min_cell=10).columns


def test_caseness_cut_off_is_the_first_binary_score_made_from_the_score(plan):
    binary = {"ghq_case": {"score": "ghq_caseness", "at_least": 4},
              "k6_serious": {"score": "k6", "at_least": 13}, "k6_moderate": {"score": "k6", "at_least": 5}}
    assert caseness_cut_off(binary, "k6") == 13.0
    assert caseness_cut_off(binary, "ghq_likert") is None
    assert caseness_cut_off({}, "k6") is None
    shipped = plan["primary_sample"].get("binary_scores", {})
    assert caseness_cut_off(shipped, "k6") in {None, *(float(e["at_least"]) for e in shipped.values())}
