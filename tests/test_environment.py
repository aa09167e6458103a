"""environment.yml (conda) and requirements.lock (pip) pin the same versions of every direct dependency."""

import re

import yaml

from tests.conftest import ROOT


def lock_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def environment_versions() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for pip_entry in entry["pip"]:
                name, version = pip_entry.split("==")
                pins[name.lower()] = version
        elif "=" in entry:
            name, version = entry.split("=")
            pins[name.lower()] = version
    return pins


def direct_dependencies() -> list[str]:
    lines = (ROOT / "requirements.in").read_text().splitlines()
    return [re.split(r"[<>=\[ ]", line)[0].lower() for line in lines if line and not line.startswith("#")]


def test_environment_yml_agrees_with_lock():
    lock, env = lock_versions(), environment_versions()
    python = env.pop("python")
    assert python == "3.11"
    for name, version in env.items():
        assert lock.get(name) == version, f"{name}: environment.yml {version}, lock {lock.get(name)}"


def test_every_direct_dependency_is_pinned_in_both():
    lock, env = lock_versions(), environment_versions()
    for name in direct_dependencies():
        assert name in lock, f"{name} missing from requirements.lock"
        assert name in env, f"{name} missing from environment.yml"
