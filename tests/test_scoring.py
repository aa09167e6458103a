"""K6 and GHQ-12 scoring, checked against scores worked out by hand from the published rules."""

import numpy as np
import pandas as pd
import pytest

from analysis.cleaning import CleaningLog
from analysis.contract import GHQ_ITEMS, K6_ITEMS
from analysis.scoring import ghq_caseness_score, ghq_likert_score, k6_score, score_survey


def survey_with(k6=None, ghq=None) -> pd.DataFrame:
    k6 = k6 if k6 is not None else [5] * 6
    ghq = ghq if ghq is not None else [1] * 12
    row = dict(zip(K6_ITEMS, k6, strict=True)) | dict(zip(GHQ_ITEMS, ghq, strict=True))
    return pd.DataFrame([row]).astype("Int64")


@pytest.mark.parametrize(
    ("responses", "expected"),
    [
        ([5, 5, 5, 5, 5, 5], 0.0),  # none of the time on every item: no distress
        ([1, 1, 1, 1, 1, 1], 24.0),  # all of the time on every item: maximum
        ([1, 2, 3, 4, 5, 5], 4 + 3 + 2 + 1 + 0 + 0),
        ([1, 2, 3, 4, 5, None], (4 + 3 + 2 + 1 + 0) / 5 * 6),  # one missing: mean of five x 6
        ([1, 2, 3, 4, None, None], None),  # two missing: not scored
    ],
)
def test_k6_score(responses, expected):
    score = k6_score(survey_with(k6=responses)).iloc[0]
    if expected is None:
        assert pd.isna(score)
    else:
        assert score == pytest.approx(expected)


@pytest.mark.parametrize(
    ("responses", "expected"),
    [
        ([1] * 12, 0.0),
        ([4] * 12, 36.0),
        ([2] * 6 + [3] * 6, 6 * 1 + 6 * 2),
        ([2] * 6 + [3] * 5 + [None], (6 * 1 + 5 * 2) / 11 * 12),
        ([2] * 6 + [3] * 4 + [None, None], (6 * 1 + 4 * 2) / 10 * 12),
        ([2] * 6 + [3] * 3 + [None] * 3, None),
    ],
)
def test_ghq_likert_score(responses, expected):
    score = ghq_likert_score(survey_with(ghq=responses)).iloc[0]
    if expected is None:
        assert pd.isna(score)
    else:
        assert score == pytest.approx(expected)


def test_ghq_caseness_counts_items_answered_3_or_4_and_needs_all_items():
    assert ghq_caseness_score(survey_with(ghq=[1, 2, 3, 4] * 3)).iloc[0] == 6
    assert ghq_caseness_score(survey_with(ghq=[4] * 12)).iloc[0] == 12
    assert pd.isna(ghq_caseness_score(survey_with(ghq=[4] * 11 + [None])).iloc[0])


def test_score_survey_counts_proration_in_the_log():
    frame = pd.concat([survey_with(k6=[1, 2, 3, 4, 5, None]), survey_with(k6=[1, 2, 3, 4, None, None]),
                       survey_with()], ignore_index=True)
    log = CleaningLog()
    scored = score_survey(frame, log)
    counts = log.to_frame().set_index("rule")["n_rows"]
    assert counts["K6 prorated (1 item missing)"] == 1
    assert counts["K6 not scored (2 or more items missing)"] == 1
    np.testing.assert_allclose(scored["k6"].iloc[[0, 2]].astype(float), [12.0, 0.0])
