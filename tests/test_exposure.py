"""Real-terms budget change and funding groups, checked against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from analysis.errors import RawDataError
from analysis.exposure import ExposurePlan, classify, exposure_by_centre

PLAN = ExposurePlan("2011-12", "2013-14", -5.0, 5.0)
DEFLATORS = pd.DataFrame({"financial_year": ["2011-12", "2013-14"], "gdp_deflator": [100.0, 104.0]})


def centres(ids):
    return pd.DataFrame({"centre_id": ids, "la_code": "E06000001", "la_name": "Amberholt",
                         "idaci_decile": 3, "urban_rural": "urban"})


def funding(rows):
    return pd.DataFrame(rows, columns=["centre_id", "financial_year", "budget_gbp"])


def test_real_terms_change_and_groups():
    # Nominal 2013-14 budgets chosen so that real change is -10%, 0%, +10%, exactly at -5% and +5%.
    nominal_end = {"A": 90 * 1.04, "B": 100 * 1.04, "C": 110 * 1.04, "D": 95 * 1.04, "E": 105 * 1.04}
    rows = [(c, "2011-12", 100.0) for c in nominal_end] + [(c, "2013-14", v) for c, v in nominal_end.items()]
    out = exposure_by_centre(centres(list(nominal_end)), funding(rows), DEFLATORS, PLAN)
    out = out.set_index("centre_id")
    np.testing.assert_allclose(out["budget_change_pct"], [-10, 0, 10, -5, 5], atol=1e-9)
    np.testing.assert_allclose(out["real_budget_end_gbp"], [90, 100, 110, 95, 105], atol=1e-9)
    assert list(out["funding_group"]) == ["cut", "stable", "growing", "cut", "growing"]


def test_threshold_boundaries_follow_the_plan():
    change = pd.Series([-5.0, -4.999, 4.999, 5.0, np.nan])
    groups = classify(change, PLAN)
    assert list(groups.iloc[:4]) == ["cut", "stable", "stable", "growing"]
    assert pd.isna(groups.iloc[4])
    wider = classify(change, ExposurePlan("2011-12", "2013-14", -10, 10))
    assert list(wider.iloc[:4]) == ["stable"] * 4


def test_centre_missing_a_window_budget_has_no_group_and_a_reason():
    rows = [("A", "2011-12", 100.0), ("A", "2013-14", None), ("B", "2013-14", 100.0),
            ("C", "2011-12", 0.0), ("C", "2013-14", 10.0)]
    out = exposure_by_centre(centres(["A", "B", "C", "D"]), funding(rows), DEFLATORS, PLAN)
    out = out.set_index("centre_id")
    assert out["funding_group"].isna().all()
    assert out.loc["A", "no_group_reason"] == "no budget reported for 2013-14"
    assert out.loc["B", "no_group_reason"] == "no budget reported for 2011-12"
    assert "zero budget" in out.loc["C", "no_group_reason"]
    assert out.loc["D", "no_group_reason"] == "no budget reported for 2011-12"


def test_window_year_without_deflator_is_an_error():
    plan = ExposurePlan("2011-12", "2014-15", -5, 5)
    with pytest.raises(RawDataError, match="deflators.csv.*2014-15"):
        exposure_by_centre(centres(["A"]), funding([("A", "2011-12", 1.0)]), DEFLATORS, plan)
