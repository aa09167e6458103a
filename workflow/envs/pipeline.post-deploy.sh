#!/usr/bin/env bash
# Snakemake runs this in a conda environment it has just built from pipeline.yaml (the file beside this one;
# --software-deployment-method conda). The rules' scripts import the analysis package, which is not on PyPI:
# install this working copy, editable as in make's .venv, so a job runs the code the workflow hashes.
set -euo pipefail
working_copy="$(cd "$(dirname "$0")/../.." && pwd)"
python -m pip install --quiet --disable-pip-version-check --no-deps -e "$working_copy"
