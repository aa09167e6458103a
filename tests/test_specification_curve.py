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


def test_a_specification_job_reads_only_its_slice_of_the_plan(plan):
    """What a specification job is given (its Snakemake params) holds what its fit reads and nothing else, so
    a setting it does not read (disclosure, the joint test, the other covariate set) never reruns it."""
    import copy

    from analysis.specification_curve import specification_job_plan

    grid = specifications(plan)
    for choice in grid.values():
        sliced = specification_job_plan(plan, choice)
        assert specification_model(sliced, choice) == specification_model(plan, choice)
        assert set(sliced) == {"model_roles", "models", "primary_sample", "exposure", "specification_curve",
                               "mixed_model_fit"}
        assert list(sliced["specification_curve"]["covariate_sets"]) == [choice["covariate_set"]]
        assert bool(sliced["mixed_model_fit"]) == (choice["estimator"] == "lmm_reml")
    changed = copy.deepcopy(plan)
    changed["disclosure"]["round_to"] = 10
    changed["specification_curve"]["joint_test"]["resamples"] = 99
    changed["specification_curve"]["covariate_sets"]["minimal"] = ["mother_age"]
    changed["mixed_model_fit"]["loglik_tolerance"] = 1e-3
    rerun = {spec_id for spec_id, choice in grid.items()
             if specification_job_plan(changed, choice) != specification_job_plan(plan, choice)}
    assert rerun == {spec_id for spec_id, choice in grid.items()
                     if choice["covariate_set"] == "minimal" or choice["estimator"] == "lmm_reml"}


def test_a_specification_fitted_from_its_slice_equals_one_fitted_from_the_whole_plan(plan, tiny_raw):
    from analysis.specification_curve import specification_job_plan

    data = clean_all(tiny_raw)
    for spec_id in ("k6-lmm_reml-full-t5-2011-12-2013-14", "ghq_likert-ols_cr2-minimal-t10-2011-12-2012-13"):
        choice = specifications(plan)[spec_id]
        whole, sliced = (fit_specification(data.centres, data.funding, data.deflators, data.survey, p,
                                           spec_id, choice)
                         for p in (plan, specification_job_plan(plan, choice)))
        pd.testing.assert_frame_equal(sliced, whole, rtol=1e-10)


def test_the_curve_varies_the_model_playing_the_primary_role(plan):
    import copy

    renamed = copy.deepcopy(plan)
    renamed["models"]["headline"] = renamed["models"].pop("primary")
    renamed["models"]["headline"]["df_method"] = "kenward_roger"
    renamed["model_roles"]["primary"] = "headline"
    choice = specifications(plan)["k6-lmm_reml-full-t5-2011-12-2013-14"]
    assert specification_model(renamed, choice).df_method == "kenward_roger"
    assert specification_model(plan, choice).df_method == "satterthwaite"
