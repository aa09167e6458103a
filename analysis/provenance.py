"""Provenance of every published output, and the run manifest (results/manifest.json).

The provenance hash is a function of the raw inputs, the resolved config, the code and the installed
packages only. Timestamps and absolute paths are kept out of it on purpose, so a rerun on the same inputs
reproduces every table (whose footer cites the hash) byte for byte. The manifest adds what is useful for an
audit but not reproducible (git state, start and end time) and is never cited by a table.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

# 1 MiB: large enough to be fast, small enough that a big raw file never sits in memory whole.
CHUNK_SIZE = 1 << 20

# The files that define what the pipeline computes, relative to the project root.
_CODE_FILE = "Snakefile"
_CODE_TREE = "workflow"  # rules, scripts, notebooks, report captions, profiles
_CODE_GLOBS = (("analysis", "**/*.py"), ("config/schema", "*"), ("data/import", "**/*"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(data: Any) -> str:
    """One JSON text per value: sorted keys, no whitespace, anything unknown as str()."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_sha256(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the resolved config (independent of key order)."""
    return _sha256_text(canonical_json(config))


def _is_code_file(path: Path, base: Path) -> bool:
    # Only the part below `base` is checked: the project itself may live under a hidden directory.
    parts = path.relative_to(base).parts
    if any(part.startswith(".") or part == "__pycache__" for part in parts):
        return False
    return path.is_file() and path.suffix != ".pyc"


def code_files(root: str | os.PathLike[str]) -> list[Path]:
    """The files defining the pipeline, sorted by their path relative to `root`.

    root/Snakefile, everything under root/workflow, root/analysis/**/*.py, root/config/schema/* and the
    importers' reference files (root/data/import: LA lookup, survey mappings); caches,
    compiled files and hidden files are skipped, and a missing folder simply contributes nothing.
    """
    root = Path(root)
    found: set[Path] = set()
    snakefile = root / _CODE_FILE
    if snakefile.is_file():
        found.add(snakefile)
    tree = root / _CODE_TREE
    if tree.is_dir():
        found.update(p for p in tree.rglob("*") if _is_code_file(p, root))
    for folder, pattern in _CODE_GLOBS:
        if (root / folder).is_dir():
            found.update(p for p in (root / folder).glob(pattern) if _is_code_file(p, root))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def code_sha256(root: str | os.PathLike[str]) -> str:
    """SHA-256 over the sorted (relative posix path, file SHA-256) pairs of code_files(root)."""
    return code_fingerprint(code_files(root), root)["sha256"]


def code_fingerprint(files: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str]) -> dict:
    """Each file's SHA-256, named by its path relative to `root` (as given where it lies outside), and one
    SHA-256 over the sorted (name, SHA-256) pairs. Relative names, so that neither depends on where the
    project is checked out."""
    root = Path(root)
    named = {}
    for file in files:
        path = Path(file)
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
        named[name] = sha256_file(path)
    pairs = sorted(named.items())
    return {"files": dict(pairs), "sha256": _sha256_text(canonical_json(pairs))}


def _normalise_name(name: str) -> str:
    # PEP 503 normalisation, so "Foo_Bar" and "foo.bar" are the same distribution.
    return re.sub(r"[-_.]+", "-", name).lower()


def package_versions() -> dict[str, str]:
    """{normalised name: version} of every installed distribution, sorted by name."""
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        # distributions() follows sys.path order, so the first hit is the one that is imported.
        versions.setdefault(_normalise_name(name), dist.version)
    return dict(sorted(versions.items()))


def python_version() -> str:
    """Implementation and version of the running interpreter, e.g. "CPython 3.11.7"."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def raw_input_hashes(files: Mapping[str, str | os.PathLike[str]]) -> dict[str, dict[str, Any]]:
    """{label: {"file", "sha256", "bytes"}} for each raw input, sorted by label.

    Only the basename is kept: the raw directory may be a secure path that must not be published.
    """
    hashes: dict[str, dict[str, Any]] = {}
    for label in sorted(files):
        path = Path(files[label])
        hashes[label] = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}
    return hashes


def provenance_record(
    raw_files: Mapping[str, str | os.PathLike[str]], config: Mapping[str, Any], root: str | os.PathLike[str],
    imports: Mapping[str, Any] | None = None, plan_lock: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything an output depends on, and its hash. No timestamps, no absolute paths. `imports`: what the
    import stage recorded of each source read as published (format, file names, release, vintage);
    `plan_lock`: the frozen plan's lock (analysis.plan_lock.lock_record)."""
    record: dict[str, Any] = {
        "raw_inputs": raw_input_hashes(raw_files),
        **({"imports": dict(imports)} if imports else {}),
        **({"plan_lock": dict(plan_lock)} if plan_lock else {}),
        "config_sha256": config_sha256(config),
        "code_sha256": code_sha256(root),
        "python": python_version(),
        "packages": package_versions(),
    }
    record["provenance_hash"] = _sha256_text(canonical_json(record))
    return record


def short_hash(record: Mapping[str, Any]) -> str:
    """The first 12 hex characters of the provenance hash, for table footers."""
    return str(record["provenance_hash"])[:12]


def _is_seed_key(key: Any) -> bool:
    return isinstance(key, str) and (key == "seed" or key.endswith("_seed"))


def seeds(config: Any) -> dict[str, int]:
    """Every "seed" or "*_seed" key in the nested config, as {"dotted.path": value}.

    List items appear by index ("models.0.seed"). A seed holding a dict or list is searched further; a seed
    that is not an integer (e.g. null, meaning unseeded) is not reported.
    """
    found: dict[str, int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            items: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list | tuple):
            items = enumerate(node)
        else:
            return
        for key, value in items:
            here = (*path, str(key))
            # bool is an int subclass, but `seed: true` is not a seed value.
            if _is_seed_key(key) and isinstance(value, int) and not isinstance(value, bool):
                found[".".join(here)] = value
            else:
                walk(value, here)

    walk(config, ())
    return found


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        # No git, not a repository, no commit yet, an unreadable root: the state is unknown, not an error.
        return None
    return done.stdout


def git_state(root: str | os.PathLike[str]) -> dict[str, Any]:
    """{"commit": HEAD or None, "dirty": uncommitted changes or None} of the repository at `root`."""
    root = Path(root)
    commit = _git(root, "rev-parse", "--verify", "HEAD")
    # Untracked files count as dirty (a new script changes the run); ignored files (results/) do not.
    status = _git(root, "status", "--porcelain")
    return {
        "commit": (commit.strip() or None) if commit is not None else None,
        "dirty": bool(status.strip()) if status is not None else None,
    }


def _output_files(path: Path) -> list[Path]:
    # A Snakemake directory() output is recorded file by file.
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path] if path.is_file() else []


def _relative_posix(path: Path, root: Path) -> str:
    # Lexically first, so an output reached through a symlinked results/ keeps its path under root.
    for candidate, base in (
        (Path(os.path.abspath(path)), Path(os.path.abspath(root))),
        (path.resolve(), root.resolve()),
    ):
        if candidate.is_relative_to(base):
            return candidate.relative_to(base).as_posix()
    raise ValueError(f"output {path} is outside the project root; the manifest records relative paths only")


def manifest(
    record: Mapping[str, Any],
    config: Mapping[str, Any],
    root: str | os.PathLike[str],
    started: str,
    finished: str,
    outputs: Iterable[str | os.PathLike[str]],
) -> dict[str, Any]:
    """The run manifest: the provenance record plus config, git state, seeds, times and output hashes.

    Relative outputs are taken relative to `root`; outputs that do not exist are left out.
    """
    root = Path(root)
    if record["config_sha256"] != config_sha256(config):
        # The manifest would otherwise describe one config and cite the hash of another.
        raise ValueError("config does not match the config_sha256 of the provenance record")
    output_hashes: dict[str, str] = {}
    for output in outputs:
        path = Path(output)
        path = path if path.is_absolute() else root / path
        for file in _output_files(path):
            output_hashes[_relative_posix(file, root)] = sha256_file(file)
    return {
        "provenance_hash": record["provenance_hash"],
        "raw_inputs": record["raw_inputs"],
        # The config exactly as hashed (canonical JSON round trip), so it is serialisable and rehashes
        # to config_sha256.
        "config": json.loads(canonical_json(config)),
        "config_sha256": record["config_sha256"],
        "code_sha256": record["code_sha256"],
        "git": git_state(root),
        "python": record["python"],
        "packages": record["packages"],
        "seeds": seeds(config),
        "started": started,
        "finished": finished,
        "outputs": dict(sorted(output_hashes.items())),
    }


def utc_now() -> str:
    """The current time in ISO 8601 UTC to the second, e.g. "2026-11-28T01:02:03Z"."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
