"""The primary sample's inclusion steps, on a hand-made survey where each mother fails one step."""

import pandas as pd
import pytest

from analysis.errors import DesignError
from analysis.sample import build_primary_sample, samples_by_covariate_set
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


def test_samples_by_covariate_set_are_each_sets_own_sample():
    """One mothers' frame for several covariate sets gives, for each set, the sample and flow built for it
    alone: NO_AGE (missing mother_age) is kept by the sets without mother_age and dropped by the others."""
    survey, exposure = hand_made_survey_and_exposure()
    sets = {"baseline_only": ["k6_w1"], "all": COVARIATES, "none": [],
            "reordered_with_repeat": ["rural", "mother_age", "rural"]}
    plan = {"score": "k6", "baseline_wave": 1, "followup_wave": 3}
    samples = samples_by_covariate_set(survey, exposure, covariate_sets=sets, **plan)
    assert set(samples) == set(sets)
    for name, covariates in sets.items():
        alone_frame, alone_flow = build_primary_sample(survey, exposure, covariates=covariates, **plan)
        frame, flow = samples[name]
        pd.testing.assert_frame_equal(frame, alone_frame)
        pd.testing.assert_frame_equal(flow, alone_flow)
    assert "NO_AGE" in set(samples["none"][0]["mother_id"]) and "mother_age" not in samples["none"][0]
    assert "NO_AGE" not in set(samples["all"][0]["mother_id"])


def test_samples_by_covariate_set_refuse_an_empty_sample_in_words():
    survey, exposure = hand_made_survey_and_exposure()
    survey = survey[survey["wave"] != 3]
    with pytest.raises(DesignError, match="none of the 6 mothers left before step 2"):
        samples_by_covariate_set(survey, exposure, covariate_sets={"none": []}, score="k6", baseline_wave=1,
                                 followup_wave=3)
