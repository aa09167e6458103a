"""The primary analysis from raw files to fit in one call, for tests, fixtures and interactive use.

The workflow runs the same steps as separate rules (see analysis/stages/); both call the functions below.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from analysis.cleaning import clean_all
from analysis.design import ModelSpec, design_matrix, model_covariates
from analysis.exposure import ExposurePlan, exposure_table
from analysis.mixed import FitSettings, NestedFit, fit_nested_lmm
from analysis.plan import model_roles
from analysis.sample import build_primary_sample

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "config.yaml"


def load_plan(path: str | Path = DEFAULT_CONFIG) -> dict:
    return yaml.safe_load(Path(path).read_text())


def sample_covariates(plan: dict) -> list[str]:
    """Covariates that must be complete for a mother to enter the primary sample."""
    return model_covariates(plan["models"][plan["primary_sample"]["covariates_from_model"]])


def fit_from_plan(frame: pd.DataFrame, name: str, entry: dict, fit_settings: dict) -> tuple[NestedFit,
                                                                                          ModelSpec]:
    spec = ModelSpec.from_config(name, entry)
    y, X = design_matrix(frame, spec)
    outer, inner = spec.clusters
    return fit_nested_lmm(y, X, frame[outer], frame[inner], FitSettings.from_config(fit_settings)), spec


def primary_frame(raw_dir: str | Path, plan: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Analysis sample and its flow, from the four raw files."""
    data = clean_all(Path(raw_dir), plan["exposure"].get("level", "centre"))
    exposure = exposure_table(data.centres, data.funding, data.deflators,
                                  ExposurePlan.from_config(plan["exposure"]))
    return build_primary_sample(data.survey, exposure, plan["primary_sample"], sample_covariates(plan))


def fit_primary(frame: pd.DataFrame, plan: dict, name: str | None = None) -> tuple[NestedFit, ModelSpec]:
    """Fit model `name`, by default the plan's primary model (model_roles.primary)."""
    name = name or model_roles(plan)["primary"]
    return fit_from_plan(frame, name, plan["models"][name], plan["mixed_model_fit"])
