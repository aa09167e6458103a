"""Compare two runs' results folders: the same files, byte for byte, except what records the run itself.

    python cluster/compare_runs.py LOCAL_RESULTS SLURM_RESULTS

Exit 0 when they agree. Logs, Snakemake benchmark files and the manifest (start and end times) differ
between any two runs and are not compared; every table, figure, data product and report is.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

RUN_RECORDS = ("logs/", "benchmarks/")  # folders of records of the run itself
MANIFEST = "manifest.json"


def outputs(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every output that the run's inputs alone determine."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not relative.startswith(RUN_RECORDS) and relative != MANIFEST:
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def main(first: str, second: str) -> int:
    a, b = outputs(Path(first)), outputs(Path(second))
    problems = [f"only in {first}: {name}" for name in sorted(a.keys() - b.keys())]
    problems += [f"only in {second}: {name}" for name in sorted(b.keys() - a.keys())]
    problems += [f"differs: {name}" for name in sorted(a.keys() & b.keys()) if a[name] != b[name]]
    if not a:
        problems.append(f"no outputs under {first}")
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"{len(a)} outputs identical in both runs (logs, benchmark timings and the manifest not compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
