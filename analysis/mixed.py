"""Linear mixed model with nested random intercepts (local authority / centre), fitted by REML.

The REML criterion is profiled over the two variance ratios and evaluated, with its analytic gradient, from
per-cluster sufficient statistics (analysis.fastreml), so a fit costs the same whatever the number of mothers.
A search can stop early at a worse point, so the criterion is searched from several starting points by a
gradient optimiser, the best point is then searched again by every other optimiser of the plan, the highest
REML log-likelihood is kept, and the fit is rejected unless two different optimisers reach it with the same
estimates and the gradient vanishes there. statsmodels' MixedLM (fit_with_statsmodels) and lme4
(tests/fixtures/lme4) are the references the tests hold this against.

Fixed-effect standard errors follow lme4's convention: sqrt(diag((X' V^-1 X)^-1)) with V the marginal
covariance at the REML estimates, i.e. treating the variance components as known; analysis.smallsample adds
Satterthwaite and Kenward-Roger degrees of freedom. (statsmodels' own SEs come from the joint Hessian of
fixed effects and variance parameters and differ slightly.)

Used as a library, `fit_nested_lmm` refuses what it cannot fit rather than guess: missing or non-finite
values, a design matrix with a redundant column (named), a level with a single cluster, and levels that
cannot be told apart. A fit whose variance estimate is on the boundary (zero) is flagged `singular`, with
lme4's rule (a relative standard deviation below 1e-4).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.fastreml import Profile, SufficientStatistics, profile
from analysis.inputs import checked_inputs, is_number
from analysis.linalg import perfect_fit_problem, redundant_columns, triangular_factor

log = logging.getLogger(__name__)

# lme4's isSingular(): a random-effect standard deviation, relative to the residual one, below this is zero.
SINGULAR_TOLERANCE = 1e-4
# Most criterion evaluations one search may use: every search ends in bounded time, converged or not.
MAX_EVALUATIONS = 3000
# At the accepted optimum the gradient of the REML log-likelihood in the sqrt variance ratios must be below
# this (moving a ratio by 0.01 then changes the log-likelihood by less than 1e-5); where a ratio is on the
# boundary (zero), its derivative in the variance ratio itself must not be positive beyond this: the
# likelihood must not rise when the variance leaves zero. (In the sqrt ratio, zero is always a stationary
# point, so that derivative alone cannot tell a boundary optimum from a search stuck at zero.)
STATIONARY_GRADIENT = 1e-3
# A larger gradient is still accepted where the likelihood is so sharply curved that it says nothing: lme4's
# rule (lme4:::checkConv, check.conv.grad; lme4 1.1-31 under R 4.2) takes, per parameter, the smaller of the
# deviance's gradient and that gradient scaled by the Cholesky factor of the deviance's Hessian, and accepts
# below 2e-3 (the deviance is -2 x the log-likelihood, so its absolute part is STATIONARY_GRADIENT). The
# curvature grows with the sample: at a million mothers five optimisers agreed to 5e-10 in the log-likelihood
# and still left a gradient of 1.6e-3, and such a fit must not be refused.
DEVIANCE_GRADIENT_TOLERANCE = 2e-3
# No search starts exactly at a zero ratio: the theta-gradient vanishes there, so a gradient method started
# on the boundary never leaves it, even when the optimum is inside. Zeros in a start become this.
START_FLOOR = 1e-3
LEVELS = ("outer", "inner")


class FitDisagreement(RuntimeError):
    """Optimisers did not agree on the REML optimum; the estimates cannot be trusted."""


@dataclass(frozen=True)
class FitSettings:
    """How hard to look for the REML optimum, and what counts as agreement.

    The first method searches from every start ratio; then every method searches again from the best point
    found, so that a second optimiser can confirm it."""

    methods: tuple[str, ...] = ("lbfgs", "bfgs", "powell", "nm")
    # Starting values of sqrt(variance / residual variance) for both random intercepts.
    start_ratios: tuple[float, ...] = (1.0, 0.3, 0.05)
    loglik_tolerance: float = 1e-4  # fits within this of the best REML log-likelihood "reach" it
    estimate_tolerance_se: float = 0.01  # fits reaching it may differ by at most this many SEs

    def __post_init__(self):
        problems = []
        unknown = [m for m in self.methods if m not in SCIPY_METHODS]
        if not self.methods or unknown:
            problems.append(f"methods must name one or more of {', '.join(SCIPY_METHODS)}"
                            + (f" (unknown: {', '.join(map(repr, unknown))})" if unknown else ""))
        if not self.start_ratios or not all(is_number(r) and 0 < r < 1e6 for r in self.start_ratios):
            problems.append("start_ratios must be one or more finite numbers in (0, 1e6)")
        for name in ("loglik_tolerance", "estimate_tolerance_se"):
            value = getattr(self, name)
            if not (is_number(value) and value > 0):
                problems.append(f"{name} must be a finite positive number")
        if problems:
            raise ValueError("FitSettings: " + "; ".join(problems))

    @classmethod
    def from_config(cls, entry: dict) -> FitSettings:
        return cls(
            methods=tuple(entry["methods"]),
            start_ratios=tuple(float(x) for x in entry["start_ratios"]),
            loglik_tolerance=float(entry["loglik_tolerance"]),
            estimate_tolerance_se=float(entry["estimate_tolerance_se"]),
        )


def check_start(start) -> np.ndarray:
    """A start for the search: two finite sqrt variance ratios in [0, 1e6) (outer, inner)."""
    values = np.asarray(start, dtype=object).ravel()
    if len(values) != 2 or not all(is_number(v) and 0 <= v < 1e6 for v in values):
        raise ValueError(f"start must be two sqrt variance ratios in [0, 1e6) (outer, inner), got {start!r}")
    return values.astype(float)


@dataclass
class Attempt:
    method: str
    start_ratio: float | None  # None: searched again from the best fit so far (or from a given start)
    reml_loglik: float
    converged: bool
    params: np.ndarray = field(repr=False)  # sqrt(variance / residual variance): outer, inner
    fe_params: np.ndarray = field(repr=False)
    evaluations: int = 0


@dataclass
class NestedFit:
    """The accepted REML fit."""

    terms: list[str]
    estimates: np.ndarray
    std_errors: np.ndarray
    covariance: np.ndarray
    variance_outer: float  # between local authorities (NaN when the model has no outer level)
    variance_inner: float  # between centres within a local authority
    variance_residual: float
    reml_loglik: float
    attempts: list[Attempt]
    confirming_methods: list[str]  # optimisers that reached the best REML log-likelihood
    n_obs: int
    n_outer: int  # 0 when the model has no outer level
    n_inner: int
    levels: tuple[str, ...] = LEVELS  # random intercepts in the model
    boundary_levels: tuple[str, ...] = ()  # levels whose variance is estimated at zero (lme4: singular)
    gradient: np.ndarray = field(default_factory=lambda: np.zeros(2), repr=False)
    stats: SufficientStatistics | None = field(default=None, repr=False)

    @property
    def singular(self) -> bool:
        return bool(self.boundary_levels)

    @property
    def theta(self) -> tuple[float, float]:
        """sqrt(variance / residual variance) of the outer and inner intercepts: where a refit starts."""
        outer = 0.0 if np.isnan(self.variance_outer) else self.variance_outer
        return (float(np.sqrt(outer / self.variance_residual)),
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
            "random_intercepts": list(self.levels),
            "variance_components": {
                "outer": None if np.isnan(self.variance_outer) else self.variance_outer,
                "inner": self.variance_inner,
                "residual": self.variance_residual,
            },
            "singular": self.singular,
            "boundary_levels": list(self.boundary_levels),
            "gradient_at_optimum": [float(g) for g in self.gradient],
            "attempts": [
                {
                    "method": a.method,
                    "start_ratio": a.start_ratio,
                    "reml_loglik": a.reml_loglik,
                    "reml_loglik_gap": best - a.reml_loglik,
                    "converged": a.converged,
                    "evaluations": a.evaluations,
                }
                for a in self.attempts
            ],
        }


# ---------------------------------------------------------------------------------------------------------
# Input checks: the engine used as a library refuses what it cannot fit.


def check_inputs(y, X, outer, inner) -> tuple[np.ndarray, pd.DataFrame, np.ndarray | None, np.ndarray]:
    """y as floats, X as a float DataFrame, and the outer labels and inner cluster codes of each row as the
    checks read them, after checking every input (analysis.inputs: lengths, index alignment, numbers, missing
    and infinite values, missing labels, labels of one type, magnitudes), the rank of X (named redundant
    columns), that y is not an exact fit, and the levels (at least two clusters in each, levels that can be
    told apart); ValueError says what is wrong and where (rows are 0-based positions). `outer` may be None."""
    y, xa, terms, coded = checked_inputs(y, X, {"outer": outer, "inner": inner})
    X = pd.DataFrame(xa, columns=terms)
    n = len(X)
    if n <= X.shape[1]:
        raise ValueError(f"{n} rows cannot identify {X.shape[1]} fixed effects")
    factor = triangular_factor(np.column_stack([xa, y]))
    redundant = redundant_columns(xa, terms, factor=factor[:, :-1])
    if redundant:
        raise ValueError("the fixed-effects design is rank deficient: "
                         + "; ".join(r.describe() for r in redundant)
                         + " (drop the redundant column(s) before fitting)")
    perfect = perfect_fit_problem(factor, n, "to estimate variance components from")
    if perfect:
        raise ValueError(perfect)
    inner_codes = coded["inner"][0].astype(np.int64)
    outer_rows = None
    if outer is not None:
        outer_codes, outer_labels = coded["outer"]
        outer_rows = pd.Categorical.from_codes(outer_codes, outer_labels)  # the labels, without a copy each
        n_outer = len(outer_labels)
        if n_outer < 2:
            raise ValueError("there is only one outer cluster, so its variance cannot be estimated; fit the "
                             "model without the outer level (outer=None)")
        inner_codes = outer_codes.astype(np.int64) * (inner_codes.max() + 1) + inner_codes  # nested pairs
    n_inner = len(np.unique(inner_codes))
    if n_inner < 2:
        raise ValueError("there is only one inner cluster, so its variance cannot be estimated")
    if n_inner == n:
        raise ValueError("every inner cluster has a single row, so its variance cannot be told apart from "
                         "the residual variance")
    if outer is not None and n_inner == n_outer:
        raise ValueError("each outer cluster holds exactly one inner cluster, so the two variances cannot be "
                         "told apart; fit one level (outer=None)")
    return y, X, outer_rows, coded["inner"][0]


# ---------------------------------------------------------------------------------------------------------
# The search.

# Each optimiser searches the profiled REML criterion over the free sqrt variance ratios theta (both, or the
# inner one alone when the model has no outer level). The criterion depends on theta only through theta^2.
SCIPY_METHODS = {"bfgs": "BFGS", "lbfgs": "L-BFGS-B", "powell": "Powell", "nm": "Nelder-Mead", "cg": "CG"}
GRADIENT_METHODS = {"bfgs", "lbfgs", "cg"}
# Derivative-free methods search theta >= 0. Gradient methods search the real line (the criterion is even in
# theta): bounded at 0, they would stop wherever they touch it, since the theta-gradient vanishes there.
BOUNDED_METHODS = {"powell", "nm"}
SCIPY_OPTIONS = {
    "bfgs": {"gtol": 1e-5, "maxiter": 500},
    "cg": {"gtol": 1e-5, "maxiter": 500},
    "lbfgs": {"ftol": 1e-14, "gtol": 1e-6, "maxiter": 500},
    "powell": {"xtol": 1e-8, "ftol": 1e-13, "maxiter": 500},
    "nm": {"xatol": 1e-7, "fatol": 1e-9, "maxiter": 2000},
}


class _Budget(Exception):
    """A search used MAX_EVALUATIONS evaluations."""


class _Criterion:
    """-REML log-likelihood (and its gradient) of the free thetas, counting evaluations and keeping the best
    point seen, so that a search stopped by the budget still reports where it got to."""

    def __init__(self, stats: SufficientStatistics):
        self.stats = stats
        self.evaluations = 0
        self.best_value, self.best_x = np.inf, None

    def thetas(self, x) -> tuple[float, float]:
        x = np.abs(np.asarray(x, dtype=float))
        return (float(x[0]), float(x[1])) if self.stats.has_outer else (0.0, float(x[0]))

    def __call__(self, x, gradient: bool = False):
        self.evaluations += 1
        if self.evaluations > MAX_EVALUATIONS:
            raise _Budget
        try:
            at = profile(self.stats, *self.thetas(x), gradient=gradient)
            value = -at.reml_loglik
        except np.linalg.LinAlgError:
            at, value = None, np.inf
        if not np.isfinite(value):
            value = np.inf
        if value < self.best_value:
            self.best_value, self.best_x = value, np.abs(np.asarray(x, dtype=float)).copy()
        if not gradient:
            return value
        if at is None or not np.isfinite(value):
            return value, np.zeros(len(x))
        free = at.gradient if self.stats.has_outer else at.gradient[1:]
        return value, -free * np.sign(np.where(np.asarray(x) == 0, 1.0, x))


def _attempt(stats: SufficientStatistics, method: str, start: np.ndarray, ratio: float | None) -> Attempt:
    criterion = _Criterion(stats)
    start = np.maximum(np.abs(np.asarray(start, float)), START_FLOOR)
    x0 = start if stats.has_outer else start[1:]
    options = {"method": SCIPY_METHODS[method], "options": SCIPY_OPTIONS[method]}
    if method in GRADIENT_METHODS:
        options["jac"] = True
    if method in BOUNDED_METHODS:
        options["bounds"] = [(0.0, None)] * len(x0)
    function = (lambda x: criterion(x, gradient=True)) if method in GRADIENT_METHODS else criterion
    import scipy.optimize  # imported where used: at import it costs every pipeline job about 0.5 s

    converged = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # judged below by the likelihood reached, not by warnings
        try:
            result = scipy.optimize.minimize(function, x0=x0, **options)
            converged = bool(result.success)
        except _Budget:
            log.warning("REML search with %s from %s stopped after %d evaluations", method, ratio,
                        MAX_EVALUATIONS)
    if criterion.best_x is None or not np.isfinite(criterion.best_value):
        log.warning("REML search with %s from %s ended at a non-finite likelihood; ignored", method, ratio)
        return Attempt(method, ratio, -np.inf, False, np.zeros(2), np.full(stats.p, np.nan),
                       criterion.evaluations)
    theta = np.array(criterion.thetas(criterion.best_x))
    at = profile(stats, *theta)
    return Attempt(method, ratio, at.reml_loglik, converged, theta, at.beta, criterion.evaluations)


def fit_nested_lmm(
    y: pd.Series, X: pd.DataFrame, outer: pd.Series | None, inner: pd.Series, settings: FitSettings,
    start: tuple[float, float] | None = None,
) -> NestedFit:
    """REML fit of y ~ X + (1 | outer) + (1 | outer:inner), checked across optimisers (searches from
    `start`, the two sqrt variance ratios, when given; see `fit_statistics`). `outer` None fits
    y ~ X + (1 | inner). Inputs are checked first (`check_inputs`)."""
    y_values, X, outer_rows, inner_codes = check_inputs(y, X, outer, inner)
    stats = SufficientStatistics.from_data(y_values, X.to_numpy(float), outer_rows, inner_codes, centre=True)
    return fit_statistics(stats, list(X.columns), settings, start=start)


def _stationarity(stats: SufficientStatistics, theta: np.ndarray, at: Profile | None = None) -> np.ndarray:
    """How far theta is from satisfying the first-order conditions of a maximum, per level: the gradient in
    the sqrt variance ratio where the ratio is inside the parameter space, and the positive part of the
    derivative in the variance ratio where it is on the boundary (at or below SINGULAR_TOLERANCE). `at`:
    the profile at theta with its gradient, when already computed."""
    at = profile(stats, *theta, gradient=True) if at is None else at
    boundary = theta < SINGULAR_TOLERANCE
    conditions = np.where(boundary, np.maximum(at.ratio_gradient, 0.0), at.gradient)
    if not stats.has_outer:
        conditions[0] = 0.0
    return conditions


def _minus_hessian(stats: SufficientStatistics, theta: np.ndarray, gradient: np.ndarray,
                   levels: list[int]) -> np.ndarray | None:
    """Minus the Hessian of the REML log-likelihood in the sqrt variance ratios `levels`, by forward
    differences of the analytic gradient (`gradient`: at theta, in those levels); None unless positive
    definite."""
    hessian = np.empty((len(levels), len(levels)))
    for column, level in enumerate(levels):
        shifted = theta.copy()
        shifted[level] += 1e-5 * max(theta[level], 1e-2)
        hessian[:, column] = ((profile(stats, *shifted, gradient=True).gradient[levels] - gradient)
                              / (shifted[level] - theta[level]))
    minus = -(hessian + hessian.T) / 2
    return minus if np.all(np.linalg.eigvalsh(minus) > 0) else None


def _stationary(stats: SufficientStatistics, theta: np.ndarray, at: Profile | None = None,
                minus_hessian: np.ndarray | None = None) -> bool:
    """Whether theta satisfies the first-order conditions of a maximum (`_stationarity`): each condition
    below STATIONARY_GRADIENT; or, for the ratios inside the parameter space, lme4's check.conv.grad rule
    (DEVIANCE_GRADIENT_TOLERANCE), which scales the gradient by the curvature, so that the same fit is judged
    alike at a hundred mothers and at a million. A boundary ratio is always judged by its own derivative.
    `minus_hessian`: a search's own estimate in every free ratio (else it is differenced here)."""
    at = profile(stats, *theta, gradient=True) if at is None else at
    conditions = _stationarity(stats, theta, at)
    if np.max(np.abs(conditions)) <= STATIONARY_GRADIENT:
        return True
    free = [0, 1] if stats.has_outer else [1]
    interior = [level for level in free if theta[level] >= SINGULAR_TOLERANCE]
    on_boundary = np.delete(conditions, interior)
    if not interior or np.max(np.abs(on_boundary), initial=0.0) > STATIONARY_GRADIENT:
        return False
    try:
        if minus_hessian is None or interior != free:
            minus_hessian = _minus_hessian(stats, theta, at.gradient[interior], interior)
        if minus_hessian is None:  # lme4: "unable to evaluate scaled gradient", not converged
            return False
        deviance_gradient = -2.0 * at.gradient[interior]
        factor = np.linalg.cholesky(2.0 * minus_hessian)  # of the deviance's Hessian
        scaled = np.linalg.solve(factor.T, deviance_gradient)  # R: solve(chol(Hessian), gradient)
    except np.linalg.LinAlgError:
        return False
    smaller = np.minimum(np.abs(scaled), np.abs(deviance_gradient))
    return bool(np.max(smaller) <= DEVIANCE_GRADIENT_TOLERANCE)


def fit_statistics(stats: SufficientStatistics, terms: list[str], settings: FitSettings,
                   start: tuple[float, float] | None = None) -> NestedFit:
    """The checked REML fit from sufficient statistics: the plan's first optimiser from every start ratio
    (both sqrt variance ratios set to it), or from `start` alone; then every optimiser again from the best
    point. Accepted only if two optimisers reach the best log-likelihood with the same fixed effects and the
    gradient vanishes there."""
    search, *_ = settings.methods
    starts = [(ratio, np.array([ratio, ratio])) for ratio in settings.start_ratios] if start is None \
        else [(None, check_start(start))]
    attempts = [_attempt(stats, search, point, ratio) for ratio, point in starts]
    best = max(attempts, key=lambda a: a.reml_loglik)
    if not np.isfinite(best.reml_loglik):
        raise FitDisagreement("every REML search failed; see the log for each optimiser")
    # Confirm: every optimiser searches again from the best point, so that a second method can confirm it.
    attempts += [_attempt(stats, method, best.params, None) for method in settings.methods]
    best = max(attempts, key=lambda a: a.reml_loglik)

    at = profile(stats, best.params[0], best.params[1], gradient=True)  # the gradient: for the checks below
    scale = at.residual_variance
    fitted_covariance = scale * np.linalg.inv(at.xtvx)  # of the fixed effects as fitted (centred columns)
    se = np.sqrt(np.diag(fitted_covariance))
    covariance = stats.original_covariance(fitted_covariance)

    reached = [a for a in attempts if best.reml_loglik - a.reml_loglik <= settings.loglik_tolerance]
    methods = {a.method for a in reached}
    spread = np.max([np.abs(a.fe_params - best.fe_params) / se for a in reached])
    for a in attempts:
        log.info("REML search %-6s start %-5s loglik %.6f (gap %.2e) converged=%s evaluations=%d", a.method,
                 a.start_ratio, a.reml_loglik, best.reml_loglik - a.reml_loglik, a.converged, a.evaluations)
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
    gradient = _stationarity(stats, best.params, at)
    if not _stationary(stats, best.params, at):
        raise FitDisagreement("the REML log-likelihood is not at a maximum at the best point found "
                              f"(first-order conditions {gradient.tolist()} per level, should be 0)")
    levels = LEVELS if stats.has_outer else ("inner",)
    free = best.params if stats.has_outer else best.params[1:]
    boundary = tuple(level for level, theta in zip(levels, free, strict=True) if theta < SINGULAR_TOLERANCE)
    if boundary:
        log.warning("singular fit: the variance of the %s random intercept is estimated at zero (boundary)",
                    " and ".join(boundary))
    return NestedFit(
        terms=terms,
        estimates=stats.original_beta(at.beta),
        std_errors=np.sqrt(np.diag(covariance)),
        covariance=covariance,
        variance_outer=scale * best.params[0] ** 2 if stats.has_outer else np.nan,
        variance_inner=scale * best.params[1] ** 2,
        variance_residual=scale,
        reml_loglik=best.reml_loglik,
        attempts=attempts,
        confirming_methods=sorted(methods),
        n_obs=stats.n,
        n_outer=stats.n_outer,
        n_inner=stats.n_inner,
        levels=levels,
        boundary_levels=boundary,
        gradient=gradient,
        stats=stats,
    )


@dataclass(frozen=True)
class SearchedFit:
    """Fixed effects (columns as given) and their lme4-convention covariance at the point one search
    reached. Unconfirmed: see `search_fit`."""

    estimates: np.ndarray
    covariance: np.ndarray
    theta: np.ndarray  # sqrt variance ratios (outer, inner) reached
    converged: bool  # the first-order conditions of a maximum hold there (`_stationary`)
    curvature: np.ndarray | None = None  # the quasi-Newton search's minus Hessian in the free ratios there


def search_fit(stats: SufficientStatistics, start: tuple[float, float],
               curvature: np.ndarray | None = None) -> SearchedFit:
    """One search of the REML criterion from `start` (two sqrt variance ratios), without the confirmation by
    a second optimiser that `fit_statistics` demands: for resampling, where thousands of refits start next to
    their optimum (the original data's) and a confirmed fit each would cost about ten times as much. Not for
    published estimates. Quasi-Newton first (`_newton`: a few evaluations from a nearby start, from
    `curvature`, minus the Hessian there, when given, such as the original data's), L-BFGS when it fails;
    either way the point is judged as fit_statistics judges its optimum, by the first-order conditions
    (`converged`). LinAlgError when no finite point was reached."""
    start = check_start(start)
    reached = _newton(stats, start, curvature)
    if reached is None:
        attempt = _attempt(stats, "lbfgs", start, None)
        if not np.isfinite(attempt.reml_loglik):
            raise np.linalg.LinAlgError("the REML search reached no finite log-likelihood")
        theta = attempt.params
        reached = theta, profile(stats, *theta, gradient=True), None
    theta, at, curvature = reached
    covariance = stats.original_covariance(at.residual_variance * np.linalg.inv(at.xtvx))
    return SearchedFit(stats.original_beta(at.beta), covariance, theta, _stationary(stats, theta, at),
                       curvature)


def _newton(stats: SufficientStatistics, start: np.ndarray, curvature: np.ndarray | None = None,
            max_steps: int = 30) -> tuple[np.ndarray, Profile, np.ndarray] | None:
    """Quasi-Newton on the REML log-likelihood in the free sqrt variance ratios: the Hessian by forward
    differences of the analytic gradient at the start (unless `curvature`, minus the Hessian, is given; and
    again whenever a step leaves it unreliable), updated by BFGS after each step; each step is halved until
    the likelihood does not fall. Returns the point where the first-order conditions hold, its profile and
    minus the Hessian there, or None when the Hessian is not negative definite, a step finds no better
    point, or `max_steps` do not get there (the caller then searches by L-BFGS). In the sqrt ratios the
    criterion is even, so a ratio whose optimum is on the boundary (zero) is reached as the centre of a
    symmetric function."""
    free = [0, 1] if stats.has_outer else [1]
    theta = np.maximum(np.abs(start), START_FLOOR)  # a zero ratio is stationary in theta: start off it
    if not stats.has_outer:
        theta[0] = 0.0

    try:
        at = profile(stats, *theta, gradient=True)
        given = curvature is not None and np.shape(curvature) == (len(free), len(free))
        minus_hessian = (np.array(curvature, dtype=float) if given
                         else _minus_hessian(stats, theta, at.gradient[free], free))
        for _ in range(max_steps):
            if minus_hessian is None:
                return None
            if _stationary(stats, theta, at, minus_hessian):
                return theta, at, minus_hessian
            step = np.linalg.solve(minus_hessian, at.gradient[free])
            for _ in range(30):
                trial = theta.copy()
                trial[free] = theta[free] + step
                reflected = np.any(trial < 0)
                trial = np.abs(trial)
                new = profile(stats, *trial, gradient=True)
                if new.reml_loglik >= at.reml_loglik - 1e-12 * abs(at.reml_loglik):
                    break
                step = step / 2
            else:
                return None
            moved, change = trial[free] - theta[free], -(new.gradient[free] - at.gradient[free])
            theta, previous, at = trial, minus_hessian, new
            if reflected or not moved @ change > 0:
                minus_hessian = _minus_hessian(stats, theta, at.gradient[free], free)
            else:  # BFGS: keeps minus the Hessian positive definite
                pushed = previous @ moved
                minus_hessian = (previous + np.outer(change, change) / (moved @ change)
                                 - np.outer(pushed, pushed) / (moved @ pushed))
    except np.linalg.LinAlgError:
        return None
    return None


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
