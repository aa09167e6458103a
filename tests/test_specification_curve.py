"""The specification curve's grid and one specification fitted end to end."""

import pandas as pd

from analysis.cleaning import clean_all
from analysis.specification_curve import fit_specification, specification_model, specifications


def test_grid_has_every_combination(plan):
    grid = specifications(plan)
    curve = plan["specification_curve"]
    expected = (len(curve["scores"]) * len(curve["estimators"]) * len(curve["covariate_sets"])
                * len(curve["thresholds_pct"]) * len(curve["windows"]))
    assert len(grid) == expected == 32
    assert "k6-lmm_reml-full-t5-2011-12-2013-14" in grid  # the primary specification is on the curve


def test_specification_model_swaps_outcome_baseline_and_covariates(plan):
    choice = specifications(plan)["ghq_likert-ols_cr2-minimal-t10-2011-12-2012-13"]
    spec = specification_model(plan, choice)
    assert spec.outcome == "ghq_likert_w3" and spec.covariates == ("ghq_likert_w1",)
    assert spec.estimator == "ols_cr2" and spec.categorical == {} and spec.bootstrap == {}


def test_primary_specification_reproduces_the_primary_model(plan, tiny_raw):
    from analysis.design import ModelSpec
    from analysis.models import contrast_rows, fit_model
    from analysis.primary import primary_frame

    data = clean_all(tiny_raw)
    spec_id = "k6-lmm_reml-full-t5-2011-12-2013-14"
    rows = fit_specification(data.centres, data.funding, data.deflators, data.survey, plan, spec_id,
                             specifications(plan)[spec_id])
    frame, _ = primary_frame(tiny_raw, plan)
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    primary = pd.DataFrame(contrast_rows(fit_model(frame, spec, plan["mixed_model_fit"]), spec))
    pd.testing.assert_series_equal(rows["estimate"], primary["estimate"], rtol=1e-8, check_names=False)
    assert (rows["specification"] == spec_id).all()
