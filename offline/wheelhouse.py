"""Installing where there is no package index (README "Installing without internet").

A wheelhouse is one folder of wheels: every pin of requirements.lock, plus requirements-wheelhouse.lock (what
the project's own build needs, and dependencies that only Windows needs, which `pip freeze` on Linux cannot
list), for Linux (manylinux x86_64) and Windows (win_amd64), CPython 3.11. pip on either system picks the
wheels that fit it from the same folder.

    python offline/wheelhouse.py build DIR [--platform linux|windows ...]   # connected machine: fill DIR
    python offline/wheelhouse.py check DIR [--platform ...]                 # every pin and dependency there?
    python offline/wheelhouse.py verify DIR     # fresh venv from DIR with the index unreachable, then run it

Only the standard library, pip (run as a program) and `packaging` are used.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from functools import cached_property
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
EXTRA_LOCK = ROOT / "requirements-wheelhouse.lock"
# A port nothing listens on: a request to it is refused at once, so pip cannot reach any index.
UNREACHABLE_INDEX = "http://127.0.0.1:9/simple"


class WheelhouseError(Exception):
    """A wheelhouse that cannot be built or used, said in words (no traceback is shown)."""


@dataclass(frozen=True)
class Target:
    """A system the wheelhouse serves: pip's --platform values and the environment its markers see."""

    name: str
    label: str
    pip_platforms: tuple[str, ...]
    markers: dict[str, str]

    def accepts(self, tag: Tag) -> bool:
        return tag in self.supported_tags

    @cached_property
    def supported_tags(self) -> frozenset[Tag]:
        """The wheel tags CPython 3.11 on this system installs (abi3 from older CPythons included)."""
        platforms = list(self.pip_platforms)
        return frozenset(
            [
                *cpython_tags(python_version=(3, 11), abis=["cp311"], platforms=platforms),
                *compatible_tags(python_version=(3, 11), interpreter="cp311", platforms=platforms),
            ]
        )


def _markers(sys_platform: str, platform_system: str, os_name: str, machine: str) -> dict[str, str]:
    return {
        "sys_platform": sys_platform,
        "platform_system": platform_system,
        "os_name": os_name,
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
        "python_version": "3.11",
        "python_full_version": "3.11.7",
        "implementation_version": "3.11.7",
        "platform_release": "",
        "platform_version": "",
    }


# glibc 2.28 (RHEL 8, Debian 10, Ubuntu 20.04) and older: the manylinux tags a current lab Linux accepts.
_MANYLINUX = tuple(f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)) + (
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
TARGETS = {
    "linux": Target(
        "linux",
        "Linux (manylinux x86_64, CPython 3.11)",
        _MANYLINUX,
        _markers("linux", "Linux", "posix", "x86_64"),
    ),
    "windows": Target(
        "windows",
        "Windows (win_amd64, CPython 3.11)",
        ("win_amd64",),
        _markers("win32", "Windows", "nt", "AMD64"),
    ),
}


def read_pins(path: Path, target: Target) -> list[Requirement]:
    """The `name==version` lines of a lock file whose marker holds on `target` (markers are ours to judge:
    pip download evaluates them on the machine it runs on, not on --platform)."""
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            requirement = Requirement(line)
        except ValueError as error:
            raise WheelhouseError(f"{path.name}, line {number}: cannot read {line!r} ({error})") from None
        exact = [spec for spec in requirement.specifier if spec.operator == "=="]
        if len(exact) != 1 or len(requirement.specifier) != 1:
            raise WheelhouseError(f"{path.name}, line {number}: {line!r} is not pinned as name==version")
        if requirement.marker is None or requirement.marker.evaluate(target.markers):
            pins.append(requirement)
    return pins


def wanted_pins(target: Target, lock: Path = LOCK, extra_lock: Path = EXTRA_LOCK) -> list[Requirement]:
    return read_pins(lock, target) + read_pins(extra_lock, target)


def pin_text(requirement: Requirement) -> str:
    return f"{requirement.name}=={next(iter(requirement.specifier)).version}"


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: NormalizedName
    version: Version
    tags: frozenset[Tag]

    def requirements(self) -> list[Requirement]:
        with zipfile.ZipFile(self.path) as archive:
            metadata_name = next(
                (n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1),
                None,
            )
            if metadata_name is None:
                raise WheelhouseError(f"{self.path.name} has no .dist-info/METADATA: not a usable wheel")
            metadata = HeaderParser().parsestr(archive.read(metadata_name).decode("utf-8"))
        return [Requirement(text) for text in metadata.get_all("Requires-Dist") or []]


def wheels_in(folder: Path) -> list[Wheel]:
    found = []
    for path in sorted(folder.glob("*.whl")):
        name, version, _build, tags = parse_wheel_filename(path.name)
        found.append(Wheel(path, name, version, frozenset(tags)))
    return found


def missing_wheels(folder: Path, target: Target, pins: list[Requirement]) -> list[str]:
    """What `pip install --no-index --find-links folder` would miss on `target`, in words: a pin without a
    wheel for that system, or a dependency (with its markers judged on that system) that no wheel provides."""
    usable: dict[NormalizedName, list[Wheel]] = {}
    for wheel in wheels_in(folder):
        if any(target.accepts(tag) for tag in wheel.tags):
            usable.setdefault(wheel.name, []).append(wheel)
    problems = []
    # Pins first, then everything they require, following extras ("pkg[extra]") as pip would.
    queue: list[tuple[Requirement, str]] = [(pin, "pinned") for pin in pins]
    seen: set[tuple[NormalizedName, str]] = set()
    chosen: dict[NormalizedName, Wheel] = {}
    while queue:
        requirement, needed_by = queue.pop(0)
        name = canonicalize_name(requirement.name)
        candidates = [
            w for w in usable.get(name, []) if requirement.specifier.contains(w.version, prereleases=True)
        ]
        if name in chosen and chosen[name] not in candidates:
            candidates = []
        if not candidates:
            have = ", ".join(sorted({str(w.version) for w in usable.get(name, [])})) or "none"
            problems.append(
                f"{requirement} ({needed_by}): no {target.label} wheel in {folder} "
                f"(versions there for this system: {have})"
            )
            continue
        wheel = chosen.setdefault(name, max(candidates, key=lambda w: w.version))
        for extra in [""] + sorted(requirement.extras):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for dependency in wheel.requirements():
                if dependency.marker is None or dependency.marker.evaluate(
                    {**target.markers, "extra": extra}
                ):
                    queue.append((dependency, f"needed by {wheel.name} {wheel.version}"))
    return problems


def _pip(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, python: str = sys.executable
) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "pip", *args], capture_output=True, text=True, env=env, cwd=cwd)


_NOT_FOUND = re.compile(r"No matching distribution found for (\S+)")


def unavailable_pin(pip_output: str) -> str | None:
    """The requirement pip names when it found no file for it (None when pip failed for another reason)."""
    match = _NOT_FOUND.search(pip_output)
    return match.group(1) if match else None


def has_wheel(folder: Path, target: Target, pin: Requirement) -> bool:
    name, version = canonicalize_name(pin.name), Version(next(iter(pin.specifier)).version)
    return any(
        w.name == name and w.version == version and any(target.accepts(t) for t in w.tags)
        for w in wheels_in(folder)
    )


# Wheels only, for CPython 3.11 (abi3 wheels of older CPythons and pure ones too); no dependencies: the lock
# files list them all, and the completeness check follows them with the target's markers.
_WHEELS_FOR_CP311 = ("--no-deps --only-binary=:all: --python-version 3.11 --implementation cp "
                     "--abi cp311 --abi abi3 --abi none").split()


def download_wheels(folder: Path, target: Target, pins: list[Requirement]) -> list[Requirement]:
    """pip download --only-binary=:all: of every pin for `target` not already in `folder` (so a rebuild only
    fetches what changed); returns the pins that have no such wheel on the index."""
    remaining = [pin for pin in pins if not has_wheel(folder, target, pin)]
    no_wheel: list[Requirement] = []
    platform_args = [arg for platform in target.pip_platforms for arg in ("--platform", platform)]
    # pip stops at the first pin without a wheel: note it and ask again for the rest.
    while remaining:
        result = _pip(["download", *_WHEELS_FOR_CP311, *platform_args, "--dest", str(folder),
                       *map(pin_text, remaining)])
        if result.returncode == 0:
            break
        failed = unavailable_pin(result.stdout + result.stderr)
        failed_pin = next(
            (
                pin
                for pin in remaining
                if failed and canonicalize_name(pin.name) == canonicalize_name(Requirement(failed).name)
            ),
            None,
        )
        if failed_pin is None:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise WheelhouseError(f"pip download for {target.label} failed:\n{tail}")
        no_wheel.append(failed_pin)
        remaining.remove(failed_pin)
    return no_wheel


def build_pure_wheels(folder: Path, pins: list[Requirement]) -> tuple[list[str], list[str]]:
    """Build sdist-only pins into wheels; keep those that are pure Python (py3-none-any, good on every
    system). Returns (built, refused): a compiled one would suit only the machine that built it."""
    built, refused = [], []
    for pin in pins:
        with tempfile.TemporaryDirectory() as scratch:
            result = _pip(["wheel", "--no-deps", "--wheel-dir", scratch, pin_text(pin)])
            wheels = list(Path(scratch).glob("*.whl"))
            if result.returncode != 0 or len(wheels) != 1:
                tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-10:])
                raise WheelhouseError(f"{pin_text(pin)} has no wheel and its sdist did not build:\n{tail}")
            tags = parse_wheel_filename(wheels[0].name)[3]
            if all(tag.platform == "any" and tag.abi == "none" for tag in tags):
                shutil.copy2(wheels[0], folder / wheels[0].name)
                built.append(pin_text(pin))
            else:
                refused.append(f"{pin_text(pin)} (its sdist builds a compiled wheel, {wheels[0].name})")
    return built, refused


def _size_mb(paths: list[Path]) -> float:
    return sum(path.stat().st_size for path in paths) / 1e6


def build(folder: Path, target_names: list[str]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    built, refused = [], []
    for name in target_names:
        target = TARGETS[name]
        # A pure wheel built here serves the next system too, so it is built before that one is fetched.
        built_now, refused_now = build_pure_wheels(
            folder, download_wheels(folder, target, wanted_pins(target))
        )
        built += built_now
        refused += [f"no {target.label} wheel for {problem}" for problem in refused_now]
    print(f"Wheelhouse {folder} ({time.monotonic() - started:.0f} s)")
    if built:
        print(
            f"  built from sdists (published without wheels; pure Python, py3-none-any): {', '.join(built)}"
        )
    return report(folder, target_names, refused)


def report(folder: Path, target_names: list[str], refused: list[str] = ()) -> int:
    complete = True
    for name in target_names:
        target = TARGETS[name]
        wheels = [w for w in wheels_in(folder) if any(target.accepts(tag) for tag in w.tags)]
        problems = missing_wheels(folder, target, wanted_pins(target))
        print(
            f"  {target.label}: {len(wheels)} wheels, {_size_mb([w.path for w in wheels]):.0f} MB"
            + (", complete: every pin and every dependency has a wheel" if not problems else "")
        )
        for problem in problems:
            print(f"    MISSING {problem}")
        complete = complete and not problems
    for problem in refused:
        print(f"  NOT BUILT: {problem}")
    return 0 if complete and not refused else 1


def _offline_env() -> dict[str, str]:
    """This process's environment with every pip setting and proxy removed and the index unreachable, and
    no PYTHONPATH (the fresh environment must find the project where pip installed it)."""
    dropped = {
        "PYTHONPATH",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k not in dropped}
    # No pip configuration file either (site ones may name find-links folders or local indexes).
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL=UNREACHABLE_INDEX,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        no_proxy="*",
        NO_PROXY="*",
    )
    return env


def _step(what: str, result: subprocess.CompletedProcess, hint: str = "") -> None:
    if result.returncode != 0:
        output = result.stdout + result.stderr
        missing = unavailable_pin(output)
        reason = (
            f"{missing} is not in the wheelhouse for this system (no index was reachable to fetch it)"
            if missing
            else "\n".join(output.strip().splitlines()[-15:])
        )
        raise WheelhouseError(f"{what} failed: {reason}{hint}")


def verify(folder: Path, python: str = sys.executable) -> None:
    """Install the project from `folder` into a fresh venv with no index reachable, then import it and dry-run
    the workflow with it. Raises WheelhouseError saying which step failed and what was missing."""
    if not any(folder.glob("*.whl")):
        raise WheelhouseError(f"{folder} holds no wheels: make it first (make wheelhouse)")
    env = _offline_env()
    timings = {}
    with tempfile.TemporaryDirectory(prefix="offline-venv-") as scratch:
        venv = Path(scratch) / "venv"
        venv_python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
        started = time.monotonic()
        _step(
            "Creating a venv",
            subprocess.run([python, "-m", "venv", str(venv)], capture_output=True, text=True, env=env),
        )
        # The proof that the index is out of reach: pip must fail to fetch anything from it.
        probe = _pip(
            ["download", "--no-deps", "--retries", "0", "--timeout", "5", "--dest", scratch, "setuptools"],
            env=env,
            python=venv_python,
        )
        if probe.returncode == 0:
            raise WheelhouseError(f"the index was reachable although PIP_INDEX_URL={UNREACHABLE_INDEX}")
        # --no-compile: Python compiles on first import anyway; compiling first only slows the check.
        source = ["--no-index", "--find-links", str(folder.resolve()), "--no-cache-dir", "--no-compile"]
        _step(
            "Installing requirements.lock from the wheelhouse",
            _pip(["install", *source, "-r", str(LOCK)], env=env, python=venv_python),
        )
        _step(
            "Installing the project itself (its build needs setuptools from the wheelhouse)",
            _pip(["install", *source, "--no-deps", "-e", str(ROOT)], env=env, python=venv_python),
            hint=f"\n(setuptools is pinned in {EXTRA_LOCK.name})",
        )
        timings["install"] = time.monotonic() - started
        started = time.monotonic()
        _step(
            "Importing analysis, snakemake and statsmodels",
            subprocess.run(
                [venv_python, "-c", "import analysis, snakemake, statsmodels"],
                capture_output=True,
                text=True,
                env=env,
                cwd=scratch,
            ),
        )
        snakemake = str(Path(venv_python).parent / "snakemake")
        _step(
            "snakemake --dry-run of the workflow",
            subprocess.run(
                [snakemake, "--dry-run", "--quiet", "rules", "--cores", "1"],
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
            ),
        )
        timings["import and dry run"] = time.monotonic() - started
    print(
        f"Offline install from {folder} works with the index unreachable ({UNREACHABLE_INDEX}): "
        + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in timings.items())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["build", "check", "verify"])
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--platform",
        action="append",
        choices=sorted(TARGETS),
        help="system(s) to serve (default: linux and windows; verify uses this machine)",
    )
    args = parser.parse_args(argv)
    target_names = args.platform or ["linux", "windows"]
    try:
        if args.command == "build":
            return build(args.folder, target_names)
        if args.command == "check":
            print(f"Wheelhouse {args.folder}")
            return report(args.folder, target_names)
        verify(args.folder)
        return 0
    except WheelhouseError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
