"""The frozen analysis plan (analysis.plan_lock): make freeze, amendments, and each run's deviations."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from analysis import plan_lock
from analysis.errors import PlanError
from analysis.provenance import config_sha256
from tests.conftest import ROOT
from tests.workflow import copy_project, snakemake

PLAN = {
    "exposure": {"level": "centre", "cut_threshold_pct": -5, "growth_threshold_pct": 5},
    "models": {"primary": {"outcome": "k6_w3", "covariates": ["mother_age", "lone_parent"]}},
    "power_planner": {"outcome_sd": None},
    "disclosure": {"suppress_below": 10},
}


def frozen_lock(tmp_path: Path, plan: dict = PLAN, when: str = "2026-01-05T10:00:00Z") -> Path:
    lock = tmp_path / "config" / "plan.lock"
    plan_lock.freeze(plan, lock, root=tmp_path, now=when)
    return lock


def changed(plan: dict, edit) -> dict:
    plan = copy.deepcopy(plan)
    edit(plan)
    return plan


def test_the_plan_leaves_out_where_and_how_the_data_are_read():
    config = {**copy.deepcopy(PLAN), "raw_dir": "/secure/restricted", "plan_file": "/secure/plan.yaml",
              "sources": {"survey": {"format": "mapped"}}}
    config["models"]["primary"]["exposure_level"] = "centre"  # added by the workflow
    plan = plan_lock.analysis_plan(config)
    assert plan == PLAN
    assert "secure" not in json.dumps(plan)
    assert config["models"]["primary"]["exposure_level"] == "centre"  # a copy: the config is untouched


def test_freeze_records_the_plan_its_hash_commit_and_date(tmp_path):
    lock_path = frozen_lock(tmp_path)
    lock = plan_lock.read_lock(lock_path)
    version = plan_lock.frozen(lock)
    assert version["version"] == 1 and version["frozen_at"] == "2026-01-05T10:00:00Z"
    assert version["plan"] == PLAN
    # The hash is of the plan itself, independently of key order (the provenance convention).
    assert version["plan_sha256"] == config_sha256(json.loads(json.dumps(PLAN, sort_keys=True)))
    assert version["commit"] is None  # tmp_path is not a repository: the commit is unknown, not invented
    assert version["amendment_reason"] is None


def test_freeze_in_a_repository_records_its_commit(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "README").write_text("x")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    lock_path = frozen_lock(tmp_path)
    version = plan_lock.frozen(plan_lock.read_lock(lock_path))
    assert (version["commit"], version["uncommitted_changes"]) == (head, False)  # clean when frozen
    plan_lock.freeze(changed(PLAN, lambda p: p["disclosure"].update(suppress_below=11)), lock_path,
                     amend="stricter", root=tmp_path)
    assert plan_lock.frozen(plan_lock.read_lock(lock_path))["uncommitted_changes"] is True  # the lock itself


def test_an_existing_lock_is_never_overwritten(tmp_path):
    lock_path = frozen_lock(tmp_path)
    before = lock_path.read_bytes()
    with pytest.raises(PlanError, match=r"holds a frozen plan \(version 1, frozen 2026-01-05.*AMEND="):
        plan_lock.freeze(changed(PLAN, lambda p: p["exposure"].update(cut_threshold_pct=-10)), lock_path)
    assert lock_path.read_bytes() == before


def test_an_amendment_needs_a_reason_and_a_change_and_keeps_the_history(tmp_path):
    lock_path = frozen_lock(tmp_path)
    new_plan = changed(PLAN, lambda p: p["exposure"].update(cut_threshold_pct=-10))
    with pytest.raises(PlanError, match="without a reason"):
        plan_lock.freeze(new_plan, lock_path, amend="  ")
    with pytest.raises(PlanError, match="nothing to amend"):
        plan_lock.freeze(PLAN, lock_path, amend="no change")
    plan_lock.freeze(new_plan, lock_path, amend="Council asked for a 10% cut threshold", root=tmp_path,
                     now="2026-02-01T09:00:00Z")
    lock = plan_lock.read_lock(lock_path)
    assert [v["version"] for v in lock["versions"]] == [1, 2]
    assert lock["versions"][0]["plan"] == PLAN  # the first frozen plan is kept as it was
    assert plan_lock.frozen(lock)["plan"] == new_plan
    assert plan_lock.frozen(lock)["amendment_reason"] == "Council asked for a 10% cut threshold"
    record = plan_lock.lock_record(lock_path, lock, new_plan)
    assert record["follows_frozen_plan"] and record["frozen_version"] == 2
    words = plan_lock.deviations_words(plan_lock.deviations(new_plan, lock), record)
    assert "amended on 2026-02-01 (version 2: Council asked for a 10% cut threshold)" in words


def test_there_is_nothing_to_amend_without_a_lock(tmp_path):
    with pytest.raises(PlanError, match="does not exist, so there is nothing to amend"):
        plan_lock.freeze(PLAN, tmp_path / "plan.lock", amend="why")
    assert not (tmp_path / "plan.lock").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda lock: lock["versions"][0]["plan"]["exposure"].update(cut_threshold_pct=-1),
     "does not match its recorded SHA-256, so it was changed after freezing"),
    (lambda lock: lock["versions"][0].pop("frozen_at"), "version 1 lacks frozen_at"),
    (lambda lock: lock.update(versions=[]), "at least one frozen version"),
    (lambda lock: lock.update(lock_format=2), "format-1 plan lock"),
    (lambda lock: lock["versions"][0].update(version=3), "numbers its version 1 as 3"),
])
def test_a_lock_changed_by_hand_is_refused_in_words(tmp_path, edit, message):
    lock_path = frozen_lock(tmp_path)
    lock = json.loads(lock_path.read_text())
    edit(lock)
    lock_path.write_text(json.dumps(lock))
    with pytest.raises(PlanError, match=message) as err:
        plan_lock.read_lock(lock_path)
    assert str(lock_path) in str(err.value)


@pytest.mark.parametrize("content", ["not json {", "[1, 2]", "\xff\xfe"])
def test_a_lock_that_is_not_a_lock_is_refused_in_words(tmp_path, content):
    lock_path = tmp_path / "plan.lock"
    lock_path.write_bytes(content.encode("latin-1"))
    with pytest.raises(PlanError, match="restore it from version control"):
        plan_lock.read_lock(lock_path)


def test_each_changed_added_or_removed_setting_is_a_deviation(tmp_path):
    lock = plan_lock.read_lock(frozen_lock(tmp_path))

    def edit(plan):
        plan["exposure"]["cut_threshold_pct"] = -10                   # changed
        plan["models"]["primary"]["covariates"].append("workless")    # a list is one setting
        plan["models"]["secondary"] = {"outcome": "ghq_likert_w3"}    # a new model: added setting by setting
        del plan["disclosure"]                                        # removed
        plan["power_planner"]["outcome_sd"] = "2.5"                   # text "2.5" is not the number 2.5

    table = plan_lock.deviations(changed(PLAN, edit), lock)
    rows = table.set_index("setting")
    assert list(rows.index) == sorted(["exposure.cut_threshold_pct", "models.primary.covariates",
                                       "models.secondary.outcome", "disclosure.suppress_below",
                                       "power_planner.outcome_sd"])
    assert rows.loc["exposure.cut_threshold_pct", ["frozen_value", "run_value", "change"]].tolist() == \
        ["-5", "-10", "changed"]
    assert rows.loc["models.primary.covariates", "run_value"] == '["mother_age", "lone_parent", "workless"]'
    assert rows.loc["models.secondary.outcome", ["frozen_value", "change"]].tolist() == \
        [plan_lock.ABSENT, "added"]
    assert rows.loc["disclosure.suppress_below", ["run_value", "change"]].tolist() == [plan_lock.ABSENT,
                                                                                       "removed"]
    assert rows.loc["power_planner.outcome_sd", ["frozen_value", "run_value"]].tolist() == ["null", '"2.5"']
    assert set(table["frozen_at"]) == {"2026-01-05T10:00:00Z"} and set(table["frozen_version"]) == {1}


def test_a_plan_equal_to_the_frozen_one_has_no_deviation_whatever_its_key_order(tmp_path):
    lock = plan_lock.read_lock(frozen_lock(tmp_path))
    reordered = json.loads(json.dumps(PLAN, sort_keys=True))
    reordered["exposure"] = dict(reversed(list(reordered["exposure"].items())))
    assert plan_lock.deviations(reordered, lock).empty
    assert plan_lock.deviations(PLAN, None).empty  # no lock: nothing to deviate from (said in words)


def test_the_words_say_whether_the_plan_was_frozen_and_name_each_deviation(tmp_path):
    lock_path = frozen_lock(tmp_path)
    lock = plan_lock.read_lock(lock_path)
    new_plan = changed(PLAN, lambda p: p["exposure"].update(cut_threshold_pct=-10))
    table = plan_lock.deviations(new_plan, lock)
    record = plan_lock.lock_record(lock_path, lock, new_plan)
    assert record["status"] == "frozen" and not record["follows_frozen_plan"]
    text = plan_lock.deviations_markdown(table, record)
    assert "frozen on 2026-01-05 (version 1, no commit recorded" in text
    assert "deviates from it in 1 setting**: `exposure.cut_threshold_pct`" in text
    assert "| exposure.cut_threshold_pct | -5             | -10" in text  # as written, not as numbers
    unfrozen = plan_lock.deviations_markdown(plan_lock.deviations(new_plan, None),
                                             plan_lock.lock_record(None, None, new_plan))
    assert "**not frozen**" in unfrozen and "make freeze" in unfrozen
    record = plan_lock.lock_record(lock_path, lock, PLAN)
    same = plan_lock.deviations_words(plan_lock.deviations(PLAN, lock), record)
    assert same.endswith("This run follows the frozen plan exactly: no setting differs.")


def test_published_values_read_back_as_written(tmp_path):
    lock = plan_lock.read_lock(frozen_lock(tmp_path))
    table = plan_lock.deviations(changed(PLAN, lambda p: p["power_planner"].update(outcome_sd=3)), lock)
    table.to_csv(tmp_path / "plan_deviations.csv", index=False)
    back = plan_lock.read_deviations(tmp_path / "plan_deviations.csv")
    assert back.loc[0, "frozen_value"] == "null" and back.loc[0, "run_value"] == "3"


def test_the_command_line_refuses_in_one_line_and_freezes(tmp_path, capsys):
    plan_file = tmp_path / "analysis_plan.json"
    plan_file.write_text(json.dumps(PLAN))
    lock = tmp_path / "plan.lock"
    assert plan_lock.main([str(plan_file), str(lock)]) == 0
    assert "Froze the analysis plan" in capsys.readouterr().out
    assert plan_lock.main([str(plan_file), str(lock)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("make freeze: The plan lock") and "Traceback" not in err
    assert plan_lock.main([str(tmp_path / "missing.json"), str(lock)]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_the_shipped_plan_is_the_frozen_one(tmp_path):
    """The committed lock freezes config/config.yaml as the workflow reads it (schema defaults filled), so the
    bundled run follows it; a change to the shipped plan must come with an amendment (make freeze AMEND=)."""
    work = copy_project(tmp_path / "work")
    result = snakemake(work, ROOT / "data" / "raw", "results/data/analysis_plan.json", scenario=False)
    assert result.returncode == 0, result.stderr[-3000:]
    plan = json.loads((work / "results/data/analysis_plan.json").read_text())
    lock = plan_lock.read_lock(ROOT / "config" / "plan.lock")
    assert plan_lock.deviations(plan, lock).empty, plan_lock.deviations(plan, lock).to_string()
    assert plan_lock.frozen(lock)["plan_sha256"] == plan_lock.plan_sha256(plan)


def test_a_project_without_a_lock_runs_and_deviates_from_nothing(tmp_path):
    work = copy_project(tmp_path / "work")
    (work / "config" / "plan.lock").unlink()
    result = snakemake(work, ROOT / "data" / "raw", "results/data/tables/plan_deviations.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert plan_lock.read_deviations(work / "results/data/tables/plan_deviations.csv").empty


@pytest.mark.slow
def test_the_test_scenario_is_listed_setting_by_setting(synthetic_run):
    """The pipeline tests layer tests/scenarios/tiny_fast over the shipped plan: each setting it changes is a
    deviation, in the published table, the report and the appendix."""
    scenario = yaml.safe_load((ROOT / "tests/scenarios/tiny_fast/config.yaml").read_text())
    shipped = plan_lock.frozen(plan_lock.read_lock(ROOT / "config" / "plan.lock"))["plan"]
    frozen = plan_lock.settings(shipped)
    expected = {s for s, v in plan_lock.settings(scenario).items()
                if plan_lock.shown(v) != plan_lock.shown(frozen.get(s, plan_lock.ABSENT))}
    published = plan_lock.read_deviations(synthetic_run / "results/tables/plan_deviations.csv")
    assert set(published["setting"]) == expected and len(expected) >= 5
    row = published.set_index("setting").loc["multiple_imputation.imputations"]
    assert (row["frozen_value"], row["run_value"]) == (str(shipped["multiple_imputation"]["imputations"]),
                                                       str(scenario["multiple_imputation"]["imputations"]))
    report = (synthetic_run / "results/report/report.html").read_text()
    assert f"deviates from it in {len(expected)} settings" in report
    appendix = (synthetic_run / "results/report/appendix.md").read_text()
    assert "Deviations from the frozen analysis plan" in appendix
    assert f"deviates from it in {len(expected)} settings" in appendix
    provenance = json.loads((synthetic_run / "results/provenance.json").read_text())["plan_lock"]
    assert provenance["lock_sha256"] == plan_lock.sha256_file(ROOT / "config" / "plan.lock")
    assert provenance["follows_frozen_plan"] is False
