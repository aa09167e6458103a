"""The power planner: its variance formula, noncentral-t power and MDE against independent computations, the
formula against simulated evaluations, and the command line a council analyst runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from analysis import power
from analysis.errors import PlanError
from analysis.plan import check_plan
from analysis.primary import load_plan

VARIANCE = power.Variance(la=0.3, centre=0.4, residual=12.0)


def test_the_standard_error_follows_the_textbook_variance_of_each_design():
    within = power.Design(2, 10, 20, attrition=0.25, assigned_at="centre", share_changed=0.5)
    n = 15  # mothers analysed per centre
    expected = np.sqrt((0.4 + 12.0 / n) / (20 * 0.25))
    assert within.standard_error(VARIANCE) == pytest.approx(expected, rel=1e-12)
    assert within.df == 20 - 2 - 1
    between = power.Design(8, 5, 10, waves=3, wave_correlation=0.6, assigned_at="la", share_changed=0.25)
    mother = 12.0 * (0.6 + 0.4 / 3)
    unit = 0.3 + 0.4 / 5 + mother / (5 * 10)
    assert between.standard_error(VARIANCE) == pytest.approx(np.sqrt(unit / (8 * 0.25 * 0.75)), rel=1e-12)
    assert between.df == 6


def test_shares_that_do_not_split_evenly_use_the_whole_units_changed():
    design = power.Design(1, 53, 20, share_changed=0.5)  # 27 centres changed (half rounded up), 26 not
    assert design.changed_units == 27
    unit = 0.4 + 12.0 / 20
    assert design.standard_error(VARIANCE) == pytest.approx(np.sqrt(unit * (1 / 27 + 1 / 26)), rel=1e-12)
    uneven = power.Design(10, 3, 20, share_changed=0.5)  # 2 of 3 centres in each of 10 LAs
    expected = np.sqrt((0.4 + 0.6) * (1 / 20 + 1 / 10))
    assert uneven.standard_error(VARIANCE) == pytest.approx(expected, rel=1e-12)
    mde = power.minimum_detectable_effect(uneven, VARIANCE)
    empirical = power.simulate_power(uneven, VARIANCE, mde, replications=400, seed=5)
    assert abs(empirical - 0.8) <= 3 * np.sqrt(0.8 * 0.2 / 400) + 0.01, empirical


def test_power_stays_a_probability_far_beyond_the_mde():
    design = power.Design(1, 53, 20)
    assert power.power(50 * design.standard_error(VARIANCE), design, VARIANCE) == pytest.approx(1.0)
    assert power.minimum_detectable_effect(power.Design(1, 3, 20), VARIANCE, 0.05, 0.99) > 0  # df 1


def test_power_is_the_noncentral_t_and_the_mde_reaches_the_target():
    design = power.Design(1, 53, 20, attrition=0.3)
    se, df = design.standard_error(VARIANCE), design.df
    critical = stats.t.ppf(0.975, df)
    for effect in (0.3, 0.9, 1.5):
        expected = stats.nct.sf(critical, df, effect / se) + stats.nct.cdf(-critical, df, effect / se)
        assert power.power(effect, design, VARIANCE) == pytest.approx(expected, rel=1e-9)
    mde = power.minimum_detectable_effect(design, VARIANCE, 0.05, 0.8)
    assert power.power(mde, design, VARIANCE) == pytest.approx(0.8, abs=1e-9)
    # With many degrees of freedom the MDE is the familiar (z_0.975 + z_0.8) x SE.
    large = power.Design(40, 30, 20)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert power.minimum_detectable_effect(large, VARIANCE) == pytest.approx(
        z * large.standard_error(VARIANCE), rel=2e-3)
    assert power.power(0.0, design, VARIANCE) == pytest.approx(0.05, abs=1e-9)


# Three designs a council might plan: its own centres, centres in a few councils, whole councils.
DESIGNS = [power.Design(1, 53, 20, attrition=0.3, name="one council"),
           power.Design(4, 6, 12, waves=2, wave_correlation=0.5, attrition=0.2, name="four councils"),
           power.Design(10, 10, 15, attrition=0.3, assigned_at="la", name="ten councils")]


@pytest.mark.parametrize("design", DESIGNS, ids=lambda d: d.name)
def test_simulated_evaluations_reject_as_often_as_the_formula_says(design):
    """Monte Carlo check (400 replications): at the MDE, empirical power is the formula's 80% within three
    Monte Carlo SEs; with no effect, the rejection rate is alpha within the same."""
    replications = 400
    mde = power.minimum_detectable_effect(design, VARIANCE, 0.05, 0.8)
    empirical = power.simulate_power(design, VARIANCE, mde, replications=replications, seed=11)
    assert abs(empirical - 0.8) <= 3 * np.sqrt(0.8 * 0.2 / replications) + 0.01, empirical
    null = power.simulate_power(design, VARIANCE, 0.0, replications=replications, seed=12)
    assert abs(null - 0.05) <= 3 * np.sqrt(0.05 * 0.95 / replications) + 0.01, null


def test_designs_that_cannot_be_evaluated_are_refused_in_words():
    with pytest.raises(PlanError, match="needs at least 3 local authorities"):
        power.Design(2, 10, 10, assigned_at="la")
    with pytest.raises(PlanError, match="needs at least 3 centres in one local authority"):
        power.Design(1, 2, 10)
    with pytest.raises(PlanError, match="attrition must be a number at least 0 and below 1"):
        power.Design(1, 10, 10, attrition=1.0)
    with pytest.raises(PlanError, match="fewer than one of the 20 mothers per centre would be analysed"):
        power.Design(1, 53, 20, attrition=0.99)
    with pytest.raises(PlanError, match="of 3 centres in each local authority changes 0 of them"):
        power.Design(1, 3, 10, share_changed=0.1)
    with pytest.raises(PlanError, match="wave_correlation must be a number between 0 and 1, not True"):
        power.Design(1, 10, 10, wave_correlation=True)
    assert power.Design(1.0, 53.0, 20).centres_per_la == 53  # whole numbers written 53.0 in a plan file
    with pytest.raises(PlanError, match="las must be a whole number >= 1"):
        power.Design(0, 10, 10)
    with pytest.raises(PlanError, match="residual variance must be above 0"):
        power.Variance(0.1, 0.1, 0.0)
    with pytest.raises(PlanError, match="the la variance must be a number >= 0"):
        power.Variance(float("nan"), 0.1, 1.0)
    plan = load_plan()
    plan["power_planner"]["designs"]["bad"] = {"las": 2, "centres_per_la": 5, "mothers_per_centre": 10,
                                               "assigned_at": "la"}
    with pytest.raises(PlanError, match="power planner design 'bad'"):
        check_plan(plan)


def test_variance_components_come_from_a_fit_record_read_by_the_level_a_one_level_fit_has():
    fit = {"variance_components": {"outer": 0.2, "inner": 0.1, "residual": 7.0}}
    assert power.Variance.from_fit(fit) == power.Variance(0.2, 0.1, 7.0)
    fit["variance_components"]["outer"] = None
    fit["design"] = {"local_authorities": 1}  # a single council: the one level is the centres
    assert power.Variance.from_fit(fit) == power.Variance(0.0, 0.1, 7.0)
    fit["design"] = {"local_authorities": 12}  # one centre per LA (or LA-level data): it is the LAs
    assert power.Variance.from_fit(fit) == power.Variance(0.1, 0.0, 7.0)


def test_the_table_gives_the_mde_in_points_and_in_hedges_g():
    table = power.plan_table(DESIGNS, VARIANCE, 0.05, 0.8, 1.0, 4.0, "given")
    assert list(table["design"]) == [d.name for d in DESIGNS]
    assert np.allclose(table["mde_hedges_g"], table["mde_k6"] / 4.0)
    assert ((table["power_at_effect"] > 0) & (table["power_at_effect"] < 1)).all()
    curve = power.mde_curve(DESIGNS[0], [10, 20, 53, 120], VARIANCE, 0.05, 0.8)
    assert list(curve["centres"]) == [10, 20, 53, 120] and curve["mde_k6"].is_monotonic_decreasing


def test_the_command_line_plans_without_editing_the_plan(tmp_path, capsys):
    code = power.main(["--centres-per-la", "53", "--mothers-per-centre", "20", "--attrition", "0.3",
                       "--variance", "0.3", "0.4", "12", "--outcome-sd", "4",
                       "--csv", str(tmp_path / "p.csv")])
    out = capsys.readouterr().out
    expected = power.minimum_detectable_effect(DESIGNS[0], VARIANCE)
    assert code == 0 and f"{expected:.2f} K6 points" in out and "Hedges' g" in out
    assert (tmp_path / "p.csv").read_text().startswith("design,")
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"variance_components": {"outer": 0.3, "inner": 0.4, "residual": 12.0}}))
    assert power.main(["--centres-per-la", "53", "--mothers-per-centre", "20", "--attrition", "0.3",
                       "--fit", str(fit)]) == 0
    assert f"{expected:.2f} K6 points" in capsys.readouterr().out


def test_the_command_line_refuses_in_words_without_a_traceback(tmp_path, capsys):
    too_few = ["--centres-per-la", "2", "--mothers-per-centre", "20", "--variance", "0", "0", "1"]
    assert power.main(too_few) == 2
    assert "degrees of freedom" in capsys.readouterr().err
    assert power.main(["--centres-per-la", "20", "--mothers-per-centre", "20",
                       "--fit", str(tmp_path / "missing.json")]) == 2
    assert "run the pipeline first, or give --variance" in capsys.readouterr().err
    base = ["--centres-per-la", "20", "--mothers-per-centre", "20", "--variance", "0.1", "0.1", "5"]
    assert power.main([*base, "--outcome-sd", "0"]) == 2
    assert "--outcome-sd must be a positive number" in capsys.readouterr().err
    assert power.main([*base, "--csv", str(tmp_path)]) == 2  # a folder, not a file
    assert "cannot write" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    for text in ("not json", "[1, 2]", '{"variance_components": {"inner": null, "residual": 1}}'):
        bad.write_text(text)
        assert power.main(["--centres-per-la", "20", "--mothers-per-centre", "20", "--fit", str(bad)]) == 2
        err = capsys.readouterr().err
        assert "is not a fitted model's record" in err and "Traceback" not in err
        assert err.count("power planner:") == 1
