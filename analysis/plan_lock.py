"""The frozen analysis plan: `make freeze` writes config/plan.lock; every run lists how it departs from it.

The analysis plan is the validated configuration (config/config.yaml, any plan file and --config entries,
with the schema's defaults filled in) without what only says where and how the data are read: `raw_dir`,
`plan_file` and `sources`, nor how the results are rendered: `report_pdf`. Those may name a secure folder and
change with whoever runs the plan (and the machine it runs on), not with the plan. The workflow writes that
plan as results/data/analysis_plan.json (rule analysis_plan); `make freeze` records it in the lock with its
SHA-256, the commit and the time (UTC).

The lock is JSON holding every frozen version, oldest first; the last is the plan in force. Freezing again
is refused unless it is an amendment, which needs a reason and appends a version, so the history stays.
A lock whose recorded hash does not match its plan (edited by hand) is refused, in words.

A deviation is a setting (a dotted path, e.g. `exposure.cut_threshold_pct`) whose value in this run differs
from the frozen plan's, or that only one of them has. Lists are compared whole (a covariate list is one
setting); mappings setting by setting.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.errors import PlanError
from analysis.provenance import config_sha256, git_state, sha256_file, utc_now

# Where and how the data are read, and how the results are rendered, not what is done with them (module
# docstring).
NOT_PLAN = ("raw_dir", "plan_file", "sources", "report_pdf")
# Added to each model's entry by the workflow from exposure.level (workflow/rules/common.smk).
DERIVED_MODEL_KEYS = ("exposure_level",)
LOCK_FORMAT = 1
DEVIATION_COLUMNS = ["setting", "frozen_value", "run_value", "change", "frozen_version", "frozen_at"]
ABSENT = "(not set)"


def analysis_plan(config: dict) -> dict:
    """The analysis plan within a validated configuration (a copy)."""
    plan = {key: copy.deepcopy(value) for key, value in config.items() if key not in NOT_PLAN}
    for entry in plan.get("models", {}).values():
        for key in DERIVED_MODEL_KEYS:
            entry.pop(key, None)
    return plan


def plan_sha256(plan: dict) -> str:
    return config_sha256(plan)


def _refuse(lock_path, reason: str) -> None:
    raise PlanError(f"The plan lock {lock_path} {reason}")


def read_lock(path) -> dict:
    """The lock at `path`, checked: its format, every version's fields, and every plan against its hash."""
    path = Path(path)
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        _refuse(path, f"is not the JSON `make freeze` writes ({err}); restore it from version control")
    versions = lock.get("versions") if isinstance(lock, dict) else None
    if not (isinstance(lock, dict) and lock.get("lock_format") == LOCK_FORMAT and isinstance(versions, list)
            and versions):
        _refuse(path, f"is not a format-{LOCK_FORMAT} plan lock with at least one frozen version; restore it "
                      "from version control")
    for number, version in enumerate(versions, start=1):
        missing = [key for key in ("version", "frozen_at", "commit", "plan_sha256", "plan")
                   if key not in version] if isinstance(version, dict) else ["everything"]
        if missing:
            _refuse(path, f"version {number} lacks {', '.join(missing)}; restore it from version control")
        if version["version"] != number:
            _refuse(path, f"numbers its version {number} as {version['version']!r}: versions run 1, 2, ...")
        if not isinstance(version["plan"], dict) or plan_sha256(version["plan"]) != version["plan_sha256"]:
            _refuse(path, f"version {number} (frozen {version['frozen_at']}): the plan does not match its "
                          "recorded SHA-256, so it was changed after freezing. A frozen plan is changed only "
                          "by an amendment (make freeze AMEND=\"reason\"); restore the lock from version "
                          "control")
    return lock


def frozen(lock: dict) -> dict:
    """The version of the plan in force: the lock's last."""
    return lock["versions"][-1]


def freeze(plan: dict, lock_path, *, amend: str | None = None, root=".", now: str | None = None) -> dict:
    """Write (or, with `amend` giving the reason, extend) the lock at `lock_path`; return the new version."""
    lock_path, reason = Path(lock_path), (amend or "").strip()
    if lock_path.exists():
        lock = read_lock(lock_path)
        current = frozen(lock)
        if amend is None:
            _refuse(lock_path, f"already holds a frozen plan (version {current['version']}, frozen "
                               f"{current['frozen_at']}). A frozen plan is not overwritten: to record a "
                               "changed plan as an amendment, give the reason: make freeze AMEND=\"reason\"")
        if not reason:
            _refuse(lock_path, "is being amended without a reason: say why the plan changed "
                               "(make freeze AMEND=\"reason\")")
        if plan_sha256(plan) == current["plan_sha256"]:
            _refuse(lock_path, f"already holds this plan (version {current['version']}, frozen "
                               f"{current['frozen_at']}): there is nothing to amend")
    elif amend is not None:
        _refuse(lock_path, "does not exist, so there is nothing to amend: freeze the plan first "
                           "(make freeze)")
    else:
        lock = {"lock_format": LOCK_FORMAT,
                "about": "The frozen analysis plan, written by `make freeze`; never edit it by hand "
                         "(README 'Freezing the analysis plan').",
                "versions": []}
    git = git_state(root)
    version = {
        "version": len(lock["versions"]) + 1,
        "frozen_at": now or utc_now(),
        "commit": git["commit"],
        "uncommitted_changes": git["dirty"],
        "amendment_reason": reason or None,
        "plan_sha256": plan_sha256(plan),
        "plan": copy.deepcopy(plan),
    }
    lock["versions"].append(version)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole to a sibling and renamed: a failed freeze leaves the old lock as it was.
    partial = lock_path.with_name(f".{lock_path.name}.partial")
    partial.write_text(json.dumps(lock, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    partial.replace(lock_path)
    return version


def settings(plan: dict, prefix: str = "") -> dict[str, Any]:
    """The plan's settings by dotted path; a list (or an empty mapping) is one setting."""
    flat: dict[str, Any] = {}
    for key, value in plan.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(settings(value, prefix=f"{path}."))
        else:
            flat[path] = value
    return flat


def shown(value: Any) -> str:
    """A setting's value as JSON (so "5" and 5 differ), or ABSENT."""
    return value if value is ABSENT else json.dumps(value, ensure_ascii=False, sort_keys=True)


def deviations(plan: dict, lock: dict | None) -> pd.DataFrame:
    """Each setting of `plan` that differs from the lock's plan in force (none without a lock)."""
    if lock is None:
        return pd.DataFrame(columns=DEVIATION_COLUMNS)
    version = frozen(lock)
    before, now = settings(version["plan"]), settings(plan)
    rows = []
    for setting in sorted(before.keys() | now.keys()):
        old, new = before.get(setting, ABSENT), now.get(setting, ABSENT)
        if shown(old) == shown(new):
            continue
        change = "added" if old is ABSENT else "removed" if new is ABSENT else "changed"
        rows.append({"setting": setting, "frozen_value": shown(old), "run_value": shown(new),
                     "change": change, "frozen_version": version["version"],
                     "frozen_at": version["frozen_at"]})
    return pd.DataFrame(rows, columns=DEVIATION_COLUMNS)


def read_deviations(path) -> pd.DataFrame:
    """A published deviations table with every value as written (JSON text: "5" and 5 differ, and null is a
    value, not a missing one)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def lock_record(lock_path, lock: dict | None, plan: dict) -> dict:
    """What provenance records of the lock: whether the plan was frozen, the lock's SHA-256 and the version
    in force, and whether this run's plan is that version."""
    if lock is None:
        return {"status": "not frozen", "plan_sha256": plan_sha256(plan)}
    version = frozen(lock)
    return {
        "status": "frozen",
        "lock_sha256": sha256_file(lock_path),
        "frozen_version": version["version"],
        "frozen_at": version["frozen_at"],
        "frozen_commit": version["commit"],
        "frozen_plan_sha256": version["plan_sha256"],
        "plan_sha256": plan_sha256(plan),
        "follows_frozen_plan": plan_sha256(plan) == version["plan_sha256"],
        "amendments": [{key: v[key] for key in ("version", "frozen_at", "commit", "amendment_reason")}
                       for v in lock["versions"][1:]],
    }


def _commit(record: dict) -> str:
    return f"commit {record['frozen_commit'][:12]}" if record.get("frozen_commit") else "no commit recorded"


def deviations_words(table: pd.DataFrame, record: dict) -> str:
    """Whether the plan was frozen, when, its amendments, and whether this run departs from it (Markdown)."""
    if record.get("status") != "frozen":
        return ("The analysis plan was **not frozen** before this run: there is no `config/plan.lock`, so "
                "nothing shows which settings were chosen before the results were seen. Freeze the plan "
                "with `make freeze` before analysing the data.")
    words = (f"The analysis plan was frozen on {record['frozen_at'][:10]} (version "
             f"{record['frozen_version']}, {_commit(record)}; `config/plan.lock`, SHA-256 "
             f"{record['lock_sha256'][:12]}).")
    amendments = record.get("amendments") or []
    if amendments:
        words += " It was amended " + "; ".join(f"on {a['frozen_at'][:10]} (version {a['version']}: "
                                                f"{a['amendment_reason']})" for a in amendments) + "."
    if table.empty:
        return words + " This run follows the frozen plan exactly: no setting differs."
    count = len(table)
    return (f"{words} **This run deviates from it in {count} setting{'s' if count != 1 else ''}**: "
            f"{', '.join(f'`{s}`' for s in table['setting'])}. Results that depend on them were not "
            "pre-specified.")


def deviations_markdown(table: pd.DataFrame, record: dict) -> str:
    """'Deviations from the frozen plan' for the report: the words, then each setting's two values."""
    words = deviations_words(table, record)
    if table.empty:
        return words
    listed = table.rename(columns={"setting": "Setting", "frozen_value": "Frozen value",
                                   "run_value": "This run's value", "change": "Change"})
    return (words + " Values are written as in JSON.\n\n"
            + listed[["Setting", "Frozen value", "This run's value", "Change"]].to_markdown(index=False,
                                                                                    disable_numparse=True))


def main(argv: list[str] | None = None) -> int:
    """make freeze: python -m analysis.plan_lock PLAN_JSON LOCK [--amend REASON]."""
    parser = argparse.ArgumentParser(prog="python -m analysis.plan_lock",
                                     description="Freeze the analysis plan in a lock file (make freeze).")
    parser.add_argument("plan", help="the run's analysis plan, results/data/analysis_plan.json")
    parser.add_argument("lock", help="the lock file, config/plan.lock")
    parser.add_argument("--amend", metavar="REASON", help="record a changed plan as an amendment, saying why")
    args = parser.parse_args(argv)
    try:
        plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
        version = freeze(plan, args.lock, amend=args.amend)
    except (PlanError, OSError, json.JSONDecodeError) as err:
        print(f"make freeze: {err}", file=sys.stderr)
        return 2
    kind = "Amended" if version["version"] > 1 else "Froze"
    print(f"{kind} the analysis plan in {args.lock}: version {version['version']}, SHA-256 "
          f"{version['plan_sha256'][:12]}, commit {version['commit'] or 'unknown'}"
          f"{' (with uncommitted changes)' if version['uncommitted_changes'] else ''}. Commit the lock.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
