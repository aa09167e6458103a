"""Interval and test conventions shared by every estimator."""

from __future__ import annotations

import numpy as np


def two_sided_p(statistic, df) -> np.ndarray:
    """Two-sided p of a t (or, where df is infinite, normal) statistic, by scipy's distribution functions
    themselves (what scipy.stats' t.sf and norm.sf call, without their wrappers' millisecond a call, which
    counts in resampling loops)."""
    from scipy import special

    statistic, df = np.abs(np.asarray(statistic, float)), np.asarray(df, float)
    return np.where(np.isinf(df), 2 * special.ndtr(-statistic),
                    2 * special.stdtr(np.where(np.isinf(df), 1, df), -statistic))


def t_quantile(probability, df) -> np.ndarray:
    """The `probability` quantile of Student's t with df (the normal's where df is infinite), by scipy's
    distribution functions themselves: the numbers scipy.stats' t.ppf and norm.ppf give, without importing
    scipy.stats (about half a second for each pipeline job that needs nothing else from it)."""
    from scipy import special

    probability, df = np.asarray(probability, float), np.asarray(df, float)
    return np.where(np.isinf(df), special.ndtri(probability),
                    special.stdtrit(np.where(np.isinf(df), 1, df), probability))


def wald_columns(estimate, std_error, level: float, df=None) -> dict[str, np.ndarray]:
    """CI and two-sided p: normal reference when df is None (or inf), else Student t with df."""
    estimate, std_error = np.asarray(estimate, float), np.asarray(std_error, float)
    if df is None:
        df = np.full(estimate.shape, np.inf)
    df = np.asarray(df, float)
    quantile = t_quantile(0.5 + level / 2, df)
    return {"ci_lower": estimate - quantile * std_error, "ci_upper": estimate + quantile * std_error,
            "p_value": two_sided_p(estimate / std_error, df)}
