"""The specification curve's grid, its specifications fitted end to end, and the samples shared between
specifications against each specification built on its own."""

import pickle

import numpy as np
import pandas as pd
import pytest

from analysis.cleaning import clean_all
from analysis.errors import DesignError
from analysis.exposure import ExposurePlan, exposure_table
from analysis.joint_test import JointTestPlan, joint_test_table, run_joint_test, specification_refitter
from analysis.sample import build_primary_sample
from analysis.specification_curve import (
    fit_specifications,
    fitted_specifications,
    group_samples,
    sample_groups,
    specification_fit,
    specification_model,
    specification_rows,
    specifications,
)
from analysis.stages import specification_curve as specification_stages


def own_sample(cleaned, plan: dict, choice: dict):
    """A specification's sample, flow and model built for it alone, as each specification job built it before
    samples were shared: its own exposure, its own mothers' frame with its own covariates."""
    exposure = exposure_table(cleaned.centres, cleaned.funding, cleaned.deflators,
                              ExposurePlan(choice["base_year"], choice["end_year"], -choice["threshold_pct"],
                                           choice["threshold_pct"]))
    spec = specification_model(plan, choice)
    sample_plan = {**plan["primary_sample"], "score": choice["score"], "secondary_scores": [],
                   "binary_scores": {}}
    frame, flow = build_primary_sample(cleaned.survey, exposure, sample_plan, list(spec.covariates))
    return frame, flow, spec


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
    rows = fit_specifications(data.centres, data.funding, data.deflators, data.survey, plan,
                              {spec_id: specifications(plan)[spec_id]})[spec_id]
    frame, _ = primary_frame(tiny_raw, plan)
    spec = ModelSpec.from_config("primary", plan["models"]["primary"])
    primary = pd.DataFrame(contrast_rows(fit_model(frame, spec, plan["mixed_model_fit"]), spec))
    pd.testing.assert_series_equal(rows["estimate"], primary["estimate"], rtol=1e-8, check_names=False)
    assert (rows["specification"] == spec_id).all()


def test_specifications_sharing_a_sample_are_grouped_by_score_threshold_and_window(plan):
    groups = sample_groups(specifications(plan))
    assert len(groups) == 8 and all(len(group) == 4 for group in groups)  # 2 estimators x 2 covariate sets
    for group in groups:
        keys = {(c["score"], c["threshold_pct"], c["base_year"], c["end_year"]) for c in group.values()}
        assert len(keys) == 1
        assert {(c["estimator"], c["covariate_set"]) for c in group.values()} == {
            (e, s) for e in ("lmm_reml", "ols_cr2") for s in ("full", "minimal")}
    assert sorted(spec_id for group in groups for spec_id in group) == sorted(specifications(plan))


@pytest.mark.slow
def test_shared_samples_give_each_specifications_own_results(plan, tiny_raw):
    """Every specification of the curve, fitted from the samples its group shares, has the rows it has when
    its exposure and sample are built for it alone (estimable or not: the tiny data leave some specifications
    without a growing centre)."""
    cleaned = clean_all(tiny_raw)
    grid = specifications(plan)
    shared = fit_specifications(cleaned.centres, cleaned.funding, cleaned.deflators, cleaned.survey, plan,
                                grid)
    assert sorted(shared) == sorted(grid)
    for spec_id, choice in grid.items():
        frame, flow, spec = own_sample(cleaned, plan, choice)
        alone = specification_rows(specification_fit(frame, spec, plan, spec_id), flow, spec, spec_id, choice)
        pd.testing.assert_frame_equal(shared[spec_id], alone, check_exact=False, rtol=1e-10, atol=1e-12)
    estimable = [rows["note"].eq("").all() for rows in shared.values()]
    assert any(estimable)
    # the covariate sets' completeness step differs, so the shared mothers' frame must not blur the samples
    full, minimal = (shared["k6-lmm_reml-" + s + "-t5-2011-12-2013-14"] for s in ("full", "minimal"))
    assert full["n_excluded_by_sample_steps"].iloc[0] > minimal["n_excluded_by_sample_steps"].iloc[0]


def test_group_samples_match_each_specifications_own_sample(plan, tiny_raw):
    cleaned = clean_all(tiny_raw)
    group = next(g for g in sample_groups(specifications(plan)) if "k6-lmm_reml-full-t5-2011-12-2013-14" in g)
    samples = group_samples(cleaned.centres, cleaned.funding, cleaned.deflators, cleaned.survey, plan, group)
    assert sorted(samples) == sorted(group)
    for spec_id, (frame, flow, spec) in samples.items():
        own_frame, own_flow, own_spec = own_sample(cleaned, plan, group[spec_id])
        pd.testing.assert_frame_equal(frame, own_frame)
        pd.testing.assert_frame_equal(flow, own_flow)
        assert spec == own_spec


def cleaned_files(cleaned, folder) -> dict[str, str]:
    paths = {}
    for name in ("centres", "funding", "deflators", "survey"):
        paths[name] = str(folder / f"{name}.parquet")
        getattr(cleaned, name).to_parquet(paths[name])
    return paths


def test_specification_stage_writes_each_specification_to_its_own_table(plan, tiny_raw, tmp_path):
    cleaned = clean_all(tiny_raw)
    group = sorted(next(g for g in sample_groups(specifications(plan)) if "k6-ols_cr2-full-t5-2011-12-2013-14"
                        in g))
    outputs = [str(tmp_path / "specifications" / f"{spec_id}.csv") for spec_id in group]
    specification_stages.specification(**cleaned_files(cleaned, tmp_path), plan=plan,
                                       choices={spec_id: specifications(plan)[spec_id] for spec_id in group},
                                       outputs=outputs,
                                       refitters=str(tmp_path / "refitters.pickle"))
    expected = fit_specifications(cleaned.centres, cleaned.funding, cleaned.deflators, cleaned.survey, plan,
                                  {spec_id: specifications(plan)[spec_id] for spec_id in group})
    for spec_id, output in zip(group, outputs, strict=True):
        written = pd.read_csv(output)
        assert (written["specification"] == spec_id).all()
        assert list(written.columns) == list(expected[spec_id].columns)
        assert list(written["contrast"]) == list(expected[spec_id]["contrast"])
        for column in ("estimate", "std_error", "p_value", "n_excluded_by_sample_steps"):
            pd.testing.assert_series_equal(written[column], expected[spec_id][column], check_dtype=False,
                                           rtol=1e-10)


@pytest.mark.slow
def test_joint_test_from_the_specification_jobs_matches_each_specification_built_alone(plan, tiny_raw,
                                                                                      tmp_path):
    """The joint test run from the refitters the specification jobs keep (one per distinct sample) gives the
    table of the joint test whose specifications are each built and fitted on their own."""
    plan = {**plan, "specification_curve": {**plan["specification_curve"],
                                            "joint_test": {"resamples": 19, "seed": 7, "alpha": 0.05}}}
    cleaned = clean_all(tiny_raw)
    grid = specifications(plan)
    files = cleaned_files(cleaned, tmp_path)
    pickles = []
    for number, group in enumerate(sample_groups(grid)):
        pickles.append(str(tmp_path / f"refitters_{number}.pickle"))
        specification_stages.specification(**files, plan=plan, choices=group,
                                           outputs=[str(tmp_path / f"{i}.csv") for i in group],
                                           refitters=pickles[-1])
    source = tmp_path / "source.json"
    source.write_text('{"synthetic": true, "note": "synthetic"}')
    specification_stages.specification_joint_test(pickles, str(source), plan, str(tmp_path / "joint.csv"))
    from_jobs = pd.read_csv(tmp_path / "joint.csv")

    alone = {}
    for spec_id, choice in grid.items():
        frame, _, spec = own_sample(cleaned, plan, choice)
        alone[spec_id] = specification_refitter(spec, specification_fit(frame, spec, plan, spec_id), spec_id)
    assert any(not isinstance(r, str) for r in alone.values())
    expected = joint_test_table(run_joint_test(alone, JointTestPlan.from_config(
        plan["specification_curve"]["joint_test"])))
    assert list(from_jobs.columns) == [*expected.columns, "synthetic_data"]
    for column in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[column]):
            np.testing.assert_allclose(from_jobs[column], expected[column], rtol=1e-9, atol=1e-12)
        else:
            assert list(from_jobs[column].fillna("")) == list(expected[column].fillna("")), column


def test_refitters_keep_each_specifications_fit(plan, tiny_raw):
    """The refitter a specification job keeps refits the observed data, on every LA once, to its published
    estimate (the fit it was made from)."""
    cleaned = clean_all(tiny_raw)
    group = next(g for g in sample_groups(specifications(plan)) if "k6-ols_cr2-full-t5-2011-12-2013-14" in g)
    checked = 0
    fitted = fitted_specifications(cleaned.centres, cleaned.funding, cleaned.deflators, cleaned.survey, plan,
                                   group)
    for spec_id, rows, spec, fit in fitted:
        refitter = specification_refitter(spec, fit, spec_id)
        if isinstance(refitter, str) or not refitter.set_headline("growing"):
            continue
        refit = refitter.refit(np.arange(len(refitter.la_labels)), null=False)
        published = rows.set_index("contrast").loc["growing vs cut"]
        assert refit.estimate == pytest.approx(published["estimate"], rel=1e-6)
        checked += 1
    assert checked > 0


def test_an_empty_sample_is_refused_in_words(plan, tiny_raw):
    cleaned = clean_all(tiny_raw)
    no_follow_up = cleaned.survey[cleaned.survey["wave"] != plan["primary_sample"]["followup_wave"]]
    with pytest.raises(DesignError, match="The primary sample is empty"):
        fit_specifications(cleaned.centres, cleaned.funding, cleaned.deflators, no_follow_up, plan,
                           specifications(plan))


def test_joint_test_refuses_missing_refitters_in_words(plan, tmp_path):
    partial = tmp_path / "refitters_k6.pickle"
    partial.write_bytes(pickle.dumps({"k6-lmm_reml-full-t5-2011-12-2013-14": "not estimable: no centre"}))
    source = tmp_path / "source.json"
    source.write_text('{"synthetic": true, "note": "synthetic"}')
    with pytest.raises(ValueError, match=r"every specification's refitter; 31 are not in .*refitters_k6"):
        specification_stages.specification_joint_test([str(partial)], str(source), plan,
                                                      str(tmp_path / "joint.csv"))
    assert not (tmp_path / "joint.csv").exists()


def test_a_specification_job_reads_only_its_slice_of_the_plan(plan):
    """What a specification job is given (its Snakemake params) holds what its fits read and nothing else, so
    a setting they do not read (disclosure, the joint test, a covariate set, fit settings) never reruns it."""
    import copy

    from analysis.specification_curve import specification_job_plan

    groups = sample_groups(specifications(plan))
    for group in groups:
        sliced = specification_job_plan(plan, group)
        for choice in group.values():
            assert specification_model(sliced, choice) == specification_model(plan, choice)
        assert set(sliced) == {"model_roles", "models", "primary_sample", "exposure", "specification_curve",
                               "mixed_model_fit"}
        sets = {c["covariate_set"] for c in group.values()}
        assert set(sliced["specification_curve"]["covariate_sets"]) == sets
    single = {spec_id: choice for spec_id, choice in groups[0].items()
              if choice["estimator"] == "ols_cr2" and choice["covariate_set"] == "full"}
    assert list(specification_job_plan(plan, single)["specification_curve"]["covariate_sets"]) == ["full"]
    assert specification_job_plan(plan, single)["mixed_model_fit"] == {}  # OLS reads no REML settings
    changed = copy.deepcopy(plan)
    changed["disclosure"]["round_to"] = 10
    changed["specification_curve"]["joint_test"]["resamples"] = 99
    assert all(specification_job_plan(changed, g) == specification_job_plan(plan, g) for g in groups)
    changed["specification_curve"]["covariate_sets"]["minimal"] = ["mother_age"]
    assert specification_job_plan(changed, single) == specification_job_plan(plan, single)
    assert all(specification_job_plan(changed, g) != specification_job_plan(plan, g) for g in groups)


def test_specifications_fitted_from_their_slice_equal_those_fitted_from_the_whole_plan(plan, tiny_raw):
    from analysis.specification_curve import specification_job_plan

    data = clean_all(tiny_raw)
    group = next(g for g in sample_groups(specifications(plan)) if "k6-lmm_reml-full-t5-2011-12-2013-14" in g)
    whole, sliced = (fit_specifications(data.centres, data.funding, data.deflators, data.survey, p, group)
                     for p in (plan, specification_job_plan(plan, group)))
    for spec_id in group:
        pd.testing.assert_frame_equal(sliced[spec_id], whole[spec_id], rtol=1e-10)


def test_the_curve_varies_the_model_playing_the_primary_role(plan):
    import copy

    renamed = copy.deepcopy(plan)
    renamed["models"]["headline"] = renamed["models"].pop("primary")
    renamed["models"]["headline"]["df_method"] = "kenward_roger"
    renamed["model_roles"]["primary"] = "headline"
    choice = specifications(plan)["k6-lmm_reml-full-t5-2011-12-2013-14"]
    assert specification_model(renamed, choice).df_method == "kenward_roger"
    assert specification_model(plan, choice).df_method == "satterthwaite"
