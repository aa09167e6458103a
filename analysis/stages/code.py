"""Stage: the analysis code's fingerprint (rule analysis_code). Imports no pandas: it runs at the head of
every run, before any data are read."""

from __future__ import annotations

from analysis import io
from analysis.provenance import code_fingerprint


def analysis_code(files: list[str], package: str, output: str) -> None:
    """The fingerprint of the analysis code (provenance.code_fingerprint) that the rules running it read."""
    io.write_json(code_fingerprint(files, package), output)
