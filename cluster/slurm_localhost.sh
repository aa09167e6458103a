#!/usr/bin/env bash
# Single-node SLURM 22.05 on this machine, from Debian packages (slurm-wlm, munge), for checking the slurm
# profile (cluster/slurm_check.sh). As root:
#
#   cluster/slurm_localhost.sh start     install if missing, write a private slurm.conf, start the daemons
#   cluster/slurm_localhost.sh stop      stop the daemons that `start` started, and only those
#
# State and logs live in $SLURM_LOCAL_STATE (default /tmp/slurm-localhost). The configuration must be at
# SLURM's default path, /etc/slurm/slurm.conf, because srun inside a batch job does not see SLURM_CONF; a
# slurm.conf that this script did not write is never overwritten. One partition, `local`, holds this machine
# with all its cores and its memory less 1 GiB. There is no accounting database (jobs are polled with squeue).
set -euo pipefail
STATE=${SLURM_LOCAL_STATE:-/tmp/slurm-localhost}
SLURM_CONF=/etc/slurm/slurm.conf
MARK="# written by cluster/slurm_localhost.sh"

start() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        echo "installing slurm-wlm and munge (apt-get)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
    fi
    if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
        echo "SLURM daemons are already running on this machine: not starting a second cluster" >&2
        exit 1
    fi
    if [ -e "$SLURM_CONF" ] && ! head -1 "$SLURM_CONF" | grep -qx "$MARK"; then
        echo "$SLURM_CONF exists and was not written by $0: not replacing it" >&2
        exit 1
    fi
    rm -rf "$STATE"
    mkdir -p "$STATE"/{spool,state,log} /etc/slurm /etc/munge /run/munge /var/log/munge /var/lib/munge
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    if ! pgrep -x munged >/dev/null; then
        runuser -u munge -- /usr/sbin/munged
        echo munged >> "$STATE/started"
    fi
    local host cpus memory
    host=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    cat > "$SLURM_CONF" <<CONF
$MARK
ClusterName=localhost
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    /usr/sbin/slurmctld -f "$SLURM_CONF"
    /usr/sbin/slurmd -f "$SLURM_CONF"
    echo slurmctld slurmd >> "$STATE/started"
    for _ in $(seq 100); do
        sinfo -h -o %T 2>/dev/null | grep -q idle && break
        sleep 0.2
    done
    sinfo -h -o %T | grep -q idle || { echo "SLURM did not come up; see $STATE/log" >&2; exit 1; }
    echo "$(sinfo -V) on localhost: node $host, $cpus CPUs, $memory MB ($SLURM_CONF, state in $STATE)"
}

stop() {
    [ -f "$STATE/started" ] || return 0
    for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid"; do
        if [ -s "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    done
    if grep -qw munged "$STATE/started"; then pkill -x munged || true; fi
    for _ in $(seq 50); do
        pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
        sleep 0.2
    done
    rm -f "$STATE/started" "$SLURM_CONF"
    echo "stopped the SLURM daemons started by $0"
}

"${1:?usage: $0 start|stop}"
