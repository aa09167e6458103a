"""What a planned budget change would mean: projections of the dose-response models for a council's decision.

A planned change is a nominal (cash) change in percent between two financial years. It is put on the scale of
the exposure, a real-terms change, with the GDP deflator series:

    real change (%) = 100 x ((1 + nominal / 100) x deflator(from) / deflator(to) - 1),

where a year after the series' last one has that year's deflator grown by an assumed rate per year (the plan's
`deflator_growth_beyond_pct`, said beside every projection that uses it). Every projection is against keeping
the budget level in real terms (a change of 0%):

  * the difference in mean K6 from each linear mixed dose-response model (linear or natural spline): the
    contrast f(change) - f(0), with the model's own small-sample inference (t with Satterthwaite df);
  * the share of mothers above a cut-off (K6 >= 13, GHQ-12 >= 4) from each logistic dose-response model,
    marginally standardised over the analysed mothers: the mean predicted probability with every mother's
    budget change set to the planned one, minus the same at 0%;
  * where the plan gives the number of mothers served per year, the number of mothers that share difference
    amounts to.
Intervals carry the models' uncertainty by the delta method from each model's coefficient covariance (exact
for the mean differences, which are linear in the coefficients; normal intervals for the shares, as GEE).

A planned real-terms change outside the range the models were fitted on is an extrapolation: the models say
nothing there but what their functional form assumes. The range is the narrowest of the models' analysed
ranges; a projection outside it is marked, or refused if the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import binary, models
from analysis.design import ModelSpec
from analysis.errors import DesignError, PlanError
from analysis.inference import wald_columns
from analysis.labels import split_outcome

REFERENCE_CHANGE = 0.0  # every projection is against keeping the budget level in real terms
SHARES = {  # share model role -> what its outcome is, in words
    "serious_distress": "serious psychological distress (K6 of 13 or more)",
    "probable_cmd": "probable common mental disorder (GHQ-12 of 4 or more)",
}
MEAN_QUANTITY = "mean_k6_difference"
MEAN_METHOD = ("contrast f(planned change) - f(0) of the mixed model's exposure-response, its SE from the "
               "coefficient covariance (exact: linear in the coefficients); t with the model's degrees of "
               "freedom")
SHARE_METHOD = ("mean predicted probability over the analysed mothers with every mother's budget change set "
                "to the planned one minus the same at 0%; delta-method SE from the GEE robust covariance; "
                "normal interval")


@dataclass(frozen=True)
class Scenario:
    """One planned change as the plan gives it."""

    name: str
    nominal_change_pct: float
    from_year: str
    to_year: str
    description: str = ""
    centres: int | None = None
    mothers_served_per_year: int | None = None

    @classmethod
    def from_config(cls, name: str, entry: dict) -> Scenario:
        where = f"scenarios.planned.{name}"
        missing = [key for key in ("nominal_change_pct", "from_year", "to_year") if key not in entry]
        if missing:
            raise PlanError(f"{where}: {', '.join(missing)} is missing")
        try:
            nominal = float(entry["nominal_change_pct"])
        except (TypeError, ValueError):
            raise PlanError(f"{where}: nominal_change_pct must be a number, not "
                            f"{entry['nominal_change_pct']!r}") from None
        years = [_start(entry[key], f"{where}.{key}") for key in ("from_year", "to_year")]
        scenario = cls(name, nominal, str(entry["from_year"]), str(entry["to_year"]),
                       entry.get("description") or "", entry.get("centres"),
                       entry.get("mothers_served_per_year"))
        if years[1] <= years[0]:
            raise PlanError(f"{where}: from_year {scenario.from_year} is not before to_year "
                            f"{scenario.to_year}")
        if not np.isfinite(nominal):
            raise PlanError(f"{where}: nominal_change_pct must be a finite number, not {nominal!r}")
        if not -100 < nominal:
            raise PlanError(f"{where}: a change of {nominal:g}% would leave no budget; the models cannot "
                            "speak to closing every centre")
        return scenario

    @property
    def span_years(self) -> int:
        return _start(self.to_year) - _start(self.from_year)


def planned_scenarios(block: dict) -> list[Scenario]:
    return [Scenario.from_config(name, entry) for name, entry in block.get("planned", {}).items()]


def _start(financial_year: str, where: str = "financial year") -> int:
    """The calendar year a financial year 'YYYY-YY' starts in; anything else (2014-16, FY14) is refused."""
    text = str(financial_year)
    if len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit():
        start = int(text[:4])
        if int(text[5:]) == (start + 1) % 100:
            return start
    raise PlanError(f"{where}: {text!r} is not a financial year written YYYY-YY (e.g. 2014-15)")


@dataclass(frozen=True)
class RealChange:
    """A nominal change on the exposure's scale, and the assumption it took."""

    real_change_pct: float
    assumption: str  # how each year's deflator was obtained, in words
    assumed: bool  # whether a year beyond the series needed the assumed growth
    series_end: str  # the deflator series' last year


def series_end(deflators: pd.DataFrame) -> str:
    return max(deflators["financial_year"], key=_start)


def deflator_for(year: str, deflators: pd.DataFrame, growth_pct: float) -> tuple[float, str, bool]:
    """The year's deflator: from the series, or for a year after its last one, the last one grown by
    `growth_pct` per year; the words saying which, and whether it was assumed. A year before the series is
    refused."""
    series = deflators.set_index("financial_year")["gdp_deflator"].astype(float)
    if year in series.index:
        return float(series[year]), f"{year}: {series[year]:g} (series)", False
    last = series_end(deflators)
    first = min(series.index, key=_start)
    if _start(year) < _start(first):
        raise PlanError(f"scenario year {year} is before the deflator series starts ({first}): give a "
                        "deflator for it in deflators.csv")
    if _start(year) <= _start(last):
        raise PlanError(f"scenario year {year} is within the deflator series ({first} to {last}) but has no "
                        "deflator: give one for it in deflators.csv")
    gap = _start(year) - _start(last)
    value = float(series[last]) * (1 + growth_pct / 100) ** gap
    words = f"{year}: {value:.1f} (assumed: {last}'s {series[last]:g} grown {growth_pct:g}% a year)"
    return value, words, True


def real_terms_change(scenario: Scenario, deflators: pd.DataFrame, growth_pct: float) -> RealChange:
    start, start_words, start_assumed = deflator_for(scenario.from_year, deflators, growth_pct)
    end, end_words, end_assumed = deflator_for(scenario.to_year, deflators, growth_pct)
    real = 100 * ((1 + scenario.nominal_change_pct / 100) * start / end - 1)
    return RealChange(real, f"GDP deflator {start_words}; {end_words}", start_assumed or end_assumed,
                      series_end(deflators))


@dataclass
class FittedModel:
    spec: ModelSpec
    summary: models.FitSummary

    @property
    def observed(self) -> tuple[float, float]:
        values = self.summary.exposure_values.astype(float)
        return float(np.min(values)), float(np.max(values))


def fit_models(frame: pd.DataFrame, plan: dict) -> tuple[list[FittedModel], dict[str, FittedModel]]:
    """The scenario block's mean models and share models, fitted to the analysis data."""
    block = plan["scenarios"]

    def fit(name: str) -> FittedModel:
        spec = ModelSpec.from_config(name, plan["models"][name])
        model = FittedModel(spec, models.fit_model(frame, spec, plan["mixed_model_fit"]))
        check_projectable(model)
        return model

    return ([fit(name) for name in block.get("mean_models", [])],
            {role: fit(name) for role, name in block.get("share_models", {}).items()})


# A fitted probability this close to 0 or 1 means the logistic model separates some mothers' outcomes
# perfectly: its coefficients then run off towards infinity and no share projected from it can be trusted.
SEPARATION = 1e-6


def check_projectable(model: FittedModel) -> None:
    """Refuse, in words, a fit whose projections would be numbers without meaning: a coefficient or its
    covariance not finite, or a logistic model that separates the outcome (quasi-complete separation)."""
    summary, name = model.summary, model.spec.name
    remedy = (f" Remove '{name}' from the plan's scenarios block (mean_models or share_models) to project "
              "the scenarios without it.")
    if not (np.isfinite(summary.coefficients["estimate"]).all() and np.isfinite(summary.covariance).all()):
        raise DesignError(f"model '{name}': its coefficients or their covariance are not finite numbers on "
                          "these data (too few mothers, or too few at or above the cut-off), so no scenario "
                          "can be projected from it." + remedy)
    if summary.scale == "log odds":
        from scipy.special import expit

        fitted = expit(summary.design.to_numpy(float) @ summary.coefficients["estimate"].to_numpy())
        if ((fitted < SEPARATION) | (fitted > 1 - SEPARATION)).any():
            raise DesignError(f"model '{name}': some mothers' outcomes are predicted with certainty "
                              "(quasi-complete separation, usually too few mothers at or above the cut-off), "
                              "so shares projected from it would be artefacts." + remedy)


def within(change: float, low: float, high: float) -> bool:
    """Whether a change lies in the observed range, allowing for rounding (a plan set to the range's end
    arrives there only to within the arithmetic of deflation)."""
    slack = 1e-9 * max(1.0, abs(low), abs(high))
    return low - slack <= change <= high + slack


def observed_range(fitted: list[FittedModel]) -> tuple[float, float]:
    """The range of real-terms change every model was fitted on (the narrowest)."""
    lows, highs = zip(*(model.observed for model in fitted), strict=True)
    return max(lows), min(highs)


def share_projection(model: FittedModel, change: float) -> binary.Standardised:
    """Standardised share at `change` against 0%, over the mothers the model analysed."""
    spec, summary = model.spec, model.summary
    X = summary.design.to_numpy(float)
    index = [list(summary.design.columns).index(t) for t in spec.exposure_terms()]
    exposed, reference = X.copy(), X.copy()
    exposed[:, index] = models.exposure_design(summary, spec, [change])[0]
    reference[:, index] = models.exposure_design(summary, spec, [REFERENCE_CHANGE])[0]
    return binary.standardised(summary.coefficients["estimate"].to_numpy(), summary.covariance, exposed,
                               reference)


def project(frame: pd.DataFrame, deflators: pd.DataFrame, plan: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scenario table (one row per planned change and quantity) and the mean-difference curves."""
    block = plan["scenarios"]
    scenarios = planned_scenarios(block)
    growth = float(block.get("deflator_growth_beyond_pct", 2.0))
    if not scenarios:
        raise PlanError("scenarios: the plan gives no planned change (scenarios.planned) to project")
    if not block.get("mean_models"):
        raise PlanError("scenarios: name at least one dose-response model of mean K6 in mean_models")
    means, shares = fit_models(frame, plan)
    fitted = [*means, *shares.values()]
    low, high = observed_range(fitted)
    cut_offs = {role: cut_off(plan, model.spec.outcome) for role, model in shares.items()}
    rows = []
    changes = []
    for scenario in scenarios:
        real = real_terms_change(scenario, deflators, growth)
        outside = not within(real.real_change_pct, low, high)
        if outside and block.get("extrapolation", "mark") == "refuse":
            raise PlanError(
                f"scenario '{scenario.name}': its real-terms change of {real.real_change_pct:+.1f}% lies "
                f"outside the range observed in the data ({low:+.1f}% to {high:+.1f}%), and the plan says "
                "scenarios.extrapolation: refuse. Remove the scenario, or set extrapolation: mark to project "
                "it marked as an extrapolation.")
        changes.append(real.real_change_pct)
        common = {
            "scenario": scenario.name, "description": scenario.description,
            "nominal_change_pct": scenario.nominal_change_pct, "from_year": scenario.from_year,
            "to_year": scenario.to_year, "real_change_pct": real.real_change_pct,
            "deflation": real.assumption, "deflator_assumed": real.assumed,
            "deflator_series_end": real.series_end, "deflator_growth_beyond_pct": growth,
            "observed_min_pct": low, "observed_max_pct": high,
            "extrapolation": outside, "span_years": scenario.span_years,
            "exposure_span_years": exposure_span(plan), "centres": scenario.centres,
            "mothers_served_per_year": scenario.mothers_served_per_year,
        }
        for model in means:
            rows.append({**common, **_mean_row(model, real.real_change_pct)})
        for role, model in shares.items():
            rows.append({**common, **_share_row(role, model, real.real_change_pct,
                                                scenario.mothers_served_per_year, cut_offs.get(role))})
    table = pd.DataFrame(rows)
    # One key per row, for the report's and the brief's facts: scenario/quantity/model.
    table.insert(0, "projection", table["scenario"] + "/" + table["quantity"] + "/" + table["model"])
    curve = mean_curves(means, low, high, changes)
    return table, curve


def _interval(spec: ModelSpec, estimate: float, se: float, df: float) -> dict:
    inference = wald_columns([estimate], [se], spec.ci_level, [df])
    return {"estimate": estimate, "std_error": se, "df": df, "ci_lower": float(inference["ci_lower"][0]),
            "ci_upper": float(inference["ci_upper"][0]), "ci_level": spec.ci_level}


def _whose(spec: ModelSpec) -> str:
    """Whose budget the exposure is, for the estimand's words."""
    if spec.exposure_level == "la":
        return "in local authorities whose children's-centre spending"
    return "at centres whose budget"


def _mean_row(model: FittedModel, change: float) -> dict:
    spec = model.spec
    ((_, estimate, se, df),) = models.exposure_contrasts(model.summary, spec, [change], REFERENCE_CHANGE)
    kind = "natural spline" if spec.exposure_kind == "spline" else "linear"
    return {
        "quantity": MEAN_QUANTITY, "model": spec.name, "scale": "difference in mean K6 points",
        "cut_off": np.nan,
        **_interval(spec, estimate, se, df),
        "share_no_change_pct": np.nan, "share_planned_pct": np.nan,
        "mothers_affected": np.nan, "mothers_affected_ci_lower": np.nan, "mothers_affected_ci_upper": np.nan,
        "estimand": (f"Difference in mean K6 at follow-up between mothers {_whose(spec)} changes as planned "
                     f"and {_whose(spec)} does not change in real terms ({kind} dose-response, adjusted)"),
        "direction": "Positive: more distress (worse mental health) under the plan than with no real change.",
        "method": MEAN_METHOD,
    }


def exposure_span(plan: dict) -> int | None:
    """Years over which the budget changes in the data were measured (the exposure window)."""
    exposure = plan.get("exposure")
    if not exposure:
        return None
    return _start(exposure["end_year"]) - _start(exposure["base_year"])


def cut_off(plan: dict, outcome: str) -> float | None:
    """The threshold a 0/1 outcome was made with (primary_sample.binary_scores), e.g. 13 for K6 >= 13."""
    name, _ = split_outcome(outcome)
    entry = plan.get("primary_sample", {}).get("binary_scores", {}).get(name)
    return None if entry is None else float(entry["at_least"])


def _share_row(role: str, model: FittedModel, change: float, served: int | None,
               threshold: float | None) -> dict:
    spec = model.spec
    result = share_projection(model, change)
    row = {"quantity": role, "model": spec.name, "scale": "difference in share, percentage points",
           "cut_off": np.nan if threshold is None else threshold,
           **_interval(spec, 100 * result.difference, 100 * result.difference_se, np.inf),
           "share_no_change_pct": 100 * result.reference_share, "share_planned_pct": 100 * result.share}
    affected = {"mothers_affected": np.nan, "mothers_affected_ci_lower": np.nan,
                "mothers_affected_ci_upper": np.nan}
    if served:
        affected = {key: row[column] / 100 * served for key, column in
                    (("mothers_affected", "estimate"), ("mothers_affected_ci_lower", "ci_lower"),
                     ("mothers_affected_ci_upper", "ci_upper"))}
    return {**row, **affected,
            "estimand": (f"Difference in the share of mothers with {SHARES[role]} at follow-up between "
                         f"mothers {_whose(spec)} changes as planned and {_whose(spec)} does not change in "
                         "real terms (standardised over the analysed mothers)"),
            "direction": "Positive: more mothers affected under the plan than with no real change.",
            "method": SHARE_METHOD}


def mean_curves(means: list[FittedModel], low: float, high: float, changes: list[float],
                points: int = 81) -> pd.DataFrame:
    """Each mean model's projected difference on a grid covering the observed range and every scenario."""
    start = min(low, *changes) - 5
    stop = max(high, *changes) + 5
    grid = np.linspace(start, stop, points)
    rows = []
    for model in means:
        for x, estimate, se, df in models.exposure_contrasts(model.summary, model.spec, grid,
                                                             REFERENCE_CHANGE):
            rows.append({"model": model.spec.name, "real_change_pct": x,
                         **_interval(model.spec, estimate, se, df),
                         "extrapolation": not within(x, low, high), "observed_min_pct": low,
                         "observed_max_pct": high})
    return pd.DataFrame(rows)
