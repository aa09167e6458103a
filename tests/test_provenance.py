"""Provenance hashes and the run manifest: deterministic, sensitive to every input, free of paths/times."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime

import pandas as pd
import pytest

from analysis import provenance
from analysis.provenance import (
    CHUNK_SIZE,
    canonical_json,
    code_files,
    code_fingerprint,
    code_sha256,
    config_sha256,
    git_state,
    manifest,
    package_versions,
    provenance_record,
    python_version,
    raw_input_hashes,
    seeds,
    sha256_file,
    short_hash,
    utc_now,
)

CONFIG = {
    "models": {
        "primary": {"estimator": "lmm_reml", "covariates": ["age", "imd"]},
        "primary_ols_cr2": {"bootstrap": {"replications": 9999, "seed": 12345}},
    },
    "multiple_imputation": {"imputations": 20, "seed": 20120401},
}


def write(path, content: str | bytes = "x\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.fixture
def project(tmp_path):
    """A small project tree with code, caches, hidden files and files that are not code."""
    root = tmp_path / "project"
    write(root / "Snakefile", "include: 'workflow/rules/clean.smk'\n")
    write(root / "workflow" / "rules" / "clean.smk", "rule clean:\n")
    write(root / "workflow" / "scripts" / "fit.py", "print('fit')\n")
    write(root / "workflow" / "report" / "forest.rst", "Forest plot.\n")
    write(root / "workflow" / "profiles" / "default" / "config.yaml", "cores: 1\n")
    write(root / "workflow" / "scripts" / "__pycache__" / "fit.cpython-311.pyc", b"\x00cache")
    write(root / "workflow" / ".hidden", "editor state\n")
    write(root / "workflow" / "__pycache__" / "lockfile", "not a .pyc, still a cache\n")
    write(root / "workflow" / "notebooks" / ".ipynb_checkpoints" / "report-checkpoint.ipynb", "{}\n")
    write(root / "workflow" / "notebooks" / "report.ipynb", "{}\n")
    write(root / "analysis" / "models.py", "EFFECT = 1\n")
    write(root / "analysis" / "stale.pyc", b"\x00stale")
    write(root / "analysis" / "__pycache__" / "models.cpython-311.pyc", b"\x00cache")
    write(root / "analysis" / "notes.txt", "not code\n")
    write(root / "config" / "schema" / "config.schema.yaml", "type: object\n")
    write(root / "config" / "config.yaml", "seed: 1\n")  # the config is hashed separately, as data
    write(root / "data" / "raw" / "mothers.csv", "id\n1\n")
    return root


@pytest.fixture
def raw(tmp_path):
    raw_dir = tmp_path / "secure" / "raw"
    return {
        "mothers": write(raw_dir / "mothers.csv", "id,k6\n1,4\n2,7\n"),
        "centres": write(raw_dir / "centres.csv", "centre,budget\nA,100\n"),
    }


# ---- hashing primitives ----------------------------------------------------------------------------

def test_sha256_file_matches_hashlib_on_a_small_file(tmp_path):
    path = write(tmp_path / "small.bin", b"abc")
    assert sha256_file(path) == hashlib.sha256(b"abc").hexdigest()
    assert sha256_file(str(path)) == sha256_file(path)


def test_sha256_file_matches_hashlib_across_chunks(tmp_path):
    # Not a multiple of the chunk size, so the last partial chunk must be hashed too.
    data = bytes(range(256)) * ((2 * CHUNK_SIZE) // 256) + b"tail"
    assert len(data) > 2 * CHUNK_SIZE
    path = write(tmp_path / "big.bin", data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_sha256_file_of_an_empty_file(tmp_path):
    assert sha256_file(write(tmp_path / "empty", b"")) == hashlib.sha256(b"").hexdigest()


def test_canonical_json_is_sorted_and_compact():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": None}]}) == '{"a":[1,{"c":null,"d":2}],"b":1}'
    assert canonical_json({"when": datetime(2020, 1, 2, tzinfo=UTC).date()}) == '{"when":"2020-01-02"}'


def test_config_hash_ignores_key_order_but_not_values():
    reordered = {
        "multiple_imputation": {"seed": 20120401, "imputations": 20},
        "models": {
            "primary_ols_cr2": {"bootstrap": {"seed": 12345, "replications": 9999}},
            "primary": {"covariates": ["age", "imd"], "estimator": "lmm_reml"},
        },
    }
    assert config_sha256(reordered) == config_sha256(CONFIG)
    assert re.fullmatch(r"[0-9a-f]{64}", config_sha256(CONFIG))

    changed = json.loads(json.dumps(CONFIG))
    changed["multiple_imputation"]["imputations"] = 21
    assert config_sha256(changed) != config_sha256(CONFIG)
    # List order is meaningful (e.g. covariate order), so it must change the hash.
    swapped = json.loads(json.dumps(CONFIG))
    swapped["models"]["primary"]["covariates"] = ["imd", "age"]
    assert config_sha256(swapped) != config_sha256(CONFIG)


# ---- code ------------------------------------------------------------------------------------------

def test_code_files_lists_only_pipeline_code_in_sorted_order(project):
    relative = [p.relative_to(project).as_posix() for p in code_files(project)]
    assert relative == [
        "Snakefile",
        "analysis/models.py",
        "config/schema/config.schema.yaml",
        "workflow/notebooks/report.ipynb",
        "workflow/profiles/default/config.yaml",
        "workflow/report/forest.rst",
        "workflow/rules/clean.smk",
        "workflow/scripts/fit.py",
    ]


def test_code_files_tolerates_missing_folders(tmp_path):
    assert code_files(tmp_path) == []
    write(tmp_path / "analysis" / "only.py")
    assert [p.name for p in code_files(tmp_path)] == ["only.py"]


def test_code_hash_follows_code_and_ignores_caches(project):
    before = code_sha256(project)
    write(project / "analysis" / "__pycache__" / "models.cpython-311.pyc", b"\x01recompiled")
    write(project / "workflow" / "scripts" / "__pycache__" / "new.cpython-311.pyc", b"\x01")
    write(project / "analysis" / "other.pyc", b"\x01")
    write(project / "analysis" / ".swp", "editor")
    write(project / "workflow" / "__pycache__" / "lockfile", "changed\n")
    write(project / "workflow" / "notebooks" / ".ipynb_checkpoints" / "report-checkpoint.ipynb", "[]\n")
    write(project / "data" / "raw" / "mothers.csv", "id\n2\n")
    assert code_sha256(project) == before

    write(project / "analysis" / "models.py", "EFFECT = 2\n")
    assert code_sha256(project) != before


def test_code_hash_changes_when_a_code_file_is_added_or_renamed(project):
    before = code_sha256(project)
    write(project / "workflow" / "rules" / "extra.smk", "rule extra:\n")
    added = code_sha256(project)
    assert added != before
    (project / "workflow" / "rules" / "extra.smk").rename(project / "workflow" / "rules" / "more.smk")
    assert code_sha256(project) not in {before, added}


def test_code_hash_does_not_depend_on_the_checkout_location(project, tmp_path):
    elsewhere = shutil.copytree(project, tmp_path / "somewhere" / "else")
    assert code_sha256(elsewhere) == code_sha256(project)


def test_code_fingerprint_names_each_file_from_the_package_folder_and_hashes_them_all(tmp_path, monkeypatch):
    package = tmp_path / "checkout" / "analysis"
    write(package / "models.py", "EFFECT = 1\n")
    write(package / "importers" / "gias.py", "")
    write(tmp_path / "project" / "data" / "import" / "la_lookup.csv", "la_code\n")
    monkeypatch.chdir(tmp_path / "project")
    files = [package / "models.py", package / "importers" / "gias.py", "data/import/la_lookup.csv"]
    fingerprint = code_fingerprint(files, package.parent)
    expected = {"analysis/importers/gias.py": hashlib.sha256(b"").hexdigest(),
                "analysis/models.py": hashlib.sha256(b"EFFECT = 1\n").hexdigest(),
                "data/import/la_lookup.csv": hashlib.sha256(b"la_code\n").hexdigest()}
    assert fingerprint["files"] == expected and list(fingerprint["files"]) == sorted(expected)
    pairs = json.dumps(sorted(expected.items()), separators=(",", ":"))
    assert fingerprint["sha256"] == hashlib.sha256(pairs.encode()).hexdigest()

    # The same code elsewhere has the same fingerprint; any change of content changes it.
    moved = shutil.copytree(tmp_path / "checkout", tmp_path / "elsewhere") / "analysis"
    assert code_fingerprint([moved / "models.py", moved / "importers" / "gias.py",
                             "data/import/la_lookup.csv"], moved.parent) == fingerprint
    write(package / "models.py", "EFFECT = 2\n")
    assert code_fingerprint(files, package.parent)["sha256"] != fingerprint["sha256"]


# ---- environment -----------------------------------------------------------------------------------

def test_package_versions_include_pandas_with_normalised_sorted_names():
    versions = package_versions()
    assert versions["pandas"] == pd.__version__
    assert list(versions) == sorted(versions)
    for name in versions:
        assert name == name.lower() and "_" not in name and "." not in name, name


def test_python_version_names_implementation_and_version():
    assert re.fullmatch(r"[A-Za-z]+ \d+\.\d+\.\d+\S*", python_version())


# ---- provenance record -----------------------------------------------------------------------------

def test_raw_input_hashes_keep_only_the_basename(raw):
    hashes = raw_input_hashes({label: str(path) for label, path in raw.items()})
    assert hashes["mothers"] == {
        "file": "mothers.csv",
        "sha256": hashlib.sha256(raw["mothers"].read_bytes()).hexdigest(),
        "bytes": len(raw["mothers"].read_bytes()),
    }
    assert list(hashes) == ["centres", "mothers"]
    assert "secure" not in canonical_json(hashes)


def test_provenance_record_is_deterministic_and_path_free(raw, project, tmp_path):
    first = provenance_record(raw, CONFIG, project)
    second = provenance_record(dict(reversed(raw.items())), json.loads(json.dumps(CONFIG)), str(project))
    assert first == second
    keys = {"raw_inputs", "config_sha256", "code_sha256", "python", "packages", "provenance_hash"}
    assert set(first) == keys
    assert first["config_sha256"] == config_sha256(CONFIG)
    assert first["code_sha256"] == code_sha256(project)
    expected = {k: v for k, v in first.items() if k != "provenance_hash"}
    assert first["provenance_hash"] == hashlib.sha256(canonical_json(expected).encode()).hexdigest()
    assert short_hash(first) == first["provenance_hash"][:12]

    text = json.dumps(first)
    assert str(tmp_path) not in text
    assert "secure" not in text


def test_provenance_hash_changes_with_each_input(raw, project):
    base = provenance_record(raw, CONFIG, project)["provenance_hash"]

    changed_config = json.loads(json.dumps(CONFIG))
    changed_config["models"]["primary_ols_cr2"]["bootstrap"]["seed"] = 54321
    assert provenance_record(raw, changed_config, project)["provenance_hash"] != base

    write(project / "analysis" / "models.py", "EFFECT = 3\n")
    code_changed = provenance_record(raw, CONFIG, project)["provenance_hash"]
    assert code_changed != base

    # One byte of one raw file.
    data = bytearray(raw["mothers"].read_bytes())
    data[-2] = ord("8")
    raw["mothers"].write_bytes(bytes(data))
    raw_changed = provenance_record(raw, CONFIG, project)["provenance_hash"]
    assert raw_changed not in {base, code_changed}


def test_provenance_hash_changes_with_package_versions(raw, project, monkeypatch):
    base = provenance_record(raw, CONFIG, project)["provenance_hash"]
    bumped = {**package_versions(), "pandas": "0.0.1"}
    monkeypatch.setattr(provenance, "package_versions", lambda: bumped)
    assert provenance_record(raw, CONFIG, project)["provenance_hash"] != base


# ---- seeds -----------------------------------------------------------------------------------------

def test_seeds_are_found_nested_and_inside_lists():
    config = {
        **CONFIG,
        "seed": 1,
        "simulation_seed": 2,
        "seeds_note": "not a seed key",
        "seedling": 3,
        "robustness": [{"name": "a", "seed": 7}, {"name": "b", "permutation_seed": 8}, [{"seed": 9}]],
        "unseeded": {"seed": None, "flag_seed": True},
    }
    assert seeds(config) == {
        "models.primary_ols_cr2.bootstrap.seed": 12345,
        "multiple_imputation.seed": 20120401,
        "seed": 1,
        "simulation_seed": 2,
        "robustness.0.seed": 7,
        "robustness.1.permutation_seed": 8,
        "robustness.2.0.seed": 9,
    }
    assert seeds({"models": {}}) == {}


# ---- git -------------------------------------------------------------------------------------------

@pytest.fixture
def isolated_git(monkeypatch, tmp_path):
    """Keep git away from the user's config and from any repository above tmp_path."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for variable in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(variable, raising=False)


def run_git(repo, *args):
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"]
    done = subprocess.run(["git", *identity, *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_git_state_of_a_repository(isolated_git, tmp_path):
    repo = tmp_path / "repo"
    write(repo / "analysis" / "models.py", "EFFECT = 1\n")
    write(repo / ".gitignore", "/results/\n")
    run_git(repo, "init", "-q")
    assert git_state(repo) == {"commit": None, "dirty": True}  # no commit yet, untracked files

    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "initial")
    head = run_git(repo, "rev-parse", "HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert git_state(repo) == {"commit": head, "dirty": False}

    write(repo / "results" / "tables" / "t1.csv", "ignored output\n")
    assert git_state(str(repo)) == {"commit": head, "dirty": False}

    write(repo / "analysis" / "models.py", "EFFECT = 2\n")
    assert git_state(repo) == {"commit": head, "dirty": True}


def test_git_state_counts_untracked_files_as_dirty(isolated_git, tmp_path):
    repo = tmp_path / "repo"
    write(repo / "Snakefile", "rule all:\n")
    run_git(repo, "init", "-q")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "initial")
    write(repo / "workflow" / "scripts" / "new.py", "print()\n")
    assert git_state(repo)["dirty"] is True


def test_git_state_outside_a_repository_is_unknown(isolated_git, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_state(plain) == {"commit": None, "dirty": None}
    assert git_state(tmp_path / "does-not-exist") == {"commit": None, "dirty": None}


def test_git_state_without_git_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable on PATH
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


# ---- manifest --------------------------------------------------------------------------------------

def test_manifest_has_every_key_and_hashes_outputs(raw, project, tmp_path):
    record = provenance_record(raw, CONFIG, project)
    table = write(project / "results" / "tables" / "primary.csv", "term,estimate\ngrowing,0.5\n")
    figure_dir = project / "results" / "figures"
    write(figure_dir / "forest.png", b"\x89PNG")
    write(figure_dir / "sub" / "curve.png", b"\x89PNG2")
    outputs = [
        "results/tables/primary.csv",  # relative to root
        str(figure_dir),  # absolute, a directory output
        "results/tables/missing.csv",  # not produced: left out
    ]
    started, finished = "2026-11-28T01:02:03Z", "2026-11-28T01:05:00Z"
    result = manifest(record, CONFIG, project, started, finished, outputs)

    assert set(result) == {
        "provenance_hash", "raw_inputs", "config", "config_sha256", "code_sha256", "git", "python",
        "packages", "seeds", "started", "finished", "outputs",
    }
    for key in ("provenance_hash", "raw_inputs", "config_sha256", "code_sha256", "python", "packages"):
        assert result[key] == record[key], key
    assert result["config"] == CONFIG
    assert config_sha256(result["config"]) == result["config_sha256"]
    assert result["seeds"] == {
        "models.primary_ols_cr2.bootstrap.seed": 12345,
        "multiple_imputation.seed": 20120401,
    }
    assert result["git"] == git_state(project)
    assert (result["started"], result["finished"]) == (started, finished)
    assert result["outputs"] == {
        "results/figures/forest.png": hashlib.sha256(b"\x89PNG").hexdigest(),
        "results/figures/sub/curve.png": hashlib.sha256(b"\x89PNG2").hexdigest(),
        "results/tables/primary.csv": sha256_file(table),
    }
    text = json.dumps(result)  # serialisable without a default
    assert str(tmp_path) not in text


def test_manifest_rejects_a_config_that_is_not_the_recorded_one(raw, project):
    record = provenance_record(raw, CONFIG, project)
    other = {**CONFIG, "extra": 1}
    with pytest.raises(ValueError, match="config_sha256"):
        manifest(record, other, project, "s", "f", [])


def test_manifest_rejects_outputs_outside_the_root(raw, project, tmp_path):
    record = provenance_record(raw, CONFIG, project)
    outside = write(tmp_path / "elsewhere.csv", "a\n")
    with pytest.raises(ValueError, match="outside the project root"):
        manifest(record, CONFIG, project, "s", "f", [outside])


def test_utc_now_is_iso_utc_to_the_second():
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = utc_now()
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= parsed <= after
