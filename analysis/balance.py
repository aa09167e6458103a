"""Who the mothers were at the start: baseline characteristics by funding group (Table 1), covariate balance
as standardised mean differences, and the patterns of missing values.

All three describe the cohort of the attrition analyses (`analysis.missing.attrition_frame`: every mother
interviewed at the baseline wave whose baseline centre has a funding group, complete or not), so that the
missing counts mean something. The balance table also describes the analysed sample (the cohort's mothers
complete on the model's variables: the primary sample), unweighted and weighted by the
inverse-probability-of-response weights of `analysis.missing.response_weights`.

Standardised mean difference (Austin 2009, Stat Med 28:3083-3107), group vs reference:
    (mean_group - mean_reference) / sqrt((s2_group + s2_reference) / 2),
with s2 the sample variance (divisor n - 1) of a continuous variable, and p(1 - p) of a 0/1 variable or of one
level of a categorical variable (its indicator). Weighted, as Austin & Stuart (2015, Stat Med 34:3661-3679):
weighted means, p_w(1 - p_w) for an indicator, and for a continuous variable the weighted variance
    sum(w) / (sum(w)^2 - sum(w^2)) * sum(w (x - mean_w)^2),
which is the n - 1 sample variance when all weights are equal. (R's cobalt by default keeps the unweighted
variances in the denominator so that only the means move; here both move, as the plan asks.)

Statistics of small cells are left blank here, as in `analysis.descriptives`: the publishing step rounds and
suppresses counts but cannot know which means, shares or differences describe a small cell. An SMD that
cannot be computed (no mothers in a group, a value the same for everyone) is blank with the reason in words.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.design import ModelSpec
from analysis.disclosure import count_text, publishable_share
from analysis.errors import PlanError
from analysis.exposure import GROUPS, UNIT_WORD, exposure_level
from analysis.labels import mothers_in
from analysis.missing import RESPONDED, attrition_frame, response_weights
from analysis.report import Fact
from analysis.sample import sample_arguments, wave_suffix

log = logging.getLogger(__name__)

ALL = "all"
COLUMN_GROUPS = (*GROUPS[::-1], ALL)  # growing, stable, cut, all: Table 1's column order
MOTHERS = "mothers"  # Table 1's first row: the mothers in each group
COHORT, ANALYSED = "baseline cohort", "analysed sample"
UNWEIGHTED, WEIGHTED = "none", "response weights"
SUMMARIES = {"continuous": "mean (SD)", "binary": "n (%) with value 1", "level": "n (%)"}


# ---------------------------------------------------------------------------------------------------------
# Standardised mean differences


def austin_moments(values: np.ndarray, weights: np.ndarray | None, binary: bool) -> tuple[float, float]:
    """Mean and variance in Austin's convention (module docstring); the variance is NaN where it cannot be
    estimated (a continuous variable with a single mother, or a single mother carrying all the weight).

    Values must be finite, and weights finite and non-negative with a positive sum: a missing value or weight
    is the caller's to count and leave out, never to be guessed here."""
    x = np.asarray(values, dtype=float)
    if not np.isfinite(x).all():  # a NaN would make every moment NaN, and the SMD's reason a wrong one
        raise ValueError("values must be finite: leave missing values out (and count them) first")
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != len(x) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative, one per value and not all zero")
    total = w.sum()
    mean = float((w * x).sum() / total)
    if binary:
        return mean, mean * (1 - mean)
    divisor = total**2 - (w**2).sum()
    if divisor <= 1e-12 * total**2:
        return mean, np.nan
    return mean, float(total / divisor * (w * (x - mean) ** 2).sum())


@dataclass(frozen=True)
class Difference:
    """A standardised mean difference, or NaN with the reason in words."""

    smd: float
    note: str = ""


def standardised_difference(group: pd.Series, reference: pd.Series, *, binary: bool, group_name: str,
                            reference_name: str, min_cell: int, group_weights: pd.Series | None = None,
                            reference_weights: pd.Series | None = None) -> Difference:
    """Austin's SMD of `group` against `reference` (values without missing ones; weights aligned with them).

    Checked in this order, each with its reason: a group without mothers (not defined); a value the same for
    every mother in both groups (not defined); a cell under `min_cell` mothers: for a 0/1 variable either
    value in either group, for a continuous one either group (not shown: the difference would describe a
    small cell); no variation within either group, or a single mother (not defined).
    """
    for name, values in ((group_name, group), (reference_name, reference)):
        if len(values) == 0:
            return Difference(np.nan, f"not defined: no mothers with a value in the {name} group")
    g_mean, g_var = austin_moments(group.to_numpy(float), _array(group_weights), binary)
    r_mean, r_var = austin_moments(reference.to_numpy(float), _array(reference_weights), binary)
    scale = max(1.0, abs(g_mean), abs(r_mean))
    constant = (pd.concat([group, reference]).nunique() == 1)
    if constant:
        return Difference(np.nan, "not defined: the value is the same for every mother in both groups")
    pair = (group, reference)
    cells = ([int((v == 1).sum()) for v in pair] + [int((v != 1).sum()) for v in pair] if binary
             else [len(v) for v in pair])
    if min(cells) < min_cell:
        return Difference(np.nan, f"not shown: a cell has fewer mothers than the disclosure threshold "
                                  f"({min_cell})")
    pooled = (g_var + r_var) / 2
    if not np.isfinite(pooled):
        return Difference(np.nan, "not defined: a group has a single mother, so its variance is unknown")
    if pooled <= (1e-10 * scale) ** 2:
        return Difference(np.nan, "not defined: the value does not vary within either group")
    return Difference((g_mean - r_mean) / np.sqrt(pooled))


def _array(weights: pd.Series | None) -> np.ndarray | None:
    return None if weights is None else weights.to_numpy(float)


# ---------------------------------------------------------------------------------------------------------
# The rows: variables and levels


@dataclass(frozen=True)
class Characteristic:
    """One row of Table 1: a continuous variable, a 0/1 variable (the share with 1), or one level of a
    categorical variable."""

    variable: str
    kind: str  # continuous | binary | level
    level: int | str | None = None

    @property
    def row_id(self) -> str:
        return self.variable if self.kind != "level" else f"{self.variable}={self.level}"

    @property
    def binary(self) -> bool:
        return self.kind != "continuous"

    def values(self, frame: pd.DataFrame) -> pd.Series:
        """The values described, missing where the variable is: a level becomes its 0/1 indicator."""
        x = frame[self.variable]
        if self.kind == "level":
            return (x == self.level).astype(float).where(x.notna())
        return x.astype("Float64").astype(float)


def characteristics(variables: Sequence[str], categorical: dict[str, Sequence], binary: set[str]
                    ) -> list[Characteristic]:
    """Rows in the order of `variables`: each categorical one per level (`categorical`: variable -> levels),
    each one in `binary` as the share with value 1, the others as continuous."""
    rows = []
    for name in variables:
        if name in categorical:
            rows.extend(Characteristic(name, "level", level) for level in categorical[name])
        elif name in binary:
            rows.append(Characteristic(name, "binary", 1))
        else:
            rows.append(Characteristic(name, "continuous"))
    return rows


def plan_characteristics(frame: pd.DataFrame, spec: ModelSpec, sample_plan: dict) -> list[Characteristic]:
    """Table 1's rows from the plan: the model's baseline covariates (categorical ones per level: the levels
    the contract codes, or those observed), then the plan's scores at the baseline wave (its outcome score
    and secondary scores, then its 0/1 scores). Coded 0/1 covariates are binary (`analysis.plan`)."""
    from analysis.plan import coded_levels  # the plan module imports most of the package: only here

    wave = int(sample_plan["baseline_wave"])
    scores = [wave_suffix(s, wave) for s in (sample_plan["score"], *sample_plan.get("secondary_scores", ()))]
    binary_scores = [wave_suffix(s, wave) for s in sample_plan.get("binary_scores", {})]
    covariates = [c for c in spec.covariates if c not in scores]
    categorical = {name: sorted(coded_levels(name) or frame[name].dropna().unique())
                   for name in spec.categorical}
    binary = {c for c in covariates if c not in categorical and coded_levels(c) == {0, 1}}
    return characteristics([*covariates, *scores, *binary_scores], categorical, {*binary, *binary_scores})


# ---------------------------------------------------------------------------------------------------------
# Table 1


def _groups(frame: pd.DataFrame, exposure: str) -> dict[str, pd.DataFrame]:
    return {**{g: frame[frame[exposure] == g] for g in GROUPS[::-1]}, ALL: frame}


def _cells(values: pd.Series, binary: bool, min_cell: int) -> dict:
    """n, share, mean, SD and missing count of one group; the statistics of small cells left blank."""
    observed = values.dropna()
    cell = {"n": len(observed), "pct": np.nan, "mean": np.nan, "sd": np.nan,
            "n_missing": len(values) - len(observed)}
    if binary:
        count = int((observed == 1).sum())
        cell.update(n=count, pct=publishable_share(count, len(observed), min_cell))
    elif len(observed) >= max(min_cell, 2):
        cell.update(mean=float(observed.mean()), sd=float(observed.std(ddof=1)))
    return cell


def baseline_characteristics(frame: pd.DataFrame, rows: Sequence[Characteristic], *, exposure: str,
                             reference: str, labels: dict[str, str], min_cell: int) -> pd.DataFrame:
    """Table 1: one row per characteristic; per funding group and for all mothers, n (mothers with a value,
    or at the level), pct, mean, sd and n_missing; the SMDs of each group against `reference` (not defined or
    not shown: `note` says why)."""
    groups = _groups(frame, exposure)
    contrasts = [g for g in GROUPS[::-1] if g != reference]
    table = [{"row_id": MOTHERS, "variable": MOTHERS, "level": "", "label": labels.get(MOTHERS, MOTHERS),
              "summary": "n", **{f"n_{g}": len(members) for g, members in groups.items()}}]
    for row in rows:
        record = {"row_id": row.row_id, "variable": row.variable,
                  "level": "" if row.level is None else str(row.level), "label": labels[row.variable],
                  "summary": SUMMARIES[row.kind]}
        for group, members in groups.items():
            for key, value in _cells(row.values(members), row.binary, min_cell).items():
                record[f"{key}_{group}"] = value
        notes = []
        for group in contrasts:
            difference = standardised_difference(
                row.values(groups[group]).dropna(), row.values(groups[reference]).dropna(), binary=row.binary,
                group_name=group, reference_name=reference, min_cell=min_cell)
            record[f"smd_{group}_vs_{reference}"] = difference.smd
            if difference.note:
                notes.append(f"{group} vs {reference}: {difference.note}")
        record["note"] = "; ".join(notes)
        table.append(record)
    out = pd.DataFrame(table)
    out["note"] = out["note"].fillna("")
    counts = [c for c in out.columns if c.startswith("n_")]
    out[counts] = out[counts].astype("Int64")
    return out


# ---------------------------------------------------------------------------------------------------------
# Covariate balance


@dataclass(frozen=True)
class Sample:
    """Mothers whose balance is described, with their weights (None: unweighted), or why there is none."""

    name: str
    weighting: str
    frame: pd.DataFrame | None
    weights: pd.Series | None = None
    unavailable: str = ""  # why this sample has no SMDs (e.g. the response model could not be fitted)
    note: str = ""  # what a reader must know about its mothers (e.g. some left out for want of a weight)


def covariate_balance(samples: Sequence[Sample], rows: Sequence[Characteristic], *, exposure: str,
                      reference: str, min_cell: int, smd_guide: float) -> pd.DataFrame:
    """One row per characteristic, contrast (each group vs `reference`) and sample: the SMD, the mothers
    with a value in each group (n_group, n_reference), and `note`: why the SMD is blank, or the sample's note.
    Words for the variables are Table 1's (its `label`, by `row_id`), and the estimand and direction are
    said once, in the published table's title (workflow/rules/common.smk): the table has a row per
    characteristic, contrast and sample, and repeated text made its rendering in the appendix too long."""
    contrasts = [g for g in GROUPS[::-1] if g != reference]
    table = []
    for sample in samples:
        # Each group's mothers picked once per sample, not once per characteristic and contrast.
        members_of = ({} if sample.unavailable else {name: sample.frame[sample.frame[exposure] == name]
                                                     for name in [*contrasts, reference]})
        for row in rows:
            for group in contrasts:
                record = {"comparison_id": comparison_id(row.row_id, f"{group} vs {reference}", sample.name,
                                                         sample.weighting),
                          "row_id": row.row_id, "variable": row.variable,
                          "level": "" if row.level is None else str(row.level),
                          "contrast": f"{group} vs {reference}", "sample": sample.name,
                          "weighting": sample.weighting}
                if sample.unavailable:
                    difference, counts = Difference(np.nan, sample.unavailable), (pd.NA, pd.NA)
                else:
                    parts = []
                    for name in (group, reference):
                        values = row.values(members_of[name]).dropna()
                        weights = None if sample.weights is None else sample.weights.reindex(values.index)
                        parts.append((values, weights))
                    (g_values, g_weights), (r_values, r_weights) = parts
                    difference = standardised_difference(
                        g_values, r_values, binary=row.binary, group_name=group, reference_name=reference,
                        min_cell=min_cell, group_weights=g_weights, reference_weights=r_weights)
                    counts = (len(g_values), len(r_values))
                record.update(smd=difference.smd, n_group=counts[0], n_reference=counts[1],
                              smd_guide=smd_guide,
                              note="; ".join(n for n in (difference.note, sample.note) if n))
                table.append(record)
    out = pd.DataFrame(table)
    out[["n_group", "n_reference"]] = out[["n_group", "n_reference"]].astype("Int64")
    return out


SAMPLE_KEYS = {(COHORT, UNWEIGHTED): "cohort", (ANALYSED, UNWEIGHTED): "analysed",
               (ANALYSED, WEIGHTED): "weighted"}


def comparison_id(row_id: str, contrast: str, sample: str, weighting: str) -> str:
    """The balance table's key for one SMD, e.g. 'lone_parent; growing vs cut; weighted' (kept short: the
    table has a row per characteristic, contrast and sample)."""
    return f"{row_id}; {contrast}; {SAMPLE_KEYS[sample, weighting]}"


# ---------------------------------------------------------------------------------------------------------
# Missing-data patterns

OTHER_PATTERNS = "other patterns"
TOTAL = "total"


def missing_patterns(frame: pd.DataFrame, variables: Sequence[str], min_cell: int) -> pd.DataFrame:
    """Which variables are missing together (as mice's md.pattern): one row per pattern, a column per
    variable (1 observed, 0 missing), the mothers showing it (n_mothers) and the variables it misses.

    Patterns are sorted by variables missing, then by mothers (most first). Patterns of fewer than `min_cell`
    mothers are pooled into one row (`patterns` says how many), so that none identifies anyone; a last row
    gives the total and, in words, the mothers missing each variable."""
    observed = frame[list(variables)].notna().astype(int)
    counts = (observed.value_counts(sort=False).rename("n_mothers").reset_index()
              if len(variables) else pd.DataFrame({"n_mothers": [len(frame)]}))
    if len(frame) == 0:
        counts = counts.iloc[0:0]
    counts["variables_missing"] = len(variables) - counts[list(variables)].sum(axis=1)
    counts = counts.sort_values(["variables_missing", "n_mothers"], ascending=[True, False],
                                kind="stable").reset_index(drop=True)
    shown = counts[counts["n_mothers"] >= min_cell].copy()
    shown.insert(0, "pattern", [_pattern_words(r, variables) for _, r in shown.iterrows()])
    shown["patterns"] = 1
    small = counts[counts["n_mothers"] < min_cell]
    rows = [shown]
    if len(small):
        rows.append(pd.DataFrame([{"pattern": OTHER_PATTERNS, "n_mothers": int(small["n_mothers"].sum()),
                                   "patterns": len(small),
                                   "note": f"{len(small)} pattern(s) pooled, each below the disclosure "
                                           f"threshold ({min_cell})"}]))
    missing = [f"{name} {int(len(frame) - observed[name].sum())} mothers" for name in variables]
    rows.append(pd.DataFrame([{"pattern": TOTAL, "n_mothers": len(frame), "patterns": len(counts),
                               "note": "missing per variable: " + "; ".join(missing) if missing else ""}]))
    out = pd.concat(rows, ignore_index=True)
    out["note"] = out["note"].fillna("") if "note" in out else ""
    out["n_mothers"] = out["n_mothers"].astype("Int64")
    out[[*variables, "variables_missing"]] = out[[*variables, "variables_missing"]].astype("Int64")
    return out[["pattern", *variables, "variables_missing", "n_mothers", "patterns", "note"]]


def _pattern_words(row: pd.Series, variables: Sequence[str]) -> str:
    missing = [name for name in variables if row[name] == 0]
    return "complete" if not missing else "missing " + ", ".join(missing)


# ---------------------------------------------------------------------------------------------------------
# From the plan


@dataclass(frozen=True)
class BalanceTables:
    characteristics: pd.DataFrame
    balance: pd.DataFrame
    patterns: pd.DataFrame


def balance_tables(survey: pd.DataFrame, exposure: pd.DataFrame, sample_plan: dict, spec: ModelSpec,
                   weighting: ModelSpec | None, *, min_cell: int, smd_guide: float) -> BalanceTables:
    """Table 1, the balance table and the missing patterns of `spec` (reference level: its reference) in
    the cohort of the attrition analyses, waves and scores as the plan's primary sample; the weighted balance
    uses the response weights of model `weighting` (None: the plan has no weighting, and the table says so).
    Variables are worded as the appendix defines them; `min_cell` is the disclosure threshold.
    """
    if spec.exposure_kind != "groups":
        raise PlanError(f"covariate balance compares funding groups: model '{spec.name}' has a "
                        f"{spec.exposure_kind} exposure")
    wave = int(sample_plan["baseline_wave"])
    covariates = list(dict.fromkeys([*spec.covariates, *(weighting.covariates if weighting else ())]))
    frame = attrition_frame(survey, exposure, **sample_arguments(sample_plan, covariates))
    rows = plan_characteristics(frame, spec, sample_plan)
    level = exposure_level(exposure)
    labels = {MOTHERS: "Mothers in the baseline cohort",
              **plan_labels(list(dict.fromkeys(r.variable for r in rows)), level)}
    unit = UNIT_WORD[level]
    analysed = frame[frame[[spec.outcome, *spec.covariates]].notna().all(axis=1)]
    log.info("covariate balance: %d mothers in the baseline cohort, %d in the analysed sample (complete on "
             "model '%s')", len(frame), len(analysed), spec.name)
    samples = [Sample(COHORT, UNWEIGHTED, frame), Sample(ANALYSED, UNWEIGHTED, analysed),
               weighted_sample(frame, analysed, spec, weighting)]
    table_one = baseline_characteristics(frame, rows, exposure=spec.exposure, reference=spec.reference,
                                         labels=labels, min_cell=min_cell)
    # A table-level note: on the first row only (the renderings list it under the table), since repeated on
    # every row it made each row of the rendered table several lines tall.
    table_one["design_note"] = ""
    table_one.loc[0, "design_note"] = (
        f"{len(frame)} mothers interviewed at wave {wave} whose wave-{wave} {unit} has a funding group. "
        "n, mean (SD) and n (%) of mothers with a value; n_missing: without one. Blank: a cell under the "
        f"disclosure threshold ({min_cell}). SMD against {spec.reference} (Austin 2009)")
    balance = covariate_balance(samples, rows, exposure=spec.exposure, reference=spec.reference,
                                min_cell=min_cell, smd_guide=smd_guide)
    patterns = missing_patterns(frame, [spec.outcome, *spec.covariates], min_cell)
    return BalanceTables(table_one, balance, patterns)


def weighted_sample(cohort: pd.DataFrame, analysed: pd.DataFrame, spec: ModelSpec,
                    weighting: ModelSpec | None) -> Sample:
    """The analysed sample weighted by the response weights of model `weighting`, fitted on the cohort as
    the attrition analyses fit them; or, where the plan has no weighting or the response model cannot be
    fitted, a sample that says so."""
    if weighting is None:
        return Sample(ANALYSED, WEIGHTED, None, unavailable="not available: the plan has no "
                      "inverse_probability_weighting, so there are no response weights")
    predictors = [*weighting.covariates, weighting.exposure]
    modelled = cohort.loc[cohort[predictors].notna().all(axis=1), RESPONDED]
    if modelled.nunique() < 2:
        return Sample(ANALYSED, WEIGHTED, None, unavailable=(
            "not available: the response model cannot be fitted, as "
            + ("no mother of the cohort has every one of its predictors" if modelled.empty else
               "the mothers with every one of its predictors all answered at follow-up, or none did")))
    try:
        weights = response_weights(cohort, predictors,
                                   categorical=[*weighting.categorical, weighting.exposure])
    except (ValueError, np.linalg.LinAlgError) as err:  # PlanError and statsmodels' errors among them
        log.warning("response model not fitted: %s", err)
        return Sample(ANALYSED, WEIGHTED, None,
                      unavailable=f"not available: the response model could not be fitted ({err})")
    weights = weights.reindex(analysed.index)
    usable = np.isfinite(weights) & (weights > 0) & (analysed[RESPONDED] == 1)
    left_out = int((~usable).sum())
    if not usable.any():
        return Sample(ANALYSED, WEIGHTED, None, unavailable="not available: no mother of the analysed sample "
                      "has a response weight")
    log.info("weighted balance: the response weights of model '%s' for %d mothers of the analysed sample, "
             "%d without a weight left out", weighting.name, int(usable.sum()), left_out)
    note = f"{left_out} mothers of the analysed sample have no weight and are left out" if left_out else ""
    return Sample(ANALYSED, WEIGHTED, analysed[usable], weights=weights[usable], note=note)


# ---------------------------------------------------------------------------------------------------------
# For the report: Table 1 as read, and the largest imbalances in words (every number a published cell)


def _cell_text(row: pd.Series, group: str) -> str:
    if row["summary"] == "n":
        return count_text(row[f"n_{group}"])
    if row["summary"] == SUMMARIES["continuous"]:
        mean, sd = row[f"mean_{group}"], row[f"sd_{group}"]
        return "-" if pd.isna(mean) else f"{mean:.1f} ({sd:.1f})"
    pct = row[f"pct_{group}"]
    return f"{count_text(row[f'n_{group}'])} ({'-' if pd.isna(pct) else f'{pct:.1f}%'})"


def _level_text(row: pd.Series) -> str:
    """A categorical level as written in the data (a CSV gives back 2.0 for 2); blank for other rows."""
    level = row["level"]
    if row["summary"] != SUMMARIES["level"] or pd.isna(level):
        return ""
    return f"{level:g}" if isinstance(level, float) else str(level)


def table_one_view(table: pd.DataFrame) -> pd.DataFrame:
    """The published Table 1 as a reader sees it: one column per group, mean (SD) or n (%), the missing
    count of all mothers and the two SMDs; blanks (not shown or not defined) as '-'."""
    smds = [c for c in table.columns if c.startswith("smd_")]
    view = pd.DataFrame({"Characteristic": table["label"],
                         "Level": [_level_text(r) for _, r in table.iterrows()]})
    for group in COLUMN_GROUPS:
        view[group.capitalize() if group != ALL else "All mothers"] = [_cell_text(r, group)
                                                                      for _, r in table.iterrows()]
    view["Missing (all)"] = [("" if r["summary"] == "n" else count_text(r[f"n_missing_{ALL}"]))
                             for _, r in table.iterrows()]
    for column in smds:
        words = column.removeprefix("smd_").replace("_vs_", " vs ")
        view[f"SMD {words}"] = table[column].map(lambda v: "-" if pd.isna(v) else f"{v:+.2f}")
    return view


def _largest(balance: pd.DataFrame, contrast: str, how_many: int) -> pd.DataFrame:
    rows = balance[(balance["contrast"] == contrast) & (balance["sample"] == COHORT)
                   & (balance["weighting"] == UNWEIGHTED) & balance["smd"].notna()]
    rows = rows.assign(size=rows["smd"].abs()).sort_values("size", ascending=False, kind="stable")
    return rows.head(how_many)


def baseline_section_html(tables: dict[str, pd.DataFrame], exposure_level: str = "centre",
                          how_many: int = 3) -> str:
    """The report's "Who the mothers were at the start" words: the cohort by group, and for each contrast the
    characteristics with the largest standardised differences in the cohort, with the same differences in
    the analysed sample before and after weighting. Every number is a `Fact` of a published table."""
    balance = tables["covariate_balance"]

    def one(column: str, kind: str) -> str:
        return Fact("baseline_characteristics", "row_id", MOTHERS, column, kind).html(tables)

    def fact(key: str, column: str, kind: str) -> str:
        return Fact("covariate_balance", "comparison_id", key, column, kind).html(tables)

    groups = ", ".join(f"{one(f'n_{g}', 'count')} {html.escape(mothers_in(g, exposure_level))}"
                       for g in GROUPS[::-1])
    parts = [f"<p>The comparison starts from the {one(f'n_{ALL}', 'count')} mothers interviewed at the start "
             f"whose {UNIT_WORD[exposure_level]} has a funding group ({groups}), whether or not they "
             "answered later. The table below describes them.</p>"]
    guide = None
    for contrast in balance["contrast"].drop_duplicates():
        largest = _largest(balance, contrast, how_many)
        group, reference = contrast.split(" vs ")
        if largest.empty:
            parts.append(f"<p>Mothers {html.escape(mothers_in(group, exposure_level))} cannot be compared "
                         f"with mothers {html.escape(mothers_in(reference, exposure_level))} on these "
                         "characteristics (no standardised difference could be computed).</p>")
            continue
        items = []
        for _, row in largest.iterrows():
            key = row["comparison_id"]
            guide = guide or key
            later = []
            for weighting in (UNWEIGHTED, WEIGHTED):
                other = comparison_id(row["row_id"], contrast, ANALYSED, weighting)
                match = balance[balance["comparison_id"] == other]
                words = "among the mothers analysed" if weighting == UNWEIGHTED else \
                    "after weighting for who answered at follow-up"
                if match.empty or pd.isna(match["smd"].iloc[0]):
                    later.append(f"not available {words}")
                else:
                    later.append(f"{fact(other, 'smd', 'signed')} {words}")
            words = Fact("baseline_characteristics", "row_id", row["row_id"], "label", "text").html(tables)
            items.append(f"<li><code>{fact(key, 'row_id', 'text')}</code> "
                         f"({words}): {fact(key, 'smd', 'signed')} "
                         f"({'; '.join(later)})</li>")
        than = html.escape(mothers_in(reference, exposure_level))
        parts.append(f"<p>Mothers {html.escape(mothers_in(group, exposure_level))} differed most from "
                     f"mothers {than} at the start in (standardised mean difference, positive = higher than "
                     f"among mothers {than}):</p><ul>{''.join(items)}</ul>")
    if guide is not None:
        parts.append(f"<p>A standardised mean difference is the gap between two groups' means in units of "
                     f"their spread; gaps under {fact(guide, 'smd_guide', 'plain')} in size are usually "
                     "taken as small. That is a guide, not a test: the models adjust for the mother's "
                     "characteristics and her first distress score, and the figure below shows every "
                     "difference.</p>")
    return '<section id="baseline">' + "".join(parts) + "</section>"


def alt_balance(balance: pd.DataFrame) -> str:
    """Alt text of the love plot: what it shows, and the largest difference of each contrast."""
    parts = []
    for contrast in balance["contrast"].drop_duplicates():
        largest = _largest(balance, contrast, 1)
        if len(largest):
            row = largest.iloc[0]
            parts.append(f"{contrast}: largest {row['row_id']} at {row['smd']:+.2f}")
    return ("Dot chart of standardised mean differences of each baseline characteristic between funding "
            "groups, in the baseline cohort and in the analysed sample before and after response weighting, "
            "with guide lines at plus and minus the usual threshold. " + "; ".join(parts) + ".")


def plan_labels(names: Sequence[str], exposure_level: str) -> dict[str, str]:
    """Each variable's words, as the appendix defines it (analysis.appendix.variable_definition)."""
    from analysis.appendix import variable_definition

    return {name: variable_definition(name, exposure_level) for name in names}
