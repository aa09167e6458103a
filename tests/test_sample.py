"""The primary sample's inclusion steps, on a hand-made survey where each mother fails one step."""

import pandas as pd

from analysis.sample import build_primary_sample

COVARIATES = ["k6_w1", "mother_age", "white_british", "idaci_decile", "rural"]


def record(mother, wave, centre="C1", k6=5.0, age=30, ethnicity=1):
    return {"mother_id": mother, "wave": wave, "centre_id": centre, "k6": k6, "mother_age": age,
            "ethnicity": ethnicity, "child_sex": 1}


def test_each_step_excludes_the_right_mothers():
    survey = pd.DataFrame([
        record("OK", 1), record("OK", 3, centre="C2", k6=7.0),  # moved centre: exposure is wave-1's C1
        record("NO_W3", 1),
        record("NO_K6_W1", 1, k6=None), record("NO_K6_W1", 3),
        record("NO_K6_W3", 1), record("NO_K6_W3", 3, k6=None),
        record("NO_GROUP", 1, centre="C3"), record("NO_GROUP", 3, centre="C3"),
        record("NO_AGE", 1, age=None), record("NO_AGE", 3),
        record("NO_W1", 2), record("NO_W1", 3),
    ])
    exposure = pd.DataFrame({
        "centre_id": ["C1", "C2", "C3"], "la_code": ["E06000001"] * 3,
        "funding_group": pd.array(["growing", "cut", None], dtype="string"),
        "budget_change_pct": [8.0, -12.0, None], "idaci_decile": [2, 5, 9],
        "urban_rural": ["urban", "rural", "urban"],
    })
    frame, flow = build_primary_sample(survey, exposure, score="k6", baseline_wave=1, followup_wave=3,
                                       covariates=COVARIATES)
    assert list(frame["mother_id"]) == ["OK"]
    ok = frame.iloc[0]
    assert ok["centre_id"] == "C1" and ok["funding_group"] == "growing"
    assert ok["k6_w1"] == 5.0 and ok["k6_w3"] == 7.0
    assert ok["white_british"] == 1 and ok["rural"] == 0 and ok["idaci_decile"] == 2
    assert list(flow["n_mothers"]) == [7, 6, 5, 4, 3, 2, 1]
    assert list(flow["n_excluded"]) == [0, 1, 1, 1, 1, 1, 1]
