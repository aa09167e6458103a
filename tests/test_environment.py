"""The conda environment (workflow/envs/pipeline.yaml) and requirements.lock (pip) pin the same versions of
every direct dependency; every rule runs in that one environment; its post-deploy script installs the
analysis package."""

import os
import re
import subprocess
import tomllib
import venv

import pytest
import yaml

from tests.conftest import LONGEST_FIRST, ROOT

ENVIRONMENT = ROOT / "workflow" / "envs" / "pipeline.yaml"
# Snakemake runs <env>.post-deploy.sh after building <env>.yaml (its Env.post_deploy_file).
POST_DEPLOY = ENVIRONMENT.with_name(ENVIRONMENT.stem + ".post-deploy.sh")
# conda-forge packages whose PyPI name (the lock's) differs; the environment file's header says why.
CONDA_FORGE_TO_PYPI = {"matplotlib-base": "matplotlib"}
# A conda pin is exact only with ==: "numpy=2.4" would also match 2.4.1 (conda's = is a prefix match).
CONDA_PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>[^=\s]+)$")
PIP_PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>[^=\s;]+)$")


def normalised(name: str) -> str:
    """PyPI's comparison of names (PEP 503): case and runs of -, _ and . do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[normalised(name.strip())] = version.strip()
    return pins


def environment_entries() -> tuple[list[str], list[str]]:
    """The environment file's conda entries and pip entries, as written."""
    env = yaml.safe_load(ENVIRONMENT.read_text())
    conda = [entry for entry in env["dependencies"] if isinstance(entry, str)]
    pip = [line for entry in env["dependencies"] if isinstance(entry, dict) for line in entry["pip"]]
    return conda, pip


def environment_pins() -> dict[str, tuple[str, str]]:
    """PyPI name -> (version, where pinned), for every package the environment file pins except Python and
    pip themselves. Fails on any entry that is not an exact pin."""
    conda, pip = environment_entries()
    pins = {}
    for entry in conda:
        if entry == "pip" or entry.startswith("python="):
            continue
        match = CONDA_PIN.match(entry)
        assert match, f"{ENVIRONMENT.name}: conda entry {entry!r} is not an exact pin (name==version)"
        name = CONDA_FORGE_TO_PYPI.get(match["name"], match["name"])
        pins[normalised(name)] = (match["version"], f"conda-forge {match['name']}")
    for entry in pip:
        match = PIP_PIN.match(entry)
        assert match, f"{ENVIRONMENT.name}: pip entry {entry!r} is not an exact pin (name==version)"
        assert normalised(match["name"]) not in pins, f"{match['name']} is pinned by both conda and pip"
        pins[normalised(match["name"])] = (match["version"], "pip")
    return pins


def direct_dependencies() -> list[str]:
    lines = (ROOT / "requirements.in").read_text().splitlines()
    names = [re.split(r"[<>=\[ #]", line)[0] for line in lines if line.strip() and not line.startswith("#")]
    return [normalised(name) for name in names]


def test_there_is_one_environment_file():
    """One conda environment for the rules and for people, so there are not two to drift apart."""
    def is_environment(path):
        document = yaml.safe_load(path.read_text())
        return isinstance(document, dict) and "dependencies" in document

    elsewhere = sorted(str(path.relative_to(ROOT)) for pattern in ("*.yml", "*.yaml", "config/*.y*ml")
                       for path in ROOT.glob(pattern) if is_environment(path))
    assert elsewhere == [], f"conda environment files outside workflow/envs: {elsewhere}"
    assert sorted(path.name for path in ENVIRONMENT.parent.iterdir()) == [POST_DEPLOY.name, ENVIRONMENT.name]


def test_environment_pins_exactly_the_lock_versions():
    lock = lock_versions()
    pins = environment_pins()
    assert pins, "the environment file pins nothing"
    for name, (version, where) in pins.items():
        assert name in lock, (f"{name} ({where}) is not in requirements.lock (a conda-forge name missing "
                              "from CONDA_FORGE_TO_PYPI?)")
        assert lock[name] == version, f"{name} ({where}): environment {version}, lock {lock[name]}"


def test_every_direct_dependency_is_pinned_in_both():
    lock, pins = lock_versions(), environment_pins()
    for name in direct_dependencies():
        assert name in lock, f"{name} missing from requirements.lock"
        assert name in pins, f"{name} missing from {ENVIRONMENT.name}"


def test_environment_python_is_the_projects():
    conda, _ = environment_entries()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert "python=3.11" in conda
    assert requires == ">=3.11,<3.12"


def test_mapping_names_only_conda_forge_entries_that_are_used():
    """A stale mapping entry would hide a rename: each one must be a conda entry of the file."""
    conda, _ = environment_entries()
    conda_names = {entry.split("=")[0] for entry in conda}
    assert set(CONDA_FORGE_TO_PYPI) <= conda_names


def test_pin_parsing_refuses_a_prefix_pin():
    assert CONDA_PIN.match("numpy==2.4.6")
    assert not CONDA_PIN.match("numpy=2.4.6")
    assert not CONDA_PIN.match("numpy>=2.4")
    assert not PIP_PIN.match("pandas")


def test_every_rule_runs_in_the_environment():
    """Every rule file names the one environment for each rule (snakemake --lint checks that each has one)."""
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        rules = len(re.findall(r"^rule \w+:", text, flags=re.MULTILINE))
        environments = re.findall(r"^    conda:\n        \"([^\"]+)\"", text, flags=re.MULTILINE)
        assert len(environments) == rules, f"{path.name}: {rules} rules, {len(environments)} conda directives"
        for relative in environments:
            assert (path.parent / relative).resolve() == ENVIRONMENT, f"{path.name}: conda: {relative}"


@pytest.mark.slow
def test_post_deploy_installs_this_working_copy(tmp_path):
    """The post-deploy script, run as Snakemake runs it (python on PATH is the new environment's, the working
    directory elsewhere), makes `import analysis` load this working copy."""
    environment = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(environment)
    bin_dir = environment / "bin"
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    # PYTHONPATH is removed as Snakemake removes it for conda jobs, so only the installed package can answer.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | {"PATH": path}
    subprocess.run(["bash", str(POST_DEPLOY)], cwd=tmp_path, env=env, check=True, capture_output=True,
                   timeout=600)
    # find_spec locates the package without importing it (its dependencies are not in this bare environment).
    where = "import importlib.util; print(importlib.util.find_spec('analysis').origin)"
    found = subprocess.run([str(bin_dir / "python"), "-c", where], cwd=tmp_path, env=env, check=True,
                           capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == str(ROOT / "analysis" / "__init__.py")


def test_the_files_the_suite_starts_first_exist():
    """tests/conftest.py names the files holding the longest tests, for pytest-xdist to start first."""
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)
    assert [name for name in LONGEST_FIRST if not (ROOT / "tests" / name).is_file()] == []
