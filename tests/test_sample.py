"""The primary sample's inclusion steps, on a hand-made survey where each mother fails one step."""

from analysis.sample import build_primary_sample
from tests.conftest import hand_made_survey_and_exposure

COVARIATES = ["k6_w1", "mother_age", "white_british", "idaci_decile", "rural"]


def test_each_step_excludes_the_right_mothers():
    survey, exposure = hand_made_survey_and_exposure()
    frame, flow = build_primary_sample(survey, exposure, score="k6", baseline_wave=1, followup_wave=3,
                                       covariates=COVARIATES)
    assert list(frame["mother_id"]) == ["OK"]
    ok = frame.iloc[0]
    assert ok["centre_id"] == "C1" and ok["funding_group"] == "growing"
    assert ok["k6_w1"] == 5.0 and ok["k6_w3"] == 7.0
    assert ok["white_british"] == 1 and ok["rural"] == 0 and ok["idaci_decile"] == 2
    assert list(flow["n_mothers"]) == [7, 6, 5, 4, 3, 2, 1]
    assert list(flow["n_excluded"]) == [0, 1, 1, 1, 1, 1, 1]
