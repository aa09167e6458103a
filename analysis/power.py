"""Planning a council's own evaluation: minimum detectable effect (MDE) and power.

The evaluation compares mothers at centres whose budget changed with mothers at centres whose budget did not,
at follow-up, analysed as the primary model (baseline-adjusted, random intercepts for local authority and
centre). The variance components are the primary model's (residual variance after its adjustment), so the MDE
is for that adjusted comparison.

Design: J local authorities, K centres in each, m mothers recruited per centre of whom a share `attrition` is
lost, so n = m (1 - attrition) are analysed; each is measured at W follow-up waves whose outcomes correlate
r within a mother, and her mean is analysed, so her residual variance is s2 (r + (1 - r) / W). A share P of
the units the change is decided for is changed:

  assigned_at la:      Var(effect) = (s2_la + s2_centre / K + s2_mother / (K n)) / (J P (1 - P)),  df = J - 2
  assigned_at centre:  Var(effect) = (s2_centre + s2_mother / n) / (J K P (1 - P)),  df = J K - J - 1
                       (within local authorities, so the LA variance drops out; one council: J = 1)

where N P (1 - P), N the units compared (J or J K), is computed from the whole units changed (n1 of N:
1 / n1 + 1 / (N - n1)): a share P of the local authorities, or of the centres in each local authority,
rounded half up. These are the standard
variances of a treatment effect in a balanced two- or three-level design (Raudenbush
& Liu 2000; Bloom 2005; Spybrook et al., Optimal Design). Power is that of the two-sided t test of the
effect: the noncentral t with noncentrality effect / SE (scipy.stats.nct); the MDE is the effect at
which that power reaches the target, found by root-finding (not the usual normal approximation
(t_alpha/2 + t_power) x SE, which it matches for large df). Hedges' g divides the MDE by the SD of the
outcome. The formula is checked against simulated evaluations (tests/test_power.py, `simulate_power`).

Command line, for an analyst who does not edit the plan:  python -m analysis.power --help
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import PlanError
from analysis.io import write_csv

LEVELS = ("la", "centre")


@dataclass(frozen=True)
class Variance:
    """Variance components (outcome points squared): between LAs, between centres in an LA, residual."""

    la: float
    centre: float
    residual: float

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not (np.isfinite(value) and value >= 0):
                raise PlanError(f"power planner: the {name} variance must be a number >= 0, not {value!r}")
        if self.residual <= 0:
            raise PlanError("power planner: the residual variance must be above 0")

    @classmethod
    def from_fit(cls, fit: dict) -> Variance:
        """From a mixed-model fit record (results/models/primary_fit.json). A one-level fit is read by its
        level (`one_level`): with a single local authority in the data it is the centres' (no LA variance: 0
        is used, right for a design within one council and optimistic across councils); with one centre per
        local authority (or an LA-level survey naming no centres) it is the local authorities' (no centre
        variance)."""
        components = fit["variance_components"]
        inner, residual = float(components["inner"]), float(components["residual"])
        level = one_level(fit)
        if level is None:
            return cls(float(components["outer"]), inner, residual)
        return cls(inner, 0.0, residual) if level == "la" else cls(0.0, inner, residual)


def one_level(fit: dict) -> str | None:
    """The single random-intercept level of a fit record (la or centre), or None for a two-level fit."""
    if fit["variance_components"].get("outer") is not None:
        return None
    return "la" if fit.get("design", {}).get("local_authorities", 1) > 1 else "centre"


ONE_LEVEL_WORDS = {
    None: "the fitted primary model",
    "la": ("the fitted primary model, which had one level (local authorities): no variance between centres, "
           "so designs comparing centres are planned optimistically"),
    "centre": ("the fitted primary model, which had one level (centres, a single local authority): no "
               "variance between local authorities, so designs comparing local authorities are planned "
               "optimistically"),
}


def fit_words(fit: dict) -> str:
    """Where variance components read by `Variance.from_fit` come from, with what a one-level fit lacks."""
    return ONE_LEVEL_WORDS[one_level(fit)]


@dataclass(frozen=True)
class Design:
    """An evaluation design (see the module docstring for the symbols)."""

    las: int
    centres_per_la: int
    mothers_per_centre: int
    waves: int = 1
    wave_correlation: float = 0.5
    attrition: float = 0.0
    assigned_at: str = "centre"
    share_changed: float = 0.5
    name: str = ""

    def __post_init__(self):
        problems = []
        for key in ("las", "centres_per_la", "mothers_per_centre", "waves"):
            value = getattr(self, key)
            whole = (not isinstance(value, bool) and isinstance(value, (int, np.integer, float, np.floating))
                     and np.isfinite(value) and float(value).is_integer() and value >= 1)
            if whole:
                object.__setattr__(self, key, int(value))  # 20.0 from a plan file is 20
            else:
                problems.append(f"{key} must be a whole number >= 1, not {value!r}")
        bounds = {"wave_correlation": ("between 0 and 1", lambda v: 0 <= v <= 1),
                  "attrition": ("at least 0 and below 1", lambda v: 0 <= v < 1),
                  "share_changed": ("above 0 and below 1", lambda v: 0 < v < 1)}
        for key, (words, inside) in bounds.items():
            value = getattr(self, key)
            number = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
            if not (number and inside(value)):
                problems.append(f"{key} must be a number {words}, not {value!r}")
        if self.assigned_at not in LEVELS:
            problems.append(f"assigned_at must be la or centre, not {self.assigned_at!r}")
        if problems:
            self._refuse(problems)
        if self.analysed_per_centre < 1:
            problems.append(f"with {100 * self.attrition:g}% lost, fewer than one of the "
                            f"{self.mothers_per_centre} mothers per centre would be analysed")
        units = self.las if self.assigned_at == "la" else self.centres_per_la
        where = "local authorities" if self.assigned_at == "la" else "centres in each local authority"
        if not 1 <= self.changed_units <= units - 1:
            problems.append(f"a share changed of {self.share_changed:g} of {units} {where} changes "
                            f"{self.changed_units} of them: both the changed and the unchanged need at least "
                            "one")
        elif self.df < 1:
            needs = ("at least 3 local authorities" if self.assigned_at == "la" else
                     "at least 3 centres in one local authority, or 2 more centres than local "
                     "authorities across several")
            problems.append(f"the effect and its uncertainty cannot both be estimated (degrees of freedom "
                            f"{self.df}): a change decided for whole "
                            f"{'local authorities' if self.assigned_at == 'la' else 'centres'} needs {needs}")
        if problems:
            self._refuse(problems)

    def _refuse(self, problems: list[str]) -> None:
        label = f" design '{self.name}'" if self.name else ""
        raise PlanError(f"power planner{label}: " + "; ".join(problems))

    @property
    def changed_units(self) -> int:
        """Units whose budget changes: of the local authorities, or of the centres in each local authority
        (whole units, half rounded up)."""
        units = self.las if self.assigned_at == "la" else self.centres_per_la
        return int(np.floor(self.share_changed * units + 0.5))

    @property
    def analysed_per_centre(self) -> float:
        return self.mothers_per_centre * (1 - self.attrition)

    @property
    def centres(self) -> int:
        return self.las * self.centres_per_la

    @property
    def df(self) -> int:
        if self.assigned_at == "la":
            return self.las - 2
        return self.centres - self.las - 1

    def standard_error(self, variance: Variance) -> float:
        """SE of the estimated effect (see the module docstring), for the whole units changed: with n1 of the
        N units changed, 1 / (N P (1 - P)) is 1 / n1 + 1 / (N - n1)."""
        mother = variance.residual * (self.wave_correlation + (1 - self.wave_correlation) / self.waves)
        n = self.analysed_per_centre
        if self.assigned_at == "la":
            unit = variance.la + variance.centre / self.centres_per_la + mother / (self.centres_per_la * n)
            changed, total = self.changed_units, self.las
        else:
            unit = variance.centre + mother / n
            changed, total = self.las * self.changed_units, self.centres
        return float(np.sqrt(unit * (1 / changed + 1 / (total - changed))))


def power(effect: float, design: Design, variance: Variance, alpha: float = 0.05) -> float:
    """Power of the two-sided t test at level alpha when the true effect is `effect` (outcome points): the
    noncentral t with noncentrality effect / SE (scipy; statsmodels' ttest_power gives NaN beyond a
    noncentrality of about 8)."""
    from scipy import stats  # imported where used, as elsewhere

    if not (np.isfinite(effect) and 0 < alpha < 1):
        raise PlanError(f"power planner: need a finite effect and 0 < alpha < 1, not {effect!r}, {alpha!r}")
    noncentrality = abs(effect) / design.standard_error(variance)
    critical = stats.t.isf(alpha / 2, design.df)
    upper = stats.nct.sf(critical, design.df, noncentrality)
    lower = stats.nct.cdf(-critical, design.df, noncentrality)
    if not np.isfinite(lower):
        # scipy gives NaN deep in this tail (df 1, noncentrality 39); it is below P(T < 0) = Phi(-nc),
        # negligible wherever that happens.
        lower = stats.norm.cdf(-noncentrality)
    if not np.isfinite(upper):
        raise PlanError(f"power planner: the power of this design could not be computed (noncentral t, "
                        f"df {design.df}, noncentrality {noncentrality:.3g})")
    return float(min(1.0, upper + lower))


def minimum_detectable_effect(design: Design, variance: Variance, alpha: float = 0.05,
                              target: float = 0.8) -> float:
    """The smallest true effect (outcome points) detected with probability `target`."""
    from scipy.optimize import brentq

    if not 0 < alpha < 1 or not alpha < target < 1:
        raise PlanError(f"power planner: need 0 < alpha < power < 1, not alpha {alpha!r}, power {target!r}")
    se = design.standard_error(variance)
    high = se
    for _ in range(60):
        if power(high, design, variance, alpha) >= target:
            break
        high *= 2
    else:
        raise PlanError(f"power planner: power {target:g} cannot be reached with this design")
    return float(brentq(lambda effect: power(effect, design, variance, alpha) - target, 0.0, high,
                        xtol=1e-10 * se))


def plan_table(designs: list[Design], variance: Variance, alpha: float, target: float, effect: float,
               outcome_sd: float | None, variance_source: str) -> pd.DataFrame:
    """One row per design: inputs, SE, df, MDE in outcome points and in Hedges' g, power at `effect`."""
    rows = []
    for design in designs:
        mde = minimum_detectable_effect(design, variance, alpha, target)
        rows.append({
            "design": design.name, "assigned_at": design.assigned_at, "las": design.las,
            "centres_per_la": design.centres_per_la, "centres": design.centres,
            "mothers_per_centre": design.mothers_per_centre, "attrition": design.attrition,
            "mothers_analysed": design.centres * design.analysed_per_centre, "waves": design.waves,
            "wave_correlation": design.wave_correlation, "share_changed": design.share_changed,
            "alpha": alpha, "power_target": target, "variance_la": variance.la,
            "variance_centre": variance.centre, "variance_residual": variance.residual,
            "variance_source": variance_source, "standard_error": design.standard_error(variance),
            "df": design.df, "mde_k6": mde,
            "outcome_sd": np.nan if outcome_sd is None else outcome_sd,
            "mde_hedges_g": np.nan if outcome_sd is None else mde / outcome_sd,
            "effect_k6": effect, "power_at_effect": power(effect, design, variance, alpha),
        })
    return pd.DataFrame(rows)


def mde_curve(design: Design, centres: list[int], variance: Variance, alpha: float,
              target: float) -> pd.DataFrame:
    """MDE against the total number of centres, the design's other settings held (centres are spread over
    its local authorities, at least one each)."""
    rows = []
    for total in centres:
        per_la = max(1, round(total / design.las))
        try:
            varied = Design(**{**asdict(design), "centres_per_la": per_la})
        except PlanError:
            continue  # too few centres for this design to estimate anything (not drawn)
        rows.append({"design": design.name, "centres": varied.centres,
                     "mde_k6": minimum_detectable_effect(varied, variance, alpha, target)})
    return pd.DataFrame(rows)


def simulate_power(design: Design, variance: Variance, effect: float, alpha: float = 0.05,
                   replications: int = 1000, seed: int = 1) -> float:
    """Share of simulated evaluations whose effect is significant: mothers drawn from the three-level model
    (each lost with probability `attrition`, each measured at the design's waves), the change given to a
    share of units, and the effect tested as a balanced analysis does: a t test of local-authority means
    (assigned_at la), or of centre means with local-authority fixed effects (assigned_at centre). An
    independent check of `power`, which is a formula."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    J, K, m, W = design.las, design.centres_per_la, design.mothers_per_centre, design.waves
    units = J if design.assigned_at == "la" else K
    changed = np.zeros(units, bool)
    changed[: design.changed_units] = True
    treat = np.repeat(changed, K) if design.assigned_at == "la" else np.tile(changed, J)  # per centre
    r = design.wave_correlation
    rejections = 0
    for _ in range(replications):
        la_effect = rng.normal(0, np.sqrt(variance.la), J)
        centre_effect = rng.normal(0, np.sqrt(variance.centre), J * K)
        stable = rng.normal(0, np.sqrt(variance.residual * r), (J * K, m))
        occasions = rng.normal(0, np.sqrt(variance.residual * (1 - r)), (J * K, m, W)).mean(axis=2)
        y = (np.repeat(la_effect, K)[:, None] + centre_effect[:, None] + effect * treat[:, None] + stable
             + occasions)
        kept = rng.random((J * K, m)) >= design.attrition
        counts = kept.sum(axis=1)
        present = counts > 0
        means = np.where(present, (y * kept).sum(axis=1) / np.maximum(counts, 1), np.nan)
        if design.assigned_at == "la":
            la_means = np.array([np.nanmean(means[j * K:(j + 1) * K]) for j in range(J)])
            result = stats.ttest_ind(la_means[changed], la_means[~changed])
            p = result.pvalue
        else:
            la_of = np.repeat(np.arange(J), K)[present]
            X = np.column_stack([treat[present].astype(float),
                                 (la_of[:, None] == np.arange(J)[None, :]).astype(float)])
            beta, *_ = np.linalg.lstsq(X, means[present], rcond=None)
            resid = means[present] - X @ beta
            df = len(resid) - np.linalg.matrix_rank(X)
            cov = (resid @ resid / df) * np.linalg.pinv(X.T @ X)
            p = 2 * stats.t.sf(abs(beta[0]) / np.sqrt(cov[0, 0]), df)
        rejections += p < alpha
    return rejections / replications


def designs_from_plan(block: dict) -> list[Design]:
    return [Design(name=name, **{key: value for key, value in entry.items()})
            for name, entry in block.get("designs", {}).items()]


# ---------------------------------------------------------------------------------------------------------
# Command line


def _arguments(argv) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.power",
        description="Minimum detectable effect and power of an evaluation of children's-centre budget "
                    "changes on mothers' distress (K6 points), analysed as the pipeline's primary model.")
    parser.add_argument("--las", type=int, default=1, help="local authorities (default 1: one council)")
    parser.add_argument("--centres-per-la", type=int, required=True, help="centres in each local authority")
    parser.add_argument("--mothers-per-centre", type=int, required=True, help="mothers recruited per centre")
    parser.add_argument("--waves", type=int, default=1, help="follow-up waves per mother (default 1)")
    parser.add_argument("--wave-correlation", type=float, default=0.5,
                        help="correlation of a mother's outcome between follow-up waves (default 0.5)")
    parser.add_argument("--attrition", type=float, default=0.0, help="share of mothers lost (default 0)")
    parser.add_argument("--assigned-at", choices=LEVELS, default="centre",
                        help="level at which the budget change differs (default centre)")
    parser.add_argument("--share-changed", type=float, default=0.5,
                        help="share of the units whose budget changes (default 0.5)")
    parser.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level")
    parser.add_argument("--power", type=float, default=0.8, help="target power for the MDE")
    parser.add_argument("--effect", type=float, default=1.0,
                        help="a true effect (K6 points) to give power for")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--variance", type=float, nargs=3, metavar=("LA", "CENTRE", "RESIDUAL"),
                        help="variance components to plan with")
    source.add_argument("--fit", default="results/models/primary_fit.json",
                        help="a fitted primary model's record to take them from (default: %(default)s)")
    parser.add_argument("--outcome-sd", type=float, help="SD of K6, to give the MDE as Hedges' g")
    parser.add_argument("--csv", help="also write the table to this CSV file")
    return parser.parse_args(argv)


def fit_variance(path: str | Path) -> tuple[Variance, str]:
    """Variance components from a fit record and where they come from in words (`fit_words`), refused in
    words when the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"no fitted model at {path}: run the pipeline first, or give --variance LA CENTRE "
                        "RESIDUAL")
    try:
        fit = json.loads(path.read_text())
        return Variance.from_fit(fit), fit_words(fit)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PlanError(f"{path} is not a fitted model's record (results/models/primary_fit.json, with "
                        "variance_components outer, inner and residual)") from None


def main(argv=None) -> int:
    args = _arguments(argv)
    try:
        if args.outcome_sd is not None and not (np.isfinite(args.outcome_sd) and args.outcome_sd > 0):
            raise PlanError(f"--outcome-sd must be a positive number, not {args.outcome_sd!r}")
        if args.variance:
            variance, origin = Variance(*args.variance), "given"
        else:
            variance, words = fit_variance(args.fit)
            origin = f"{words} ({args.fit})"
        design = Design(args.las, args.centres_per_la, args.mothers_per_centre, args.waves,
                        args.wave_correlation, args.attrition, args.assigned_at, args.share_changed,
                        name="command line")
        table = plan_table([design], variance, args.alpha, args.power, args.effect, args.outcome_sd, origin)
        if args.csv:
            write_csv(table, args.csv)
    except PlanError as err:
        print(str(err) if str(err).startswith("power planner") else f"power planner: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"power planner: cannot write {args.csv}: {err.strerror or err}", file=sys.stderr)
        return 2
    row = table.iloc[0]
    print(f"Design: {design.las} local authorit{'y' if design.las == 1 else 'ies'} x "
          f"{design.centres_per_la} centres x {design.mothers_per_centre} mothers "
          f"({row['mothers_analysed']:.0f} analysed after {100 * design.attrition:g}% attrition), "
          f"{design.waves} follow-up wave(s); budget change differs between "
          f"{'local authorities' if design.assigned_at == 'la' else 'centres'}.")
    print(f"Variance components ({origin}): LA {variance.la:.3f}, centre {variance.centre:.3f}, "
          f"residual {variance.residual:.3f}.")
    if design.assigned_at == "centre" and variance.centre == 0:
        print("Note: no variance between centres (the fitted model may have had one level only): a design "
              "comparing centres is planned optimistically.")
    print(f"Minimum detectable effect at {100 * args.power:g}% power, two-sided alpha {args.alpha:g}: "
          f"{row['mde_k6']:.2f} K6 points (SE {row['standard_error']:.3f}, df {row['df']})"
          + (f", Hedges' g {row['mde_hedges_g']:.2f}." if args.outcome_sd else
             "; give --outcome-sd for Hedges' g."))
    print(f"Power for a true difference of {args.effect:g} K6 points: {100 * row['power_at_effect']:.1f}%.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
