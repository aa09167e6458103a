"""Linear mixed model with nested random intercepts (local authority / centre), fitted by REML.

The REML criterion is profiled over the two variance ratios and evaluated from per-cluster sufficient
statistics (analysis.fastreml), so a fit costs the same whatever the number of mothers. A search can stop
early at a worse point, so the criterion is searched from several starting points with several scipy
optimisers, the highest REML log-likelihood is kept, and the fit is rejected unless two different optimisers
reach it with the same estimates. statsmodels' MixedLM (fit_with_statsmodels) is the reference the tests
hold this against, with lme4 (tests/fixtures/lme4).

Fixed-effect standard errors follow lme4's convention: sqrt(diag((X' V^-1 X)^-1)) with V the marginal
covariance at the REML estimates, i.e. treating the variance components as known. (statsmodels' own SEs come
from the joint Hessian of fixed effects and variance parameters and differ slightly.)
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.optimize

from analysis.fastreml import SufficientStatistics, profile

log = logging.getLogger(__name__)


class FitDisagreement(RuntimeError):
    """Optimisers did not agree on the REML optimum; the estimates cannot be trusted."""


@dataclass(frozen=True)
class FitSettings:
    """How hard to look for the REML optimum, and what counts as agreement."""

    methods: tuple[str, ...] = ("bfgs", "lbfgs", "powell", "nm")
    # Starting values of sqrt(variance / residual variance) for both random intercepts.
    start_ratios: tuple[float, ...] = (1.0, 0.3, 0.05)
    loglik_tolerance: float = 1e-3  # fits within this of the best REML log-likelihood "reach" it
    estimate_tolerance_se: float = 0.01  # fits reaching it may differ by at most this many SEs

    @classmethod
    def from_config(cls, entry: dict) -> FitSettings:
        return cls(
            methods=tuple(entry["methods"]),
            start_ratios=tuple(float(x) for x in entry["start_ratios"]),
            loglik_tolerance=float(entry["loglik_tolerance"]),
            estimate_tolerance_se=float(entry["estimate_tolerance_se"]),
        )


@dataclass
class Attempt:
    method: str
    start_ratio: float | None  # None: polished from the best fit so far
    reml_loglik: float
    converged: bool
    params: np.ndarray = field(repr=False)  # sqrt(variance / residual variance): outer, inner
    fe_params: np.ndarray = field(repr=False)


@dataclass
class NestedFit:
    """The accepted REML fit."""

    terms: list[str]
    estimates: np.ndarray
    std_errors: np.ndarray
    covariance: np.ndarray
    variance_outer: float  # between local authorities
    variance_inner: float  # between centres within a local authority
    variance_residual: float
    reml_loglik: float
    attempts: list[Attempt]
    confirming_methods: list[str]  # optimisers that reached the best REML log-likelihood
    n_obs: int
    n_outer: int
    n_inner: int

    @property
    def theta(self) -> tuple[float, float]:
        """sqrt(variance / residual variance) of the outer and inner intercepts: where a refit starts."""
        return (float(np.sqrt(self.variance_outer / self.variance_residual)),
                float(np.sqrt(self.variance_inner / self.variance_residual)))

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"term": self.terms, "estimate": self.estimates, "std_error": self.std_errors}
        )

    def diagnostics(self) -> dict:
        best = self.reml_loglik
        return {
            "reml_loglik": best,
            "confirming_methods": self.confirming_methods,
            "variance_components": {
                "outer": self.variance_outer,
                "inner": self.variance_inner,
                "residual": self.variance_residual,
            },
            "attempts": [
                {
                    "method": a.method,
                    "start_ratio": a.start_ratio,
                    "reml_loglik": a.reml_loglik,
                    "reml_loglik_gap": best - a.reml_loglik,
                    "converged": a.converged,
                }
                for a in self.attempts
            ],
        }


# Each optimiser searches the profiled REML criterion over the two sqrt variance ratios theta. The
# criterion depends on theta only through theta^2, so unbounded methods need no bounds.
SCIPY_METHODS = {"bfgs": "BFGS", "lbfgs": "L-BFGS-B", "powell": "Powell", "nm": "Nelder-Mead", "cg": "CG"}
# Tolerances tight enough that a converged search sits at the optimum to ~1e-10 in the log-likelihood: each
# evaluation costs O(centres x p^2), so precision is cheap.
SCIPY_OPTIONS = {
    "bfgs": {"gtol": 1e-9, "maxiter": 2000},
    "cg": {"gtol": 1e-9, "maxiter": 2000},
    "lbfgs": {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 2000},
    "powell": {"xtol": 1e-10, "ftol": 1e-15, "maxiter": 20000},
    "nm": {"xatol": 1e-8, "fatol": 1e-9, "maxiter": 5000, "maxfev": 5000},
}


def _attempt(stats: SufficientStatistics, method: str, start: np.ndarray, ratio: float | None) -> Attempt:
    def objective(theta):
        try:
            value = -profile(stats, theta[0], theta[1]).reml_loglik
        except np.linalg.LinAlgError:
            return np.inf
        return value if np.isfinite(value) else np.inf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # judged below by the likelihood reached, not by warnings
        result = scipy.optimize.minimize(objective, x0=start, method=SCIPY_METHODS[method],
                                         options=SCIPY_OPTIONS[method])
    theta = np.abs(np.asarray(result.x, float))
    if not np.isfinite(result.fun):
        log.warning("REML search with %s from %s ended at a non-finite likelihood; ignored", method, ratio)
        return Attempt(method, ratio, -np.inf, False, theta, np.full(stats.p, np.nan))
    at = profile(stats, theta[0], theta[1])
    return Attempt(method, ratio, at.reml_loglik, bool(result.success), theta, at.beta)


def fit_nested_lmm(
    y: pd.Series, X: pd.DataFrame, outer: pd.Series, inner: pd.Series, settings: FitSettings,
    start: tuple[float, float] | None = None,
) -> NestedFit:
    """REML fit of y ~ X + (1 | outer) + (1 | outer:inner), checked across optimisers (searches from
    `start`, the two sqrt variance ratios, when given; see `fit_statistics`)."""
    stats = SufficientStatistics.from_data(y.to_numpy(float), X.to_numpy(float), outer, inner)
    return fit_statistics(stats, list(X.columns), settings, start=start)


def fit_statistics(stats: SufficientStatistics, terms: list[str], settings: FitSettings,
                   start: tuple[float, float] | None = None) -> NestedFit:
    """The checked REML fit from sufficient statistics: every optimiser from every start ratio (both sqrt
    variance ratios set to it), or from `start` alone, then every optimiser again from the best point."""
    starts = [(ratio, np.array([ratio, ratio])) for ratio in settings.start_ratios] if start is None \
        else [(None, np.asarray(start, float))]
    attempts = [_attempt(stats, method, point, ratio)
                for ratio, point in starts for method in settings.methods]
    best = max(attempts, key=lambda a: a.reml_loglik)
    if not np.isfinite(best.reml_loglik):
        raise FitDisagreement("every REML search failed; see the log for each optimiser")
    # Polish: restart every optimiser from the best point, so that a second method can confirm it.
    attempts += [_attempt(stats, method, best.params, None) for method in settings.methods]
    best = max(attempts, key=lambda a: a.reml_loglik)

    at = profile(stats, best.params[0], best.params[1])
    scale = at.residual_variance
    covariance = scale * np.linalg.inv(at.xtvx)
    se = np.sqrt(np.diag(covariance))

    reached = [a for a in attempts if best.reml_loglik - a.reml_loglik <= settings.loglik_tolerance]
    methods = {a.method for a in reached}
    spread = np.max([np.abs(a.fe_params - best.fe_params) / se for a in reached])
    for a in attempts:
        log.info("REML search %-6s start %-5s loglik %.6f (gap %.2e) converged=%s", a.method,
                 a.start_ratio, a.reml_loglik, best.reml_loglik - a.reml_loglik, a.converged)
    if len(methods) < 2:
        raise FitDisagreement(
            f"only {best.method} reached the highest REML log-likelihood {best.reml_loglik:.4f}; "
            "no second optimiser confirmed it"
        )
    if spread > settings.estimate_tolerance_se:
        raise FitDisagreement(
            f"fits at the same REML log-likelihood differ by {spread:.3f} SE in a fixed effect "
            f"(tolerance {settings.estimate_tolerance_se} SE): the optimum is not well defined"
        )
    return NestedFit(
        terms=terms,
        estimates=at.beta,
        std_errors=se,
        covariance=covariance,
        variance_outer=scale * best.params[0] ** 2,
        variance_inner=scale * best.params[1] ** 2,
        variance_residual=scale,
        reml_loglik=best.reml_loglik,
        attempts=attempts,
        confirming_methods=sorted(methods),
        n_obs=stats.n,
        n_outer=stats.n_outer,
        n_inner=stats.n_inner,
    )


def fit_with_statsmodels(y: np.ndarray, X: np.ndarray, outer: np.ndarray, inner: np.ndarray,
                         method: str = "lbfgs"):
    """The reference engine: statsmodels MixedLM with its default REML fit from its default start.

    Not used by the pipeline; the tests and the benchmark compare fit_nested_lmm against it. Returns the
    MixedLMResults (`fe_params`, `llf`, `cov_re`, `vcomp`, `scale`)."""
    from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

    outer = np.asarray(outer).astype(str)
    inner = np.asarray(inner).astype(str)
    labels = sorted(np.unique(outer))  # MixedLM orders groups this way
    mats, colnames = [], []
    for g in labels:
        codes, uniques = pd.factorize(inner[outer == g])
        mats.append(np.eye(len(uniques))[codes])
        colnames.append(list(uniques))
    model = MixedLM(np.asarray(y, float), np.asarray(X, float), groups=outer,
                    exog_re=np.ones((len(y), 1)), exog_vc=VCSpec(["inner"], [colnames], [mats]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True, method=method)
