"""Model specifications from the analysis plan, and the design matrices they imply.

Design matrices are built column by column from names that the config schema and the data vouch for;
no formula text from config is ever evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

from analysis.errors import PlanError
from analysis.exposure import GROUPS

ESTIMATORS = ("lmm_reml", "ols_cr2", "gee_logistic")
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
    clusters: tuple[str, ...] = ("la_code", "centre_id")  # outer to inner
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


def indicator_columns(values: pd.Series, name: str, reference, levels=None) -> pd.DataFrame:
    """Treatment-coded indicators of `values` against `reference`, one per other level present."""
    present = list(levels) if levels is not None else sorted(values.dropna().unique())
    if reference not in set(values.dropna()):
        raise PlanError(f"reference level {reference!r} of '{name}' does not occur in the data")
    columns = {}
    for level in present:
        if level == reference:
            continue
        if not (values == level).any():
            raise PlanError(f"level {level!r} of '{name}' does not occur in the data")
        columns[f"{name}[T.{level}]"] = (values == level).astype(float).to_numpy()
    return pd.DataFrame(columns, index=values.index)


def design_matrix(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.Series, pd.DataFrame]:
    """Outcome vector and fixed-effects design: intercept, exposure contrasts, covariates."""
    missing = [v for v in spec.variables if v not in frame.columns]
    if missing:
        raise PlanError(f"model '{spec.name}' in the analysis plan names variables absent from the analysis "
                        f"data: {', '.join(missing)}")
    parts = [pd.DataFrame({"Intercept": np.ones(len(frame))}, index=frame.index)]
    parts.append(exposure_columns(frame[spec.exposure], spec))
    for name in spec.covariates:
        if name in spec.categorical:
            parts.append(indicator_columns(frame[name].astype(object), name, spec.categorical[name]))
        else:
            parts.append(pd.DataFrame({name: frame[name].astype(float).to_numpy()}, index=frame.index))
    design = pd.concat(parts, axis=1)
    return frame[spec.outcome].astype(float), design


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


def exposure_columns(values: pd.Series, spec: ModelSpec) -> pd.DataFrame:
    """The exposure's design columns, as the plan's exposure kind says."""
    if spec.exposure_kind == "groups":
        return indicator_columns(values.astype(object), spec.exposure, spec.reference,
                                 levels=[spec.reference, *spec.contrast_levels()])
    x = values.astype(float)
    if spec.exposure_kind == "linear":
        return pd.DataFrame({spec.linear_term: (x / spec.exposure_per).to_numpy()}, index=values.index)
    basis, _ = spline_basis(x, spec.spline_df)
    return pd.DataFrame(basis, columns=spec.exposure_terms(), index=values.index)
