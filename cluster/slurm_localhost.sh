#!/usr/bin/env bash
# Single-node SLURM 22.05 on localhost from Debian packages, for proving the slurm profile (issue 6, WIP).
# Usage: cluster/slurm_localhost.sh start | stop      (as root)
set -euo pipefail
STATE=${SLURM_LOCAL_STATE:-/tmp/slurm-localhost}
CONF=/etc/slurm/slurm.conf

start() {
    command -v slurmctld >/dev/null || apt-get install -y -q slurm-wlm munge >/dev/null
    mkdir -p "$STATE"/{spool,state,log} /etc/slurm /etc/munge /run/munge /var/log/munge /var/lib/munge
    chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    cat > "$CONF" <<CONF
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
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    /usr/sbin/slurmctld
    /usr/sbin/slurmd
    for _ in $(seq 50); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.2; done
    sinfo
}

stop() {
    for pidfile in "$STATE"/slurmd.pid "$STATE"/slurmctld.pid; do
        [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    pkill -x munged || true
}

"${1:-start}"
