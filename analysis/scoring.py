"""Questionnaire scores: Kessler K6 and GHQ-12, with the contract's proration rules.

K6 (Kessler et al. 2002): items coded 1 = all of the time .. 5 = none of the time; item distress is
5 - response (0-4), summed to 0-24, higher = more distress. GHQ-12 Likert: response - 1 (0-3), summed to 0-36;
GHQ-12 caseness: number of items answered 3 or 4 (0-12), higher = more distress.
"""

from __future__ import annotations

import pandas as pd

from analysis.contract import GHQ_ITEMS, K6_ITEMS

# Most items that may be missing for a prorated score (mean of answered items x number of items).
K6_MAX_MISSING = 1
GHQ_LIKERT_MAX_MISSING = 2


def prorated_sum(items: pd.DataFrame, max_missing: int) -> pd.Series:
    """Sum of item scores; with 1..max_missing items missing, the mean of the rest times the item count."""
    n_missing = items.isna().sum(axis=1)
    score = items.mean(axis=1, skipna=True) * items.shape[1]
    return score.where(n_missing <= max_missing).astype("Float64")


def k6_score(survey: pd.DataFrame) -> pd.Series:
    distress = 5 - survey[list(K6_ITEMS)].astype("Float64")
    return prorated_sum(distress, K6_MAX_MISSING)


def ghq_likert_score(survey: pd.DataFrame) -> pd.Series:
    return prorated_sum(survey[list(GHQ_ITEMS)].astype("Float64") - 1, GHQ_LIKERT_MAX_MISSING)


def ghq_caseness_score(survey: pd.DataFrame) -> pd.Series:
    items = survey[list(GHQ_ITEMS)]
    count = (items >= 3).sum(axis=1).astype("Float64")
    return count.where(items.notna().all(axis=1))


def score_survey(survey: pd.DataFrame, cleaning) -> pd.DataFrame:
    """Add k6, ghq_likert and ghq_caseness; count prorated and unscored records in `cleaning`."""
    survey = survey.copy()
    k6_missing = survey[list(K6_ITEMS)].isna().sum(axis=1)
    ghq_missing = survey[list(GHQ_ITEMS)].isna().sum(axis=1)
    survey["k6"] = k6_score(survey)
    survey["ghq_likert"] = ghq_likert_score(survey)
    survey["ghq_caseness"] = ghq_caseness_score(survey)
    file = "survey.csv"
    cleaning.record(file, "k6", "K6 prorated (1 item missing)", int((k6_missing == 1).sum()))
    cleaning.record(file, "k6", "K6 not scored (2 or more items missing)", int((k6_missing >= 2).sum()))
    cleaning.record(file, "ghq_likert", "GHQ-12 Likert prorated (1-2 items missing)",
                    int(ghq_missing.between(1, GHQ_LIKERT_MAX_MISSING).sum()))
    cleaning.record(file, "ghq_likert", "GHQ-12 Likert not scored (3 or more items missing)",
                    int((ghq_missing > GHQ_LIKERT_MAX_MISSING).sum()))
    cleaning.record(file, "ghq_caseness", "GHQ-12 caseness not scored (an item missing)",
                    int((ghq_missing > 0).sum()))
    return survey

