"""Binary outcomes: population-averaged logistic model by GEE, reported as odds ratios and risk differences.

GEE with a logit link and an exchangeable working correlation within local authority (the level at which
funding is decided; within centre when the data hold a single local authority), fitted by statsmodels.
Standard errors are the robust (sandwich) ones without a small-sample correction, as R geepack's `san.se`;
intervals and p-values are Wald, normal approximation.

The risk difference is marginally standardised: the mean predicted probability with every mother's group set
to the contrast group minus the same with every mother's group set to the reference, over the analysed
sample; its SE is by the delta method from the robust covariance.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.inputs import checked_inputs


def se_method(cluster: str) -> str:
    """The standard-error convention in words, for clusters named `cluster` (e.g. "local authority")."""
    return (f"GEE robust sandwich (no small-sample correction), exchangeable working correlation within "
            f"{cluster}")


def gee_logistic(y: pd.Series, X: pd.DataFrame, clusters: pd.Series):
    """Fit the logistic GEE; returns the statsmodels result (params indexed by X's columns). Inputs are
    checked as every estimator checks them (analysis.inputs: missing or infinite values, missing cluster
    labels, labels of more than one type), and the outcome must be 0/1; ValueError says what is wrong."""
    outcome, design, terms, coded = checked_inputs(y, X, {"clusters": clusters})
    values = set(np.unique(outcome))
    if not values <= {0.0, 1.0}:
        raise ValueError(f"a logistic model needs a 0/1 outcome; found values {sorted(values)[:5]}")
    # Integer cluster codes (sorted labels): GEE sorts and groups them; a million text labels take seconds.
    codes = coded["clusters"][0]
    order = np.argsort(codes, kind="stable")  # GEE wants each cluster's rows together
    # statsmodels is imported where used, module by module: statsmodels.api alone costs a job about 1.3 s.
    from statsmodels.genmod.cov_struct import Exchangeable
    from statsmodels.genmod.families import Binomial
    from statsmodels.genmod.generalized_estimating_equations import GEE
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    model = GEE(outcome[order], pd.DataFrame(design[order], columns=terms), groups=codes[order],
                family=Binomial(), cov_struct=Exchangeable())
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=ConvergenceWarning)
        try:
            # ddof_scale=0: the dependence and scale moments as geepack computes them (checked in tests).
            return model.fit(maxiter=200, ddof_scale=0, start_params=logistic_start(model.endog, model.exog))
        except ConvergenceWarning as warning:
            raise ValueError(f"the logistic GEE did not converge ({warning})") from None


def logistic_start(y: np.ndarray, X: np.ndarray, max_iterations: int = 50) -> np.ndarray | None:
    """The independence logistic regression's maximum-likelihood coefficients, GEE's starting point, or None
    (GEE then finds its own) when Newton's method does not settle within `max_iterations`.

    statsmodels starts GEE from the same fit, by GLM's IRLS with a least-squares solve over the rows at each
    step (about 5 s at a million rows); Newton's method on the p x p normal equations reaches the same
    maximum in a tenth of the time."""
    from scipy.special import expit  # imported where used, as scipy.stats

    beta = np.zeros(X.shape[1])
    for _ in range(max_iterations):
        p = expit(X @ beta)
        information = (X * (p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(information, X.T @ (y - p))
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        beta = beta + step
        if np.max(np.abs(step)) <= 1e-10 * (1 + np.max(np.abs(beta))):
            return beta
    return None


@dataclass(frozen=True)
class Standardised:
    """Mean predicted probabilities over the analysed rows under two settings of the exposure, their
    difference, and delta-method SEs of each from the coefficients' covariance."""

    share: float  # mean probability with the exposure as set
    share_se: float
    reference_share: float  # the same with the exposure at its reference setting
    reference_share_se: float
    difference: float  # share - reference_share
    difference_se: float


def standardised(params: np.ndarray, covariance: np.ndarray, exposed: np.ndarray,
                 reference: np.ndarray) -> Standardised:
    """Marginal standardisation: `exposed` and `reference` are the analysed design matrix with the exposure
    columns set to the contrast's two settings; the gradient of each mean probability in the coefficients is
    the mean of p (1 - p) x over the rows."""
    from scipy.special import expit  # imported where used, as scipy.stats
    beta = np.asarray(params, float)
    p1, p0 = expit(exposed @ beta), expit(reference @ beta)
    g1 = ((p1 * (1 - p1))[:, None] * exposed).mean(axis=0)
    g0 = ((p0 * (1 - p0))[:, None] * reference).mean(axis=0)

    def se(gradient):
        return float(np.sqrt(gradient @ covariance @ gradient))

    return Standardised(float(p1.mean()), se(g1), float(p0.mean()), se(g0), float(p1.mean() - p0.mean()),
                        se(g1 - g0))


def standardised_risk_difference(params: np.ndarray, covariance: np.ndarray, X: pd.DataFrame,
                                 contrast_term: str, group_terms: list[str]) -> tuple[float, float]:
    """Risk difference (contrast group minus reference) standardised over X's rows, and its delta SE."""
    exposed = X.copy()
    exposed[group_terms] = 0.0
    exposed[contrast_term] = 1.0
    reference = X.copy()
    reference[group_terms] = 0.0
    result = standardised(params, covariance, exposed.to_numpy(float), reference.to_numpy(float))
    return result.difference, result.difference_se
