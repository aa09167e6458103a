"""Mother fixed-effects DiD: agreement with a hand computation, the SE convention, recovery, panel flow."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
import statsmodels.api as sm

from analysis.cleaning import clean_all
from analysis.exposure import ExposurePlan, exposure_by_centre, exposure_by_la
from analysis.panel import build_panel, did_mother_fe, did_table
from analysis.simulate import PRESETS, simulate, write


def _clean(raw_dir: Path, plan: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    data = clean_all(raw_dir)
    exposure = exposure_by_centre(data.centres, data.funding, data.deflators,
                                  ExposurePlan.from_config(plan["exposure"]))
    return data.survey, exposure


@pytest.fixture(scope="module")
def tiny_panel(tiny_raw_master, plan) -> pd.DataFrame:
    panel, _ = build_panel(*_clean(tiny_raw_master, plan))
    return panel


def _indicators(panel: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Wave-2/3 dummies and group x wave dummies (reference: cut, wave 1), in did_mother_fe's order."""
    x = pd.DataFrame(index=panel.index)
    for w in (2, 3):
        x[f"w{w}"] = (panel["wave"] == w).astype(float)
    terms = []
    for g in ("stable", "growing"):
        for w in (2, 3):
            x[f"{g}_w{w}"] = ((panel["funding_group"] == g) & (panel["wave"] == w)).astype(float)
            terms.append(f"funding_group[T.{g}]:wave[{w}]")
    return x, terms


def _within_by_hand(panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """Estimates and CRV1 SEs of the 4 interactions, computed directly; also the n used."""
    used = panel[panel.groupby("mother_id")["wave"].transform("size") > 1]  # singletons carry nothing
    x, _ = _indicators(used)
    y = used["k6"].to_numpy(float)
    mother = used["mother_id"].to_numpy()
    # Within transformation: subtract each mother's mean from y and from every regressor.
    y_w = y - pd.Series(y).groupby(mother).transform("mean").to_numpy()
    x_w = (x - x.groupby(mother).transform("mean")).to_numpy()
    bread = np.linalg.inv(x_w.T @ x_w)
    beta = bread @ x_w.T @ y_w
    resid = y_w - x_w @ beta
    scores = pd.DataFrame(x_w * resid[:, None]).groupby(used["la_code"].to_numpy()).sum().to_numpy()
    n, g = len(y), len(scores)
    k = x_w.shape[1] + 1  # fixest "nested": mother effects not counted, plus one for the intercept
    vcov = bread @ (scores.T @ scores) @ bread * g / (g - 1) * (n - 1) / (n - k)
    return beta[2:], np.sqrt(np.diag(vcov))[2:], n


def test_agrees_with_hand_computation(tiny_panel):
    result = did_mother_fe(tiny_panel)
    beta, se, n = _within_by_hand(tiny_panel)
    _, terms = _indicators(tiny_panel)
    assert list(result["term"]) == terms
    np.testing.assert_allclose(result["estimate"], beta, rtol=1e-8)
    np.testing.assert_allclose(result["std_error"], se, rtol=1e-8)
    singletons = (tiny_panel.groupby("mother_id").size() == 1).sum()
    assert singletons > 0  # the tiny data do have mothers seen once, so the n check means something
    assert (result["n"] == n).all() and n == len(tiny_panel) - singletons
    assert (result["n_mothers"] == tiny_panel["mother_id"].nunique() - singletons).all()
    assert (result["n_clusters"] == tiny_panel["la_code"].nunique()).all()
    assert (result["df"] == result["n_clusters"] - 1).all()


def test_waves_as_second_fixed_effect_give_the_same_k(tiny_panel):
    """Entering waves as a (non-nested) fixed effect instead of dummies leaves K, and the SEs, unchanged."""
    x, _ = _indicators(tiny_panel)
    data = pd.concat([tiny_panel[["k6", "mother_id", "la_code", "wave"]], x], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.feols("k6 ~ stable_w2 + stable_w3 + growing_w2 + growing_w3 | mother_id + wave", data=data,
                       vcov={"CRV1": "la_code"}, ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True))
    result = did_mother_fe(tiny_panel)
    # Two fixed effects are demeaned iteratively (tolerance 1e-6), hence the looser match; counting one
    # parameter more or less in K would move the SEs by ~6e-4 here, far outside it.
    np.testing.assert_allclose(result["estimate"], fit.coef().to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(result["std_error"], fit.se().to_numpy(), rtol=1e-6)


def test_statsmodels_with_mother_dummies_overstates_the_se(tiny_panel):
    assert sorted(tiny_panel["wave"].unique()) == [1, 2, 3]
    x, terms = _indicators(tiny_panel)
    dummies = pd.get_dummies(tiny_panel["mother_id"], dtype=float)
    design = pd.concat([dummies, x], axis=1)
    fit = sm.OLS(tiny_panel["k6"].to_numpy(float), design).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(tiny_panel["la_code"])[0]})
    result = did_mother_fe(tiny_panel).set_index("term")
    ours = result.loc["funding_group[T.growing]:wave[3]"]
    theirs_estimate = fit.params["growing_w3"]
    theirs_se = fit.bse["growing_w3"]
    assert ours["estimate"] == pytest.approx(theirs_estimate, rel=1e-8)
    assert theirs_se / ours["std_error"] > 1.1
    # Same coefficients throughout: only the count of parameters in (n-1)/(n-K) differs.
    np.testing.assert_allclose(result.loc[terms, "estimate"], fit.params[x.columns[2:]], rtol=1e-8)


@pytest.mark.slow
def test_recovers_known_effect(plan):
    settings = PRESETS["large"]
    with tempfile.TemporaryDirectory() as tmp:
        write(simulate(settings), Path(tmp))
        survey, exposure = _clean(Path(tmp), plan)
    panel, _ = build_panel(survey, exposure)
    result = did_mother_fe(panel).set_index("term")
    for wave, share in ((3, 1.0), (2, 0.5)):
        row = result.loc[f"funding_group[T.growing]:wave[{wave}]"]
        z = (row["estimate"] - share * settings.effect_growing) / row["std_error"]
        assert abs(z) < 3, f"wave {wave}: z = {z:.2f}"


def test_flow_counts_every_exclusion():
    survey = pd.DataFrame(
        [
            ("A", 1, "C1", 5.0), ("A", 2, "C1", 6.0), ("A", 3, "C1", 4.0),
            ("B", 2, "C1", 7.0), ("B", 3, "C1", 8.0),  # no baseline record
            ("C", 1, "C9", 3.0), ("C", 2, "C9", 3.0), ("C", 3, "C9", 2.0),  # baseline centre: no group
            ("D", 1, "C2", 9.0), ("D", 2, "C2", None), ("D", 3, "C2", 7.0),  # K6 missing at wave 2
            ("E", 1, "C2", 4.0), ("E", 2, "C3", 3.0),  # moves centre: keeps baseline exposure
            ("F", 1, "C7", 2.0),  # baseline centre absent from the exposure table
        ],
        columns=["mother_id", "wave", "centre_id", "k6"],
    ).astype({"wave": "Int64", "k6": "Float64"})
    exposure = pd.DataFrame({
        "centre_id": ["C1", "C2", "C3", "C9"],
        "la_code": ["L1", "L2", "L2", "L3"],
        "funding_group": pd.array(["cut", "growing", "cut", None], dtype="string"),
    })
    panel, flow = build_panel(survey, exposure)
    assert flow.columns.tolist() == ["step", "description", "n_mothers", "n_rows", "n_excluded_rows"]
    assert flow["n_mothers"].tolist() == [6, 5, 3, 3]
    assert flow["n_rows"].tolist() == [14, 12, 8, 7]
    assert flow["n_excluded_rows"].tolist() == [0, 2, 4, 1]
    assert (flow["n_rows"].shift() - flow["n_excluded_rows"] == flow["n_rows"]).iloc[1:].all()
    assert panel.columns.tolist() == ["mother_id", "la_code", "centre_id", "funding_group", "wave", "k6"]
    assert sorted(panel["mother_id"].unique()) == ["A", "D", "E"]
    assert panel.loc[panel["mother_id"] == "D", "wave"].tolist() == [1, 3]
    mover = panel[panel["mother_id"] == "E"]
    assert mover["centre_id"].tolist() == ["C2", "C2"] and mover["funding_group"].tolist() == ["growing"] * 2
    assert mover["la_code"].tolist() == ["L2", "L2"]


def test_missing_reference_group_is_an_error(tiny_panel):
    with pytest.raises(ValueError, match="reference group"):
        did_mother_fe(tiny_panel, reference="shrinking")


def test_did_table_labels_each_row_and_clusters_by_local_authority(tiny_panel):
    table = did_table(tiny_panel, "k6", 1)
    plain = did_mother_fe(tiny_panel, score="k6", reference_wave=1, cluster="la_code")
    np.testing.assert_allclose(table["estimate"], plain["estimate"], rtol=1e-10)
    np.testing.assert_allclose(table["std_error"], plain["std_error"], rtol=1e-10)
    assert list(table["contrast"]) == [f"{g} vs cut, wave {w} vs 1"
                                       for g, w in zip(plain["group"], plain["wave"], strict=True)]
    assert (table["outcome"] == "k6").all()
    assert table["estimand"].str.startswith("Difference-in-differences").all()
    assert table["direction"].str.startswith("Negative").all()


def test_did_table_clusters_by_centre_when_the_data_hold_a_single_local_authority(tiny_panel):
    one_la = tiny_panel.assign(la_code=tiny_panel["la_code"].iloc[0])
    table = did_table(one_la, "k6", 1)
    assert (table["n_clusters"] == one_la["centre_id"].nunique()).all()


def _panel_by_merge(survey: pd.DataFrame, exposure: pd.DataFrame, key: str, score: str = "k6"):
    """build_panel's rows computed another way: each record joined to its mother's wave-1 record, then to
    the exposure table, keeping records whose mother has one, whose unit has a group and whose score is
    seen."""
    baseline = survey.loc[survey["wave"] == 1, list(dict.fromkeys(["mother_id", "centre_id", key]))]
    rows = survey[["mother_id", "wave", score]].merge(baseline, on="mother_id", how="inner")
    rows = rows.merge(exposure[list(dict.fromkeys([key, "la_code", "funding_group"]))], on=key, how="inner")
    rows = rows[rows["funding_group"].notna() & rows[score].notna()]
    return rows.sort_values(["mother_id", "wave"]).reset_index(drop=True)


@pytest.mark.parametrize("level", ["centre", "la"])
def test_the_panel_is_each_record_joined_to_its_mothers_baseline_unit(tiny_raw_master, tmp_path, plan, level):
    """On the tiny data shuffled, with gaps in the index, without some baseline records and with some units
    missing from the exposure table: the same records, centres, LAs and groups as two joins give."""
    from tests.la_data import to_la_level

    raw = tiny_raw_master if level == "centre" else to_la_level(tiny_raw_master, tmp_path / "la")
    data = clean_all(raw, level)
    exposure_plan = ExposurePlan.from_config({**plan["exposure"], "level": level})
    exposure = (exposure_by_centre if level == "centre" else exposure_by_la)(
        data.centres, data.funding, data.deflators, exposure_plan)
    key = "centre_id" if level == "centre" else "la_code"
    survey = data.survey.sample(frac=1, random_state=7)
    survey.index = survey.index * 3 + 11
    dropped = survey[survey["wave"] == 1].iloc[::9].index
    survey, exposure = survey.drop(dropped), exposure.iloc[2:]
    panel, flow = build_panel(survey, exposure)
    expected = _panel_by_merge(survey, exposure, key)
    assert len(panel) == len(expected) > 100 and flow["n_rows"].iloc[-1] == len(panel)
    columns = ["mother_id", "wave", "centre_id", "la_code", "funding_group", "k6"]
    pd.testing.assert_frame_equal(panel[columns].astype(str), expected[columns].astype(str))
    assert flow["n_mothers"].iloc[-1] == expected["mother_id"].nunique()
    assert flow["n_mothers"].iloc[1] == survey.loc[survey["wave"] == 1, "mother_id"].nunique()


@pytest.mark.parametrize("dtypes", ["str", "object", "category"])
def test_the_panel_handles_missing_baseline_centres_and_labels_of_any_type(dtypes):
    """A baseline record naming no centre, a missing score, a centre the exposure lacks and one without a
    group, with ids stored as text, Python objects or categories: the same rows as the two joins."""
    survey = pd.DataFrame([
        ("A", 1, "C1", 5.0), ("A", 2, "C1", 6.0), ("B", 1, None, 3.0), ("B", 2, "C1", 4.0),
        ("C", 1, "C2", None), ("C", 3, "C2", 2.0), ("D", 2, "C2", 1.0), ("E", 1, "C3", 2.0),
        ("E", 3, "C1", 2.0), ("F", 1, "C9", 1.0)], columns=["mother_id", "wave", "centre_id", "k6"])
    survey = survey.astype({"wave": "Int64", "k6": "Float64", "mother_id": dtypes, "centre_id": dtypes})
    exposure = pd.DataFrame({"centre_id": ["C1", "C2", "C3"], "la_code": ["L1", "L1", "L2"],
                             "funding_group": pd.array(["cut", "growing", None], dtype="string")})
    panel, flow = build_panel(survey, exposure)
    expected = _panel_by_merge(survey.astype({"centre_id": object}), exposure, "centre_id")
    columns = ["mother_id", "wave", "centre_id", "la_code", "funding_group", "k6"]
    pd.testing.assert_frame_equal(panel[columns].astype(str), expected[columns].astype(str))
    assert panel["mother_id"].tolist() == ["A", "A", "C"]
    assert flow["n_mothers"].tolist() == [6, 5, 2, 2]
