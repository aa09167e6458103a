"""The primary analysis sample: one row per mother followed from baseline to follow-up, and its flow."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from analysis.contract import CENTRE_CHARACTERISTICS
from analysis.errors import DesignError
from analysis.exposure import UNIT_KEY, UNIT_WORD, exposure_level
from analysis.variables import CENTRE_VARIABLES, SURVEY_DERIVED

log = logging.getLogger(__name__)

IDENTIFIERS = ["mother_id", "centre_id", "la_code", "funding_group", "budget_change_pct"]


def add_derived(survey: pd.DataFrame) -> pd.DataFrame:
    """The survey with the mother's covariates made from another column (analysis.variables) added."""
    survey = survey.copy()
    for name, variable in SURVEY_DERIVED.items():
        survey[name] = variable.derive(survey[variable.source])
    return survey


def _by_mother(survey: pd.DataFrame, mother: np.ndarray, n_mothers: int, wave: int) -> pd.DataFrame:
    """The records of one wave, one row per mother in mother-code order (missing where not interviewed).

    Mothers are integer codes, so aligning columns is positional: no string index is hashed per column."""
    at_wave = (survey["wave"] == wave).to_numpy()
    records = add_derived(survey.loc[at_wave])
    records.index = pd.Index(mother[at_wave])
    return records.reindex(pd.RangeIndex(n_mothers))


def survey_columns(score: str, covariates: list[str], carry_scores: tuple[str, ...] = (),
                   level: str = "centre") -> list[str]:
    """The cleaned-survey columns `mother_frame` reads for these scores and covariates (reading only these
    keeps a job's memory and time down at national scale). At LA level the records carry their local
    authority and their centre's characteristics."""
    sources = [variable.source for variable in SURVEY_DERIVED.values()]
    at_la = ["la_code", *CENTRE_CHARACTERISTICS] if level == "la" else []
    wanted = ["mother_id", "wave", "centre_id", *at_la, score, *carry_scores, *sources, *covariates]
    return list(dict.fromkeys(c for c in wanted if level == "la" or c not in CENTRE_VARIABLES))


# The cluster label of LA-level mothers whose record names no centre, followed by their la_code.
NO_CENTRE = "no centre named, "


def clustering_centre(centre_id: pd.Series, la_code: pd.Series) -> pd.Series:
    """At LA level, the centre a mother is clustered in: her own, or where her record names none, the group of
    mothers in her local authority who name none (design.cluster_design then sees one level, the local
    authority, when no one names a centre)."""
    unnamed = centre_id.isna() & la_code.notna()
    return centre_id.astype(object).where(~unnamed, NO_CENTRE + la_code.astype(str))


# Names of the inclusion steps other code looks up.
INTERVIEW_STEP = "interviewed at wave {wave}"
GROUP_STEP = "wave-{wave} {unit} has a funding group"
COVARIATE_STEP = "complete wave-{wave} covariates"


def wave_suffix(score: str, wave: int) -> str:
    return f"{score}_w{wave}"


def mother_frame(
    survey: pd.DataFrame,
    exposure: pd.DataFrame,
    *,
    score: str,
    baseline_wave: int,
    followup_wave: int,
    covariates: list[str],
    carry_scores: tuple[str, ...] = (),
    binary_scores: dict[str, tuple[str, float]] | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, np.ndarray]]]:
    """Every mother in the survey with the analysis variables, and the inclusion steps as masks.

    The mother's centre, and so her exposure, is her baseline-wave centre (at LA level, her exposure is that
    of her baseline-wave local authority); covariates are as measured at the baseline wave. `carry_scores`
    are secondary scores carried at both waves without being required; `binary_scores` maps a new name to
    (score, threshold), e.g. {"ghq_case": ("ghq_caseness", 4)} gives
    ghq_case_w1 = ghq_caseness_w1 >= 4. Returns (frame indexed by mother_id, [(step, passes), ...]).
    """
    mother, mother_ids = pd.factorize(survey["mother_id"], sort=True)
    base = _by_mother(survey, mother, len(mother_ids), baseline_wave)
    follow = _by_mother(survey, mother, len(mother_ids), followup_wave)
    level = exposure_level(exposure)
    units = exposure.set_index(UNIT_KEY[level])

    frame = pd.DataFrame(index=pd.RangeIndex(len(mother_ids)))
    steps: list[tuple[str, np.ndarray]] = [
        (INTERVIEW_STEP.format(wave=baseline_wave), base["wave"].notna().to_numpy()),
        (INTERVIEW_STEP.format(wave=followup_wave), follow["wave"].notna().to_numpy()),
    ]
    frame["centre_id"] = base["centre_id"]
    for name in (score, *carry_scores):
        for wave, records in ((baseline_wave, base), (followup_wave, follow)):
            frame[wave_suffix(name, wave)] = records[name]
    for name, (source, threshold) in (binary_scores or {}).items():
        for wave in (baseline_wave, followup_wave):
            values = frame[wave_suffix(source, wave)]
            frame[wave_suffix(name, wave)] = (values >= threshold).astype("Int64").where(values.notna())
    for wave in (baseline_wave, followup_wave):
        steps.append((f"{score.upper()} scored at wave {wave}",
                      frame[wave_suffix(score, wave)].notna().to_numpy()))

    if level == "la":
        frame["la_code"] = base["la_code"]
        frame["centre_id"] = clustering_centre(frame["centre_id"], frame["la_code"])
    # Each mother's row of the exposure table, found once (as integer positions) for every column of it.
    unit_codes, found = pd.factorize(frame[UNIT_KEY[level]])
    at_unit = np.append(units.index.get_indexer(found), -1)[unit_codes]

    def unit_column(column: str) -> pd.Series:
        """`column` of the mother's unit; missing where she has none or it is not in the table."""
        values = units[column].reset_index(drop=True)
        return values.reindex(at_unit).set_axis(frame.index)

    def centre_column(column: str) -> pd.Series:
        """A characteristic of the mother's centre: at LA level her record carries it (cleaning)."""
        return base[column] if level == "la" else unit_column(column)

    for column in ["la_code", "funding_group", "budget_change_pct"][(level == "la"):]:
        frame[column] = unit_column(column)
    steps.append((GROUP_STEP.format(wave=baseline_wave, unit=UNIT_WORD[level]),
                  frame["funding_group"].notna().to_numpy()))

    baseline = [c for c in covariates if c != wave_suffix(score, baseline_wave)]
    for name in baseline:
        if name in CENTRE_VARIABLES:
            variable = CENTRE_VARIABLES[name]
            frame[name] = variable.derive(centre_column(variable.source))
            if level == "la" and len(frame) and frame[name].isna().all():
                raise DesignError(f"The covariate '{name}' is a characteristic of the mother's centre, and "
                                  "no mother's record names a centre in centres.csv (LA-level exposure): "
                                  "remove it from the plan's covariates, or give the survey's centres.")
        elif name in base.columns:
            frame[name] = base[name]
        else:
            raise KeyError(f"covariate '{name}' is neither a survey column nor a derived variable")
    steps.append((COVARIATE_STEP.format(wave=baseline_wave), frame[baseline].notna().all(axis=1).to_numpy()))
    frame.index = pd.Index(mother_ids, name="mother_id")
    return frame, steps




def ordered_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Identifiers first, then the analysis variables in the order they were made."""
    frame = frame.reset_index()
    return frame[IDENTIFIERS + [c for c in frame.columns if c not in IDENTIFIERS]]


def sample_arguments(sample_plan: dict, covariates: list[str]) -> dict:
    """The arguments of `mother_frame` that the plan's primary_sample (`sample_plan`) gives: its score and
    waves, the secondary scores carried, and the binary scores as (score, threshold); `covariates` are those
    a mother must have at baseline."""
    return {"score": sample_plan["score"], "baseline_wave": int(sample_plan["baseline_wave"]),
            "followup_wave": int(sample_plan["followup_wave"]), "covariates": list(covariates),
            "carry_scores": tuple(sample_plan.get("secondary_scores", ())),
            "binary_scores": {name: (entry["score"], float(entry["at_least"]))
                              for name, entry in sample_plan.get("binary_scores", {}).items()}}


def build_primary_sample(survey: pd.DataFrame, exposure: pd.DataFrame, sample_plan: dict,
                         covariates: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan's primary sample (`sample_plan`: its primary_sample; `covariates`: those that must be
    complete): the pre-specified inclusion steps of `mother_frame`, applied in order.

    Returns (analysis frame, flow), where flow has one row per step with mothers remaining and excluded.
    """
    return apply_steps(*mother_frame(survey, exposure, **sample_arguments(sample_plan, covariates)))


def samples_by_covariate_set(survey: pd.DataFrame, exposure: pd.DataFrame, sample_plan: dict,
                             covariate_sets: dict[str, list[str]]) -> dict[str, tuple[pd.DataFrame,
                                                                                    pd.DataFrame]]:
    """`build_primary_sample`'s (sample, flow) for each named covariate set, from one pass over the survey:
    the mothers' frame is built once with every set's covariates, and each set keeps the mothers complete on
    its own ones (the only step that differs)."""
    baseline_score = wave_suffix(sample_plan["score"], int(sample_plan["baseline_wave"]))
    own = {name: list(dict.fromkeys(c for c in covariates if c != baseline_score))
           for name, covariates in covariate_sets.items()}
    every = list(dict.fromkeys(c for covariates in own.values() for c in covariates))
    frame, steps = mother_frame(survey, exposure, **sample_arguments(sample_plan, every))
    shared = frame[[c for c in frame.columns if c not in every]]
    covariate_step = COVARIATE_STEP.format(wave=int(sample_plan["baseline_wave"]))
    samples = {}
    for name, covariates in own.items():
        complete = frame[covariates].notna().all(axis=1).to_numpy()
        samples[name] = apply_steps(pd.concat([shared, frame[covariates]], axis=1),
                                    [(d, complete if d == covariate_step else passes) for d, passes in steps])
    return samples


def apply_steps(frame: pd.DataFrame, steps: list[tuple[str, np.ndarray]]) -> tuple[pd.DataFrame,
                                                                                   pd.DataFrame]:
    """The mothers of `frame` who pass every step, in order, and the flow (see `build_primary_sample`)."""
    keep = np.ones(len(frame), dtype=bool)
    flow = [{"step": 0, "description": "mothers in the cleaned survey", "n_mothers": len(frame),
             "n_excluded": 0}]
    for number, (description, passes) in enumerate(steps, start=1):
        before = int(keep.sum())
        keep &= passes
        flow.append({"step": number, "description": description, "n_mothers": int(keep.sum()),
                     "n_excluded": before - int(keep.sum())})
        log.info("sample step %d (%s): %d mothers remain, %d excluded", number, description,
                 flow[-1]["n_mothers"], flow[-1]["n_excluded"])
    if not keep.any():
        raise DesignError(empty_sample_message(flow))
    return ordered_columns(frame.loc[keep]), pd.DataFrame(flow)


def empty_sample_message(flow: list[dict]) -> str:
    """Why no mother is left: the first inclusion step after which none remains, in words."""
    if flow[0]["n_mothers"] == 0:
        return "The primary sample is empty: the cleaned survey holds no mothers."
    step = next(row for row in flow if row["n_mothers"] == 0)
    before = flow[step["step"] - 1]["n_mothers"]
    return (f"The primary sample is empty: none of the {before} mothers left before step {step['step']} "
            f"passes it ({step['description']}), so no model can be fitted. Check the survey file for that "
            "step (the log lists every step's count).")
