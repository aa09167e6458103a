"""Model specifications from the analysis plan, and the design matrices they imply.

Design matrices are built column by column from names that the config schema and the data vouch for;
no formula text from config is ever evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.exposure import GROUPS


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

    @classmethod
    def from_config(cls, name: str, entry: dict) -> ModelSpec:
        return cls(
            name=name,
            outcome=entry["outcome"],
            exposure=entry["exposure"],
            reference=entry["reference"],
            covariates=tuple(entry["covariates"]),
            categorical=dict(entry.get("categorical", {})),
            clusters=tuple(entry["clusters"]),
            ci_level=float(entry["ci_level"]),
            description=entry.get("description", ""),
            direction=entry.get("direction", ""),
        )

    @property
    def variables(self) -> list[str]:
        return [self.outcome, self.exposure, *self.covariates, *self.clusters]

    def exposure_term(self, level: str) -> str:
        return f"{self.exposure}[T.{level}]"

    def contrast_levels(self) -> list[str]:
        return [g for g in GROUPS[::-1] if g != self.reference]


def indicator_columns(values: pd.Series, name: str, reference, levels=None) -> pd.DataFrame:
    """Treatment-coded indicators of `values` against `reference`, one per other level present."""
    present = list(levels) if levels is not None else sorted(values.dropna().unique())
    if reference not in set(values.dropna()):
        raise ValueError(f"reference level {reference!r} of '{name}' does not occur in the data")
    columns = {}
    for level in present:
        if level == reference:
            continue
        if not (values == level).any():
            raise ValueError(f"level {level!r} of '{name}' does not occur in the data")
        columns[f"{name}[T.{level}]"] = (values == level).astype(float).to_numpy()
    return pd.DataFrame(columns, index=values.index)


def design_matrix(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.Series, pd.DataFrame]:
    """Outcome vector and fixed-effects design: intercept, exposure contrasts, covariates."""
    missing = [v for v in spec.variables if v not in frame.columns]
    if missing:
        raise KeyError(f"model '{spec.name}' names variables absent from the analysis data: {missing}")
    parts = [pd.DataFrame({"Intercept": np.ones(len(frame))}, index=frame.index)]
    parts.append(indicator_columns(frame[spec.exposure].astype(object), spec.exposure, spec.reference,
                                   levels=[spec.reference, *spec.contrast_levels()]))
    for name in spec.covariates:
        if name in spec.categorical:
            parts.append(indicator_columns(frame[name].astype(object), name, spec.categorical[name]))
        else:
            parts.append(pd.DataFrame({name: frame[name].astype(float).to_numpy()}, index=frame.index))
    design = pd.concat(parts, axis=1)
    return frame[spec.outcome].astype(float), design
