"""The primary sample's inclusion steps, on a hand-made survey where each mother fails one step."""

import pandas as pd
import pytest

from analysis.errors import DesignError
from analysis.sample import build_primary_sample, sample_arguments, samples_by_covariate_set
from tests.conftest import hand_made_survey_and_exposure

COVARIATES = ["k6_w1", "mother_age", "white_british", "idaci_decile", "rural"]
SAMPLE_PLAN = {"score": "k6", "baseline_wave": 1, "followup_wave": 3}


def test_each_step_excludes_the_right_mothers():
    survey, exposure = hand_made_survey_and_exposure()
    frame, flow = build_primary_sample(survey, exposure, SAMPLE_PLAN, COVARIATES)
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
    samples = samples_by_covariate_set(survey, exposure, plan, sets)
    assert set(samples) == set(sets)
    for name, covariates in sets.items():
        alone_frame, alone_flow = build_primary_sample(survey, exposure, plan, covariates)
        frame, flow = samples[name]
        pd.testing.assert_frame_equal(frame, alone_frame)
        pd.testing.assert_frame_equal(flow, alone_flow)
    assert "NO_AGE" in set(samples["none"][0]["mother_id"]) and "mother_age" not in samples["none"][0]
    assert "NO_AGE" not in set(samples["all"][0]["mother_id"])


def test_samples_by_covariate_set_refuse_an_empty_sample_in_words():
    survey, exposure = hand_made_survey_and_exposure()
    survey = survey[survey["wave"] != 3]
    with pytest.raises(DesignError, match="none of the 6 mothers left before step 2"):
        samples_by_covariate_set(survey, exposure, {"score": "k6", "baseline_wave": 1, "followup_wave": 3},
                                 {"none": []})


def test_the_plan_slice_carries_binary_scores_at_both_waves():
    survey, exposure = hand_made_survey_and_exposure()
    plan = {**SAMPLE_PLAN, "binary_scores": {"k6_above_5": {"score": "k6", "at_least": 6}}}
    frame, flow = build_primary_sample(survey, exposure, plan, COVARIATES)
    ok = frame.iloc[0]
    assert (ok["k6_above_5_w1"], ok["k6_above_5_w3"]) == (0, 1)  # K6 5 at baseline, 7 at follow-up
    assert list(flow["n_mothers"]) == [7, 6, 5, 4, 3, 2, 1]  # a binary score is carried, not required


def test_sample_arguments_read_the_plan_as_written_in_yaml():
    plan = {"score": "k6", "baseline_wave": "1", "followup_wave": 3, "secondary_scores": ["ghq_likert"],
            "binary_scores": {"ghq_case": {"score": "ghq_caseness", "at_least": 4}}}
    arguments = sample_arguments(plan, ("k6_w1", "mother_age"))
    assert arguments == {"score": "k6", "baseline_wave": 1, "followup_wave": 3,
                         "covariates": ["k6_w1", "mother_age"], "carry_scores": ("ghq_likert",),
                         "binary_scores": {"ghq_case": ("ghq_caseness", 4.0)}}
    bare = sample_arguments(SAMPLE_PLAN, [])
    assert bare["carry_scores"] == () and bare["binary_scores"] == {}
