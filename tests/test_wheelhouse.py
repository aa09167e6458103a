"""The offline install's wheelhouse (offline/wheelhouse.py): what counts as complete for Linux and Windows,
and failures said in words. The install itself, with the index unreachable, is `make offline-check` (part of
`make test`): it costs a fresh environment of 140 packages, too much for a unit test."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from offline import wheelhouse
from offline.wheelhouse import TARGETS, WheelhouseError, missing_wheels, read_pins, wanted_pins

LINUX, WINDOWS = TARGETS["linux"], TARGETS["windows"]


def make_wheel(folder: Path, filename: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal wheel: only the METADATA that the completeness check reads."""
    name, version = filename.split("-")[:2]
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    path = folder / filename
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA", metadata)
    return path


def pins(*texts: str) -> list[Requirement]:
    return [Requirement(text) for text in texts]


@pytest.fixture
def house(tmp_path) -> Path:
    """A pure package needing colorama on Windows only, and a compiled one with wheels for both systems."""
    make_wheel(tmp_path, "alpha-1.0-py3-none-any.whl",
               ('beta>=2', 'colorama; sys_platform == "win32"', 'gamma; extra == "fast"'))
    make_wheel(tmp_path, "beta-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    make_wheel(tmp_path, "beta-2.0-cp311-cp311-win_amd64.whl")
    return tmp_path


def test_a_complete_folder_has_no_problems_on_linux(house):
    assert missing_wheels(house, LINUX, pins("alpha==1.0", "beta==2.0")) == []


def test_a_windows_only_dependency_is_found_missing_and_named_with_who_needs_it(house):
    problems = missing_wheels(house, WINDOWS, pins("alpha==1.0", "beta==2.0"))
    assert len(problems) == 1
    assert "colorama" in problems[0] and "needed by alpha 1.0" in problems[0] and "Windows" in problems[0]
    make_wheel(house, "colorama-0.4.6-py2.py3-none-any.whl")
    assert missing_wheels(house, WINDOWS, pins("alpha==1.0", "beta==2.0")) == []


def test_a_pin_with_a_linux_wheel_only_is_missing_for_windows(tmp_path):
    make_wheel(tmp_path, "delta-1.0-cp311-cp311-manylinux_2_28_x86_64.whl")
    assert missing_wheels(tmp_path, LINUX, pins("delta==1.0")) == []
    (problem,) = missing_wheels(tmp_path, WINDOWS, pins("delta==1.0"))
    assert problem.startswith("delta==1.0 (pinned): no Windows")
    assert "versions there for this system: none" in problem


def test_a_wrong_version_is_missing_and_the_versions_present_are_said(tmp_path):
    make_wheel(tmp_path, "beta-1.0-cp311-cp311-win_amd64.whl")
    (problem,) = missing_wheels(tmp_path, WINDOWS, pins("beta==2.0"))
    assert "versions there for this system: 1.0" in problem


def test_wheels_for_other_pythons_or_systems_do_not_count(tmp_path):
    make_wheel(tmp_path, "beta-2.0-cp312-cp312-win_amd64.whl")
    make_wheel(tmp_path, "beta-2.0-cp311-cp311-macosx_11_0_arm64.whl")
    make_wheel(tmp_path, "beta-2.0-cp311-cp311-musllinux_1_2_x86_64.whl")
    assert len(missing_wheels(tmp_path, WINDOWS, pins("beta==2.0"))) == 1
    assert len(missing_wheels(tmp_path, LINUX, pins("beta==2.0"))) == 1


def test_stable_abi_wheels_of_older_cpythons_count_for_3_11(tmp_path):
    # psutil, wcwidth and multimark publish only such wheels (cp36/cp310/cp39-abi3).
    make_wheel(tmp_path, "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.whl")
    make_wheel(tmp_path, "psutil-7.2.2-cp37-abi3-win_amd64.whl")
    assert missing_wheels(tmp_path, LINUX, pins("psutil==7.2.2")) == []
    assert missing_wheels(tmp_path, WINDOWS, pins("psutil==7.2.2")) == []


def test_extras_are_followed_as_pip_would(house):
    (problem,) = missing_wheels(house, LINUX, pins("alpha[fast]==1.0", "beta==2.0"))
    assert problem.startswith("gamma") and "needed by alpha 1.0" in problem


def test_lock_markers_are_judged_for_the_system_served_not_this_machine(tmp_path):
    lock = tmp_path / "extra.lock"
    lock.write_text('# comment\nsetuptools==84.2.1\ncolorama==0.4.6 ; sys_platform == "win32"  # why\n')
    assert [str(p.name) for p in read_pins(lock, LINUX)] == ["setuptools"]
    assert [str(p.name) for p in read_pins(lock, WINDOWS)] == ["setuptools", "colorama"]


@pytest.mark.parametrize("line", ["pandas>=3", "pandas", "pandas==3.1.1,<4", "pandas==="])
def test_a_lock_line_that_is_not_an_exact_pin_is_refused_with_file_and_line(tmp_path, line):
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"numpy==2.4.6\n{line}\n")
    with pytest.raises(WheelhouseError, match="requirements.lock, line 2"):
        read_pins(lock, LINUX)


def test_the_shipped_locks_add_the_build_backend_everywhere_and_windows_only_dependencies_on_windows():
    linux = {p.name.lower() for p in wanted_pins(LINUX)}
    windows = {p.name.lower() for p in wanted_pins(WINDOWS)}
    assert {"setuptools", "snakemake", "statsmodels"} <= linux
    assert windows - linux == {"colorama", "pyreadline3"}
    # The build backend pinned for the wheelhouse satisfies the project's build-system requirement.
    build_requires = Requirement("setuptools>=65")
    setuptools = next(p for p in wanted_pins(LINUX) if p.name == "setuptools")
    assert build_requires.specifier.contains(next(iter(setuptools.specifier)).version)


def test_pips_no_distribution_message_names_the_missing_pin():
    output = (
        "ERROR: Could not find a version that satisfies the requirement cffi==2.1.1 (from versions: none)\n"
        "ERROR: No matching distribution found for cffi==2.1.1\n"
    )
    assert wheelhouse.unavailable_pin(output) == "cffi==2.1.1"
    assert wheelhouse.unavailable_pin("ERROR: Could not install packages due to an OSError") is None


def test_a_failed_offline_install_says_which_wheel_was_missing():
    pip_error = "ERROR: No matching distribution found for pandas==3.1.1\n"
    failed = subprocess.CompletedProcess([], 1, "", pip_error)
    with pytest.raises(WheelhouseError, match="pandas==3.1.1 is not in the wheelhouse for this system"):
        wheelhouse._step("Installing requirements.lock from the wheelhouse", failed)


def test_verify_refuses_a_folder_without_wheels_in_words(tmp_path, capsys):
    assert wheelhouse.main(["verify", str(tmp_path)]) == 1
    assert "holds no wheels: make it first (make wheelhouse)" in capsys.readouterr().err


def test_the_offline_environment_reaches_no_index_and_keeps_no_pip_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://example.org/simple")
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    env = wheelhouse._offline_env()
    assert not {"PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "https_proxy", "PYTHONPATH"} & set(env)
    assert env["PIP_CONFIG_FILE"] == os.devnull and env["PIP_INDEX_URL"] == wheelhouse.UNREACHABLE_INDEX
    # pip itself, so configured, cannot fetch anything (a refused connection: fails at once).
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--retries", "0",
                             "--timeout", "5", "--dest", str(tmp_path), "setuptools"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0 and not list(tmp_path.iterdir())


def fake_pip(monkeypatch, answers):
    """Replace pip by scripted answers; records each call's arguments."""
    calls = []

    def run(args, **_):
        calls.append(args)
        return answers[len(calls) - 1](args)

    monkeypatch.setattr(wheelhouse, "_pip", run)
    return calls


def test_pins_without_a_wheel_are_set_aside_and_the_rest_fetched_again(monkeypatch, tmp_path):
    make_wheel(tmp_path, "beta-2.0-cp311-cp311-win_amd64.whl")  # already there: not asked for again
    refused = "ERROR: No matching distribution found for connection_pool==0.0.3\n"
    calls = fake_pip(monkeypatch, [lambda a: subprocess.CompletedProcess(a, 1, "", refused),
                                   lambda a: subprocess.CompletedProcess(a, 0, "", "")])
    wanted = pins("alpha==1.0", "beta==2.0", "connection-pool==0.0.3")
    no_wheel = wheelhouse.download_wheels(tmp_path, WINDOWS, wanted)
    assert [str(p) for p in no_wheel] == ["connection-pool==0.0.3"]
    assert calls[0][-2:] == ["alpha==1.0", "connection-pool==0.0.3"] and calls[1][-1] == "alpha==1.0"
    assert "--only-binary=:all:" in calls[0] and calls[0][calls[0].index("--platform") + 1] == "win_amd64"


def test_another_pip_failure_is_reported_with_pips_own_words(monkeypatch, tmp_path):
    unavailable = "ERROR: HTTP error 503 from index\n"
    fake_pip(monkeypatch, [lambda a: subprocess.CompletedProcess(a, 1, "", unavailable)])
    with pytest.raises(WheelhouseError, match="pip download for Windows .* failed:\nERROR: HTTP error 503"):
        wheelhouse.download_wheels(tmp_path, WINDOWS, pins("alpha==1.0"))


def test_an_sdist_is_kept_only_when_it_builds_a_pure_wheel(monkeypatch, tmp_path):
    def builds(filename):
        def run(args):
            make_wheel(Path(args[args.index("--wheel-dir") + 1]), filename)
            return subprocess.CompletedProcess(args, 0, "", "")
        return run

    fake_pip(monkeypatch, [builds("soupsieve-4.1.3-py3-none-any.whl"),
                           builds("fastthing-1.0-cp311-cp311-linux_x86_64.whl")])
    built, refused = wheelhouse.build_pure_wheels(tmp_path, pins("soupsieve==4.1.3", "fastthing==1.0"))
    assert built == ["soupsieve==4.1.3"]
    assert [p.name for p in tmp_path.iterdir()] == ["soupsieve-4.1.3-py3-none-any.whl"]
    assert len(refused) == 1 and "fastthing==1.0 (its sdist builds a compiled wheel" in refused[0]
