"""Difference-in-differences on the three-wave panel with mother fixed effects.

Model: score[i, w] = alpha[i] + wave[w] + sum_g funding_group[g] x wave[w] + e[i, w], with one intercept
alpha[i] per mother (each mother is her own control), wave 1 and the "cut" group as references. The
coefficient of funding_group[T.growing]:wave[3] is the difference-in-differences estimate: the change in
K6 from wave 1 to wave 3 among mothers at growing centres minus the same change among mothers at cut
centres. Negative means distress fell more (or rose less) at growing centres, i.e. better. It is causal
only under parallel trends: without the funding change, K6 would have moved alike in both groups.

Standard errors: CRV1 clustered by local authority (LA), which decides funding, with fixest's
small-sample convention (Berge 2018, "Efficient estimation of maximum likelihood models with multiple
fixed-effects: the R package FENmlm", CREA Discussion Paper 13; R package fixest, ssc(adj = TRUE,
fixef.K = "nested", cluster.adj = TRUE)), here through its Python port pyfixest:
    V = G/(G-1) x (n-1)/(n-K) x V_CRV1,  t with G-1 degrees of freedom,
where K counts the slope coefficients (wave and group x wave indicators) plus 1 but NOT the mother
intercepts: a mother's centre, and so her LA, is fixed at baseline, so mothers are nested in clusters, and
the G/(G-1) cluster adjustment already allows for parameters that vary within clusters only (fixest's
rationale for its default). The 1 stands for the intercept the nested effects replace. With 3 waves and 2
comparison groups:
K = 2 + 4 + 1 = 7 (the same if waves enter as a second, non-nested fixed effect: 3 levels - 1 restriction
+ 1). Counting the mother dummies in K as well (OLS with dummies in statsmodels, linearmodels' defaults)
inflates the SEs by about sqrt((n - K) / (n - K - mothers)): 41% with 2 waves per mother, 26% with 2.7.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pyfixest as pf

from analysis.design import CLUSTERS, cluster_design
from analysis.errors import DesignError
from analysis.exposure import GROUPS, UNIT_KEY, UNIT_WORD, exposure_level
from analysis.inference import t_quantile, two_sided_p
from analysis.labels import SCORE_LABELS
from analysis.sample import GROUP_STEP, clustering_centre

log = logging.getLogger(__name__)

PANEL_COLUMNS = ["mother_id", "la_code", "centre_id", "funding_group", "wave"]
RESULT_COLUMNS = ["term", "group", "wave", "estimate", "std_error", "df", "statistic", "p_value",
                  "ci_lower", "ci_upper", "n", "n_mothers", "n_clusters", "se_method"]

# Internal column names. The pyfixest formula is built only from these and from integer positions,
# never from score, group or cluster names in the data.
_Y, _FE, _CLUSTER = "y", "fe_mother", "fe_cluster"


def _wave_column(j: int) -> str:
    return f"wave_{j}"


def _interaction_column(i: int, j: int) -> str:
    return f"group_{i}_wave_{j}"


def build_panel(
    survey: pd.DataFrame, exposure: pd.DataFrame, *, score: str = "k6", baseline_wave: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per mother x wave with `score` observed, exposure fixed at the baseline-wave centre.

    Returns (panel, flow). Mothers are kept if they have a baseline-wave record whose centre has a
    funding group; each of their records with the score observed is a row, whatever centre it was at
    (movers keep their baseline exposure). flow counts mothers and rows after each step and rows excluded.
    """
    level = exposure_level(exposure)
    key = UNIT_KEY[level]
    at_baseline = ["mother_id", *dict.fromkeys(["centre_id", key])]  # the mother's centre and unit
    for frame, name, needed in ((survey, "survey", [*at_baseline, "wave", score]),
                                (exposure, "exposure", [key, "la_code", "funding_group"])):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise KeyError(f"{name} lacks column(s) {', '.join(missing)}")
    if survey["mother_id"].isna().any() or survey["wave"].isna().any():
        raise ValueError("survey has records without mother_id or wave; clean it first")
    if survey.duplicated(["mother_id", "wave"]).any():
        raise ValueError("survey has more than one record for a mother and wave; clean it first")
    if exposure[key].duplicated().any():
        raise ValueError(f"exposure has more than one row for a {UNIT_WORD[level]}")

    # Each record's mother located by integer codes, not by looking strings up: at national scale (2.7 million
    # records) string maps and isin took most of the time of the jobs that build the panel.
    mothers, mother_ids = pd.factorize(survey["mother_id"])
    n_mothers = len(mother_ids)
    rows = survey[["mother_id", "wave", score]].copy()
    rows["wave"] = rows["wave"].astype("int64")
    at_baseline_wave = (rows["wave"] == baseline_wave).to_numpy()
    baseline_record = np.full(n_mothers, -1, dtype=np.intp)  # per mother: her baseline record's position
    baseline_record[mothers[at_baseline_wave]] = np.flatnonzero(at_baseline_wave)
    record = baseline_record[mothers]  # per record: its mother's baseline record, -1 where she has none
    rows["centre_id"] = _take(survey["centre_id"], record, rows.index)
    unit = _take(survey[key], record, rows.index)
    unit_codes, units_named = pd.factorize(unit)
    unit_row = pd.Index(exposure[key]).get_indexer(units_named)  # -1: a unit the exposure does not have
    exposure_row = np.where(unit_codes >= 0, unit_row[np.maximum(unit_codes, 0)], -1)
    rows["la_code"] = _take(exposure["la_code"], exposure_row, rows.index) if level == "centre" else unit
    if level == "la":
        rows["centre_id"] = clustering_centre(rows["centre_id"], rows["la_code"])
    rows["funding_group"] = _take(exposure["funding_group"], exposure_row, rows.index)

    steps = [
        (f"mother has a wave-{baseline_wave} record", record >= 0),
        (GROUP_STEP.format(wave=baseline_wave, unit=UNIT_WORD[level]),
         rows["funding_group"].notna().to_numpy()),
        (f"{score} observed", rows[score].notna().to_numpy()),
    ]
    keep = np.ones(len(rows), dtype=bool)
    flow = [{"step": 0, "description": "records (mother x wave) in the cleaned survey",
             "n_mothers": n_mothers, "n_rows": len(rows), "n_excluded_rows": 0}]
    for number, (description, passes) in enumerate(steps, start=1):
        before = int(keep.sum())
        keep &= passes
        flow.append({"step": number, "description": description,
                     "n_mothers": int(np.count_nonzero(np.bincount(mothers[keep], minlength=n_mothers))),
                     "n_rows": int(keep.sum()), "n_excluded_rows": before - int(keep.sum())})
        log.info("panel step %d (%s): %d mothers and %d rows remain, %d rows excluded", number,
                 description, flow[-1]["n_mothers"], flow[-1]["n_rows"], flow[-1]["n_excluded_rows"])

    panel = rows.loc[keep, PANEL_COLUMNS + [score]].copy()
    panel["funding_group"] = panel["funding_group"].astype("string")
    panel[score] = panel[score].astype("float64")
    panel = panel.sort_values(["mother_id", "wave"]).reset_index(drop=True)
    return panel, pd.DataFrame(flow)


def _take(values: pd.Series, positions: np.ndarray, index: pd.Index) -> pd.Series:
    """values at `positions` (missing where a position is -1), keeping their type, on `index`."""
    return pd.Series(values.array.take(positions, allow_fill=True), index=index)


def _comparison_groups(groups: pd.Series, reference: str) -> list[str]:
    present = set(groups.unique())
    if reference not in present:
        raise DesignError(f"No mother in the difference-in-differences panel is at {reference} centres, the "
                          "reference group, so no difference-in-differences can be estimated.")
    if present == {reference}:
        raise DesignError(f"Every mother in the difference-in-differences panel is at {reference} centres: "
                          "there is no other group to compare them with.")
    known = [g for g in GROUPS if g in present and g != reference]
    return known + sorted(present - set(GROUPS) - {reference})


def did_mother_fe(
    panel: pd.DataFrame,
    *,
    score: str = "k6",
    reference: str = "cut",
    reference_wave: int = 1,
    cluster: str = "la_code",
    level: float = 0.95,
) -> pd.DataFrame:
    """Group x wave interactions from OLS with mother fixed effects, SEs clustered by `cluster`.

    One row per non-reference group x non-reference wave, e.g. funding_group[T.growing]:wave[3]: the
    change in `score` from `reference_wave` to that wave in that group minus the change in `reference`.

    Mothers observed once (singletons) carry no within-mother information: their fixed effect fits
    their one row exactly. pyfixest drops them by default (fixef_rm="singleton"), which leaves the
    estimates unchanged but lowers n in the (n-1)/(n-K) factor. They are dropped here, before fitting and
    logged, so that n, n_mothers and n_clusters count exactly the rows, mothers and clusters used.
    """
    needed = ["mother_id", "wave", "funding_group", cluster, score]
    missing = [c for c in needed if c not in panel.columns]
    if missing:
        raise KeyError(f"panel lacks column(s) {', '.join(missing)}")
    data = panel[needed].dropna(subset=[score])
    if data[needed].isna().any().any():
        raise ValueError("panel has missing mother_id, wave, funding_group or cluster values")
    if data.duplicated(["mother_id", "wave"]).any():
        raise ValueError("panel has more than one row for a mother and wave")
    if (data.groupby("mother_id")[cluster].nunique() > 1).any():
        # The convention below (mother intercepts not counted in K) needs mothers nested in clusters.
        raise ValueError(f"some mothers belong to more than one '{cluster}'; they must be nested in clusters")

    rows_per_mother = data.groupby("mother_id")["wave"].transform("size")
    singletons = rows_per_mother == 1
    if singletons.any():
        log.info("%d mothers observed once dropped: a within-mother estimator gets nothing from them",
                 int(singletons.sum()))
    data = data.loc[~singletons].reset_index(drop=True)

    waves = sorted(int(w) for w in data["wave"].unique())
    if reference_wave not in waves or len(waves) < 2:
        raise DesignError(f"No mother is seen at wave {reference_wave} and at a later wave, so the "
                          "difference-in-differences has no change to compare.")
    other_waves = [w for w in waves if w != reference_wave]
    groups = _comparison_groups(data["funding_group"], reference)

    wave = data["wave"].astype(int).to_numpy()
    group = data["funding_group"].astype(str).to_numpy()
    design = pd.DataFrame({
        _Y: data[score].astype(float).to_numpy(),
        _FE: pd.factorize(data["mother_id"])[0],
        _CLUSTER: pd.factorize(data[cluster])[0],
    })
    terms = {}
    for j, w in enumerate(other_waves):
        design[_wave_column(j)] = (wave == w).astype(float)
    for i, g in enumerate(groups):
        for j, w in enumerate(other_waves):
            column = _interaction_column(i, j)
            design[column] = ((group == g) & (wave == w)).astype(float)
            terms[column] = (f"funding_group[T.{g}]:wave[{w}]", g, w)
    regressors = [_wave_column(j) for j in range(len(other_waves))] + list(terms)
    formula = f"{_Y} ~ {' + '.join(regressors)} | {_FE}"

    root = logging.getLogger()
    root_handlers, root_level = list(root.handlers), root.level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = pf.feols(formula, data=design, vcov={"CRV1": _CLUSTER},
                       ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="min"),
                       fixef_rm="singleton")
    # pyfixest 0.60 runs logging.basicConfig(level=INFO) when it lazily imports a submodule during the
    # fit; undo that so the caller's logging configuration is left as it was.
    root.handlers[:] = root_handlers
    root.setLevel(root_level)
    for w in caught:
        # pandas deprecation notices raised inside pyfixest are noise here; anything else is reported.
        if not issubclass(w.category, DeprecationWarning | FutureWarning):
            log.warning("pyfixest: %s", w.message)
    n = len(fit.resid())
    if n != len(design):
        raise RuntimeError(f"pyfixest used {n} of {len(design)} rows; expected all")

    n_clusters = int(design[_CLUSTER].nunique())
    df = n_clusters - 1
    coef, se, tstat = fit.coef(), fit.se(), fit.tstat()
    k = len(coef) + 1  # slopes plus one; mother intercepts are nested in clusters
    method = (f"CRV1 clustered by {cluster} ({n_clusters} clusters), fixest small-sample convention: "
              f"G/(G-1) x (n-1)/(n-K) with K = {k} (slopes + 1; mother fixed effects are nested in "
              f"clusters and not counted); t distribution with G-1 = {df} df")
    quantile = float(t_quantile(0.5 + level / 2, df))
    out = []
    for column, (term, g, w) in terms.items():
        if column not in coef.index:
            log.warning("%s not estimable (collinear or no data); omitted", term)
            continue
        estimate, std_error = float(coef[column]), float(se[column])
        statistic = float(tstat[column])
        out.append({
            "term": term, "group": g, "wave": w, "estimate": estimate, "std_error": std_error, "df": df,
            "statistic": statistic, "p_value": float(two_sided_p(statistic, df)),
            "ci_lower": estimate - quantile * std_error, "ci_upper": estimate + quantile * std_error,
            "n": n, "n_mothers": int(design[_FE].nunique()), "n_clusters": n_clusters, "se_method": method,
        })
    return pd.DataFrame(out, columns=RESULT_COLUMNS)


def did_table(panel: pd.DataFrame, score: str, reference_wave: int) -> pd.DataFrame:
    """`did_mother_fe` of `score` against `reference_wave`, each row labelled with its outcome, contrast,
    estimand and direction. Clustered by local authority, which decides funding; by centre when the data
    hold a single one."""
    result = did_mother_fe(panel, score=score, reference_wave=reference_wave,
                           cluster=cluster_design(panel, CLUSTERS).robust)
    result.insert(0, "outcome", score)
    result.insert(1, "contrast", [f"{g} vs cut, wave {w} vs {reference_wave}"
                                  for g, w in zip(result["group"], result["wave"], strict=True)])
    result["estimand"] = (f"Difference-in-differences: change in mean {SCORE_LABELS[score]} "
                          "from the reference wave among mothers at the group's centres minus the same "
                          "change among mothers at cut centres (mother fixed effects)")
    result["direction"] = "Negative: distress fell more (or rose less) than at cut centres, i.e. better."
    return result
