"""Joint inference for the specification curve (Simonsohn, Simmons & Nelson 2020, "Specification curve
analysis", Nature Human Behaviour 4, 1208-1214): is the curve, taken as a whole, more than chance would give
if funding made no difference?

Three statistics of the headline contrast (growing vs cut, or the contrast analysis.results.headline_contrast
falls back to when no specification can estimate it) over the K specifications that can estimate it:

  median    the median estimate, measured by its distance from zero;
  share     the share of specifications with an estimate significant (two-sided p < alpha) in the dominant
            direction, the sign of the majority of the estimates (on a tie, the sign of the median);
  stouffer  Stouffer's aggregated z: each specification's two-sided p turned into a z with the sign of its
            estimate relative to the dominant direction, z_k = +-Phi^-1(1 - p_k / 2), summed and divided by
            sqrt(K) (a sum, not the mean z).

Each is computed by the same code on the observed data and on every null resample, the dominant direction
being that of the sample at hand (so a direction picked after seeing the data is not rewarded twice: under
the null each statistic then has the same distribution in the data and in the resamples). Its p-value is the
share of resamples at least as extreme, with the +1 correction: (1 + #{T* >= T}) / (1 + B used), ties
counting as extreme; with B = 19 the smallest possible p is 0.05.

Null resampling. The null is imposed on each specification's own analysis data: y* = y - b_growing
1[growing] - b_stable 1[stable], with that specification's funding groups and estimates, so that every
contrast is exactly zero in the data. A resample draws local authorities with replacement (numpy's
default_rng(seed); the LAs of every specification's sample, in sorted order, as many draws as there are),
each drawn copy of an LA its own cluster, and the same draw serves every specification, which keeps the
dependence between specifications that the joint test is about. No specification's exposure, sample or
design is rebuilt per resample: each keeps per-LA statistics of its rows (the mixed model's sufficient
statistics, analysis.fastreml; the triangular factors of [X y] of OLS with CR2, analysis.cluster_robust),
and a resample recombines them by multiplicity, at a cost that grows with the clusters, never with the rows.

Inference in each refit, and (by the same code, on the LAs drawn once each) in the observed statistics:
  ols_cr2   as the published curve: CR2 standard error, t with its Satterthwaite df, recomputed each time;
  lmm_reml  one search of the REML criterion (mixed.search_fit: quasi-Newton from the null-imposed data's
            optimum, which is the observed data's, L-BFGS if that fails; accepted by the same first-order
            conditions as the published fit, but not confirmed by a second optimiser), the lme4-convention
            standard error, and t with the degrees of freedom of the observed specification's published fit
            held fixed (recomputing Satterthwaite's costs more than the search). So the observed p-values
            are the published curve's up to the search's tolerance, and the resamples use a cheaper test
            than the curve.

What the LAs drawn cannot support is treated as the curve treats it: a column they cannot estimate (a
covariate constant among them; an exposure group none of them has) is dropped by the shared rank rule
(analysis.linalg); a specification is not estimable in a resample without mothers in the reference group or
the headline group, with its headline column redundant, with fewer than two LAs, with its two cluster levels
indistinguishable (one centre per LA drawn), or when the search does not converge or the engine refuses;
each is counted with its reason. A resample in which fewer than half of the observed specifications can be
estimated is not used, and counted.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.cluster_robust import cr2_coefficient, fit_from_factors, two_outcome_factors
from analysis.errors import PlanError
from analysis.exposure import GROUPS
from analysis.fastreml import SufficientStatistics
from analysis.inference import two_sided_p
from analysis.inputs import is_number
from analysis.linalg import RANK_TOLERANCE, redundant_columns
from analysis.mixed import search_fit
from analysis.models import FitSummary

log = logging.getLogger(__name__)

# Fewer resamples cannot give p <= 0.05 at all (the smallest p is 1 / (1 + B)).
MIN_RESAMPLES = 19
MAX_RESAMPLES = 100_000
# A resample is used when at least this share of the observed specifications can be estimated in it.
MIN_ESTIMABLE_SHARE = 0.5
RESAMPLING_UNIT = "local authority (drawn with replacement; each drawn copy is its own cluster)"
STATISTICS = {
    "median": "median estimate",
    "share": "share significant in the dominant direction",
    "stouffer": "aggregated z (Stouffer)",
}
DEFINITIONS = {
    "median": "median of the specifications' estimates; extreme = at least as far from zero",
    "share": ("share of specifications with two-sided p < alpha and an estimate in the dominant direction "
              "(the sign of most estimates); extreme = at least as large"),
    "stouffer": ("sum over specifications of z_k = Phi^-1(1 - p_k/2), signed + in the dominant direction "
                 "and - against it, divided by sqrt(K); extreme = at least as large"),
}


# --- The plan -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JointTestPlan:
    """specification_curve.joint_test of the analysis plan."""

    resamples: int
    seed: int
    alpha: float

    @classmethod
    def from_config(cls, entry: dict) -> JointTestPlan:
        problems = plan_problems(entry)
        if problems:
            raise PlanError("; ".join(problems))
        return cls(int(entry["resamples"]), int(entry["seed"]), float(entry["alpha"]))


def plan_problems(entry) -> list[str]:
    """What is wrong with a joint_test block, in words (empty when nothing is)."""
    where = "specification_curve.joint_test"
    if not isinstance(entry, dict):
        return [f"{where} must be a block with resamples, seed and alpha"]
    problems = [f"{where}.{key} is missing" for key in ("resamples", "seed", "alpha") if key not in entry]
    resamples, seed, alpha = entry.get("resamples"), entry.get("seed"), entry.get("alpha")
    if "resamples" in entry and not (is_number(resamples) and resamples == int(resamples)
                                     and MIN_RESAMPLES <= resamples <= MAX_RESAMPLES):
        problems.append(f"{where}.resamples must be a whole number of resamples from {MIN_RESAMPLES} (the "
                        f"fewest that can give p <= 0.05) to {MAX_RESAMPLES:,}, got {resamples!r}")
    if "seed" in entry and not (is_number(seed) and seed == int(seed) and seed >= 0):
        problems.append(f"{where}.seed must be a whole number >= 0 (it is published beside the p-values so "
                        f"that the resamples can be drawn again), got {seed!r}")
    if "alpha" in entry and not (is_number(alpha) and 0 < alpha < 1):
        problems.append(f"{where}.alpha, the significance level of each specification's test, must be a "
                        f"number strictly between 0 and 1, got {alpha!r}")
    return problems


# --- One specification's data and its refits -------------------------------------------------------------

@dataclass
class SpecificationData:
    """One specification's analysis data as its model sees them (complete rows, the design the data support,
    the clusters), and its published fit's estimates."""

    spec_id: str
    estimator: str  # lmm_reml | ols_cr2
    y: np.ndarray
    X: pd.DataFrame
    la: np.ndarray  # local authority of each row: the resampling unit
    inner: np.ndarray  # the mixed model's inner cluster of each row (centre; the LA in a one-level model)
    group: np.ndarray  # funding group of each row
    two_levels: bool  # the mixed model has both random intercepts
    exposure_terms: dict[str, str]  # contrast level -> its design column (levels with mothers only)
    reference: str
    estimates: dict[str, float]  # contrast level -> the published fit's estimate
    df: dict[str, float] = field(default_factory=dict)  # lmm_reml: the published fit's df per level
    theta: tuple[float, float] = (0.0, 0.0)  # lmm_reml: its sqrt variance ratios (outer, inner)


def specification_data(spec, fit: FitSummary | str, spec_id: str) -> SpecificationData | str:
    """A specification's data (its complete rows, design and clusters, as its published fit `fit` used them:
    analysis.specification_curve.specification_fit) with that fit, or why it cannot be estimated (the curve
    reports it as not estimable too)."""
    if isinstance(fit, str):
        return fit
    if fit.cluster_design.single_authority:
        return "a single local authority: there is nothing to resample"
    return data_from_fit(spec_id, spec, fit, fit.rows, fit.outcome, fit.design, fit.cluster_design)


def specification_refitter(spec, fit: FitSummary | str, spec_id: str) -> Refitter | str:
    """A specification's refitter (its rows are not kept), or why it cannot be estimated."""
    data = specification_data(spec, fit, spec_id)
    return Refitter(data) if isinstance(data, SpecificationData) else data


def data_from_fit(spec_id: str, spec, summary: FitSummary, data: pd.DataFrame, y, X: pd.DataFrame,
                  clusters) -> SpecificationData:
    """A specification's data from its complete rows, design and clusters and its published fit (`summary`:
    analysis.models.fit_model's)."""
    coefficients = summary.coefficients.set_index("term")
    terms = {level: spec.exposure_term(level) for level in spec.contrast_levels()
             if spec.exposure_term(level) in X.columns}
    theta = (0.0, 0.0)
    if spec.estimator == "lmm_reml":
        components = summary.diagnostics["variance_components"]
        outer = components["outer"] or 0.0
        theta = (float(np.sqrt(outer / components["residual"])),
                 float(np.sqrt(components["inner"] / components["residual"])))
    return SpecificationData(
        spec_id=spec_id, estimator=spec.estimator, y=np.asarray(y, float), X=X,
        la=data[spec.clusters[0]].to_numpy(), inner=data[clusters.inner].to_numpy(),
        group=data[spec.exposure].astype(object).to_numpy(), two_levels=clusters.outer is not None,
        exposure_terms=terms, reference=spec.reference,
        estimates={level: float(coefficients.loc[term, "estimate"]) for level, term in terms.items()},
        df={level: float(coefficients.loc[term, "df"]) for level, term in terms.items()},
        theta=theta)


@dataclass(frozen=True)
class Refit:
    estimate: float
    std_error: float
    df: float  # inf: normal reference


class Refitter:
    """A specification's per-LA statistics of its observed and of its null-imposed data, and its refit to
    any multiset of its local authorities (`refit`), for one contrast level (`headline`)."""

    def __init__(self, data: SpecificationData):
        # What the refits need, without the rows (32 specifications' rows would not fit in memory nationally).
        self.spec_id, self.estimator, self.reference = data.spec_id, data.estimator, data.reference
        self.exposure_terms, self.df, self.theta = data.exposure_terms, data.df, data.theta
        self.two_levels = data.two_levels
        self.terms = list(data.X.columns)
        self.la_codes, self.la_labels = pd.factorize(pd.Series(data.la), sort=True)
        self.la_labels = np.asarray(self.la_labels)
        n_las = len(self.la_labels)
        levels = [data.reference, *data.exposure_terms]
        self.levels = levels
        # Mothers of each LA in each exposure group (reference first): which groups a resample holds.
        self.group_counts = np.zeros((n_las, len(levels)))
        for j, level in enumerate(levels):
            np.add.at(self.group_counts[:, j], self.la_codes, (data.group == level).astype(float))
        self.rows = np.bincount(self.la_codes, minlength=n_las).astype(float)
        X = data.X.to_numpy(float)
        null = data.y - sum(X[:, self.terms.index(term)] * data.estimates[level]
                            for level, term in data.exposure_terms.items())
        self.headline: str | None = None
        if data.estimator == "lmm_reml":
            # Both outcomes' statistics from one pass over the rows: the observed y as a last column of X.
            both = SufficientStatistics.from_data(null, np.column_stack((X, data.y)), data.la, data.inner,
                                                  centre=True, column_factors=True)
            self.observed_stats = both.last_column_as_outcome()
            self.null_stats = both.select(list(range(X.shape[1])))
            self.x_factors = self.observed_stats.outer_factors
            inner_outer = self.observed_stats.inner_outer
            self.inner_starts = np.searchsorted(inner_outer, np.arange(n_las))
            self.inner_counts = np.bincount(inner_outer, minlength=n_las)
            # The null resamples' searches start where the null-imposed data's optimum is, with its curvature.
            self.null_start, self.null_curvature = self.theta, None
            try:
                null_fit = search_fit(self._mixed_stats(np.arange(n_las), null=True), self.theta)
            except np.linalg.LinAlgError:  # not expected (the criterion is the observed data's): keep those
                null_fit = None
            if null_fit is not None and null_fit.converged:
                self.null_start, self.null_curvature = null_fit.theta, null_fit.curvature
        else:
            self.observed_factors, self.null_factors = two_outcome_factors(data.y, null, X, self.la_codes,
                                                                           n_las)
            self.x_factors = self.observed_factors[:, :-1, :-1]

    def set_headline(self, level: str) -> bool:
        """Refits report this contrast level; False when this specification has no mothers in it."""
        self.headline = level if level in self.exposure_terms else None
        return self.headline is not None

    def refit(self, copies: np.ndarray, null: bool) -> Refit | str:
        """The headline contrast refitted to these LAs (local positions, repeated for repeated draws; each
        copy its own cluster), on the null-imposed or the observed data; or why it cannot be estimated."""
        if len(copies) < 2:
            return "fewer than two local authorities with mothers drawn"
        counts = self.group_counts[copies].sum(axis=0)
        if counts[0] == 0:
            return f"no mothers in the reference group ({self.reference}) among the LAs drawn"
        if counts[self.levels.index(self.headline)] == 0:
            return f"no mothers in the {self.headline} group among the LAs drawn"
        distinct = np.unique(copies)
        p = len(self.terms)
        factor = np.linalg.qr(self.x_factors[distinct].reshape(-1, p), mode="r")
        # |R_jj| is column j's distance from the span of the columns before it: when every one is far above
        # the rank rule's tolerance, the rule drops nothing (the usual case), and need not be run.
        if np.all(np.abs(np.diag(factor)) > 10 * RANK_TOLERANCE * np.linalg.norm(factor, axis=0)):
            redundant = set()
        else:
            redundant = {r.column for r in redundant_columns(None, self.terms, factor=factor)}
        term = self.exposure_terms[self.headline]
        if term in redundant:
            return f"the {self.headline} group cannot be told apart from the covariates among the LAs drawn"
        kept = [j for j, name in enumerate(self.terms) if name not in redundant]
        if self.rows[copies].sum() <= len(kept):
            return "no more mothers than coefficients among the LAs drawn"
        try:
            if self.estimator == "lmm_reml":
                return self._mixed(copies, kept, term, null)
            return self._cr2(copies, kept, term, null)
        except (ValueError, np.linalg.LinAlgError) as err:
            return f"refused by the engine ({str(err).split(':')[0]})"

    def _mixed_stats(self, copies: np.ndarray, null: bool) -> SufficientStatistics:
        """The sufficient statistics of these LAs' rows, each copy its own LA with its own centres."""
        base = self.null_stats if null else self.observed_stats
        sizes = self.inner_counts[copies]
        # The inner clusters of each copy, in order: copy c's are starts[c] .. starts[c] + sizes[c] - 1.
        offsets = np.repeat(self.inner_starts[copies] - np.cumsum(np.r_[0, sizes[:-1]]), sizes)
        inner = offsets + np.arange(sizes.sum())
        if self.two_levels:
            outer_cross, inner_outer = base.outer_cross[copies], np.repeat(np.arange(len(copies)), sizes)
        else:  # one level, the local authority: each copy is an inner cluster of a single outer block
            outer_cross = base.outer_cross[copies].sum(axis=0, keepdims=True)
            inner_outer = np.zeros(len(inner), dtype=int)
        return replace(base, outer_cross=outer_cross, inner_sums=base.inner_sums[inner],
                       inner_sizes=base.inner_sizes[inner], inner_outer=inner_outer,
                       outer_labels=np.arange(len(outer_cross)), has_outer=self.two_levels,
                       outer_factors=None)

    def _mixed(self, copies: np.ndarray, kept: list[int], term: str, null: bool) -> Refit | str:
        stats = self._mixed_stats(copies, null)
        if self.two_levels and stats.n_inner == len(copies):
            return "one centre in every LA drawn: the two levels cannot be told apart"
        if len(kept) < len(self.terms):
            stats = stats.select(kept)
        fit = (search_fit(stats, self.null_start, self.null_curvature) if null
               else search_fit(stats, self.theta))
        if not fit.converged:
            return "the REML search did not converge"
        j = [self.terms[k] for k in kept].index(term)
        return Refit(float(fit.estimates[j]), float(np.sqrt(fit.covariance[j, j])),
                     self.df[self.headline])

    def _cr2(self, copies: np.ndarray, kept: list[int], term: str, null: bool) -> Refit:
        factors = (self.null_factors if null else self.observed_factors)[copies]
        if len(kept) < len(self.terms):  # the same rows' factor of fewer columns: refactorise each block
            factors = np.linalg.qr(factors[:, :, [*kept, len(self.terms)]], mode="r")
        terms = [self.terms[k] for k in kept]
        fit = fit_from_factors(factors, int(self.rows[copies].sum()), terms, np.arange(len(copies)),
                               rank_checked=True)
        return Refit(*cr2_coefficient(fit, term))


# --- The statistics ---------------------------------------------------------------------------------------

def dominant_sign(estimates: np.ndarray) -> float:
    """+1 or -1: the sign of most estimates; on a tie the sign of the median, and -1 (less distress) if that
    is zero."""
    positive, negative = int(np.sum(estimates > 0)), int(np.sum(estimates < 0))
    if positive != negative:
        return 1.0 if positive > negative else -1.0
    return 1.0 if np.median(estimates) > 0 else -1.0


def joint_statistics(estimates, p, alpha: float) -> dict[str, float]:
    """The three statistics of one sample's specifications (see the module docstring), each oriented so that
    larger is more extreme, and the sample's dominant sign and number significant in that direction."""
    from scipy import special

    estimates, p = np.asarray(estimates, float), np.asarray(p, float)
    sign = dominant_sign(estimates)
    agrees = np.sign(estimates) == sign
    significant = int(np.sum((p < alpha) & agrees))
    z = np.where(agrees, 1.0, -1.0) * -special.ndtri(np.clip(p, 1e-300, 1.0) / 2)  # Phi^-1(1 - p/2)
    return {"median": float(abs(np.median(estimates))), "share": significant / len(estimates),
            "stouffer": float(z.sum() / np.sqrt(len(estimates))), "sign": sign, "significant": significant,
            "median_signed": float(np.median(estimates))}


def resampling_p_value(observed: float, resampled: np.ndarray) -> float:
    """(1 + #{resampled >= observed}) / (1 + B): the share of resamples at least as extreme, +1 corrected.
    A relative 1e-12 absorbs rounding in statistics that are equal in exact arithmetic."""
    resampled = np.asarray(resampled, float)
    tolerance = 1e-12 * max(abs(observed), 1.0)
    return float((1 + np.count_nonzero(resampled >= observed - tolerance)) / (1 + len(resampled)))


# --- The test ---------------------------------------------------------------------------------------------

@dataclass
class JointTestResult:
    contrast: str | None
    plan: JointTestPlan
    observed: dict[str, float] = field(default_factory=dict)
    p_values: dict[str, float] = field(default_factory=dict)
    estimable: list[str] = field(default_factory=list)  # specifications in the observed statistics
    not_estimable: dict[str, str] = field(default_factory=dict)  # specification -> why
    resamples_used: int = 0
    resamples_discarded: int = 0
    refits: int = 0
    refits_failed: Counter = field(default_factory=Counter)  # reason -> refits not estimable
    seconds_per_refit: float = float("nan")
    impossible: str = ""  # why no test could be made


def headline_level(refitters: dict[str, Refitter]) -> str | None:
    """The first contrast level (growing, then stable) that some specification can estimate: the headline
    contrast of analysis.results.headline_contrast applied to the curve."""
    for level in [g for g in GROUPS[::-1] if g != "cut"]:
        if any(level in r.exposure_terms for r in refitters.values()):
            return level
    return None


def run_joint_test(specifications: dict[str, Refitter | str], plan: JointTestPlan) -> JointTestResult:
    """The joint test over these specifications (each's refitter, or why it cannot be estimated)."""
    refitters = {sid: r for sid, r in specifications.items() if isinstance(r, Refitter)}
    result = JointTestResult(None, plan, not_estimable={sid: why for sid, why in specifications.items()
                                                          if isinstance(why, str)})
    level = headline_level(refitters)
    if level is None:
        result.impossible = ("no specification could be estimated, so there is nothing to test"
                             if not refitters else "no specification has mothers in a contrast group")
        if not refitters and any("single local authority" in why for why in result.not_estimable.values()):
            result.impossible = "the data hold a single local authority, so there is nothing to resample"
        return result
    reference = next(iter(refitters.values())).reference
    result.contrast = f"{level} vs {reference}"
    for sid, refitter in list(refitters.items()):
        if not refitter.set_headline(level):
            result.not_estimable[sid] = f"no mothers in the {level} group"
            del refitters[sid]
    # The resampling frame: every LA in any specification's data, in sorted order; a specification's own LAs
    # are positions in it (-1: an LA without mothers in that specification's sample).
    union = np.unique(np.concatenate([r.la_labels for r in refitters.values()]).astype(str))
    local = {sid: pd.Index(r.la_labels.astype(str)).get_indexer(union) for sid, r in refitters.items()}

    def sample_estimates(draw: np.ndarray | None, null: bool) -> dict[str, Refit | str]:
        out = {}
        for sid, refitter in refitters.items():
            copies = np.arange(len(refitter.la_labels)) if draw is None else local[sid][draw]
            out[sid] = refitter.refit(copies[copies >= 0], null)
        return out

    observed = sample_estimates(None, null=False)
    for sid, fit in observed.items():
        if isinstance(fit, str):
            result.not_estimable[sid] = fit
    result.estimable = sorted(sid for sid, fit in observed.items() if isinstance(fit, Refit))
    if not result.estimable:
        result.impossible = f"no specification could be estimated for {result.contrast}"
        return result
    result.observed = _statistics([observed[sid] for sid in result.estimable], plan.alpha)

    rng = np.random.default_rng(plan.seed)
    resampled: list[dict[str, float]] = []
    minimum = max(1, int(np.ceil(MIN_ESTIMABLE_SHARE * len(result.estimable))))
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(plan.resamples):
        draw = rng.integers(0, len(union), size=len(union))
        fits = sample_estimates(draw, null=True)
        done = [fits[sid] for sid in result.estimable if isinstance(fits[sid], Refit)]
        result.refits += len(result.estimable)
        result.refits_failed.update(fits[sid] for sid in result.estimable if isinstance(fits[sid], str))
        if len(done) < minimum:
            result.resamples_discarded += 1
            continue
        resampled.append(_statistics(done, plan.alpha))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    result.seconds_per_refit = elapsed / max(plan.resamples * len(refitters), 1)
    log.info("joint test: %d resamples x %d specifications in %.1f s wall, %.1f s CPU (%.2f ms wall, %.2f ms "
             "CPU per resample per specification)", plan.resamples, len(refitters), elapsed, cpu,
             1e3 * result.seconds_per_refit, 1e3 * cpu / max(plan.resamples * len(refitters), 1))
    result.resamples_used = len(resampled)
    if not resampled:
        result.impossible = (f"in none of the {plan.resamples} resamples could at least "
                             f"{MIN_ESTIMABLE_SHARE:.0%} of the specifications be estimated")
        return result
    for name in STATISTICS:
        result.p_values[name] = resampling_p_value(result.observed[name], [r[name] for r in resampled])
    return result


def _statistics(fits: list[Refit], alpha: float) -> dict[str, float]:
    estimates = np.array([f.estimate for f in fits])
    p = two_sided_p(estimates / np.array([f.std_error for f in fits]), np.array([f.df for f in fits]))
    return joint_statistics(estimates, p, alpha)


# --- The table and its words ----------------------------------------------------------------------------

SIGN_WORDS = {-1.0: "negative (less distress than in the reference group)",
              1.0: "positive (more distress than in the reference group)"}
TABLE_COLUMNS = ["contrast", "statistic", "observed", "p_value", "specifications_estimable",
                 "specifications_not_estimable", "specifications_significant", "dominant_direction", "alpha",
                 "resamples", "resamples_used", "resamples_discarded", "seed", "resampling_unit",
                 "definition", "note"]


def joint_test_table(result: JointTestResult) -> pd.DataFrame:
    """One row per joint statistic: observed value, p-value, what it is over, how it was resampled, notes."""
    plan = result.plan
    note = _note(result)
    rows = []
    for name, label in STATISTICS.items():
        observed = result.observed.get(name, np.nan)
        if name == "median" and result.observed:
            observed = result.observed["median_signed"]  # shown with its sign; tested by distance from 0
        rows.append({
            "contrast": result.contrast or "", "statistic": label, "observed": observed,
            "p_value": result.p_values.get(name, np.nan),
            "specifications_estimable": len(result.estimable),
            "specifications_not_estimable": len(result.not_estimable),
            "specifications_significant": result.observed.get("significant", np.nan) if name == "share"
            else np.nan,
            "dominant_direction": SIGN_WORDS[result.observed["sign"]] if result.observed else "",
            "alpha": plan.alpha, "resamples": plan.resamples, "resamples_used": result.resamples_used,
            "resamples_discarded": result.resamples_discarded, "seed": plan.seed,
            "resampling_unit": RESAMPLING_UNIT, "definition": DEFINITIONS[name], "note": note,
        })
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["specifications_significant"] = table["specifications_significant"].astype("Int64")
    return table


def _note(result: JointTestResult) -> str:
    if result.impossible:
        return f"Joint test not possible: {result.impossible}."
    parts = [
        "Joint test of Simonsohn, Simmons & Nelson (2020). Null imposed per specification: y* = y - "
        "b_growing 1[growing] - b_stable 1[stable] with its own groups and estimates. Each resample draws "
        "whole local authorities with replacement, the same draw for every specification, and refits every "
        "specification from per-LA statistics. p = (1 + resamples at least as extreme) / (1 + resamples "
        "used); the dominant direction is re-determined in each resample.",
        "Inference in the observed statistics and in every resample alike: OLS-CR2 specifications as "
        "published (CR2, t with Satterthwaite df); mixed-model specifications by one REML search from the "
        "observed fit, lme4-convention SE and t with the published Satterthwaite df held fixed (a cheaper "
        "test than the published curve's, which recomputes the df).",
    ]
    if result.not_estimable:
        parts.append("Not in the test: " + "; ".join(f"{sid} ({why})" for sid, why in
                                                       sorted(result.not_estimable.items())) + ".")
    failed = sum(result.refits_failed.values())
    if failed:
        reasons = "; ".join(f"{why}: {count}" for why, count in result.refits_failed.most_common())
        parts.append(f"Refits not estimable in a resample, of {result.refits}: {failed} ({reasons}); such a "
                     "specification is left out of that resample's statistics.")
    if result.resamples_discarded:
        parts.append(f"Resamples not used (fewer than {MIN_ESTIMABLE_SHARE:.0%} of the specifications "
                     f"estimable): {result.resamples_discarded}.")
    return " ".join(parts)


def _percent(p: float) -> str:
    return f"{100 * p:.0f}%" if p >= 0.095 else f"{100 * p:.1f}%"


def joint_test_words(table: pd.DataFrame) -> str:
    """The report's sentences on the joint test, from its published table (one row per statistic)."""
    rows = table.set_index("statistic")
    first = table.iloc[0]
    if pd.isna(rows["p_value"]).all():
        reason = str(first["note"]).split(". ")[0].removeprefix("Joint test not possible: ").rstrip(".")
        return f"**Taken together**, the curve could not be tested as a whole: {reason}."
    median, share, stouffer = (rows.loc[STATISTICS[name]] for name in ("median", "share", "stouffer"))
    below = str(first["dominant_direction"]).startswith("negative")
    direction = "below zero (less distress)" if below else "above zero (more distress)"
    used = int(first["resamples_used"])
    resamples = f"{int(first['resamples']):,} resamples of whole local authorities"
    if used < int(first["resamples"]):
        resamples += f", {used:,} of them usable"
    return (f"**Taken together** (the joint test of Simonsohn, Simmons and Nelson, for {first['contrast']}; "
            f"{resamples}, seed {int(first['seed'])}): if funding made no difference, a median estimate as "
            f"far from zero as this one ({median['observed']:+.2f} points) would arise in "
            f"{_percent(median['p_value'])} of resamples; as large a share of specifications significantly "
            f"{direction}, the direction most estimates take ({share['observed']:.0%} of "
            f"{int(first['specifications_estimable'])}, at p < {first['alpha']:g}), in "
            f"{_percent(share['p_value'])}; and as large an aggregated z ({stouffer['observed']:.2f}, "
            f"Stouffer's) in {_percent(stouffer['p_value'])}.")
