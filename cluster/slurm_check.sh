#!/usr/bin/env bash
# Proves the SLURM profile on a real SLURM: starts single-node SLURM 22.05 on this machine, runs the whole
# pipeline (every rule, specification curve included) through `--executor slurm` with workflow/profiles/slurm,
# runs it locally alongside with workflow/profiles/local, checks that every output but the run-specific manifest
# is byte-identical, and stops the daemons it started. Both runs use the tests' lighter plan file
# (tests/scenarios/tiny_fast: fewer specifications, imputations and bootstrap replications): what is checked
# is that every kind of job runs through SLURM and gives the same outputs, not the size of the grid.
#
#   cluster/slurm_check.sh [RAW_DIR]        (as root, from anywhere; `make slurm-check` runs it)
#
# RAW_DIR defaults to the simulator's tiny synthetic dataset. SLURM and munge come from Debian packages
# (installed when missing). The localhost cluster keeps no accounting database, so the executor is told to
# poll job states with squeue and not to look for an account; a university cluster needs neither option.
# Job states are polled every 2 s (Snakemake's default is 10 s, right for a shared cluster, slow here).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d /tmp/slurm-check.XXXXXX)
# The jobs find this environment's tools first; the daemons keep their state beside this check's runs.
export PATH="$(dirname "$PYTHON"):$PATH" OPENBLAS_NUM_THREADS=1 SLURM_LOCAL_STATE=$WORK/slurm-state

"$ROOT/cluster/slurm_localhost.sh" start
trap '"$ROOT/cluster/slurm_localhost.sh" stop' EXIT

RAW=${1:-$WORK/raw}
PLAN=$ROOT/tests/scenarios/tiny_fast/config.yaml
[ -n "${1:-}" ] || "$PYTHON" -m analysis.simulate "$RAW" --preset tiny

for mode in local slurm; do
    mkdir -p "$WORK/$mode"
    cp -r "$ROOT/Snakefile" "$ROOT/config" "$ROOT/workflow" "$WORK/$mode/"
done

# The local run goes alongside the SLURM one: the SLURM run mostly waits on the scheduler.
echo "== the pipeline through SLURM (workflow/profiles/slurm) and, alongside, locally (workflow/profiles/local)"
start=$(date +%s)
(cd "$WORK/local" && "$PYTHON" -m snakemake --workflow-profile workflow/profiles/local \
    --config raw_dir="$RAW" plan_file="$PLAN" > "$WORK/local.log" 2>&1; echo $? > "$WORK/local.rc") &
local_run=$!
(cd "$WORK/slurm" && "$PYTHON" -m snakemake --workflow-profile workflow/profiles/slurm \
    --slurm-status-command squeue --slurm-no-account --slurm-init-seconds-before-status-checks 2 \
    --seconds-between-status-checks 2 \
    --config raw_dir="$RAW" plan_file="$PLAN" > "$WORK/slurm.log" 2>&1) || { tail -50 "$WORK/slurm.log"; exit 1; }
slurm_seconds=$(( $(date +%s) - start ))
submitted=$(grep -c "Job .* has been submitted with SLURM jobid" "$WORK/slurm.log" || true)
echo "   SLURM: $submitted SLURM jobs, $slurm_seconds s ($WORK/slurm.log)"
wait "$local_run"
[ "$(cat "$WORK/local.rc")" = 0 ] || { tail -50 "$WORK/local.log"; exit 1; }
echo "   local: done by $(( $(date +%s) - start )) s ($WORK/local.log)"

echo "== comparing outputs"
"$PYTHON" "$ROOT/cluster/compare_runs.py" "$WORK/local/results" "$WORK/slurm/results"
