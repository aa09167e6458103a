"""The run's records that read no data (workflow/rules/clean.smk, tables.smk): the analysis code's
fingerprint and the analysis plan. No pandas is imported here: these jobs run at the head of every run,
before any data are read, and a failed run often runs nothing else."""

from __future__ import annotations

from pathlib import Path

import analysis
from analysis import io
from analysis.provenance import code_fingerprint


def analysis_code(files: list[str], output: str) -> None:
    """The fingerprint of the analysis code (provenance.code_fingerprint: files named from the folder that
    holds this package) that the rules running it read."""
    io.write_json(code_fingerprint(files, Path(analysis.__file__).parent.parent), output)


def analysis_plan(plan: dict, output: str) -> None:
    """The run's analysis plan (what `make freeze` freezes and every run is compared with)."""
    io.write_json(plan, output)
