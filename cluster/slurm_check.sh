#!/usr/bin/env bash
# Proves the SLURM profile on a real SLURM: starts single-node SLURM 22.05 on this machine, runs the whole
# pipeline (every rule, specification curve included) through `--executor slurm` with workflow/profiles/slurm,
# checks that every output but the run-specific manifest is byte-identical to a local run's, and stops the
# daemons it started. The run uses the tests' lighter plan file (tests/scenarios/tiny_fast: fewer
# specifications, imputations and bootstrap replications): what is checked is that every kind of job runs
# through SLURM and gives the same outputs, not the size of the grid.
#
#   cluster/slurm_check.sh [--raw RAW_DIR] [--reference RESULTS] [--config KEY=VALUE ...]
#
# (as root, from anywhere; `make slurm-check` runs it with no options, the test suite with all three)
#   --raw        the raw data (default: the simulator's tiny synthetic dataset, made afresh)
#   --reference  the results folder of a local run (workflow/profiles/local) on the same raw data with the
#                same plan file and --config entries, to compare with; without it a local run is made
#                alongside the SLURM one
#   --config     further --config entries for the run(s), e.g. report_pdf=chromium
#
# SLURM and munge come from Debian packages (installed when missing). The localhost cluster keeps no
# accounting database, so the executor is told to poll job states with squeue and not to look for an
# account; a university cluster needs neither option. Job states are polled every 2 s (Snakemake's default
# is 10 s, right for a shared cluster, slow here).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RAW= REFERENCE= EXTRA_CONFIG=()
while [ $# -gt 0 ]; do
    case $1 in
        --raw) RAW=$(cd "${2:?--raw needs a folder}" && pwd); shift 2 ;;
        --reference) REFERENCE=$(cd "${2:?--reference needs a results folder}" && pwd); shift 2 ;;
        --config) shift; while [ $# -gt 0 ] && [[ $1 != --* ]]; do EXTRA_CONFIG+=("$1"); shift; done ;;
        *) echo "usage: $0 [--raw RAW_DIR] [--reference RESULTS] [--config KEY=VALUE ...]" >&2; exit 2 ;;
    esac
done
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d /tmp/slurm-check.XXXXXX)
# The jobs find this environment's tools first; the daemons keep their state beside this check's runs.
export PATH="$(dirname "$PYTHON"):$PATH" OPENBLAS_NUM_THREADS=1 SLURM_LOCAL_STATE=$WORK/slurm-state

# However the check ends (done, failed, stopped): the runs it started are stopped first, and anything they
# left in the queue cancelled, while the daemons are still up to do it; then the daemons are stopped.
stop_all() {
    local run
    for run in ${slurm_run:-} ${local_run:-}; do
        kill -TERM "$run" 2>/dev/null || continue
        for _ in $(seq 60); do kill -0 "$run" 2>/dev/null || break; sleep 1; done
        kill -KILL "$run" 2>/dev/null || true
    done
    scancel --user "$(id -un)" 2>/dev/null || true  # the cluster is this check's own: every job is its
    for _ in $(seq 20); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
    "$ROOT/cluster/slurm_localhost.sh" stop
}
"$ROOT/cluster/slurm_localhost.sh" start
trap stop_all EXIT
trap 'exit 143' INT TERM

PLAN=$ROOT/tests/scenarios/tiny_fast/config.yaml
[ -n "$RAW" ] || { RAW=$WORK/raw; "$PYTHON" -m analysis.simulate "$RAW" --preset tiny; }
CONFIG=(raw_dir="$RAW" plan_file="$PLAN" "${EXTRA_CONFIG[@]}")

modes=(slurm)
[ -n "$REFERENCE" ] || modes+=(local)
for mode in "${modes[@]}"; do
    mkdir -p "$WORK/$mode"
    cp -r "$ROOT/Snakefile" "$ROOT/config" "$ROOT/workflow" "$WORK/$mode/"
done

start=$(date +%s)
if [ -z "$REFERENCE" ]; then
    # The local run goes alongside the SLURM one: the SLURM run mostly waits on the scheduler.
    echo "== the pipeline locally (workflow/profiles/local), alongside the SLURM run"
    # exec: the background job is Snakemake itself, so that stop_all's TERM reaches it.
    (cd "$WORK/local" && exec "$PYTHON" -m snakemake --workflow-profile workflow/profiles/local \
        --config "${CONFIG[@]}" > "$WORK/local.log" 2>&1) &
    local_run=$!
    REFERENCE=$WORK/local/results
fi
echo "== the pipeline through SLURM (workflow/profiles/slurm)"
# In the background, waited for: a signal to this script is handled at once (stop_all), not after the run.
(cd "$WORK/slurm" && exec "$PYTHON" -m snakemake --workflow-profile workflow/profiles/slurm \
    --slurm-status-command squeue --slurm-no-account --slurm-init-seconds-before-status-checks 2 \
    --seconds-between-status-checks 2 \
    --config "${CONFIG[@]}" > "$WORK/slurm.log" 2>&1) &
slurm_run=$!
wait "$slurm_run" || { tail -50 "$WORK/slurm.log"; exit 1; }
slurm_run=
slurm_seconds=$(( $(date +%s) - start ))
submitted=$(grep -c "Job .* has been submitted with SLURM jobid" "$WORK/slurm.log" || true)
echo "   SLURM: $submitted SLURM jobs, $slurm_seconds s ($WORK/slurm.log)"
if [ -n "${local_run:-}" ]; then
    wait "$local_run" || { tail -50 "$WORK/local.log"; exit 1; }
    local_run=
    echo "   local: done by $(( $(date +%s) - start )) s ($WORK/local.log)"
fi

echo "== comparing the outputs with the local run's ($REFERENCE)"
"$PYTHON" "$ROOT/cluster/compare_runs.py" "$REFERENCE" "$WORK/slurm/results"
