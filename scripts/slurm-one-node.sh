#!/usr/bin/env bash
# A one-node Slurm on this machine, for testing `sweep --executor slurm` end to end (tests/test_slurm_sweep.py).
# Needs root and Debian's slurm-wlm + munge (`apt-get install -y slurm-wlm munge`; --install does it).
# Writes its config under $SLURM_ONE_NODE_DIR (default /tmp/harness-slurm), starts munged, slurmctld and slurmd
# (no cgroups: proctrack/linuxproc), and waits until `sinfo` shows the node idle. `stop` ends the three daemons.
set -euo pipefail
dir="${SLURM_ONE_NODE_DIR:-/tmp/harness-slurm}"
conf=/etc/slurm/slurm.conf

if [ "${1:-}" = "stop" ]; then
  for name in slurmd slurmctld; do
    [ -f "$dir/$name.pid" ] && kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
  done
  exit 0
fi
if [ "${1:-}" = "--install" ] && ! command -v slurmctld >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge
fi
command -v slurmctld >/dev/null || { echo "slurm-wlm is not installed (apt-get install -y slurm-wlm munge)"; exit 3; }
[ "$(id -u)" = 0 ] || { echo "starting slurmctld/slurmd needs root"; exit 3; }

if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
  echo "slurm already up: $(sinfo -h -o '%n %t %c')"; exit 0
fi
mkdir -p "$dir/spool" "$dir/state" /etc/slurm /var/log/slurm
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
cat > "$conf" <<EOF
ClusterName=harness
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
# munge: a key once, then the daemon (Debian's package creates the user and key folder)
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge && dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true; chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged 2>/dev/null || munged --force
slurmctld -c 2>/dev/null || slurmctld
slurmd
for _ in $(seq 60); do
  state=$(sinfo -h -o %t 2>/dev/null || true)
  case "$state" in idle*|mix*) echo "slurm up: $(sinfo -h -o '%n %t %c CPUs')"; exit 0 ;; esac
  sleep 1
done
echo "slurm did not come up (state: ${state:-none}); logs in $dir"; tail -3 "$dir/slurmctld.log" "$dir/slurmd.log" || true
exit 4
