"""Linear mixed model with nested random intercepts (local authority / centre), fitted by REML.

statsmodels' MixedLM does the fitting. Its default optimiser can stop at a worse optimum while reporting
convergence, so the model is fitted from several starting points with several optimisers, the highest REML
log-likelihood is kept, and the fit is rejected unless two different optimisers reach it with the same
estimates.

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
import scipy.linalg
from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec

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
    params: np.ndarray = field(repr=False)
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


def _nested_model(y: np.ndarray, X: pd.DataFrame, outer: np.ndarray, inner: np.ndarray) -> MixedLM:
    """MixedLM with a random intercept per outer group and a variance component for inner groups."""
    labels = sorted(np.unique(outer))  # MixedLM orders groups this way
    mats, colnames = [], []
    for g in labels:
        codes, uniques = pd.factorize(inner[outer == g])
        mats.append(np.eye(len(uniques))[codes])
        colnames.append(list(uniques))
    return MixedLM(y, X.to_numpy(), groups=outer, exog_re=np.ones((len(y), 1)),
                   exog_vc=VCSpec(["inner"], [colnames], [mats]))


# Tight tolerances for the polishing restarts: the REML surface is flat near the optimum, and default
# tolerances leave variance components ~1e-4 (relative) short of it on small data.
POLISH_OPTIONS = {
    "bfgs": {"gtol": 1e-10, "maxiter": 1000},
    "cg": {"gtol": 1e-10, "maxiter": 1000},
    "lbfgs": {"maxiter": 1000},
    "powell": {"ftol": 1e-14, "maxiter": 5000},
    "nm": {"maxiter": 5000},
}


def _attempt(model: MixedLM, method: str, start: np.ndarray, ratio: float | None) -> Attempt:
    options = POLISH_OPTIONS[method] if ratio is None else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # judged below by the likelihood reached, not by warnings
        try:
            result = model.fit(reml=True, method=method, start_params=start, **options)
        except (np.linalg.LinAlgError, ValueError) as err:
            log.warning("REML fit with %s from %s failed: %s", method, ratio, err)
            return Attempt(method, ratio, -np.inf, False, start, np.full(model.k_fe, np.nan))
    packed = np.concatenate([np.sqrt(np.diag(result.cov_re_unscaled)), np.sqrt(result.vcomp
                                                                                / result.scale)])
    if not np.isfinite(result.llf) or not np.all(np.isfinite(packed)):
        # e.g. Nelder-Mead stepping onto a zero variance ratio can report llf = +inf: not a fit.
        log.warning("REML fit with %s from %s returned a non-finite likelihood; ignored", method, ratio)
        return Attempt(method, ratio, -np.inf, False, start, np.full(model.k_fe, np.nan))
    return Attempt(method, ratio, float(result.llf), bool(result.converged), packed,
                   np.asarray(result.fe_params))


def gls_covariance(
    X: np.ndarray, y: np.ndarray, outer: np.ndarray, inner: np.ndarray,
    var_outer: float, var_inner: float, var_residual: float,
) -> tuple[np.ndarray, np.ndarray]:
    """GLS estimate and (X' V^-1 X)^-1 for the nested random-intercept covariance V (one block per
    outer group)."""
    k = X.shape[1]
    xtvx = np.zeros((k, k))
    xtvy = np.zeros(k)
    for g in np.unique(outer):
        rows = outer == g
        same_inner = inner[rows][:, None] == inner[rows][None, :]
        V = var_residual * np.eye(rows.sum()) + var_outer + var_inner * same_inner
        factor = scipy.linalg.cho_factor(V)
        xtvx += X[rows].T @ scipy.linalg.cho_solve(factor, X[rows])
        xtvy += X[rows].T @ scipy.linalg.cho_solve(factor, y[rows])
    covariance = np.linalg.inv(xtvx)
    return covariance @ xtvy, covariance


def fit_nested_lmm(
    y: pd.Series, X: pd.DataFrame, outer: pd.Series, inner: pd.Series, settings: FitSettings
) -> NestedFit:
    """REML fit of y ~ X + (1 | outer) + (1 | outer:inner), checked across optimisers."""
    yv = y.to_numpy(float)
    outer_v = outer.astype(str).to_numpy()
    inner_v = (outer.astype(str) + ":" + inner.astype(str)).to_numpy()
    model = _nested_model(yv, X, outer_v, inner_v)

    attempts = [
        _attempt(model, method, np.array([ratio, ratio]), ratio)
        for ratio in settings.start_ratios
        for method in settings.methods
    ]
    best = max(attempts, key=lambda a: a.reml_loglik)
    if not np.isfinite(best.reml_loglik):
        raise FitDisagreement("every REML fit failed; see the log for each optimiser's error")
    # Polish: restart every optimiser from the best point, so that a second method can confirm it.
    attempts += [_attempt(model, method, best.params, None) for method in settings.methods]
    best = max(attempts, key=lambda a: a.reml_loglik)

    ratios = best.params**2
    scale = float(model.get_scale(best.fe_params, np.diag(ratios[:1]), ratios[1:]))
    var_outer, var_inner = ratios[0] * scale, ratios[1] * scale
    Xv = X.to_numpy(float)
    gls, covariance = gls_covariance(Xv, yv, outer_v, inner_v, var_outer, var_inner, scale)
    se = np.sqrt(np.diag(covariance))

    reached = [a for a in attempts if best.reml_loglik - a.reml_loglik <= settings.loglik_tolerance]
    methods = {a.method for a in reached}
    spread = np.max([np.abs(a.fe_params - best.fe_params) / se for a in reached])
    for a in attempts:
        log.info("REML fit %-6s start %-5s loglik %.6f (gap %.2e) converged=%s", a.method,
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
    gls_gap = np.max(np.abs(gls - best.fe_params) / se)
    if gls_gap > settings.estimate_tolerance_se:
        raise FitDisagreement(f"GLS re-estimate differs from the REML fit by {gls_gap:.3g} SE")

    return NestedFit(
        terms=list(X.columns),
        estimates=best.fe_params,
        std_errors=se,
        covariance=covariance,
        variance_outer=var_outer,
        variance_inner=var_inner,
        variance_residual=scale,
        reml_loglik=best.reml_loglik,
        attempts=attempts,
        confirming_methods=sorted(methods),
        n_obs=len(yv),
        n_outer=len(np.unique(outer_v)),
        n_inner=len(np.unique(inner_v)),
    )
