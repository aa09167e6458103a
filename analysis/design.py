"""Model specifications from the analysis plan, and the design matrices they imply.

Design matrices are built column by column from names that the config schema and the data vouch for;
no formula text from config is ever evaluated.

What the data can support is decided here, and said in words (`Design.notes`), never silently:
  * a covariate column that is a linear combination of earlier columns (a covariate constant in the data,
    such as every centre urban, or one duplicating another) is dropped and named, as lme4 and R's lm do
    (analysis.linalg's rank rule); an exposure column that cannot be told apart from earlier ones stops the
    analysis (DesignError), since the estimand would be lost;
  * an exposure group with no mothers (e.g. no centre grew by the growth threshold) has no column: its
    contrast is reported as not estimable; without mothers in the reference group nothing can be estimated;
  * a categorical covariate whose reference level does not occur is coded against its lowest level present;
  * with a single outer cluster (one local authority) the model has no outer level, and cluster-robust
    standard errors cluster on the inner one (centres); when each outer cluster holds a single inner one
    (one centre per local authority, or an LA-level survey naming no centres) the two levels are one, the
    local authority: `ClusterDesign`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

from analysis.errors import DesignError, PlanError
from analysis.exposure import GROUPS
from analysis.inputs import label_kinds, rows_text
from analysis.labels import mothers_in
from analysis.linalg import Redundant, redundant_columns

ESTIMATORS = ("lmm_reml", "ols_cr2", "gee_logistic")
CLUSTERS = ("la_code", "centre_id")  # outer to inner: mothers are in centres, centres in local authorities
EXPOSURE_KINDS = ("groups", "linear", "spline")


@dataclass(frozen=True)
class ModelSpec:
    """A pre-specified model: outcome ~ exposure (vs reference) + covariates, clustered as given."""

    name: str
    outcome: str
    exposure: str
    reference: str
    covariates: tuple[str, ...]
    categorical: dict[str, int | str] = field(default_factory=dict)  # covariate -> reference level
    clusters: tuple[str, ...] = CLUSTERS
    ci_level: float = 0.95
    description: str = ""
    direction: str = ""
    estimator: str = "lmm_reml"
    exposure_kind: str = "groups"  # groups (vs reference) | linear (per `exposure_per`) | spline
    exposure_per: float = 10.0  # linear: the estimate is per this many units of the exposure
    spline_df: int = 4  # spline: degrees of freedom of the natural cubic regression spline
    spline_points: tuple[float, ...] = ()  # spline: exposure values reported against `spline_origin`
    spline_origin: float = 0.0
    bootstrap: dict = field(default_factory=dict)  # ols_cr2: {replications, seed} of the WCR bootstrap
    df_method: str = "satterthwaite"  # lmm_reml: satterthwaite, kenward_roger or normal (smallsample.py)
    exposure_level: str = "centre"  # whose budget change the groups are: centre, or la (the plan's exposure)

    @classmethod
    def from_config(cls, name: str, entry: dict) -> ModelSpec:
        spline = entry.get("spline", {})
        return cls(
            name=name,
            outcome=entry["outcome"],
            exposure=entry["exposure"],
            reference=entry.get("reference", "cut"),
            covariates=tuple(model_covariates(entry)),
            categorical=dict(entry.get("categorical", {})),
            clusters=tuple(entry["clusters"]),
            ci_level=float(entry.get("ci_level", 0.95)),
            description=entry.get("description", ""),
            direction=entry.get("direction", ""),
            estimator=entry.get("estimator", "lmm_reml"),
            exposure_kind=entry.get("exposure_kind", "groups"),
            exposure_per=float(entry.get("exposure_per", 10.0)),
            spline_df=int(spline.get("df", 4)),
            spline_points=tuple(float(x) for x in spline.get("points", ())),
            spline_origin=float(spline.get("origin", 0.0)),
            bootstrap=dict(entry.get("bootstrap", {})),
            df_method=entry.get("df_method", "satterthwaite"),
            exposure_level=entry.get("exposure_level", "centre"),
        )

    @property
    def variables(self) -> list[str]:
        return [self.outcome, self.exposure, *self.covariates, *self.clusters]

    def exposure_term(self, level: str) -> str:
        return f"{self.exposure}[T.{level}]"

    @property
    def linear_term(self) -> str:
        return f"{self.exposure}_per_{self.exposure_per:g}"

    def exposure_terms(self) -> list[str]:
        """The design columns that carry the exposure."""
        if self.exposure_kind == "groups":
            return [self.exposure_term(level) for level in self.contrast_levels()]
        if self.exposure_kind == "linear":
            return [self.linear_term]
        return [f"{self.exposure}_spline{j + 1}" for j in range(self.spline_df)]

    def contrast_levels(self) -> list[str]:
        return [g for g in GROUPS[::-1] if g != self.reference]


def model_covariates(entry: dict) -> list[str]:
    """A plan entry's covariates, its baseline outcome (if any) first."""
    baseline = [entry["baseline"]] if entry.get("baseline") else []
    return baseline + list(entry["covariates"])


def labels_present(values: pd.Series) -> tuple[np.ndarray, list]:
    """The labels present, in Python's sorted order (whatever the column's type: a categorical column's own
    order of categories is not used), and each row's position in that list (-1 where missing). One pass over
    the rows: comparing every row with every level, as Python objects, took seconds per column at national
    scale."""
    codes, uniques = pd.factorize(values)
    uniques = pd.Index(uniques).tolist()  # Python's own values (2, not numpy's np.int64(2)), as sorted() sees
    order = sorted(range(len(uniques)), key=lambda k: uniques[k])
    position = np.empty(len(uniques), dtype=np.int64)
    position[order] = np.arange(len(uniques))
    return np.where(codes >= 0, position[np.maximum(codes, 0)], -1), [uniques[k] for k in order]


def indicator_columns(values: pd.Series, name: str, reference, levels=None) -> pd.DataFrame:
    """Treatment-coded indicators of `values` against `reference`, one per other level present."""
    codes, labels = labels_present(values)
    present = list(levels) if levels is not None else labels
    if reference not in labels:
        raise PlanError(f"reference level {reference!r} of '{name}' does not occur in the data")
    columns = {}
    for level in present:
        if level == reference:
            continue
        if level not in labels:
            raise PlanError(f"level {level!r} of '{name}' does not occur in the data")
        columns[f"{name}[T.{level}]"] = (codes == labels.index(level)).astype(float)
    return pd.DataFrame(columns, index=values.index)


@dataclass
class Design:
    """A model's outcome and design matrix, with what the data could not support, named."""

    y: pd.Series
    X: pd.DataFrame
    dropped: list[Redundant] = field(default_factory=list)  # covariate columns dropped as redundant
    absent_levels: list[str] = field(default_factory=list)  # exposure groups without mothers
    notes: list[str] = field(default_factory=list)  # each adaptation in plain words


def build_design(frame: pd.DataFrame, spec: ModelSpec) -> Design:
    """Outcome and fixed-effects design (intercept, exposure contrasts, covariates) of complete rows, adapted
    to what the data can support (see the module docstring); DesignError when the exposure cannot be
    estimated at all."""
    missing = [v for v in spec.variables if v not in frame.columns]
    if missing:
        raise PlanError(f"model '{spec.name}' in the analysis plan names variables absent from the analysis "
                        f"data: {', '.join(missing)}")
    check_model_frame(frame, spec)
    notes: list[str] = []
    parts = [pd.DataFrame({"Intercept": np.ones(len(frame))}, index=frame.index)]
    exposure, absent = exposure_columns(frame[spec.exposure], spec)
    parts.append(exposure)
    for level in absent:
        notes.append(f"No mothers {mothers_in(level, spec.exposure_level)}: the {level} vs {spec.reference} "
                     "contrast cannot be estimated.")
    for name in spec.covariates:
        if name in spec.categorical:
            values = frame[name]
            reference = spec.categorical[name]
            present = labels_present(values)[1]
            if present and reference not in present:
                notes.append(f"'{name}': its reference level {reference!r} does not occur in the data, so "
                             f"its other levels are compared with level {present[0]!r} instead.")
                reference = present[0]
            parts.append(indicator_columns(values, name, reference))
        else:
            parts.append(pd.DataFrame({name: frame[name].astype(float).to_numpy()}, index=frame.index))
    X = pd.concat(parts, axis=1)
    empty = [name for name in spec.categorical if name in spec.covariates
             and not any(c.startswith(f"{name}[T.") for c in X.columns)]
    dropped = [Redundant(name, ("Intercept",)) for name in empty]
    redundant = redundant_columns(X.to_numpy(float), list(X.columns)) if len(X) else []
    essential = ["Intercept", *exposure.columns]
    lost = [r for r in redundant if r.column in essential]
    if lost:
        raise DesignError(f"model '{spec.name}': the exposure cannot be estimated from these data: "
                          + "; ".join(r.describe() for r in lost))
    dropped += redundant
    if dropped:
        X = X.drop(columns=[r.column for r in redundant])
        notes.append("Dropped because the data cannot estimate them (as lme4 and R's lm drop such columns): "
                     + "; ".join(r.describe() for r in dropped) + ".")
    return Design(frame[spec.outcome].astype(float), X, dropped, absent, notes)


def check_model_frame(frame: pd.DataFrame, spec: ModelSpec) -> None:
    """The rows a design is built from must be complete and readable, or no indicator can be trusted: a
    missing or unknown exposure group would get all-zero indicators and be counted in the reference group.
    ValueError names the column and the first rows (0-based positions) otherwise."""
    problems = []
    if spec.exposure_kind == "linear" and not (np.isfinite(spec.exposure_per) and spec.exposure_per > 0):
        problems.append(f"exposure_per must be a positive number, got {spec.exposure_per!r}")
    for name in spec.variables:
        values = frame[name]
        absent = np.asarray(values.isna(), dtype=bool)
        if absent.any():
            problems.append(f"'{name}' is missing at {rows_text(absent)}")
            continue
        if name == spec.exposure and spec.exposure_kind == "groups":
            unknown = np.asarray(~values.isin(GROUPS), dtype=bool)
            if unknown.any():
                problems.append(f"'{name}' holds a value other than {', '.join(GROUPS)} at "
                                f"{rows_text(unknown)}")
        elif name in spec.clusters or name in spec.categorical:
            # Only a column of Python objects can mix kinds (a number and its text); text and number columns
            # hold one kind by their type.
            one_kind = pd.api.types.is_numeric_dtype(values) or isinstance(values.dtype, pd.StringDtype)
            kinds = {"one"} if one_kind else label_kinds(values.astype(object).to_numpy())
            if len(kinds) > 1:
                problems.append(f"'{name}' mixes {' and '.join(sorted(kinds))}: use values of one type")
        elif not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            problems.append(f"'{name}' is not numeric (of type {values.dtype})")
    if problems:
        hint = " (drop incomplete rows first, as analysis.models.complete_cases does)" \
            if any(" is missing at " in problem for problem in problems) else ""
        raise ValueError(f"model '{spec.name}': cannot build the design: " + "; ".join(problems) + hint)


def design_matrix(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.Series, pd.DataFrame]:
    """Outcome vector and fixed-effects design of `build_design` (its notes are logged there by callers that
    report them; see analysis.models)."""
    design = build_design(frame, spec)
    return design.y, design.X


@dataclass(frozen=True)
class ClusterDesign:
    """The random-intercept levels the data can support, and the clustering of robust standard errors."""

    outer: str | None  # None: one level only (a single local authority, or one centre per authority)
    inner: str  # the random-intercept level of a one-level model: centres, or local authorities
    n_outer: int
    n_inner: int

    @property
    def robust(self) -> str:
        """Cluster of cluster-robust standard errors: the outer level, or the inner one when there is one
        outer cluster."""
        return self.outer or self.inner

    @property
    def single_authority(self) -> bool:
        return self.n_outer == 1

    def note(self) -> str:
        if self.single_authority:
            return ("The data hold a single local authority, so the model has no local-authority random "
                    "intercept, and cluster-robust standard errors cluster on centres.")
        if self.outer is None:
            return ("Each local authority has a single centre in the data (at LA level, mothers whose record "
                    "names no centre are grouped by local authority), so centres and local authorities are "
                    "one level: the model has one random intercept, for local authority, and cluster-robust "
                    "standard errors cluster on local authorities.")
        return ""


def cluster_design(frame: pd.DataFrame, clusters: tuple[str, ...]) -> ClusterDesign:
    outer, inner = clusters
    for name in clusters:
        absent = np.asarray(frame[name].isna(), dtype=bool)
        if absent.any():
            raise ValueError(f"'{name}' is missing at {rows_text(absent)} (0-based positions): a row without "
                             "a cluster cannot be placed in the design")
    n_outer = int(frame[outer].nunique())
    n_inner = int(frame[[outer, inner]].drop_duplicates().shape[0])
    if n_outer == 1:
        return ClusterDesign(None, inner, n_outer, n_inner)
    if n_inner == n_outer:  # the two variances could not be told apart: one level, the local authority
        return ClusterDesign(None, outer, n_outer, n_inner)
    return ClusterDesign(outer, inner, n_outer, n_inner)


def spline_basis(values, df: int, design_info=None):
    """Natural cubic regression spline basis (patsy cr, centred so it excludes the constant).

    Returns (basis array, design info); pass the design info back to evaluate the same basis at new values.
    """
    data = {"x": np.asarray(values, dtype=float)}
    if design_info is None:
        design = patsy.dmatrix(f"cr(x, df={int(df)}, constraints='center') - 1", data,
                               return_type="matrix")
        return np.asarray(design), design.design_info
    (design,) = patsy.build_design_matrices([design_info], data)
    return np.asarray(design), design_info


def exposure_columns(values: pd.Series, spec: ModelSpec) -> tuple[pd.DataFrame, list[str]]:
    """The exposure's design columns, as the plan's exposure kind says, and the exposure groups without
    mothers (no column: their contrasts are not estimable)."""
    if spec.exposure_kind == "groups":
        present = set(labels_present(values)[1])
        at_reference = mothers_in(spec.reference, spec.exposure_level)
        if spec.reference not in present:
            raise DesignError(f"No mothers in the analysis are {at_reference}, the reference group of model "
                              f"'{spec.name}': every contrast is against them, so none can be estimated (see "
                              "the funding groups and the sample flow).")
        levels = [level for level in spec.contrast_levels() if level in present]
        if not levels:
            raise DesignError(f"All mothers in the analysis are {at_reference}: there is no other group to "
                              f"compare them with (model '{spec.name}').")
        absent = [level for level in spec.contrast_levels() if level not in present]
        columns = indicator_columns(values, spec.exposure, spec.reference, levels=[spec.reference, *levels])
        return columns, absent
    x = values.astype(float)
    if spec.exposure_kind == "linear":
        return pd.DataFrame({spec.linear_term: (x / spec.exposure_per).to_numpy()}, index=values.index), []
    if x.nunique() <= spec.spline_df:
        raise DesignError(f"model '{spec.name}': {spec.exposure} takes {x.nunique()} distinct values, too "
                          f"few for a spline with {spec.spline_df} degrees of freedom")
    basis, _ = spline_basis(x, spec.spline_df)
    return pd.DataFrame(basis, columns=spec.exposure_terms(), index=values.index), []
